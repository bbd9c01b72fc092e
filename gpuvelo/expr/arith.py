"""Exact integer/decimal arithmetic with vectorised overflow checks, and SQL rounding.

Every check looks only at valid rows (``valid`` None = all rows), so garbage in NULL slots
never raises.
"""

from __future__ import annotations

from .core import overflow

INT64_MIN = -(2 ** 63)


def _mask(bad, valid):
    return bad if valid is None else bad & valid


def checked(xp, op: str, a, b, valid, what: str):
    """``a op b`` for op in add/sub/mul on two int64 (or two uint64) arrays; raises on overflow."""
    unsigned = a.dtype == xp.uint64
    if op == "add":
        r = a + b
        bad = (r < a) if unsigned else ((a ^ r) & (b ^ r)) < 0
    elif op == "sub":
        r = a - b
        bad = (a < b) if unsigned else ((a ^ b) & (a ^ r)) < 0
    else:
        r = a * b
        nz = a != 0
        q = r // xp.where(nz, a, a.dtype.type(1))
        bad = nz & (q != b)
        if not unsigned:
            bad |= (a == -1) & (b == INT64_MIN)
    overflow(xp, _mask(bad, valid), what, (a, b))
    return r


def mul_const(xp, v, p: int, valid, what: str):
    """``v * p`` for a positive int constant ``p`` on int64, checked."""
    if p == 1:
        return v
    if p > 2 ** 63 - 1:
        overflow(xp, _mask(v != 0, valid), what, (v,))
        return v * 0
    bad = (v > (2 ** 63 - 1) // p) | (v < -((2 ** 63) // p))
    overflow(xp, _mask(bad, valid), what, (v,))
    return v * v.dtype.type(p)


def scale_up(xp, v, k: int, valid, what: str):
    """``v * 10**k`` (k >= 0) on int64, checked."""
    return mul_const(xp, v, 10 ** k, valid, what)


def div_round(xp, v, k: int):
    """``v / 10**k`` (k >= 0) on int64, rounded half away from zero (exact)."""
    if k == 0:
        return v
    if k > 18:
        return v * 0
    p = v.dtype.type(10 ** k)
    q = v // p                 # floor
    rem2 = (v - q * p) * 2     # 0 <= rem < p <= 1e18, so 2*rem fits
    up = xp.where(v >= 0, rem2 >= p, rem2 > p)
    return q + up.astype(v.dtype)


def rescale(xp, v, s_from: int, s_to: int, valid, what: str):
    """Scaled int64 ``v`` from scale ``s_from`` to ``s_to`` (up: checked; down: rounded)."""
    if s_to >= s_from:
        return scale_up(xp, v, s_to - s_from, valid, what)
    return div_round(xp, v, s_from - s_to)


def floor_div_pow10(xp, v, k: int, ceil: bool = False):
    """``floor(v / 10**k)`` (or ceil) on int64, exact (k <= 18)."""
    if k == 0:
        return v
    p = v.dtype.type(10 ** k)
    return -((-v) // p) if ceil else v // p


def round_half_away(xp, x):
    """Round float64 values to integers, halves away from zero (C ``round``, not numpy's)."""
    t = xp.trunc(x)
    return t + xp.where(xp.abs(x - t) >= 0.5, xp.sign(x), 0.0)


def round_float(xp, x, digits: int):
    """SQL ROUND(x, digits) on float64 the way DuckDB does it; non-finite results keep x."""
    if digits == 0:
        return round_half_away(xp, x)
    m = 10.0 ** abs(digits)
    if digits < 0:
        r = round_half_away(xp, x / m) * m
    else:
        y = x * m
        r = round_half_away(xp, y)
        # y may be an exact half only because x * m was rounded up to it (2.675 * 100 = 267.5):
        # the exact product's error (Dekker's two-product) says which side the true value is on
        t = xp.trunc(y)
        tie = xp.abs(y - t) == 0.5
        err = _product_error(xp, x, m, y)
        toward_zero = tie & (((y > 0) & (err < 0)) | ((y < 0) & (err > 0)))
        r = xp.where(toward_zero, t, r) / m
    return xp.where(xp.isfinite(r), r, x)


def _split(xp, a):
    c = 134217729.0 * a   # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _product_error(xp, a, b: float, p):
    """``a * b - p`` exactly, for ``p = fl(a * b)`` (Dekker), elementwise."""
    ahi, alo = _split(xp, a)
    bhi, blo = _split(xp, xp.asarray(b, dtype=xp.float64))
    return ((ahi * bhi - p) + ahi * blo + alo * bhi) + alo * blo


def checked_neg(xp, v, valid, what: str):
    """``-v`` on int64/uint64 with overflow checks."""
    if v.dtype == xp.uint64:
        overflow(xp, _mask(v != 0, valid), what, (v,))
        return v
    overflow(xp, _mask(v == INT64_MIN, valid), what, (v,))
    return -v


def checked_abs(xp, v, valid, what: str):
    """``abs(v)`` on int64/uint64 with overflow checks."""
    if v.dtype == xp.uint64:
        return v
    overflow(xp, _mask(v == INT64_MIN, valid), what, (v,))
    return xp.abs(v)


def int_mod(xp, a, b, valid):
    """``a % b`` with C semantics (sign of the dividend); returns (result, valid) with x % 0 NULL."""
    zero = b == 0
    safe = xp.where(zero | (b == -1) if a.dtype != xp.uint64 else zero, b.dtype.type(1), b)
    r = xp.fmod(a, safe)
    nv = ~zero
    return r, nv if valid is None else valid & nv
