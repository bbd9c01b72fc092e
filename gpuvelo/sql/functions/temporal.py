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
* TIME (time of day, DuckDB): ``hour minute second millisecond microsecond`` parts ->
  BIGINT, ``epoch`` -> DOUBLE (seconds since midnight); ``TIME ± INTERVAL`` -> TIME (the
  interval's months and days ignored, the rest wrapping around midnight, as DuckDB).
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
from ...types import DATE, FLOAT64, INT64, STRING, TIME, DType, interval, timestamp
from ..sqltypes import shifted_type, summed_split
from . import NOT_LITERAL, Function, need

from ...timeparts import (DOUBLE_PARTS, INTERVAL_UNITS, NO_TRUNC, PART_FUNCTIONS, TIMEZONE_PARTS,
                          US_PER_DAY, bucket_width, canonical_unit, parse_format, parse_interval)


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


# the parts DuckDB extracts from an INTERVAL; the day and time-of-day ones depend on how
# its values split into days and time (``types``: an unknown split is refused)
INTERVAL_PARTS = ("year", "month", "decade", "century", "millennium", "quarter", "day", "hour",
                  "minute", "second", "millisecond", "microsecond", "epoch", "epoch_ms",
                  "epoch_us", "epoch_ns")
SPLIT_PARTS = ("day", "hour", "minute", "second", "millisecond", "microsecond")


def _interval_part_type(name: str, part: str | None, t: DType) -> DType:
    if part is not None and part not in INTERVAL_PARTS:
        raise PlanError(f"{name}(): '{part}' is not a part of an INTERVAL")
    if part in SPLIT_PARTS and t.split is None:
        raise NotSupportedError(
            f"{name}(): '{part}' of this INTERVAL depends on how DuckDB would hold it as days "
            "and time, which gpuvelo does not know for sums, multiples or averages of day "
            "intervals; epoch(x) gives its length in seconds")
    return FLOAT64 if part == "epoch" else INT64


# the parts DuckDB extracts from a TIME
TIME_PARTS = ("hour", "minute", "second", "millisecond", "microsecond", "epoch")


def _part_type(name: str, part: str | None, t: DType) -> DType:
    if t.is_interval:
        return _interval_part_type(name, part, t)
    if t.is_time:
        if part is not None and part not in TIME_PARTS:
            raise PlanError(f"{name}(): '{part}' is not a part of a TIME (DuckDB's are "
                            + ", ".join(TIME_PARTS) + ")")
        return FLOAT64 if part == "epoch" else INT64
    _need_temporal(name, t)
    if part in TIMEZONE_PARTS:
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
    _unit("date_trunc", values[0], lambda u: u not in NO_TRUNC)
    _need_temporal("date_trunc", types[1])
    return _stamp_us(types[1])


def _date_diff(types, values):
    _unit("date_diff", values[0], lambda u: u not in NO_TRUNC)
    for t in types[1:]:
        _need_temporal("date_diff", t)
    return INT64


def _interval_add(name: str):
    """x ± INTERVAL (a literal's text, or a quantity and a unit): x a DATE or TIMESTAMP
    (:func:`shifted_type`), a TIME (-> TIME) or an INTERVAL (then the literal must have no
    months)."""
    def typing(types, values):
        t = types[0]
        if not (t.is_interval or t.is_time):
            _need_temporal(name, t)
        if values[-1] is NOT_LITERAL:
            raise PlanError(f"the interval of {name}() must be a literal")
        if len(types) == 2:
            need(types[1].is_string or types[1].is_null, f"{name}() needs an interval, got {types[1]}")
            months, split = (0, "short") if values[1] is None else literal_interval(values[1])
        else:
            need(types[1].is_integer or types[1].is_null,
                 f"an INTERVAL quantity must be an integer, got {types[1]}")
            unit = _unit(name, values[2], lambda u: u in INTERVAL_UNITS)
            months, split = INTERVAL_UNITS.get(unit, (0, 0))[0], _unit_split(unit)
        if t.is_time:
            return TIME
        if not t.is_interval:
            return shifted_type(t)
        if months:
            raise NotSupportedError(f"{name}(): gpuvelo's INTERVAL values have no months (a "
                                    "month has no fixed length); add months to a DATE or TIMESTAMP")
        return interval(summed_split(t.split, split))
    return typing


_DAY_PART = re.compile(r"(-?\d+(?:\.\d*)?)\s*(days?|d|weeks?|w)\b", re.IGNORECASE)


def literal_interval(text: str) -> tuple[int, str | None]:
    """(months, split) of an interval literal's text: the split its value has in DuckDB
    (``types``): a day or week quantity (whole) holds days, the rest holds time."""
    months, micros = parse_interval(text)
    days = 0
    for number, unit in _DAY_PART.findall(text):
        q = Decimal(number) * (7 if unit.lower().startswith("w") else 1)
        if q != int(q):
            return months, None    # DuckDB carries the fraction into the time
        days += int(q)
    if text.strip().lower().endswith("ago"):
        days = -days
    time = micros - days * US_PER_DAY
    if days == 0:
        return months, "short" if abs(time) < US_PER_DAY else "time"
    if time == 0 or (abs(time) < US_PER_DAY and (time > 0) == (days > 0)):
        return months, "days"
    return months, None


_TIME_TEXT = re.compile(r"(?:\d{4}-\d{1,2}-\d{1,2}[ T])?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?)?")


def parse_time(text: str) -> int | None:
    """Microseconds since midnight of TIME text as DuckDB reads it (``10:00``, ``1:2:3``,
    ``10:00:00.1234567``: the fraction truncated to microseconds; a date before it is
    skipped); None for other text (a time zone, ``24:00:00``, out-of-range fields)."""
    m = _TIME_TEXT.fullmatch(text.rstrip())
    if m is None:
        return None
    hours, minutes, seconds = (int(g or 0) for g in m.groups()[:3])
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    micros = int((m.group(4) or "").ljust(6, "0")[:6])
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros


def _unit_split(unit: str | None) -> str:
    return "days" if unit in ("day", "week") else "time"


_TO_UNITS = ("to_microseconds", "to_milliseconds", "to_seconds", "to_minutes", "to_hours",
             "to_days", "to_weeks")
_TO_MONTHS = ("to_months", "to_quarters", "to_years", "to_decades", "to_centuries",
              "to_millennia")


def _to_interval(name: str):
    """to_seconds(x) ... -> INTERVAL; to_seconds / to_milliseconds take any number (DOUBLE
    in DuckDB), the others integers."""
    def typing(types, _values):
        t = types[0]
        if name in ("to_seconds", "to_milliseconds"):
            need(t.is_numeric or t.is_null, f"{name}() needs a number, got {t}")
        else:
            _need_integer(name, t, "argument")
        return interval("days" if name in ("to_days", "to_weeks") else "time")
    return typing


def _to_months(name: str):
    def typing(_types, _values):
        raise NotSupportedError(f"{name}(): gpuvelo's INTERVAL values have no months (a month "
                                "has no fixed length); add months to a DATE or TIMESTAMP "
                                "with + INTERVAL 'n months'")
    return typing


def _interval_quantity(types, values):
    """interval_quantity(n, unit): ``INTERVAL (n) unit`` as a value."""
    need(types[0].is_integer or types[0].is_null,
         f"an INTERVAL quantity must be an integer, got {types[0]}")
    unit = _unit("INTERVAL", values[1], lambda u: u in INTERVAL_UNITS)
    if INTERVAL_UNITS[unit][0]:
        raise NotSupportedError(f"INTERVAL (n) {unit.upper()}: gpuvelo's INTERVAL values have no "
                                "months; add months to a DATE or TIMESTAMP")
    return interval(_unit_split(unit))


def _time_bucket(types, values):
    _need_temporal("time_bucket", types[1])
    if values[0] is not None:
        bucket_width(values[0])
    dates = types[1].kind == "date"
    if len(types) == 3:
        if types[2].is_string:
            if values[2] is NOT_LITERAL:
                raise PlanError("the time_bucket offset must be an INTERVAL literal")
            parse_interval(values[2])
        else:
            _need_temporal("time_bucket", types[2])
            dates = dates and types[2].kind == "date"   # a TIMESTAMP origin makes timestamps
    return DATE if dates else _stamp_us(types[1])


def _strftime(types, values):
    if types[0].is_string and types[1].is_temporal:   # strftime(format, x)
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
    if scale == 3 and (t.is_temporal or t.is_interval):
        return _part_type("epoch_ms", "epoch_ms", t)
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
    "interval_quantity": Function("interval_quantity", 2, 2, _interval_quantity, literals=(1,)),
})
FUNCTIONS.update({name: Function(name, 1, 1, _to_interval(name)) for name in _TO_UNITS})
FUNCTIONS.update({name: Function(name, 1, 1, _to_months(name)) for name in _TO_MONTHS})

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
    exp.Monthname: ("monthname", ("this",)), exp.ToDays: ("to_days", ("this",)),
}

ALIASES = {"datepart": "date_part", "datetrunc": "date_trunc", "datediff": "date_diff",
           "weekday": "dayofweek", "weekofyear": "week", "dayofmonth": "day"}


# ----------------------------------------------------------------------------- rewrites
class _Syntax(exp.Anonymous):
    """A catalogue call standing for SQL syntax (``ts + INTERVAL 1 HOUR``); prints as that
    syntax, so output column names and messages show what the user wrote (inside another
    expression it prints as the call, ``interval_add(ts, '1 hour')``)."""

    arg_types = {"expressions": False}   # print as name(expressions), the name being ``this``

    def sql_name(self) -> str:   # noqa: D102 (the call's name, for sqlglot's generator)
        return self.this

    def sql(self, dialect=None, **opts) -> str:
        source = self.meta.get("source")
        return super().sql(dialect, **opts) if source is None else source.sql(dialect, **opts)


def _call(name: str, args: list, source) -> exp.Expression:
    from . import rewrite   # noqa: PLC0415 (the package imports this module)

    node = _Syntax(this=name, expressions=[rewrite(a) for a in args])
    node.meta["source"] = source
    return node


def _sum_text(texts: list) -> str | None:
    """The interval text of a sum of interval texts (parsed one by one: ``'1 day'`` plus
    ``'2 hours ago'`` is 22 hours, not their joined text); a text that does not parse is
    returned as it is, for the planner to report."""
    if None in texts:
        return None
    months = micros = 0
    for text in texts:
        try:
            m, us = parse_interval(text)
        except PlanError:
            return text
        months, micros = months + m, micros + us
    return f"{months} months {micros} microseconds"


def _interval_text(iv) -> str | None:
    """A literal interval (``INTERVAL ...``, ``CAST('...' AS INTERVAL)``, or a sum of them) as
    DuckDB interval text, or None when it is not one. ``INTERVAL 1.5 HOUR`` (a number and a
    unit keyword) truncates the quantity toward zero for units above seconds, as DuckDB
    does; ``INTERVAL '1.5 hours'`` keeps the fraction."""
    if isinstance(iv, exp.Paren):
        return _interval_text(iv.unnest())
    if isinstance(iv, exp.Add):
        return _sum_text([_interval_text(iv.this), _interval_text(iv.expression)])
    if isinstance(iv, exp.Cast) and iv.to.this == exp.DataType.Type.INTERVAL:
        q = iv.this
        return q.this if isinstance(q, exp.Literal) and q.is_string else None
    if not isinstance(iv, exp.Interval):
        return None
    q, unit = iv.this, iv.args.get("unit")
    if not (isinstance(q, exp.Literal) and q.is_string):
        return None
    if unit is None:
        return q.this
    if not isinstance(unit, exp.Var):
        return None
    number = q.this
    try:
        quantity = Decimal(number)
    except InvalidOperation:
        quantity = None
    if quantity is None or not quantity.is_finite():
        return f"{number} {unit.name.lower()}"   # not a number: parse_interval reports it
    if not iv.args.get("fraction_in_string") and canonical_unit(unit.name) not in (
            "second", "millisecond", "microsecond"):
        quantity = Decimal(int(quantity))
    return f"{quantity:f} {unit.name.lower()}"


def interval_value(node) -> tuple[str, int, int, str | None] | None:
    """(text, months, microseconds, split) of a literal interval node (``INTERVAL 90
    MINUTE``, ``INTERVAL '1 day 2 hours'``, ``CAST('...' AS INTERVAL)``, sums of them), or
    None when ``node`` is none. Raises PlanError for text that is no interval."""
    text = _interval_text(node)
    if text is None:
        return None
    months, split = literal_interval(text)
    return text, months, parse_interval(text)[1], split


def _is_interval(node) -> bool:
    return isinstance(node.unnest(), exp.Interval) or _interval_text(node) is not None


def _shift(x, iv, subtract: bool, source):
    """``x ± iv`` as a catalogue call, or None when the interval is not one gpuvelo reads."""
    text = _interval_text(iv)
    if text is not None:
        return _call("interval_sub" if subtract else "interval_add", [x, exp.Literal.string(text)], source)
    iv = iv.unnest()
    if not isinstance(iv, exp.Interval):
        return None
    unit = iv.args.get("unit")
    if not isinstance(unit, exp.Var):
        return None
    q = iv.this.unnest() if isinstance(iv.this, exp.Paren) else iv.this
    q = exp.Neg(this=exp.Paren(this=q)) if subtract else q
    return _call("interval_add", [x, q, exp.Literal.string(unit.name.lower())], source)


def _bucket(node: exp.DateBin):
    width, x = node.this, node.expression
    third = node.args.get("origin") or node.args.get("unit")
    text = _interval_text(width)   # a computed width stays an INTERVAL node the planner rejects
    args = [width if text is None else exp.Literal.string(text), x]
    if third is not None and _is_interval(third):
        offset = _interval_text(third)
        if offset is None:
            return None
        args.append(exp.Literal.string(offset))
    elif isinstance(third, exp.Var):   # sqlglot reads a bare column here as a unit keyword
        args.append(exp.column(third.name))
    elif third is not None:
        args.append(third)
    return _call("time_bucket", args, node)


def _rewrite(node):
    """Interval arithmetic and time_bucket as catalogue calls (see the module docstring)."""
    if isinstance(node, (exp.Add, exp.DateAdd)):
        if _is_interval(node.expression) and not _is_interval(node.this):
            return _shift(node.this, node.expression, False, node)
        if isinstance(node, exp.Add) and _is_interval(node.this) and not _is_interval(node.expression):
            return _shift(node.expression, node.this, False, node)
    elif isinstance(node, exp.Sub) and _is_interval(node.expression) and not _is_interval(node.this):
        return _shift(node.this, node.expression, True, node)
    elif isinstance(node, exp.DateBin):
        return _bucket(node)
    return None


REWRITES = [_rewrite]
