"""Arithmetic and numeric functions on Cols, producing exactly the planner's result type.

The result type decides the domain: FLOAT64 computes in float64, integers in checked int64
(uint64 when the result is unsigned), decimals in checked scaled int64.
"""

from __future__ import annotations

from ..columns import Col
from ..types import FLOAT64, INT64, UINT64, DType, decimal
from .arith import (checked, checked_abs, checked_neg, div_round, floor_div_pow10, int_mod,
                    rescale, round_float, scale_up)
from .cast import cast_col
from .core import and_valid


_FLOAT_OPS = {"add": lambda xp, x, y: x + y, "sub": lambda xp, x, y: x - y,
              "mul": lambda xp, x, y: x * y, "div": lambda xp, x, y: x / y,
              "mod": lambda xp, x, y: xp.fmod(x, y)}


def _as_scaled(xp, col: Col, what: str) -> Col:
    """Integers/bools as DECIMAL(18, 0); decimals unchanged."""
    if col.dtype.is_decimal:
        return col
    return cast_col(xp, col, decimal(18, 0), what)


def binary(xp, op: str, out: DType, a: Col, b: Col, what: str) -> Col:
    """``a op b`` for op in add sub mul div mod, with result type ``out``."""
    valid = and_valid(a.valid, b.valid)
    if op == "div" or out.is_float:
        x = cast_col(xp, a, FLOAT64, what).data
        y = cast_col(xp, b, FLOAT64, what).data
        r = _FLOAT_OPS[op](xp, x, y)
        return cast_col(xp, Col(r, valid, FLOAT64), out, what)
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
    elif op == "round" and digits < 0 and wide == INT64:
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
