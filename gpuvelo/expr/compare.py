"""Comparisons: both sides are brought to a common physical type, then compared with ``xp``.

Floats compare in DuckDB's total order (NaN equals NaN and sorts above +inf), so every
comparison-based operator (=, <, BETWEEN, IN, NULLIF, simple CASE) agrees with DuckDB."""

from __future__ import annotations

import operator

from ..columns import Col
from ..errors import TypeMismatchError
from ..types import BOOL, FLOAT64, INT64, UINT64, DType, decimal, timestamp
from .cast import cast_col
from .core import and_valid
from .strings import row_ranks

_UNITS = ("s", "ms", "us", "ns")
_OPS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
        "gt": operator.gt, "ge": operator.ge}
_STRICT = {"lt": "lt", "le": "lt", "gt": "gt", "ge": "gt"}


def common_type(a: DType, b: DType, what: str = "comparison") -> DType:
    """The type both sides of a comparison (or IN / BETWEEN / COALESCE) are converted to."""
    if a.is_null:
        return b
    if b.is_null or a == b:
        return a
    if a.is_string and not b.is_string:
        return b
    if b.is_string and not a.is_string:
        return a
    if a.is_numeric and b.is_numeric:
        if a.is_float or b.is_float:
            return FLOAT64
        if a.is_decimal or b.is_decimal:
            return decimal(18, max(a.scale or 0, b.scale or 0))
        if a.is_unsigned_integer and b.is_unsigned_integer:
            return UINT64
        return INT64
    if a.is_temporal and b.is_temporal:
        if a.kind == "date" and b.kind == "date":
            return a
        units = [t.unit for t in (a, b) if t.kind == "timestamp"]
        return timestamp(max(units, key=_UNITS.index), a.tz if a.kind == "timestamp" else b.tz)
    if a.is_bool and b.is_bool:
        return BOOL
    if a.is_interval and b.is_interval:   # the split does not matter to the value
        return a
    raise TypeMismatchError(f"cannot compare {a} with {b} in {what}")


def _mixed_uint64(xp, op, a: Col, b: Col):
    """Compare a signed int column with a uint64 one exactly (no common 64-bit type exists)."""
    sa, ub = (a, b) if b.dtype == UINT64 else (b, a)
    s = sa.data.astype(xp.int64)
    neg = s < 0
    s_u = xp.where(neg, 0, s).astype(xp.uint64)
    x, y = (s_u, ub.data) if sa is a else (ub.data, s_u)
    r = _OPS[op](x, y)
    # a negative signed value is below every unsigned one
    neg_result = {"eq": False, "ne": True, "lt": sa is a, "le": sa is a, "gt": sa is not a,
                  "ge": sa is not a}[op]
    return xp.where(neg, neg_result, r)


def _float_total(xp, op: str, x, y):
    """``x op y`` on floats in DuckDB's total order: -inf < numbers < +inf < NaN, NaN = NaN
    (and -0.0 = 0.0, as IEEE already has it)."""
    nx, ny = xp.isnan(x), xp.isnan(y)
    if op in ("eq", "ne"):
        eq = (x == y) | (nx & ny)
        return eq if op == "eq" else ~eq
    if op == "lt":
        return (x < y) | (ny & ~nx)
    if op == "le":
        return (x <= y) | ny
    if op == "gt":
        return (x > y) | (nx & ~ny)
    return (x >= y) | nx


def _exact_scaled(xp, c: Col, scale: int):
    """A decimal or (non-uint64) integer column as (whole part, fraction at ``scale``), both
    int64 and exact: pairs compare lexicographically as the values do, with no rescaling
    that could overflow."""
    v, s = c.data.astype(xp.int64), (c.dtype.scale if c.dtype.is_decimal else 0)
    if s == 0:
        return v, xp.zeros_like(v)
    p = xp.int64(10 ** s)
    whole = v // p
    return whole, (v - whole * p) * xp.int64(10 ** (scale - s))


def _lexicographic(op: str, a1, a2, b1, b2):
    """``(a1, a2) op (b1, b2)`` in lexicographic order."""
    if op in ("eq", "ne"):
        eq = (a1 == b1) & (a2 == b2)
        return eq if op == "eq" else ~eq
    return _OPS[_STRICT[op]](a1, b1) | ((a1 == b1) & _OPS[op](a2, b2))


def _is_exact(d: DType) -> bool:
    return d.is_decimal or (d.is_integer and d != UINT64)


def compare(xp, op: str, a: Col, b: Col, what: str = "comparison") -> Col:
    """``a op b`` for op in eq ne lt le gt ge, as a BOOL column (NULL if either side is)."""
    valid = and_valid(a.valid, b.valid)
    if (a.dtype == UINT64 and b.dtype.is_signed_integer) or (b.dtype == UINT64 and a.dtype.is_signed_integer):
        return Col(_mixed_uint64(xp, op, a, b), valid, BOOL)
    if (a.dtype.is_decimal or b.dtype.is_decimal) and _is_exact(a.dtype) and _is_exact(b.dtype):
        scale = max(d.scale if d.is_decimal else 0 for d in (a.dtype, b.dtype))
        return Col(_lexicographic(op, *_exact_scaled(xp, a, scale), *_exact_scaled(xp, b, scale)),
                   valid, BOOL)
    t = common_type(a.dtype, b.dtype, what)
    a, b = cast_col(xp, a, t, what), cast_col(xp, b, t, what)
    valid = and_valid(a.valid, b.valid)
    if t.is_null:
        n = len(a)
        return Col(xp.zeros(n, dtype=xp.bool_), xp.zeros(n, dtype=xp.bool_), BOOL)
    if t.is_string:
        x, y = row_ranks(xp, [a, b])
    elif t.is_float:
        return Col(_float_total(xp, op, a.data, b.data), valid, BOOL)
    else:
        x, y = a.data, b.data
    return Col(_OPS[op](x, y), valid, BOOL)
