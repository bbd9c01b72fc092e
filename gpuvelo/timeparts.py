"""Calendar vocabulary shared by the SQL planner (``gpuvelo.sql.functions.temporal``) and the
expression compiler (``gpuvelo.expr.temporal``): DuckDB's date-part names, interval text and
strftime formats. Plain Python, no arrays and no sqlglot."""

from __future__ import annotations

import re
from decimal import Decimal

from .errors import NotSupportedError, PlanError

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

# ----------------------------------------------------------------------------- units
_UNIT_SPELLINGS = {
    "year": "year yr y years yrs", "month": "month mon months mons",
    "day": "day days d dayofmonth", "decade": "decade dec decades decs",
    "century": "century cent centuries c",
    "millennium": "millennium mil millenniums millennia mils millenium",
    "microsecond": "microseconds microsecond us usec usecs usecond useconds",
    "millisecond": "milliseconds millisecond ms msec msecs msecond mseconds",
    "second": "second sec seconds secs s", "minute": "minute min minutes mins m",
    "hour": "hour hr hours hrs h", "epoch": "epoch", "dow": "dow dayofweek weekday",
    "isodow": "isodow", "week": "week weeks w weekofyear", "doy": "doy dayofyear",
    "quarter": "quarter quarters", "yearweek": "yearweek", "isoyear": "isoyear", "era": "era",
    "timezone": "timezone", "timezone_hour": "timezone_hour",
    "timezone_minute": "timezone_minute", "julian": "julian jd",
}
UNITS = {s: unit for unit, spellings in _UNIT_SPELLINGS.items() for s in spellings.split()}
TIMEZONE_PARTS = ("timezone", "timezone_hour", "timezone_minute")
DOUBLE_PARTS = ("epoch", "julian")
# date_trunc / date_diff accept every part but these
NO_TRUNC = ("era",) + TIMEZONE_PARTS
# interval units: (months, microseconds) per unit
INTERVAL_UNITS = {
    "millennium": (12_000, 0), "century": (1_200, 0), "decade": (120, 0), "year": (12, 0),
    "quarter": (3, 0), "month": (1, 0), "week": (0, 7 * US_PER_DAY), "day": (0, US_PER_DAY),
    "hour": (0, 3_600 * US_PER_SECOND), "minute": (0, 60 * US_PER_SECOND),
    "second": (0, US_PER_SECOND), "millisecond": (0, 1_000), "microsecond": (0, 1),
}


def canonical_unit(text) -> str | None:
    """DuckDB's date-part specifier ``text`` (any case, any of its spellings) as its
    canonical lower-case name (``'hrs'`` -> ``'hour'``), or None if unknown."""
    return UNITS.get(text.lower()) if isinstance(text, str) else None


# ----------------------------------------------------------------------------- intervals
_NUMBER = r"-?\d+(?:\.\d*)?"           # DuckDB: no '+', no leading '.'
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z_]+)", re.IGNORECASE)
_TIME = re.compile(r"\s*([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?", re.IGNORECASE)
_SECONDS = re.compile(rf"\s*({_NUMBER})\s*")  # a bare number: seconds
_AGO = re.compile(r"\s*ago\s*$", re.IGNORECASE)


def _interval_part(number: str, unit_text: str, text: str) -> tuple[int, int]:
    unit = canonical_unit(unit_text)
    if unit not in INTERVAL_UNITS:
        raise PlanError(f"unknown interval unit '{unit_text}' in INTERVAL '{text}'")
    months, micros = INTERVAL_UNITS[unit]
    q = Decimal(number)
    if months:
        if q * months != int(q * months):
            raise NotSupportedError(f"fractional months in INTERVAL '{text}' are not supported")
        return int(q * months), 0
    if q * micros != int(q * micros):
        raise NotSupportedError(f"INTERVAL '{text}' is not a whole number of microseconds")
    return 0, int(q * micros)


def _interval_time(m: re.Match, text: str) -> int:
    sign, hours, minutes, seconds = m.groups()
    seconds = Decimal(seconds or 0)
    if int(minutes) >= 60 or seconds >= 60:
        raise PlanError(f"invalid time in INTERVAL '{text}'")
    micros = (int(hours) * 3600 + int(minutes) * 60) * US_PER_SECOND + seconds * US_PER_SECOND
    if micros != int(micros):
        raise NotSupportedError(f"INTERVAL '{text}' is not a whole number of microseconds")
    return -int(micros) if sign == "-" else int(micros)


def _interval_parts(body: str, text: str, ago: bool) -> tuple[int, int]:
    """(months, microseconds) of ``number unit`` parts, optionally ending in ``h:m[:s]``."""
    months = micros = pos = 0
    while pos < len(body.rstrip()):
        m = _PART.match(body, pos)
        if m is not None:
            dm, du = _interval_part(m.group(1), m.group(2), text)
        else:
            m = _TIME.match(body, pos)
            if m is None or m.end() < len(body.rstrip()):   # a time can only come last
                raise PlanError(f"cannot read INTERVAL '{text}'")
            if ago:   # DuckDB rejects 'h:m ago' and ignores the 'ago' of 'h:m:s ago'
                raise NotSupportedError(f"'ago' after a time in INTERVAL '{text}' is not supported")
            dm, du = 0, _interval_time(m, text)
        months, micros, pos = months + dm, micros + du, m.end()
    if pos == 0:
        raise PlanError(f"empty INTERVAL '{text}'")
    return months, micros


def parse_interval(text) -> tuple[int, int]:
    """An interval in DuckDB's text form (``'1 year 2 months'``, ``'-15 minutes'``,
    ``'1 day 04:05:06.5'``, ``'2 hours ago'``, ``'@ 1 day'``, ``'3.5'`` = seconds) as
    (months, microseconds); days count as 86400 s, exactly as DuckDB adds them to naive
    timestamps. Raises PlanError (bad text) or NotSupportedError (fractional months,
    sub-microsecond parts)."""
    if not isinstance(text, str):
        raise PlanError(f"an interval must be a literal, got {text!r}")
    body = text[1:] if text.startswith("@") else text
    if _SECONDS.fullmatch(body):
        months, micros = _interval_part(body.strip(), "second", text)
    else:
        stripped = _AGO.sub("", body)
        negate = stripped != body
        months, micros = _interval_parts(stripped, text, negate)
        months, micros = (-months, -micros) if negate else (months, micros)
    if abs(months) >= 2 ** 31 or abs(micros) >= 2 ** 63:
        raise PlanError(f"INTERVAL '{text}' is out of range")
    return months, micros


def bucket_width(text) -> tuple[int, int]:
    """A time_bucket width as (months, microseconds), exactly one of them positive."""
    months, micros = parse_interval(text)
    if months and micros:
        raise NotSupportedError(f"time_bucket width INTERVAL '{text}': month intervals cannot "
                                "have a day or time component")
    if months < 0 or micros < 0 or not (months or micros):
        raise PlanError(f"time_bucket width INTERVAL '{text}' must be greater than 0")
    return months, micros


# ----------------------------------------------------------------------------- strftime
STRFTIME_SPECIFIERS = ("a", "A", "w", "u", "d", "-d", "b", "h", "B", "m", "-m", "y", "-y", "Y",
                       "G", "H", "-H", "I", "-I", "p", "M", "-M", "S", "-S", "f", "g", "n", "z",
                       "Z", "j", "-j", "U", "W", "V", "c", "x", "X", "T", "%")
_COMPOSITE = {"c": "%Y-%m-%d %H:%M:%S", "x": "%Y-%m-%d", "X": "%H:%M:%S", "T": "%H:%M:%S"}


def parse_format(fmt: str) -> list[tuple[bool, str]]:
    """A strftime format as pieces (is_specifier, text): literal text, or a specifier without
    its ``%`` (``'-d'``, ``'Y'``); ``%c %x %X %T`` are expanded and ``%%`` is literal text.
    Raises PlanError for an empty format or an unknown specifier."""
    if fmt == "":
        raise PlanError("the strftime format is empty")
    pieces, pos = [], 0
    for m in re.finditer(r"%(-?.?)", fmt):
        if m.start() > pos:
            pieces.append((False, fmt[pos:m.start()]))
        spec, pos = m.group(1), m.end()
        if spec not in STRFTIME_SPECIFIERS:
            raise PlanError(f"unknown strftime specifier '%{spec}' in '{fmt}'")
        if spec == "%":
            pieces.append((False, "%"))
        elif spec in _COMPOSITE:
            pieces.extend(parse_format(_COMPOSITE[spec]))
        else:
            pieces.append((True, spec))
    if pos < len(fmt):
        pieces.append((False, fmt[pos:]))
    return pieces

# one-part functions (year(x), ...) -> the date part they extract
PART_FUNCTIONS = {
    "year": "year", "month": "month", "day": "day", "hour": "hour", "minute": "minute",
    "second": "second", "millisecond": "millisecond", "microsecond": "microsecond",
    "nanosecond": "nanosecond", "quarter": "quarter", "week": "week", "dayofweek": "dow",
    "isodow": "isodow", "dayofyear": "doy", "epoch": "epoch", "epoch_ms": "epoch_ms",
    "epoch_us": "epoch_us", "epoch_ns": "epoch_ns", "yearweek": "yearweek", "isoyear": "isoyear",
    "era": "era", "julian": "julian", "decade": "decade", "century": "century",
    "millennium": "millennium",
}
