"""INTERVAL values over ``xp`` arrays: int64 microseconds (see ``gpuvelo.types``).

DuckDB holds an interval as months, days and microseconds and computes fieldwise; gpuvelo
holds the total microseconds and the type's ``split`` says how DuckDB would hold them
(:func:`fields`), which is all the text form, the day / hour parts, AVG and scaling by a
fraction depend on. Typing rules: ``gpuvelo.sql.sqltypes`` and
``gpuvelo.sql.functions.temporal``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..columns import Col
from ..errors import DataError, NotSupportedError
from ..timeparts import US_PER_DAY, US_PER_SECOND
from ..types import FLOAT64, INT64, STRING, DType
from .arith import checked, checked_neg, mul_const
from .cast import cast_col
from .core import and_valid, null_col, overflow, to_host

US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_MINUTE = 60 * US_PER_SECOND
# to_<unit>(n) -> microseconds per unit; to_seconds / to_milliseconds take DOUBLE
TO_UNITS = {"to_microseconds": 1, "to_milliseconds": 1_000, "to_seconds": US_PER_SECOND,
            "to_minutes": US_PER_MINUTE, "to_hours": US_PER_HOUR, "to_days": US_PER_DAY,
            "to_weeks": 7 * US_PER_DAY}
FRACTIONAL_TO = ("to_seconds", "to_milliseconds")


def tdiv(a, b):
    """``a / b`` truncated toward zero (C) for int64 ``a`` and positive ``b`` (an int or an
    int64 array)."""
    q = a // b
    return q + ((q < 0) & (q * b != a))


def fields(xp, v, split: str | None, what: str):
    """(days, microseconds) int64 arrays of interval values as DuckDB holds them."""
    if split in ("time", "short"):
        return xp.zeros_like(v), v
    if split == "days":
        days = tdiv(v, US_PER_DAY)
        return days, v - days * US_PER_DAY
    raise NotSupportedError(f"{what}: this INTERVAL's days and time are not apart (a sum or "
                            "multiple of day intervals, an average of them, ...), so DuckDB's "
                            "answer cannot be told from its length; use epoch(x) (seconds)")


# ----------------------------------------------------------------------------- arithmetic
def _micros_of(xp, col: Col, what: str):
    from .temporal import _micros   # noqa: PLC0415 (temporal imports this module)
    return _micros(xp, col, what)


def _shift(xp, out: DType, moment: Col, iv: Col, sign: int, valid, what: str) -> Col:
    """A DATE / TIMESTAMP plus (``sign`` 1) or minus (-1) an interval column."""
    from .temporal import PER_SECOND, _as_output, shift   # noqa: PLC0415
    ticks = _as_output(xp, moment, out, what)
    micros = iv.data if sign > 0 else checked_neg(xp, iv.data, valid, what)
    return Col(shift(xp, ticks, PER_SECOND[out.unit], 0, micros, valid, what), valid, out)


def _scaled(xp, out: DType, iv: Col, factor: Col, op: str, valid, what: str) -> Col:
    """An interval times (``mul``) or divided by (``div``, as DuckDB: times the reciprocal)
    a number: by an integer exactly; by a fraction fieldwise in doubles, days truncated
    and their fraction carried into the time, each part rounded half to even."""
    if op == "mul" and factor.dtype.is_integer:
        k = cast_col(xp, factor, INT64, what).data
        return Col(checked(xp, "mul", iv.data, k, valid, what), valid, out)
    f = cast_col(xp, factor, FLOAT64, what).data
    if op == "div":
        zero = f == 0
        overflow(xp, zero if valid is None else zero & valid, f"{what} (division by zero)", (f,))
        f = 1.0 / xp.where(zero, 1.0, f)
    days, micros = fields(xp, iv.data, iv.dtype.split, what)
    df = days.astype(xp.float64) * f
    whole = xp.trunc(df)
    rest = xp.rint(micros.astype(xp.float64) * f) + xp.rint((df - whole) * US_PER_DAY)
    total = whole * US_PER_DAY + rest
    bad = ~(xp.abs(total) < 9.2e18)
    overflow(xp, bad if valid is None else bad & valid, what, (iv.data,))
    return Col(xp.where(bad, 0.0, total).astype(xp.int64), valid, out)


def binary(xp, op: str, out: DType, a: Col, b: Col, what: str) -> Col:
    """``a op b`` where an operand or the result is an INTERVAL: moments ± intervals,
    moment - moment, interval ± interval, interval * number, interval / number."""
    valid = and_valid(a.valid, b.valid)
    if a.dtype.is_null or b.dtype.is_null:
        return null_col(xp, len(a), out)
    if out.is_interval and a.dtype.is_temporal:          # moment - moment
        x, y = _micros_of(xp, a, what), _micros_of(xp, b, what)
        return Col(checked(xp, "sub", x, y, valid, what), valid, out)
    if out.is_temporal:
        moment, iv = (a, b) if a.dtype.is_temporal else (b, a)
        return _shift(xp, out, moment, iv, -1 if op == "sub" else 1, valid, what)
    if a.dtype.is_interval and b.dtype.is_interval:
        return Col(checked(xp, op, a.data, b.data, valid, what), valid, out)
    iv, factor = (a, b) if a.dtype.is_interval else (b, a)
    return _scaled(xp, out, iv, factor, op, valid, what)


def negate(xp, col: Col, what: str) -> Col:
    """``-x`` of an interval column."""
    return Col(checked_neg(xp, col.data, col.valid, what), col.valid, col.dtype)


# ----------------------------------------------------------------------------- text
def _time_text(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    m = abs(micros)
    hours, rest = divmod(m, US_PER_HOUR)
    minutes, rest = divmod(rest, US_PER_MINUTE)
    seconds, frac = divmod(rest, US_PER_SECOND)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + f".{frac:06d}".rstrip("0") if frac else text


def text(days: int, micros: int) -> str:
    """DuckDB's text of an interval of ``days`` and ``micros`` (``'2 days 01:00:00'``,
    ``'-00:00:01.5'``, ``'00:00:00'``)."""
    parts = [f"{days} day{'' if abs(days) == 1 else 's'}"] if days else []
    if micros or not days:
        parts.append(_time_text(micros))
    return " ".join(parts)


def format_col(xp, col: Col, what: str) -> Col:
    """An interval column as DuckDB's text (each distinct value formatted once)."""
    uniq, inverse = xp.unique(col.data, return_inverse=True)
    days, micros = fields(np, to_host(xp, uniq).astype(np.int64), col.dtype.split, what)
    texts = pa.array([text(int(d), int(m)) for d, m in zip(days, micros)], pa.string())
    return Col(inverse.reshape(-1).astype(xp.int32), col.valid, STRING, texts)


# ----------------------------------------------------------------------------- parts
# interval parts DuckDB extracts (no months here: years... are 0, the quarter 1)
ZERO_PARTS = ("year", "month", "decade", "century", "millennium")
TIME_PARTS = {"hour": (US_PER_HOUR, None), "minute": (US_PER_MINUTE, US_PER_HOUR),
              "second": (US_PER_SECOND, US_PER_MINUTE), "millisecond": (1_000, US_PER_MINUTE),
              "microsecond": (1, US_PER_MINUTE)}
PARTS = ZERO_PARTS + ("quarter", "day", "epoch", "epoch_ms", "epoch_us", "epoch_ns") + tuple(TIME_PARTS)


def part(xp, name: str, col: Col, what: str):
    """Date part ``name`` (one of :data:`PARTS`) of an interval column: int64, or float64
    seconds for ``epoch``."""
    v = col.data
    if name in ZERO_PARTS or name == "quarter":
        return xp.full(v.shape[0], 1 if name == "quarter" else 0, dtype=xp.int64)
    if name == "epoch":
        return v.astype(xp.float64) / US_PER_SECOND
    if name == "epoch_ms":
        return tdiv(v, 1_000)
    if name == "epoch_us":
        return v
    if name == "epoch_ns":
        return mul_const(xp, v, 1_000, col.valid, what)
    days, micros = fields(xp, v, col.dtype.split, what)
    if name == "day":
        return days
    unit, within = TIME_PARTS[name]
    if within is not None:
        micros = micros - tdiv(micros, within) * within   # C remainder: keeps the sign
    return tdiv(micros, unit)


# ----------------------------------------------------------------------------- functions
def to_interval(name: str):
    """to_seconds(x) ... to_weeks(x): an interval of x units (fractions of seconds and
    milliseconds rounded half to even, as DuckDB)."""
    per = TO_UNITS[name]

    def impl(xp, call, cols, n):
        col = cols[0]
        if col.dtype.is_null:
            return null_col(xp, n, call.dtype)
        if name in FRACTIONAL_TO and not col.dtype.is_integer:
            us = xp.rint(cast_col(xp, col, FLOAT64, name).data * per)
            bad = ~(xp.abs(us) < 9.2e18)
            if bool((bad if col.valid is None else bad & col.valid).any()):
                raise DataError(f"{name}: interval value out of range")
            return Col(xp.where(bad, 0.0, us).astype(xp.int64), col.valid, call.dtype)
        q = cast_col(xp, col, INT64, name).data
        return Col(mul_const(xp, q, per, col.valid, name), col.valid, call.dtype)
    return impl


def quantity(xp, call, cols, n):
    """interval_quantity(n, unit): ``INTERVAL (n) unit`` as a value (n an integer)."""
    from ..timeparts import INTERVAL_UNITS, canonical_unit   # noqa: PLC0415
    col = cols[0]
    if col.dtype.is_null:
        return null_col(xp, n, call.dtype)
    per = INTERVAL_UNITS[canonical_unit(call.args[1].value)][1]
    q = cast_col(xp, col, INT64, "INTERVAL").data
    return Col(mul_const(xp, q, per, col.valid, "INTERVAL"), col.valid, call.dtype)


def average(xp, call, cols, n):
    """interval_avg(day sum, time sum, count) -> DuckDB's AVG of intervals: the days
    averaged (truncated) with their remainder carried into the time (truncated), the time
    averaged as DuckDB does it: quotient plus remainder (truncated division)."""
    days, micros, count = cols
    valid = and_valid(days.valid, micros.valid, count.valid)
    c = xp.maximum(count.data.astype(xp.int64), 1)
    d, m = days.data.astype(xp.int64), micros.data.astype(xp.int64)
    qd = tdiv(d, c)
    carried = tdiv(checked(xp, "mul", d - qd * c, xp.full_like(c, US_PER_DAY), valid,
                                       "AVG"), c)
    qm = tdiv(m, c)
    time = qm + (m - qm * c) + carried
    whole = mul_const(xp, qd, US_PER_DAY, valid, "AVG")
    return Col(checked(xp, "add", whole, time, valid, "AVG"), valid, call.dtype)


def day_part(xp, call, cols, n):
    """interval_days(x): the days DuckDB holds of each interval (for AVG)."""
    col = cols[0]
    return Col(fields(xp, col.data, col.dtype.split, "AVG")[0], col.valid, call.dtype)


def time_part(xp, call, cols, n):
    """interval_time(x): the microseconds DuckDB holds apart from the days (for AVG)."""
    col = cols[0]
    return Col(fields(xp, col.data, col.dtype.split, "AVG")[1], col.valid, call.dtype)


def as_micros(xp, call, cols, n):
    """interval_micros(x) / time_micros(x): an INTERVAL's or TIME's microseconds as BIGINT
    (what aggregates keep)."""
    col = cols[0]
    return Col(col.data, col.valid, call.dtype)


def from_micros(xp, call, cols, n):
    """micros_interval(x) / micros_time(x): BIGINT microseconds back as ``call.dtype``."""
    col = cols[0]
    return Col(col.data.astype(xp.int64, copy=False), col.valid, call.dtype)


FUNCTIONS = {name: to_interval(name) for name in TO_UNITS}
FUNCTIONS.update({"interval_quantity": quantity, "interval_avg": average,
                  "interval_days": day_part, "interval_time": time_part,
                  "interval_micros": as_micros, "micros_interval": from_micros})
