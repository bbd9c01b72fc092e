"""Temporal scalar functions: typing rules (implementations: ``gpuvelo.expr.temporal``).

Semantics are DuckDB's for naive TIMESTAMP (any unit) and DATE. Time-zone-aware timestamps
are computed in UTC (what DuckDB answers with ``SET TimeZone='UTC'``) and keep their zone.

* ``date_trunc(unit, x)`` -> TIMESTAMP(us) (also for DATE and TIMESTAMP_NS input, as DuckDB).
* ``date_part(part, x)`` / ``EXTRACT(part FROM x)`` and the one-part functions (``year``
  ``month`` ``day`` ``hour`` ... ``epoch_ms`` ``epoch_us`` ``epoch_ns``) -> BIGINT; ``epoch``
  and ``julian`` -> DOUBLE.
* ``x + INTERVAL ...`` / ``x - INTERVAL ...`` / ``date_add(x, INTERVAL ...)`` are rewritten
  (REWRITES) to ``interval_add(x, 'spec')`` / ``interval_sub(x, 'spec')`` (``spec`` is the
  interval's text in DuckDB's form, e.g. ``'1 month 2 hours'``) or, for a computed quantity
  (``INTERVAL (n) HOUR``), ``interval_add(x, n, 'hour')``. DATE / TIMESTAMP(s|ms|us) ->
  TIMESTAMP(us), TIMESTAMP(ns) -> TIMESTAMP(ns). Months clamp to the end of the month.
* ``date_diff(unit, start, end)`` -> BIGINT (unit boundaries crossed; ``week``: whole days / 7).
* ``time_bucket(INTERVAL, x[, origin | offset INTERVAL])`` is rewritten to
  ``time_bucket('spec', x[, origin | 'offset spec'])``; DATE -> DATE, timestamps -> TIMESTAMP(us).
* ``strftime(x, format)`` -> VARCHAR (DuckDB's specifiers, see :data:`STRFTIME_SPECIFIERS`).
* ``make_date(y, m, d)`` -> DATE, ``last_day(x)`` -> DATE, ``dayname monthname`` -> VARCHAR,
  ``to_timestamp(seconds)`` -> TIMESTAMP WITH TIME ZONE (UTC), ``epoch_ms(BIGINT)`` and
  ``make_timestamp(BIGINT micros)`` -> TIMESTAMP.

The unit / interval / format parsers below are shared with the implementations.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlglot import exp

from ...errors import NotSupportedError, PlanError
from ...types import DATE, FLOAT64, INT64, STRING, DType, timestamp
from . import NOT_LITERAL, Function, need

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
_UNITS = {s: unit for unit, spellings in _UNIT_SPELLINGS.items() for s in spellings.split()}
_TIMEZONE_PARTS = ("timezone", "timezone_hour", "timezone_minute")
DOUBLE_PARTS = ("epoch", "julian")
# date_trunc / date_diff accept every part but these
_NO_TRUNC = ("era",) + _TIMEZONE_PARTS
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
    return _UNITS.get(text.lower()) if isinstance(text, str) else None


# ----------------------------------------------------------------------------- intervals
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z_]+)", re.IGNORECASE)
_TIME = re.compile(r"\s*([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?", re.IGNORECASE)
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


def parse_interval(text) -> tuple[int, int]:
    """An interval in DuckDB's text form (``'1 year 2 months'``, ``'-15 minutes'``,
    ``'1 day 04:05:06.5'``, ``'2 hours ago'``) as (months, microseconds); days count as
    86400 s, exactly as DuckDB adds them to naive timestamps. Raises PlanError (bad text) or
    NotSupportedError (fractional months, sub-microsecond parts)."""
    if not isinstance(text, str):
        raise PlanError(f"an interval must be a literal, got {text!r}")
    body = _AGO.sub("", text)
    negate = body != text
    months = micros = pos = 0
    while pos < len(body.rstrip()):
        m = _PART.match(body, pos)
        if m is not None and not body[m.end():].lstrip().startswith(":"):
            dm, du = _interval_part(m.group(1), m.group(2), text)
        else:
            m = _TIME.match(body, pos)
            if m is None:
                raise PlanError(f"cannot read INTERVAL '{text}'")
            dm, du = 0, _interval_time(m, text)
        months, micros, pos = months + dm, micros + du, m.end()
    if pos == 0:
        raise PlanError(f"empty INTERVAL '{text}'")
    return (-months, -micros) if negate else (months, micros)


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


# ----------------------------------------------------------------------------- typing
def _is_temporal(t: DType) -> bool:
    return t.is_temporal or t.is_null


def _need_temporal(name: str, t: DType) -> None:
    need(_is_temporal(t), f"{name}() needs a DATE or TIMESTAMP, got {t}")


def _need_integer(name: str, t: DType, what: str = "arguments") -> None:
    need(t.is_integer or t.is_null, f"{name}() {what} must be integers, got {t}")


def _unit(name: str, value, allowed=None) -> str | None:
    """The canonical unit of a literal unit argument (None for a NULL literal)."""
    if value is None:
        return None
    unit = canonical_unit(value)
    if unit is None or (allowed is not None and not allowed(unit)):
        raise PlanError(f"{name}(): unknown or unsupported unit {value!r}")
    return unit


def _stamp_us(t: DType) -> DType:
    """The TIMESTAMP(us) a function returns for ``t`` (the zone kept)."""
    return timestamp("us", t.tz if t.kind == "timestamp" else None)


def _part_type(name: str, part: str | None, t: DType) -> DType:
    _need_temporal(name, t)
    if part in _TIMEZONE_PARTS:
        need(t.kind != "date", f"{name}(): '{part}' needs a TIMESTAMP, got {t}")
    return FLOAT64 if part in DOUBLE_PARTS else INT64


def _date_part(types, values):
    part = _unit("date_part", values[0])
    return _part_type("date_part", part, types[1])


def _one_part(name: str, part: str):
    def typing(types, _values):
        return _part_type(name, part, types[0])
    return typing


def _date_trunc(types, values):
    _unit("date_trunc", values[0], lambda u: u not in _NO_TRUNC)
    _need_temporal("date_trunc", types[1])
    return _stamp_us(types[1])


def _date_diff(types, values):
    _unit("date_diff", values[0], lambda u: u not in _NO_TRUNC)
    for t in types[1:]:
        _need_temporal("date_diff", t)
    return INT64


def _added_type(t: DType) -> DType:
    """x + INTERVAL: TIMESTAMP_NS stays ns; DATE and other timestamps become TIMESTAMP(us)."""
    if t.kind == "timestamp" and t.unit == "ns":
        return t
    return _stamp_us(t)


def _interval_add(name: str):
    def typing(types, values):
        _need_temporal(name, types[0])
        if values[-1] is NOT_LITERAL:
            raise PlanError(f"the interval of {name}() must be a literal")
        if len(types) == 2:
            need(types[1].is_string or types[1].is_null, f"{name}() needs an interval, got {types[1]}")
            if values[1] is not None:
                parse_interval(values[1])
        else:
            _need_integer(name, types[1], "interval quantities")
            _unit(name, values[2], lambda u: u in INTERVAL_UNITS)
        return _added_type(types[0])
    return typing


def _time_bucket(types, values):
    _need_temporal("time_bucket", types[1])
    if values[0] is not None:
        bucket_width(values[0])
    if len(types) == 3:
        if types[2].is_string:
            if values[2] is NOT_LITERAL:
                raise PlanError("the time_bucket offset must be an INTERVAL literal")
            parse_interval(values[2])
        else:
            _need_temporal("time_bucket", types[2])
    return DATE if types[1].kind == "date" else _stamp_us(types[1])


def _strftime(types, values):
    if types[0].is_string and not _is_temporal(types[1]):   # strftime(format, x)
        types, values = types[::-1], values[::-1]
    _need_temporal("strftime", types[0])
    need(types[1].is_string or types[1].is_null, f"strftime() needs a format string, got {types[1]}")
    if values[1] is NOT_LITERAL:
        raise PlanError("the strftime format must be a string literal")
    if values[1] is not None:
        parse_format(values[1])
    return STRING


def _make_date(types, _values):
    for t in types:
        _need_integer("make_date", t)
    return DATE


def _to_timestamp(types, values):
    """UNIX_TO_TIME: to_timestamp(seconds) (no scale), epoch_ms(x) (scale 3: a BIGINT of
    milliseconds, or the milliseconds of a DATE / TIMESTAMP), make_timestamp(micros) (scale 6)."""
    t = types[0]
    scale = values[1] if len(values) > 1 else None
    if scale is None:
        need(t.is_numeric or t.is_null, f"to_timestamp() needs a number of seconds, got {t}")
        return timestamp("us", "UTC")
    if scale == 3 and t.is_temporal:
        return INT64
    name = {3: "epoch_ms", 6: "make_timestamp"}.get(scale)
    if name is None:
        raise NotSupportedError(f"UNIX_TO_TIME with scale {scale!r} is not supported")
    _need_integer(name, t)
    return timestamp("us")


def _to_date(name: str):
    def typing(types, _values):
        _need_temporal(name, types[0])
        return DATE
    return typing


def _names(name: str):
    def typing(types, _values):
        _need_temporal(name, types[0])
        return STRING
    return typing


# one-part functions: function name -> part
PART_FUNCTIONS = {
    "year": "year", "month": "month", "day": "day", "hour": "hour", "minute": "minute",
    "second": "second", "millisecond": "millisecond", "microsecond": "microsecond",
    "nanosecond": "nanosecond", "quarter": "quarter", "week": "week", "dayofweek": "dow",
    "isodow": "isodow", "dayofyear": "doy", "epoch": "epoch", "epoch_ms": "epoch_ms",
    "epoch_us": "epoch_us", "epoch_ns": "epoch_ns", "yearweek": "yearweek", "isoyear": "isoyear",
    "era": "era", "julian": "julian", "decade": "decade", "century": "century",
    "millennium": "millennium",
}

FUNCTIONS = {name: Function(name, 1, 1, _one_part(name, part)) for name, part in PART_FUNCTIONS.items()}
FUNCTIONS.update({
    "date_part": Function("date_part", 2, 2, _date_part, literals=(0,)),
    "date_trunc": Function("date_trunc", 2, 2, _date_trunc, literals=(0,)),
    "date_diff": Function("date_diff", 3, 3, _date_diff, literals=(0,)),
    "interval_add": Function("interval_add", 2, 3, _interval_add("interval_add")),
    "interval_sub": Function("interval_sub", 2, 2, _interval_add("interval_sub")),
    "time_bucket": Function("time_bucket", 2, 3, _time_bucket, literals=(0,)),
    "strftime": Function("strftime", 2, 2, _strftime),
    "make_date": Function("make_date", 3, 3, _make_date),
    "to_timestamp": Function("to_timestamp", 1, 2, _to_timestamp, literals=(1,)),
    "last_day": Function("last_day", 1, 1, _to_date("last_day")),
    "dayname": Function("dayname", 1, 1, _names("dayname")),
    "monthname": Function("monthname", 1, 1, _names("monthname")),
})

NODES = {
    exp.TimestampTrunc: ("date_trunc", ("unit", "this")), exp.DateTrunc: ("date_trunc", ("unit", "this")),
    exp.Extract: ("date_part", ("this", "expression")),
    exp.DateDiff: ("date_diff", ("unit", "expression", "this")),
    exp.Year: ("year", ("this",)), exp.Month: ("month", ("this",)), exp.Day: ("day", ("this",)),
    exp.DayOfMonth: ("day", ("this",)), exp.Hour: ("hour", ("this",)),
    exp.Minute: ("minute", ("this",)), exp.Second: ("second", ("this",)),
    exp.Quarter: ("quarter", ("this",)), exp.Week: ("week", ("this",)),
    exp.WeekOfYear: ("week", ("this",)), exp.DayOfWeek: ("dayofweek", ("this",)),
    exp.DayOfWeekIso: ("isodow", ("this",)), exp.DayOfYear: ("dayofyear", ("this",)),
    exp.TimeToUnix: ("epoch", ("this",)), exp.UnixToTime: ("to_timestamp", ("this", "scale")),
    exp.TimeToStr: ("strftime", ("this", "format")),
    exp.DateFromParts: ("make_date", ("year", "month", "day")),
    exp.LastDay: ("last_day", ("this",)), exp.Dayname: ("dayname", ("this",)),
    exp.Monthname: ("monthname", ("this",)),
}

ALIASES = {"datepart": "date_part", "datetrunc": "date_trunc", "datediff": "date_diff",
           "weekday": "dayofweek", "weekofyear": "week", "dayofmonth": "day"}


# ----------------------------------------------------------------------------- rewrites
class _Syntax(exp.Anonymous):
    """A catalogue call standing for SQL syntax (``ts + INTERVAL 1 HOUR``); prints as that
    syntax, so output column names and messages show what the user wrote."""

    def sql(self, dialect=None, **opts) -> str:
        source = self.meta.get("source")
        return super().sql(dialect, **opts) if source is None else source.sql(dialect, **opts)


def _call(name: str, args: list, source) -> exp.Expression:
    from . import rewrite   # noqa: PLC0415 (the package imports this module)

    node = _Syntax(this=name, expressions=[rewrite(a) for a in args])
    node.meta["source"] = source
    return node


def _interval_text(iv: exp.Interval) -> str | None:
    """A literal INTERVAL as DuckDB interval text, or None when its quantity is computed.
    ``INTERVAL 1.5 HOUR`` (a number and a unit keyword) truncates the quantity toward zero
    for units above seconds, as DuckDB does; ``INTERVAL '1.5 hours'`` keeps the fraction."""
    q, unit = iv.this, iv.args.get("unit")
    if not (isinstance(q, exp.Literal) and q.is_string):
        return None
    if unit is None:
        return q.this
    if not isinstance(unit, exp.Var):
        return None
    number = q.this
    if not iv.args.get("fraction_in_string") and canonical_unit(unit.name) not in (
            "second", "millisecond", "microsecond"):
        try:
            number = str(int(Decimal(number)))
        except (InvalidOperation, ValueError):
            pass
    return f"{number} {unit.name.lower()}"


def _shift(x, iv: exp.Interval, subtract: bool, source):
    """``x ± iv`` as a catalogue call, or None when the interval is not one gpuvelo reads."""
    text = _interval_text(iv)
    if text is not None:
        return _call("interval_sub" if subtract else "interval_add", [x, exp.Literal.string(text)], source)
    unit = iv.args.get("unit")
    if not isinstance(unit, exp.Var):
        return None
    q = iv.this.unnest() if isinstance(iv.this, exp.Paren) else iv.this
    q = exp.Neg(this=exp.Paren(this=q)) if subtract else q
    return _call("interval_add", [x, q, exp.Literal.string(unit.name.lower())], source)


def _bucket(node: exp.DateBin):
    width, x = node.this, node.expression
    third = node.args.get("origin") or node.args.get("unit")
    text = _interval_text(width) if isinstance(width, exp.Interval) else None
    if text is None:
        return None
    args = [exp.Literal.string(text), x]
    if isinstance(third, exp.Interval):
        offset = _interval_text(third)
        if offset is None:
            return None
        args.append(exp.Literal.string(offset))
    elif third is not None:
        args.append(third)
    return _call("time_bucket", args, node)


def _rewrite(node):
    """Interval arithmetic and time_bucket as catalogue calls (see the module docstring)."""
    if isinstance(node, (exp.Add, exp.DateAdd)):
        if isinstance(node.expression, exp.Interval):
            return _shift(node.this, node.expression, False, node)
        if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
            return _shift(node.expression, node.this, False, node)
    elif isinstance(node, exp.Sub) and isinstance(node.expression, exp.Interval):
        return _shift(node.this, node.expression, True, node)
    elif isinstance(node, exp.DateBin):
        return _bucket(node)
    return None


REWRITES = [_rewrite]
