"""Arithmetic and numeric functions on Cols, producing exactly the planner's result type.

The result type decides the domain: FLOAT64 computes in float64, integers in checked int64
(uint64 when the result is unsigned), decimals in checked scaled int64.
"""

from __future__ import annotations

import math

import numpy as np

from ..columns import Col
from ..types import BOOL, FLOAT64, INT64, UINT64, DType, decimal
from . import intervals, strings, times
from .arith import (checked, checked_abs, checked_neg, div_round, floor_div_pow10, int_mod,
                    rescale, round_float, scale_up)
from .cast import cast_col
from .core import and_valid, gather, null_col, overflow


_FLOAT_OPS = {"add": lambda xp, x, y: x + y, "sub": lambda xp, x, y: x - y,
              "mul": lambda xp, x, y: x * y, "div": lambda xp, x, y: x / y,
              "mod": lambda xp, x, y: xp.fmod(x, y)}


def _as_scaled(xp, col: Col, what: str) -> Col:
    """Integers/bools as DECIMAL(18, 0); decimals unchanged."""
    if col.dtype.is_decimal:
        return col
    return cast_col(xp, col, decimal(18, 0), what)


# DuckDB's finite dates: |days| <= 2**31 - 2 (the int32 extremes stand for +-infinity)
MAX_DATE_DAYS = 2 ** 31 - 2


def _date_binary(xp, op: str, out: DType, a: Col, b: Col, what: str) -> Col:
    """DATE ± integer, integer + DATE -> DATE (checked against DuckDB's date range) and
    DATE - DATE -> BIGINT days; a NULL-typed operand (or TIMESTAMP ± NULL) gives NULLs."""
    valid = and_valid(a.valid, b.valid)
    if a.dtype.is_null or b.dtype.is_null:
        return null_col(xp, len(a), out)
    if out == INT64:   # DATE - DATE: int32 days, so the difference fits
        return Col(a.data.astype(xp.int64) - b.data.astype(xp.int64), valid, out)
    date, days = (a, b) if a.dtype.is_temporal else (b, a)
    x = date.data.astype(xp.int64)
    y = cast_col(xp, days, INT64, what).data
    r = checked(xp, op, x, y, valid, what)
    bad = (r > MAX_DATE_DAYS) | (r < -MAX_DATE_DAYS)
    overflow(xp, bad if valid is None else bad & valid, f"{what} (date out of range)", (x, y))
    return Col(r.astype(xp.int32), valid, out)


def binary(xp, op: str, out: DType, a: Col, b: Col, what: str) -> Col:
    """``a op b`` for op in add sub mul div mod, with result type ``out`` (dates: see
    :func:`_date_binary`; intervals: ``intervals.binary``; times: ``times.binary``)."""
    if a.dtype.is_time or b.dtype.is_time:
        return times.binary(xp, op, out, a, b, what)
    if out.is_interval or a.dtype.is_interval or b.dtype.is_interval:
        return intervals.binary(xp, op, out, a, b, what)
    if a.dtype.is_temporal or b.dtype.is_temporal:
        return _date_binary(xp, op, out, a, b, what)
    valid = and_valid(a.valid, b.valid)
    if op == "div" or out.is_float:
        work = out if out.is_float else FLOAT64   # FLOAT32 computes in single precision
        x = cast_col(xp, a, work, what).data
        y = cast_col(xp, b, work, what).data
        r = _FLOAT_OPS[op](xp, x, y)
        return cast_col(xp, Col(r, valid, work), out, what)
    if out.is_decimal:
        a, b = _as_scaled(xp, a, what), _as_scaled(xp, b, what)
        sa, sb = a.dtype.scale, b.dtype.scale
        if op == "mul":
            r = checked(xp, "mul", a.data, b.data, valid, what)
            return Col(rescale(xp, r, sa + sb, out.scale, valid, what), valid, out)
        s = max(sa, sb)
        x = rescale(xp, a.data, sa, s, valid, what)
        y = rescale(xp, b.data, sb, s, valid, what)
        if op == "mod":
            r, valid = int_mod(xp, x, y, valid)
        else:
            r = checked(xp, op, x, y, valid, what)
        return Col(rescale(xp, r, s, out.scale, valid, what), valid, out)
    wide = UINT64 if out.is_unsigned_integer else INT64
    x = cast_col(xp, a, wide, what).data
    y = cast_col(xp, b, wide, what).data
    if op == "mod":
        r, valid = int_mod(xp, x, y, valid)
    else:
        r = checked(xp, op, x, y, valid, what)
    return cast_col(xp, Col(r, valid, wide), out, what)


def unary(xp, op: str, out: DType, a: Col, what: str, digits: int = 0) -> Col:
    """neg, abs, round (to ``digits``), floor, ceil of ``a`` with result type ``out``."""
    d = a.dtype
    if d.is_null:
        return cast_col(xp, a, out, what)
    if d.is_interval:     # neg only (typing)
        return intervals.negate(xp, a, what)
    if d.is_float or (out.is_float and op in ("round", "floor", "ceil")):
        x = cast_col(xp, a, FLOAT64, what).data
        r = {"neg": lambda: -x, "abs": lambda: xp.abs(x), "floor": lambda: xp.floor(x),
             "ceil": lambda: xp.ceil(x), "round": lambda: round_float(xp, x, digits)}[op]()
        return cast_col(xp, Col(r, a.valid, FLOAT64), out, what)
    if d.is_decimal:
        v, s = a.data, d.scale
        if op in ("neg", "abs"):
            r = (checked_neg if op == "neg" else checked_abs)(xp, v, a.valid, what)
            return cast_col(xp, Col(r, a.valid, d), out, what)
        if op == "round":
            r, s = _round_scaled(xp, v, s, digits, a.valid, what)
        else:
            r, s = floor_div_pow10(xp, v, s, ceil=op == "ceil"), 0
        return cast_col(xp, Col(r, a.valid, decimal(18, s)), out, what)
    wide = UINT64 if d.is_unsigned_integer else INT64
    v = cast_col(xp, a, wide, what).data
    if op == "neg":
        v = checked_neg(xp, v, a.valid, what)
    elif op == "abs":
        v = checked_abs(xp, v, a.valid, what)
    elif op == "round" and digits < 0:
        if wide == UINT64:     # rounds away from zero: may exceed the input's range
            v, wide = cast_col(xp, a, INT64, what).data, INT64
        v = scale_up(xp, div_round(xp, v, -digits), -digits, a.valid, what)
    return cast_col(xp, Col(v, a.valid, wide), out, what)


def _round_scaled(xp, v, s: int, digits: int, valid, what: str):
    """ROUND of a scaled int64 (scale ``s``) to ``digits``: (value, its scale >= 0)."""
    if digits >= s:
        return v, s
    r = div_round(xp, v, s - digits)
    if digits < 0:
        return scale_up(xp, r, -digits, valid, what), 0
    return r, digits


# --------------------------------------------------------------------------- catalogue functions
# Implementations of the numeric functions of ``gpuvelo.sql.functions.math`` (typing rules
# there): ``impl(xp, call, cols, n) -> Col`` of exactly ``call.dtype``.
_FLOAT_UNARY = {"sqrt": "sqrt", "cbrt": "cbrt", "exp": "exp", "ln": "log", "log2": "log2",
                "log10": "log10", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin",
                "acos": "arccos", "atan": "arctan", "radians": "deg2rad", "degrees": "rad2deg"}


def _floats(xp, cols, what):
    return [cast_col(xp, c, FLOAT64, what).data for c in cols]


_POSITIVE_NAN = ("ln", "log2", "log10", "asin", "acos")   # DuckDB: NaN, not -nan, out of range


def _positive_nan(xp, r, *inputs):
    """``r`` with the NaNs it made from non-NaN inputs positive (NumPy sets their sign bit,
    DuckDB's logarithms and arc sines do not; it shows in the text, 'nan' vs '-nan')."""
    made = xp.isnan(r)
    for x in inputs:
        made &= ~xp.isnan(x)
    return xp.where(made, xp.abs(r), r)


def _float_unary(name):
    def impl(xp, call, cols, n):
        (x,) = _floats(xp, cols, name)
        r = getattr(xp, _FLOAT_UNARY[name])(x)
        return Col(_positive_nan(xp, r, x) if name in _POSITIVE_NAN else r, cols[0].valid, FLOAT64)
    return impl


def _power(xp, call, cols, n):
    x, y = _floats(xp, cols, "power")
    return Col(xp.power(x, y), and_valid(cols[0].valid, cols[1].valid), FLOAT64)


def _atan2(xp, call, cols, n):
    y, x = _floats(xp, cols, "atan2")
    return Col(xp.arctan2(y, x), and_valid(cols[0].valid, cols[1].valid), FLOAT64)


def _log(xp, call, cols, n):
    if len(cols) == 1:
        return _float_unary("log10")(xp, call, cols, n)
    base, x = _floats(xp, cols, "log")
    r = _positive_nan(xp, xp.log10(x) / xp.log10(base), base, x)   # DuckDB's quotient
    return Col(r, and_valid(cols[0].valid, cols[1].valid), FLOAT64)


def _sign(xp, call, cols, n):
    (c,) = cols
    x = c.data                 # decimals: the sign of the scaled integer is the sign
    if c.dtype.is_null:
        x = xp.zeros(n, dtype=xp.int8)
    s = (x > 0).astype(xp.int8) - (x < 0).astype(xp.int8)
    return Col(s, c.valid, call.dtype)


def _trunc(xp, call, cols, n):
    """TRUNC(x[, digits]): toward zero, to ``digits`` places (negative: tens, hundreds...)."""
    c = cols[0]
    d = c.dtype
    digits = call.args[1].value if len(call.args) > 1 else 0
    if d.is_float:             # as DuckDB: x * 10**digits truncated, scaled back
        x = c.data.astype(xp.float64)
        m = 10.0 ** abs(digits)
        r = xp.trunc(x * m) / m if digits >= 0 else xp.trunc(x / m) * m
        return cast_col(xp, Col(xp.where(xp.isfinite(r), r, x), c.valid, FLOAT64), d, "trunc")
    if d.is_null or (d.is_integer and digits >= 0):
        return cast_col(xp, c, call.dtype, "trunc")
    v, s = (c.data, d.scale) if d.is_decimal else (cast_col(xp, c, INT64, "trunc").data, 0)
    k = s - digits                       # decimal digits to cut off
    if k <= 0:
        return cast_col(xp, c, call.dtype, "trunc")
    if k > 18:
        cut = v * 0
    else:
        cut = xp.where(v < 0, floor_div_pow10(xp, v, k, ceil=True), floor_div_pow10(xp, v, k))
    r = scale_up(xp, cut, -digits, c.valid, "trunc") if digits < 0 else cut
    return cast_col(xp, Col(r, c.valid, decimal(18, max(digits, 0))), call.dtype, "trunc")


def _float_test(test):
    def impl(xp, call, cols, n):
        (c,) = cols
        if not c.dtype.is_float:   # integers and decimals are finite
            return Col(xp.full(n, test == "isfinite", dtype=xp.bool_), c.valid, BOOL)
        return Col(getattr(xp, test)(c.data), c.valid, BOOL)
    return impl


def _extreme(which):
    """GREATEST / LEAST: NULL arguments are skipped; NaN counts as the largest value.
    Strings compare by their rank in one common dictionary."""
    def impl(xp, call, cols, n):
        out = call.dtype
        if out.is_interval:
            return _interval_extreme(xp, which, call, cols, n)
        cols = [cast_col(xp, c, out, which) for c in cols]
        if out.is_string:
            dictionary, codes = strings.unify(xp, cols)
            (rank,) = strings.ranks([dictionary])
            cols = [Col(gather(xp, rank, k), c.valid, INT64) for k, c in zip(codes, cols)]
        data, valid = cols[0].data, cols[0].valid
        pick = xp.maximum if which == "greatest" else (xp.fmin if out.is_float else xp.minimum)
        for c in cols[1:]:
            both = pick(data, c.data)
            if valid is None and c.valid is None:
                data = both
                continue
            va = xp.ones(n, dtype=xp.bool_) if valid is None else valid
            vb = xp.ones(n, dtype=xp.bool_) if c.valid is None else c.valid
            data = xp.where(va & vb, both, xp.where(va, data, c.data))
            valid = va | vb
        if out.is_string:   # back from the winning rank to a code of that rank
            code_of_rank = np.zeros(int(rank.max(initial=0)) + 1, dtype=np.int32)
            code_of_rank[rank] = np.arange(len(rank), dtype=np.int32)
            return Col(gather(xp, code_of_rank, data), valid, out, dictionary)
        return Col(data, valid, out)
    return impl


def _interval_extreme(xp, which, call, cols, n):
    """GREATEST / LEAST of INTERVALs as DuckDB picks them: by days, then by the time apart
    from them (so ``greatest(INTERVAL 2 DAY, to_hours(256))`` is 2 days, though ``<`` and MAX
    compare lengths); NULLs skipped. An argument whose split is unknown is refused."""
    data = days = micros = valid = None
    for arg, c in zip(call.args, cols):
        if c.dtype.is_null:
            continue
        d, m = intervals.fields(xp, c.data, arg.dtype.split, which.upper())
        if data is None:
            data, days, micros, valid = c.data, d, m, c.valid
            continue
        wins = (d > days) | ((d == days) & (m > micros)) if which == "greatest" else \
            (d < days) | ((d == days) & (m < micros))
        va = xp.ones(n, dtype=xp.bool_) if valid is None else valid
        vb = xp.ones(n, dtype=xp.bool_) if c.valid is None else c.valid
        take = vb & (~va | wins)
        data, days, micros = (xp.where(take, b, a) for a, b in ((data, c.data), (days, d), (micros, m)))
        valid = None if valid is None and c.valid is None else va | vb
    if data is None:
        return null_col(xp, n, call.dtype)
    return Col(data, valid, call.dtype)


def _int_div(xp, call, cols, n):
    a, b = cols
    if not call.dtype.is_integer:
        return binary(xp, "div", call.dtype, a, b, "//")
    x = cast_col(xp, a, call.dtype, "//").data
    y = cast_col(xp, b, call.dtype, "//").data
    zero = y == 0
    safe = xp.where(zero, 1, y)
    valid = and_valid(a.valid, b.valid, ~zero)
    if not call.dtype.is_unsigned_integer:   # the one quotient beyond the range
        wraps = (x == np.iinfo(np.int64).min) & (safe == -1)
        overflow(xp, wraps if valid is None else wraps & valid, "//", (x, y))
    q = x // safe
    if not call.dtype.is_unsigned_integer:   # truncate toward zero, as C and DuckDB do
        q = q + ((q < 0) & (q * safe != x)).astype(q.dtype)
    return Col(q, valid, call.dtype)


def _pi(xp, call, cols, n):
    return Col(xp.full(n, math.pi), None, FLOAT64)


FUNCTIONS = {name: _float_unary(name) for name in _FLOAT_UNARY}
FUNCTIONS.update({"power": _power, "atan2": _atan2, "log": _log, "sign": _sign, "trunc": _trunc,
                  "isnan": _float_test("isnan"), "isinf": _float_test("isinf"),
                  "isfinite": _float_test("isfinite"), "greatest": _extreme("greatest"),
                  "least": _extreme("least"), "int_div": _int_div, "pi": _pi})
