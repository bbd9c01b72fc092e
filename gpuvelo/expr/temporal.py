"""Date and time functions over ``xp`` arrays (typing rules: ``gpuvelo.sql.functions.temporal``).

Calendar arithmetic is vectorised integer arithmetic on day numbers (Howard Hinnant's
``civil_from_days`` / ``days_from_civil``) with floor division, so moments before 1970 are
exact. Time-zone-aware timestamps are computed in UTC.

TIMESTAMP_NS follows DuckDB, which is not uniform: date_trunc, date_diff, time_bucket,
epoch_ms and the date-level one-part functions (year(), day(), dayofweek(), julian(),
last_day, dayname, ...) see the value rounded half away from zero to microseconds (DuckDB's
cast to TIMESTAMP); date_part / EXTRACT, the time-of-day parts, the other epochs, strftime
and interval arithmetic use the exact nanoseconds (floored).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..columns import Col
from ..errors import DataError
from ..sql import plan as P
from ..timeparts import (INTERVAL_UNITS, PART_FUNCTIONS, US_PER_DAY, US_PER_SECOND,
                          bucket_width, canonical_unit, parse_format, parse_interval)
from ..types import FLOAT64, INT64, DType, timestamp
from .arith import checked, div_round, mul_const
from .cast import cast_col
from .core import and_valid, null_col, to_host
from . import intervals, times
from .intervals import tdiv as _tdiv

PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DEFAULT_ORIGIN_US = 10_959 * US_PER_DAY    # 2000-01-03, a Monday (DuckDB's time_bucket)
_DEFAULT_ORIGIN_MONTHS = 360                # 2000-01
_EPOCH_JULIAN_DAY = 2_440_588
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")


# ----------------------------------------------------------------------------- calendar
def civil_from_days(xp, days):
    """(year, month, day) int64 arrays of days since 1970-01-01 (proleptic Gregorian)."""
    z = days.astype(xp.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = xp.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2).astype(xp.int64)
    return y, m, d


def days_from_civil(xp, y, m, d):
    """Days since 1970-01-01 of (year, month, day) int64 arrays or scalars (valid dates)."""
    if isinstance(m, int):   # a constant month (no xp.where on Python scalars)
        y, mp = y - int(m <= 2), (m - 3 if m > 2 else m + 9)
    else:
        y, mp = y - (m <= 2).astype(xp.int64), xp.where(m > 2, m - 3, m + 9)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def days_in_month(xp, y, m):
    """Number of days of month ``m`` of year ``y`` (arrays)."""
    nxt_y = y + (m == 12)
    nxt_m = m % 12 + 1
    return days_from_civil(xp, nxt_y, nxt_m, 1) - days_from_civil(xp, y, m, 1)


def _iso(xp, days):
    """(ISO year, ISO week) of day numbers: the week's Thursday decides the year."""
    thursday = days - (days + 3) % 7 + 3
    year = civil_from_days(xp, thursday)[0]
    return year, (thursday - days_from_civil(xp, year, 1, 1)) // 7 + 1


def _add_months(xp, days, months):
    """Day numbers ``months`` calendar months later, the day clamped to the month's end."""
    y, m, d = civil_from_days(xp, days)
    total = y * 12 + (m - 1) + months
    ny = total // 12
    nm = total - ny * 12 + 1
    return days_from_civil(xp, ny, nm, xp.minimum(d, days_in_month(xp, ny, nm)))


# ----------------------------------------------------------------------------- moments
def _per_second(d: DType) -> int:
    return PER_SECOND[d.unit] if d.kind == "timestamp" else 1


def _micros(xp, col: Col, what: str):
    """int64 microseconds since the epoch of a DATE or TIMESTAMP column (TIMESTAMP_NS
    rounded half away from zero, as DuckDB casts it); raises on overflow."""
    d = col.dtype
    if d.kind == "date":
        return mul_const(xp, col.data.astype(xp.int64), US_PER_DAY, col.valid, what)
    if d.unit == "ns":
        return div_round(xp, col.data, 3)
    return mul_const(xp, col.data, US_PER_SECOND // PER_SECOND[d.unit], col.valid, what)


def _days(xp, col: Col, rounded: bool = True):
    """Day numbers of a DATE or TIMESTAMP column (floor); TIMESTAMP_NS is first rounded to
    microseconds when ``rounded`` (DuckDB's year(), day(), ... but not its date_part)."""
    d = col.dtype
    if d.kind == "date":
        return col.data.astype(xp.int64)
    if d.unit == "ns" and rounded:
        return div_round(xp, col.data, 3) // US_PER_DAY
    return col.data // (86_400 * PER_SECOND[d.unit])


def _time_of_day(xp, col: Col):
    """(ticks since midnight, ticks per second) of a column, floored (DATE: zeros)."""
    ps = _per_second(col.dtype)
    if col.dtype.kind == "date":
        return xp.zeros(col.data.shape[0], dtype=xp.int64), ps
    return col.data % (86_400 * ps), ps


def _rescale(xp, ticks, frm: int, to: int, valid, what: str):
    """Ticks of ``frm`` per second as ticks of ``to`` per second (floor; checked upwards)."""
    if to >= frm:
        return mul_const(xp, ticks.astype(xp.int64), to // frm, valid, what)
    return ticks // (frm // to)


def _ticks(xp, col: Col, valid, what: str):
    """(ticks since the epoch, ticks per second) of a column, exact (DATE: seconds)."""
    if col.dtype.kind == "date":
        return mul_const(xp, col.data.astype(xp.int64), 86_400, valid, what), 1
    return col.data, PER_SECOND[col.dtype.unit]


# ----------------------------------------------------------------------------- date parts
def _millennial(xp, y, per: int):
    """DuckDB's century (per=100) / millennium (per=1000): year 1 starts the first one."""
    return xp.where(y > 0, _tdiv(y - 1, per) + 1, _tdiv(y, per) - 1)


def _date_part(xp, part: str, days):
    """A date-level part (BIGINT) of day numbers."""
    if part in ("dow", "isodow"):
        dow = (days + 4) % 7
        return dow if part == "dow" else xp.where(dow == 0, 7, dow)
    if part in ("week", "isoyear", "yearweek"):
        year, week = _iso(xp, days)
        return {"week": week, "isoyear": year,
                "yearweek": year * 100 + xp.where(year > 0, week, -week)}[part]
    y, m, d = civil_from_days(xp, days)
    simple = {"year": lambda: y, "month": lambda: m, "day": lambda: d,
              "quarter": lambda: (m - 1) // 3 + 1, "decade": lambda: _tdiv(y, 10),
              "century": lambda: _millennial(xp, y, 100),
              "millennium": lambda: _millennial(xp, y, 1000),
              "era": lambda: (y > 0).astype(xp.int64),
              "doy": lambda: days - days_from_civil(xp, y, 1, 1) + 1}
    return simple[part]()


def _time_part(xp, part: str, tod, ps: int, valid, what: str):
    """A time-of-day part (BIGINT) of ticks since midnight at ``ps`` ticks per second."""
    if part == "hour":
        return tod // (3_600 * ps)
    if part == "minute":
        return tod // (60 * ps) % 60
    if part == "second":
        return tod // ps % 60
    in_minute = tod % (60 * ps)
    to = {"millisecond": 1_000, "microsecond": 1_000_000, "nanosecond": 1_000_000_000}[part]
    return _rescale(xp, in_minute, ps, to, valid, what)


def _julian(xp, col: Col, rounded: bool, what: str):
    """The Julian day number with the time of day as a fraction (DOUBLE)."""
    if col.dtype.kind == "timestamp" and col.dtype.unit == "ns" and not rounded:
        ticks, per_day = col.data, 86_400 * PER_SECOND["ns"]
    else:
        ticks, per_day = _micros(xp, col, what), US_PER_DAY
    days = ticks // per_day
    return (days + _EPOCH_JULIAN_DAY).astype(xp.float64) + (ticks - days * per_day) / float(per_day)


def _part(xp, part: str, col: Col, what: str, rounded: bool = True):
    """Any date part of a DATE / TIMESTAMP column as an int64 or float64 array; ``rounded``
    as in :func:`_days`."""
    valid = col.valid
    if part == "julian":
        return _julian(xp, col, rounded, what)
    if part == "epoch":
        if col.dtype.kind == "timestamp" and col.dtype.unit == "ns":
            return (col.data // 1_000).astype(xp.float64) / US_PER_SECOND
        ticks, ps = _ticks(xp, col, valid, what)
        return ticks.astype(xp.float64) / ps
    if part == "epoch_ms" and col.dtype.unit in ("us", "ns"):   # DuckDB rounds here
        return div_round(xp, _micros(xp, col, what), 3)
    if part.startswith("epoch_"):
        ticks, ps = _ticks(xp, col, valid, what)
        return _rescale(xp, ticks, ps, PER_SECOND[part[6:]], valid, what)
    if part.startswith("timezone"):
        return xp.zeros(col.data.shape[0], dtype=xp.int64)
    if part in ("hour", "minute", "second", "millisecond", "microsecond", "nanosecond"):
        tod, ps = _time_of_day(xp, col)
        return _time_part(xp, part, tod, ps, valid, what)
    return _date_part(xp, part, _days(xp, col, rounded))


def _nullable(fn):
    """An implementation returning all-NULL when any argument has the NULL type."""
    def impl(xp, call, cols, n):
        if any(c.dtype.is_null for c in cols):
            return null_col(xp, n, call.dtype)
        return fn(xp, call, cols, n)
    return impl


def _literal(call: P.Call, i: int):
    arg = call.args[i]
    return arg.value if isinstance(arg, P.Literal) else None


def _part_function(part: str | None):
    """date_part(part, x) (``part`` None) or a one-part function such as year(x)."""
    @_nullable
    def impl(xp, call, cols, n):
        col = cols[-1]
        p = canonical_unit(_literal(call, 0)) if part is None else part
        if col.dtype.is_interval:
            data = intervals.part(xp, p, col, call.op)
        elif col.dtype.is_time:
            data = times.part(xp, p, col)
        else:
            data = _part(xp, p, col, call.op, rounded=part is not None)
        out = xp.float64 if call.dtype.is_float else xp.int64
        return Col(data.astype(out, copy=False), col.valid, call.dtype)
    return impl


# ----------------------------------------------------------------------------- date_trunc
_FIXED_US = {"microsecond": 1, "millisecond": 1_000, "second": US_PER_SECOND,
             "epoch": US_PER_SECOND, "minute": 60 * US_PER_SECOND, "hour": 3_600 * US_PER_SECOND,
             "day": US_PER_DAY, "dow": US_PER_DAY, "isodow": US_PER_DAY, "doy": US_PER_DAY,
             "julian": US_PER_DAY}


def _trunc_days(xp, unit: str, days):
    """The first day of the ``unit`` (week and coarser) containing each day number."""
    if unit in ("week", "yearweek"):
        return days - (days + 3) % 7
    if unit == "isoyear":
        jan4 = days_from_civil(xp, _iso(xp, days)[0], 1, 4)
        return jan4 - (jan4 + 3) % 7
    y, m, _ = civil_from_days(xp, days)
    if unit == "month":
        return days_from_civil(xp, y, m, 1)
    if unit == "quarter":
        return days_from_civil(xp, y, (m - 1) // 3 * 3 + 1, 1)
    per = {"year": 1, "decade": 10, "century": 100, "millennium": 1_000}[unit]
    return days_from_civil(xp, _tdiv(y, per) * per, 1, 1)


def truncate_us(xp, unit: str, us):
    """DuckDB's date_trunc of int64 microseconds since the epoch."""
    if unit in _FIXED_US:
        return us - us % _FIXED_US[unit]
    return _trunc_days(xp, unit, us // US_PER_DAY) * US_PER_DAY


@_nullable
def _date_trunc(xp, call, cols, n):
    col = cols[1]
    us = _micros(xp, col, "date_trunc")
    return Col(truncate_us(xp, canonical_unit(_literal(call, 0)), us), col.valid, call.dtype)


# ----------------------------------------------------------------------------- date_diff
def _months(xp, days):
    """Months since year 0 of day numbers (year * 12 + month - 1)."""
    y, m, _ = civil_from_days(xp, days)
    return y * 12 + m - 1


def _diff(xp, unit: str, a, b, valid, what: str):
    """DuckDB's date_diff(unit, a, b) of int64 microseconds: unit boundaries crossed."""
    if unit == "microsecond":
        return checked(xp, "sub", b, a, valid, what)
    if unit in _FIXED_US and unit not in ("dow", "isodow", "doy", "julian"):
        k = _FIXED_US[unit]
        return b // k - a // k
    da, db = a // US_PER_DAY, b // US_PER_DAY
    if unit in ("day", "dow", "isodow", "doy", "julian"):
        return db - da
    if unit in ("week", "yearweek"):
        return _tdiv(db - da, 7)
    if unit == "isoyear":
        return _iso(xp, db)[0] - _iso(xp, da)[0]
    ma, mb = _months(xp, da), _months(xp, db)
    if unit == "month":
        return mb - ma
    if unit == "quarter":
        return _tdiv(mb, 3) - _tdiv(ma, 3)
    ya, yb = civil_from_days(xp, da)[0], civil_from_days(xp, db)[0]
    per = {"year": 1, "decade": 10, "century": 100, "millennium": 1_000}[unit]
    return _tdiv(yb, per) - _tdiv(ya, per)


@_nullable
def _date_diff(xp, call, cols, n):
    _, start, end = cols
    valid = and_valid(start.valid, end.valid)
    a, b = _micros(xp, start, "date_diff"), _micros(xp, end, "date_diff")
    unit = canonical_unit(_literal(call, 0))
    return Col(_diff(xp, unit, a, b, valid, "date_diff"), valid, call.dtype)


# ----------------------------------------------------------------------------- intervals
def _full(xp, value, n: int):
    return xp.full(n, value, dtype=xp.int64)


def shift(xp, ticks, ps: int, months, micros, valid, what: str):
    """Ticks (``ps`` per second: microseconds or nanoseconds) plus an interval of ``months``
    and ``micros`` (ints or int64 arrays), as DuckDB adds it: months first, the day clamped to
    the month's end, then the fixed part. Raises on overflow."""
    if not (isinstance(months, int) and months == 0):
        per_day = 86_400 * ps
        days = ticks // per_day
        tod = ticks - days * per_day
        days = _add_months(xp, days, months)
        ticks = checked(xp, "add", mul_const(xp, days, per_day, valid, what), tod, valid, what)
    if not (isinstance(micros, int) and micros == 0):
        if isinstance(micros, int):
            micros = _full(xp, micros, ticks.shape[0])
        delta = mul_const(xp, micros, ps // US_PER_SECOND, valid, what)
        ticks = checked(xp, "add", ticks, delta, valid, what)
    return ticks


def _as_output(xp, col: Col, out: DType, what: str):
    """The ticks of ``col`` in the unit of the TIMESTAMP ``out`` (DATE at midnight)."""
    if col.dtype.kind == "date" or col.dtype.unit != out.unit:
        return cast_col(xp, col, timestamp(out.unit), what).data
    return col.data


def _interval_shift(sign: int):
    @_nullable
    def impl(xp, call, cols, n):
        col, out = cols[0], call.dtype
        valid = and_valid(*(c.valid for c in cols[:2]))
        if out.is_interval:
            return _interval_plus(xp, call, cols, sign, valid)
        if out.is_time:
            literal = parse_interval(_literal(call, 1))[1] if len(cols) == 2 else 0
            return times.shift(xp, call, cols, sign, valid, literal)
        ticks = _as_output(xp, col, out, call.op)
        if len(cols) == 2:
            months, micros = parse_interval(_literal(call, 1))
            months, micros = sign * months, sign * micros
        else:
            q = cast_col(xp, cols[1], INT64, call.op).data
            per_month, per_us = INTERVAL_UNITS[canonical_unit(_literal(call, 2))]
            months = mul_const(xp, q, per_month, valid, call.op) if per_month else 0
            micros = mul_const(xp, q, per_us, valid, call.op) if per_us else 0
        data = shift(xp, ticks, PER_SECOND[out.unit], months, micros, valid, call.op)
        return Col(data, valid, out)
    return impl


def _interval_plus(xp, call, cols, sign: int, valid) -> Col:
    """interval_add / interval_sub of an INTERVAL column and a literal without months."""
    if len(cols) == 2:
        micros = _full(xp, sign * parse_interval(_literal(call, 1))[1], len(cols[0]))
    else:
        q = cast_col(xp, cols[1], INT64, call.op).data
        micros = mul_const(xp, q, INTERVAL_UNITS[canonical_unit(_literal(call, 2))][1], valid, call.op)
    return Col(checked(xp, "add", cols[0].data, micros, valid, call.op), valid, call.dtype)


# ----------------------------------------------------------------------------- time_bucket
@_nullable
def _time_bucket(xp, call, cols, n):
    col, what = cols[1], "time_bucket"
    width_months, width_us = bucket_width(_literal(call, 0))
    valid = and_valid(*(c.valid for c in cols[1:]))
    us = _micros(xp, col, what)
    offset = (0, 0)
    origin = None
    if len(cols) == 3:
        if cols[2].dtype.is_string:
            offset = parse_interval(_literal(call, 2))
        else:
            origin = _micros(xp, cols[2], what)
    us = shift(xp, us, US_PER_SECOND, -offset[0], -offset[1], valid, what)
    if width_us:
        o = _full(xp, _DEFAULT_ORIGIN_US, n) if origin is None else origin
        out = us - checked(xp, "sub", us, o, valid, what) % width_us
    else:
        o = _DEFAULT_ORIGIN_MONTHS if origin is None else _months(xp, origin // US_PER_DAY) - 1970 * 12
        m = _months(xp, us // US_PER_DAY) - 1970 * 12
        b = m - (m - o) % width_months + 1970 * 12
        out = days_from_civil(xp, b // 12, b % 12 + 1, 1) * US_PER_DAY
    out = shift(xp, out, US_PER_SECOND, offset[0], offset[1], valid, what)
    if call.dtype.kind == "date":
        return Col((out // US_PER_DAY).astype(xp.int32), valid, call.dtype)
    return Col(out, valid, call.dtype)


# ----------------------------------------------------------------------------- strftime
def _text(values) -> pa.Array:
    return pa.array(np.asarray(values)).cast(pa.string())


def _pad(values, width: int) -> pa.Array:
    """Integers as decimal text, zero-padded to ``width`` digits (a sign in front)."""
    values = np.asarray(values, dtype=np.int64)
    digits = pc.utf8_lpad(_text(np.abs(values)), width=width, padding="0")
    return pc.if_else(pa.array(values < 0), pc.binary_join_element_wise("-", digits, ""), digits)


def _format_fields(ticks: np.ndarray, d: DType) -> dict:
    """strftime specifier -> function giving that field of every host tick value of type
    ``d`` as a pyarrow string array (DuckDB's rendering)."""
    ps = _per_second(d)
    days = ticks // (86_400 * ps) if d.kind == "timestamp" else ticks.astype(np.int64)
    tod = ticks % (86_400 * ps) if d.kind == "timestamp" else np.zeros(len(ticks), np.int64)
    y, m, dd = civil_from_days(np, days)
    dow = (days + 4) % 7
    doy0 = days - days_from_civil(np, y, 1, 1)
    hour = tod // (3_600 * ps)
    frac_ns = (tod % ps) * (1_000_000_000 // ps)
    iso_year, iso_week = _iso(np, days)

    def abbreviated_month():
        return pa.array(np.array([n[:3] for n in MONTH_NAMES])[m - 1])

    return {
        "a": lambda: pa.array(np.array([n[:3] for n in DAY_NAMES])[dow]),
        "A": lambda: pa.array(np.array(DAY_NAMES)[dow]),
        "w": lambda: _text(dow), "u": lambda: _text(np.where(dow == 0, 7, dow)),
        "d": lambda: _pad(dd, 2), "-d": lambda: _text(dd),
        "b": abbreviated_month, "h": abbreviated_month,
        "B": lambda: pa.array(np.array(MONTH_NAMES)[m - 1]),
        "m": lambda: _pad(m, 2), "-m": lambda: _text(m),
        "y": lambda: _pad(y % 100, 2), "-y": lambda: _text(y % 100), "Y": lambda: _pad(y, 4),
        "G": lambda: _pad(iso_year, 4), "V": lambda: _pad(iso_week, 2),
        "H": lambda: _pad(hour, 2), "-H": lambda: _text(hour),
        "I": lambda: _pad((hour + 11) % 12 + 1, 2), "-I": lambda: _text((hour + 11) % 12 + 1),
        "p": lambda: pa.array(np.where(hour < 12, "AM", "PM")),
        "M": lambda: _pad(tod // (60 * ps) % 60, 2), "-M": lambda: _text(tod // (60 * ps) % 60),
        "S": lambda: _pad(tod // ps % 60, 2), "-S": lambda: _text(tod // ps % 60),
        "f": lambda: _pad(frac_ns // 1_000, 6), "g": lambda: _pad(frac_ns // 1_000_000, 3),
        "n": lambda: _pad(frac_ns, 9),
        "z": lambda: pa.array(np.full(len(ticks), "+00")),
        "Z": lambda: pa.array(np.full(len(ticks), "UTC" if d.tz else "")),
        "j": lambda: _pad(doy0 + 1, 3), "-j": lambda: _text(doy0 + 1),
        "U": lambda: _pad((doy0 + 7 - dow) // 7, 2),
        "W": lambda: _pad((doy0 + 7 - (dow + 6) % 7) // 7, 2),
    }


def format_host(ticks: np.ndarray, d: DType, fmt: str) -> pa.Array:
    """strftime of host tick values (a DATE's days or a TIMESTAMP's ticks) as a string array."""
    pieces = parse_format(fmt)
    fields = _format_fields(ticks, d)
    parts = [fields[text]().cast(pa.string()) if is_spec else pa.scalar(text)
             for is_spec, text in pieces]
    if not any(is_spec for is_spec, _ in pieces):
        return pa.array(np.full(len(ticks), "".join(t for _, t in pieces)), pa.string())
    return pc.binary_join_element_wise(*parts, "")


@_nullable
def _strftime(xp, call, cols, n):
    i = 0 if cols[0].dtype.is_temporal else 1
    col, fmt = cols[i], _literal(call, 1 - i)
    uniq, inverse = xp.unique(col.data, return_inverse=True)
    text = format_host(to_host(xp, uniq), col.dtype, fmt)
    return Col(inverse.reshape(-1).astype(xp.int32), col.valid, call.dtype, text)


# ----------------------------------------------------------------------------- others
@_nullable
def _make_date(xp, call, cols, n):
    valid = and_valid(*(c.valid for c in cols))
    y, m, d = (cast_col(xp, c, INT64, "make_date").data for c in cols)
    sane = (xp.abs(y) < 6_000_000) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    ys, ms, ds = xp.where(sane, y, 2000), xp.where(sane, m, 1), xp.where(sane, d, 1)
    days = days_from_civil(xp, ys, ms, ds)
    bad = ~sane | (ds > days_in_month(xp, ys, ms)) | (days < -(2 ** 31)) | (days >= 2 ** 31)
    bad = bad if valid is None else bad & valid
    if bool(bad.any()):
        i = int(to_host(xp, xp.nonzero(bad)[0][:1])[0])
        parts = "-".join(str(int(to_host(xp, v[i:i + 1])[0])) for v in (y, m, d))
        raise DataError(f"make_date: date out of range: {parts} (row {i})")
    return Col(days.astype(xp.int32), valid, call.dtype)


@_nullable
def _to_timestamp(xp, call, cols, n):
    col = cols[0]
    scale = _literal(call, 1) if len(call.args) > 1 else None
    if scale == 3 and (col.dtype.is_temporal or col.dtype.is_interval):
        return _part_function("epoch_ms")(xp, call, cols[:1], n)
    valid = col.valid
    if scale is None:   # seconds as DOUBLE, rounded half to even as DuckDB
        us = xp.rint(cast_col(xp, col, FLOAT64, "to_timestamp").data * 1e6)
        outside = ~(xp.abs(us) < 9.2e18)   # NaN and infinities too
        if bool((outside if valid is None else outside & valid).any()):
            raise DataError("to_timestamp: epoch seconds out of range for TIMESTAMP")
        return Col(xp.where(outside, 0.0, us).astype(xp.int64), valid, call.dtype)
    v = cast_col(xp, col, INT64, call.op).data
    return Col(mul_const(xp, v, 1_000 if scale == 3 else 1, valid, "epoch_ms"), valid, call.dtype)


@_nullable
def _last_day(xp, call, cols, n):
    col = cols[0]
    y, m, _ = civil_from_days(xp, _days(xp, col))
    days = days_from_civil(xp, y, m, 1) + days_in_month(xp, y, m) - 1
    return Col(days.astype(xp.int32), col.valid, call.dtype)


def _name_function(which: str):
    names = []     # the dictionary, made on first use: pa.array of a list imports pandas (0.3 s)

    @_nullable
    def impl(xp, call, cols, n):
        if not names:
            names.append(pa.array(DAY_NAMES if which == "dayname" else MONTH_NAMES, pa.string()))
        col = cols[0]
        days = _days(xp, col)
        code = (days + 4) % 7 if which == "dayname" else civil_from_days(xp, days)[1] - 1
        return Col(code.astype(xp.int32), col.valid, call.dtype, names[0])
    return impl


# op -> impl(xp, call, cols, n) -> Col of exactly call.dtype
FUNCTIONS = {name: _part_function(part) for name, part in PART_FUNCTIONS.items()}
FUNCTIONS.update({
    "date_part": _part_function(None), "date_trunc": _date_trunc, "date_diff": _date_diff,
    "interval_add": _interval_shift(1), "interval_sub": _interval_shift(-1),
    "time_bucket": _time_bucket, "strftime": _strftime, "make_date": _make_date,
    "to_timestamp": _to_timestamp, "last_day": _last_day,
    "dayname": _name_function("dayname"), "monthname": _name_function("monthname"),
})
