"""TIME (time of day) values over ``xp`` arrays: int64 microseconds since midnight.

DuckDB's semantics: ``TIME ± INTERVAL`` wraps around midnight (the interval's months and
whole days change nothing), ``DATE + TIME`` is the TIMESTAMP of that day and time, the parts
are hour, minute, second, millisecond, microsecond (the last two count the seconds too:
``millisecond(TIME '10:11:12.5')`` is 12500) and epoch (seconds since midnight, DOUBLE).
Typing rules: ``gpuvelo.sql.sqltypes`` and ``gpuvelo.sql.functions.temporal``.
"""

from __future__ import annotations

from math import gcd

from ..columns import Col
from ..timeparts import US_PER_DAY, US_PER_SECOND
from ..types import INT64
from .arith import checked, div_round, mul_const
from .cast import cast_col
from .core import and_valid, null_col
from .intervals import as_micros, from_micros

US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
_PER_SECOND = {"s": 1, "ms": 1_000, "us": US_PER_SECOND}
PARTS = ("hour", "minute", "second", "millisecond", "microsecond", "epoch")


def wrap(xp, time, micros, sign: int = 1):
    """``time ± micros`` (int64 arrays) around midnight: the result in [0, one day)."""
    return (time + sign * (micros % US_PER_DAY)) % US_PER_DAY


def wrapped_quantity(xp, q, per_us: int):
    """``q * per_us`` microseconds modulo a day, without overflow (``q`` int64)."""
    r = per_us % US_PER_DAY
    if r == 0:
        return q * 0
    period = US_PER_DAY // gcd(r, US_PER_DAY)
    return (q % period) * r % US_PER_DAY


def of_timestamp(xp, ticks, unit: str):
    """The time of day of TIMESTAMP ticks of ``unit`` (nanoseconds rounded to microseconds
    half away from zero first, as DuckDB casts TIMESTAMP_NS to TIME)."""
    if unit == "ns":
        return div_round(xp, ticks, 3) % US_PER_DAY
    per = _PER_SECOND[unit]
    return (ticks % (US_PER_DAY // (US_PER_SECOND // per))) * (US_PER_SECOND // per)


def binary(xp, op: str, out, a: Col, b: Col, what: str) -> Col:
    """``TIME ± INTERVAL``, ``INTERVAL + TIME`` (-> TIME) and ``DATE + TIME``, ``TIME + DATE``
    (-> TIMESTAMP(us)); the typing (``sqltypes``) allows nothing else."""
    valid = and_valid(a.valid, b.valid)
    if a.dtype.is_null or b.dtype.is_null:
        return null_col(xp, len(a), out)
    if out.is_time:
        time, iv = (a, b) if a.dtype.is_time else (b, a)
        return Col(wrap(xp, time.data, iv.data, -1 if op == "sub" else 1), valid, out)
    date, time = (a, b) if a.dtype.kind == "date" else (b, a)
    days = mul_const(xp, date.data.astype(xp.int64), US_PER_DAY, valid, what)
    return Col(checked(xp, "add", days, time.data, valid, what), valid, out)


def part(xp, name: str, col: Col):
    """Date part ``name`` (one of :data:`PARTS`) of a TIME column: int64, or float64
    seconds for ``epoch``."""
    t = col.data
    if name == "epoch":
        return t.astype(xp.float64) / US_PER_SECOND
    if name == "hour":
        return t // US_PER_HOUR
    if name == "minute":
        return t // US_PER_MINUTE % 60
    if name == "second":
        return t // US_PER_SECOND % 60
    if name == "millisecond":
        return t % US_PER_MINUTE // 1_000
    return t % US_PER_MINUTE


def shift(xp, call, cols, sign: int, valid, literal_micros) -> Col:
    """interval_add / interval_sub of a TIME column: with a literal interval (its
    microseconds ``literal_micros``; months ignored) or a quantity and a unit."""
    from ..timeparts import INTERVAL_UNITS, canonical_unit   # noqa: PLC0415
    time = cols[0].data
    if len(cols) == 2:
        micros = literal_micros % US_PER_DAY
        return Col(wrap(xp, time, xp.full(time.shape[0], micros, dtype=xp.int64), sign),
                   valid, call.dtype)
    q = cast_col(xp, cols[1], INT64, call.op).data
    per_us = INTERVAL_UNITS[canonical_unit(call.args[2].value)][1]
    return Col(wrap(xp, time, wrapped_quantity(xp, q, per_us), sign), valid, call.dtype)


# a TIME's microseconds since midnight as BIGINT (what aggregates keep), and back
FUNCTIONS = {"time_micros": as_micros, "micros_time": from_micros}
