"""CAST between the types of ``gpuvelo.types``, with DuckDB's rounding and range rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrowcol import arrow_to_col, col_to_arrow
from ..columns import Col
from ..errors import ArithmeticOverflowError, DataError, NotSupportedError
from ..types import INT64, DType, timestamp, to_arrow
from .arith import div_round, mul_const, rescale, round_half_away, scale_up
from .core import gather, null_col, overflow, phys, to_host

_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}   # a timestamp unit's decimal digits of a second
_TICKS_PER_SEC = {unit: 10 ** k for unit, k in _DIGITS.items()}
_DAY_S = 86_400


def _range_check(xp, data, valid, to: DType, what: str) -> None:
    """Raise if a valid integer value does not fit the integer type ``to``."""
    src, dst = np.iinfo(data.dtype), np.iinfo(np.dtype(to.kind))
    bad = xp.zeros(data.shape[0], dtype=xp.bool_)
    if dst.min > src.min:
        bad |= data < dst.min
    if dst.max < src.max:
        bad |= data > dst.max
    overflow(xp, bad if valid is None else bad & valid, f"{what}: value out of range for {to}",
             (data,))


def _as_float(xp, col: Col):
    if col.dtype.is_decimal:
        return col.data.astype(xp.float64) / (10.0 ** col.dtype.scale)
    return col.data.astype(xp.float64)


def _to_float(xp, col: Col, to: DType, what: str):
    """Numbers to FLOAT32 / FLOAT64; a finite value beyond FLOAT32's range is an error (as
    DuckDB), while infinities and NaN carry over."""
    data = _as_float(xp, col)
    if to.kind != "float32":
        return data
    with np.errstate(over="ignore"):
        out = data.astype(xp.float32)
    bad = xp.isinf(out) & xp.isfinite(data)
    overflow(xp, bad if col.valid is None else bad & col.valid,
             f"{what}: value out of range for {to}", (data,))
    return out


def _to_int(xp, col: Col, to: DType, what: str):
    fr = col.dtype
    data, valid = col.data, col.valid
    if fr.is_float:   # DuckDB rounds doubles half to even here (decimals: half away from 0)
        r = xp.rint(data.astype(xp.float64))
        info = np.iinfo(np.dtype(to.kind))
        bad = ~((r >= float(info.min)) & (r < float(info.max) + 1.0))
        overflow(xp, bad if valid is None else bad & valid, f"{what}: value out of range for {to}",
                 (data,))
        return xp.where(bad, 0.0, r).astype(phys(xp, to))
    if fr.is_decimal:
        data = div_round(xp, data, fr.scale)
    elif fr.is_bool:
        data = data.astype(xp.int64)
    _range_check(xp, data, valid, to, what)
    return data.astype(phys(xp, to))


def _to_decimal(xp, col: Col, to: DType, what: str):
    fr = col.dtype
    valid = col.valid
    if fr.is_float:
        r = round_half_away(xp, col.data.astype(xp.float64) * (10.0 ** to.scale))
        bad = ~(xp.abs(r) < 9.2e18)
        overflow(xp, bad if valid is None else bad & valid, what, (col.data,))
        data = xp.where(bad, 0.0, r).astype(xp.int64)
    elif fr.is_decimal:
        data = rescale(xp, col.data, fr.scale, to.scale, valid, what)
    else:
        ints = col.data.astype(xp.int64) if fr.is_bool else col.data
        if ints.dtype != xp.int64:
            _range_check(xp, ints, valid, INT64, what)
            ints = ints.astype(xp.int64)
        data = scale_up(xp, ints, to.scale, valid, what)
    if to.precision is not None and to.precision < 19:
        limit = 10 ** to.precision
        bad = (data >= limit) | (data <= -limit)
        overflow(xp, bad if valid is None else bad & valid, f"{what}: value does not fit {to}",
                 (data,))
    return data


def _to_temporal(xp, col: Col, to: DType, what: str):
    """DATE / TIMESTAMP to DATE / TIMESTAMP as DuckDB casts: to a finer unit exactly (checked),
    to a coarser one rounded half away from zero; to DATE by floor, TIMESTAMP_NS rounded to
    microseconds first. TIMESTAMP_NS to TIMESTAMP_S raises, as in DuckDB."""
    fr = col.dtype
    if to.kind == "date" and fr.kind == "timestamp":
        ticks, unit = col.data, fr.unit
        if unit == "ns":
            ticks, unit = div_round(xp, ticks, 3), "us"
        return (ticks // ticks.dtype.type(_TICKS_PER_SEC[unit] * _DAY_S)).astype(xp.int32)
    if to.kind == "timestamp" and fr.kind == "date":
        per_day = _TICKS_PER_SEC[to.unit] * _DAY_S
        return mul_const(xp, col.data.astype(xp.int64), per_day, col.valid, what)
    if to.kind == "timestamp" and fr.kind == "timestamp":
        a, b = _TICKS_PER_SEC[fr.unit], _TICKS_PER_SEC[to.unit]
        if b >= a:
            return mul_const(xp, col.data, b // a, col.valid, what)
        if fr.unit == "ns" and to.unit == "s":
            raise NotSupportedError(f"cannot cast {fr} to {to} in {what} (DuckDB cannot "
                                    "either); cast to TIMESTAMP first")
        return div_round(xp, col.data, _DIGITS[fr.unit] - _DIGITS[to.unit])
    raise NotSupportedError(f"cannot cast {fr} to {to} in {what}")


# --------------------------------------------------------------------------- strings
def _format(xp, col: Col) -> Col:
    """Any non-string column to strings, formatted like DuckDB; formats each distinct value once."""
    d = col.dtype
    data = col.data
    if d.is_float:   # unique by bit pattern, so -0.0 keeps its sign
        data = data.astype(xp.float64).view(xp.int64)
    uniq, inverse = xp.unique(data, return_inverse=True)
    u = to_host(xp, uniq)
    if d.is_float:
        u = u.view(np.float64).astype(col.data.dtype)
    if d.is_bool:
        text = pa.array(np.where(u, "true", "false"))
    elif d.is_integer:
        text = pa.array(u.astype(str))
    elif d.is_float:   # NumPy prints floats shortest round-trip, as DuckDB; NaN keeps its sign
        text = pa.array(np.where(np.isnan(u) & np.signbit(u), "-nan", u.astype(str)))
    elif d.is_decimal:
        text = pa.array(_decimal_text(u, d), pa.string())
    else:
        plain = DType("timestamp", d.unit) if d.kind == "timestamp" else d
        text = col_to_arrow(Col(u, None, plain)).cast(pa.string())
        if d.kind in ("timestamp", "time"):   # DuckDB drops trailing fractional zeros
            text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
            text = pc.replace_substring_regex(text, r"\.$", "")
            if d.tz is not None:   # computed in UTC: DuckDB's text in its UTC session
                text = pc.binary_join_element_wise(text, "+00", "")
    return Col(inverse.reshape(-1).astype(xp.int32), col.valid, DType("string"), text.cast(pa.string()))


def _decimal_text(values: np.ndarray, d: DType) -> list[str]:
    """Host decimal values (int64 scaled by ``10**d.scale``) as DuckDB prints them: every
    fractional digit, and no ``0`` before the point when the width is all scale
    (DECIMAL(5, 5): ``.50000``)."""
    scale = d.scale or 0
    lead = "" if d.precision is not None and d.precision == scale else "0"
    out = []
    for v in values.tolist():   # distinct values only
        digits = str(abs(v)).rjust(scale + 1, "0")
        whole, frac = digits[:len(digits) - scale], digits[len(digits) - scale:]
        whole = lead if whole.strip("0") == "" and scale else whole.lstrip("0") or "0"
        out.append(("-" if v < 0 else "") + whole + ("." + frac if scale else ""))
    return out


_BOOL_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True,
               "false": False, "f": False, "no": False, "n": False, "0": False}


def _parse_bools(entries: pa.Array) -> pa.Array:
    """Strings to booleans as DuckDB reads them: true/t/yes/y/1 and false/f/no/n/0, in any
    case (no surrounding spaces)."""
    found = pc.index_in(pc.utf8_lower(entries), value_set=pa.array(list(_BOOL_WORDS)))
    bad = pc.and_(pc.is_null(found), pc.is_valid(entries))
    if pc.any(bad).as_py():
        first = entries.filter(bad)[0].as_py()
        raise pa.ArrowInvalid(f"'{first}' is not a boolean (true/false, t/f, yes/no, y/n, 1/0)")
    return pa.array(list(_BOOL_WORDS.values())).take(found)


def _parse_entries(entries: pa.Array, target, to: DType) -> pa.Array:
    """Strings to the Arrow type ``target``; integers also from decimal or exponent notation
    (``'3.5'``, ``'1e3'``), rounded half away from zero, as DuckDB reads them."""
    if to.is_bool:
        return _parse_bools(entries)
    try:
        return entries.cast(target)
    except pa.ArrowInvalid:
        if to.kind == "date":       # '2024-01-04 10:11:12': DuckDB takes the date of it
            return entries.cast(pa.timestamp("us")).cast(target)
        if not to.is_integer:
            raise
    exact = entries.cast(pa.decimal128(38, 9))
    return pc.round(exact, 0, round_mode="half_towards_infinity").cast(target)


def _parse(xp, col: Col, to: DType, what: str) -> Col:
    """Strings to ``to``: each dictionary entry used by a valid row is parsed once (pyarrow).
    TIMESTAMP_S / _MS are parsed as microseconds and then rounded, as DuckDB does."""
    codes = col.data if col.valid is None else col.data[col.valid]
    used = to_host(xp, xp.unique(codes)).astype(np.int64)
    entries = col.dictionary.take(pa.array(used, pa.int64()))
    if not (to.is_temporal or to.is_bool):
        entries = pc.utf8_trim_whitespace(entries)
    coarse = to.kind == "timestamp" and to.unit in ("s", "ms")
    via = timestamp("us", to.tz) if coarse else to
    target = pa.decimal128(38, to.scale) if to.is_decimal else to_arrow(via)
    try:
        parsed = _parse_entries(entries, target, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataError(f"cannot convert string to {to} in {what}: {e}") from e
    host = arrow_to_col(parsed, via)
    if coarse:
        host = Col(_to_temporal(np, host, to, what), None, to)
    table = np.zeros(len(col.dictionary), dtype=host.data.dtype)
    table[used] = host.data
    out = Col(gather(xp, table, col.data), col.valid, to)
    if to.is_decimal:
        out.data = _to_decimal(xp, out, to, what)
    return out


# --------------------------------------------------------------------------- TRY_CAST
def try_cast_col(xp, col: Col, to: DType, what: str = "TRY_CAST") -> Col:
    """``cast_col`` with NULL where a value does not convert (TRY_CAST) instead of an error.

    The cast is tried as is; only when it fails are the failing rows found and made NULL
    (every check skips NULL rows): strings entry by distinct entry; other values by
    bisecting their sorted distinct values, from the ones next to 0, for the convertible
    range (range failures are a prefix and a suffix of them); NaN fails where it fails."""
    try:
        return cast_col(xp, col, to, what)
    except (DataError, ArithmeticOverflowError):
        pass
    bad = _failing_rows(xp, col, to, what)
    valid = ~bad if col.valid is None else col.valid & ~bad
    return cast_col(xp, Col(col.data, valid, col.dtype, col.dictionary), to, what)


def _converts(xp, col: Col, index, to: DType, what: str) -> bool:
    try:
        cast_col(xp, col.take(index), to, what)
        return True
    except (DataError, ArithmeticOverflowError):
        return False


def _failing_rows(xp, col: Col, to: DType, what: str):
    """Rows of ``col`` whose (non-NULL) value does not convert to ``to``."""
    if col.dtype.is_string:
        codes = col.data if col.valid is None else col.data[col.valid]
        used = to_host(xp, xp.unique(codes)).astype(np.int64)
        one = lambda k: Col(np.zeros(1, np.int32), None, col.dtype, col.dictionary.slice(int(k), 1))  # noqa: E731
        failing = np.zeros(len(col.dictionary), dtype=bool)
        for k in used:          # distinct strings, only after the whole cast has failed
            failing[k] = not _converts(np, one(k), slice(None), to, what)
        return gather(xp, failing, col.data)
    data = col.data
    nan = xp.isnan(data) if col.dtype.is_float else xp.zeros(data.shape[0], dtype=xp.bool_)
    keep = ~nan if col.valid is None else col.valid & ~nan
    u = to_host(xp, xp.unique(data[keep]))
    host = Col(u, None, col.dtype)
    ok_at = lambda i: _converts(np, host, slice(i, i + 1), to, what)   # noqa: E731
    bad = xp.zeros(data.shape[0], dtype=xp.bool_)
    if col.dtype.is_float and not _converts(np, Col(np.full(1, np.nan, u.dtype), None, col.dtype),
                                            slice(None), to, what):
        bad = nan
    if u.size == 0:
        return bad
    # the convertible range holds 0: start from the values on either side of it
    zero = int(np.searchsorted(u, 0))
    mid = next((i for i in (zero, zero - 1) if 0 <= i < u.size and ok_at(i)), None)
    if mid is None:
        return bad | ~nan
    lo, hi = 0, mid                     # the first convertible value (a failing prefix before it)
    while lo < hi:
        m = (lo + hi) // 2
        lo, hi = (lo, m) if ok_at(m) else (m + 1, hi)
    first = lo
    lo, hi = mid + 1, u.size            # one past the last convertible value
    while lo < hi:
        m = (lo + hi) // 2
        lo, hi = (m + 1, hi) if ok_at(m) else (lo, m)
    low, high = xp.asarray(u[first:first + 1])[0], xp.asarray(u[lo - 1:lo])[0]
    return bad | (~nan & ((data < low) | (data > high)))


def _interval_cast(xp, col: Col, to: DType, what: str) -> Col:
    """INTERVAL to INTERVAL (another split: the same values) or to VARCHAR (DuckDB's text);
    nothing else converts to or from an INTERVAL (as in DuckDB, but for text columns)."""
    from .intervals import format_col   # noqa: PLC0415 (intervals imports this module)
    fr = col.dtype
    if fr.is_interval and to.is_interval:
        return Col(col.data, col.valid, to)
    if fr.is_interval and to.is_string:
        return format_col(xp, col, what)
    raise NotSupportedError(f"cannot cast {fr} to {to} in {what}" + (
        " (text columns are not read as intervals; literals are)" if fr.is_string else ""))


def _time_cast(xp, col: Col, to: DType, what: str) -> Col:
    """TIMESTAMP (no time zone) to TIME (its time of day) and TIME to VARCHAR, as DuckDB;
    nothing else converts to or from a TIME (text columns: only literals are read)."""
    from .times import of_timestamp   # noqa: PLC0415 (times imports this module)
    fr = col.dtype
    if to.is_time and fr.kind == "timestamp" and fr.tz is None:
        return Col(of_timestamp(xp, col.data, fr.unit), col.valid, to)
    if fr.is_time and to.is_string:
        return _format(xp, col)
    raise NotSupportedError(f"cannot cast {fr} to {to} in {what}" + (
        " (text columns are not read as times; literals are)" if fr.is_string else ""))


# --------------------------------------------------------------------------- entry point
def cast_col(xp, col: Col, to: DType, what: str = "CAST") -> Col:
    """Convert ``col`` to type ``to`` (NULLs stay NULL); raises on values that do not fit."""
    fr = col.dtype
    if fr == to:
        return col
    if fr.is_null:
        return null_col(xp, len(col), to)
    if fr.is_interval or to.is_interval:
        return _interval_cast(xp, col, to, what)
    if fr.is_time or to.is_time:
        return _time_cast(xp, col, to, what)
    if to.is_string:
        return _format(xp, col) if not fr.is_string else Col(col.data, col.valid, to, col.dictionary)
    if fr.is_string:
        return _parse(xp, col, to, what)
    if to.is_bool and (fr.is_numeric or fr.is_bool):
        data = col.data != 0 if not fr.is_bool else col.data
    elif to.is_float and (fr.is_numeric or fr.is_bool):
        data = _to_float(xp, col, to, what)
    elif to.is_integer and (fr.is_numeric or fr.is_bool):
        data = _to_int(xp, col, to, what)
    elif to.is_decimal and (fr.is_numeric or fr.is_bool):
        data = _to_decimal(xp, col, to, what)
    elif to.is_temporal and fr.is_temporal:
        data = _to_temporal(xp, col, to, what)
    else:
        raise NotSupportedError(f"cannot cast {fr} to {to} in {what}")
    return Col(data, col.valid, to)

