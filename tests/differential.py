"""Shared helpers of the differential tests: run a query in gpuvelo and in DuckDB (the
referee) on the same data, normalise both results to rows, and compare them.

Comparison rules: integers and decimals exactly (DuckDB returns HUGEINT / DECIMAL(38, s) for
sums: values are compared, not types); a float against any number with relative tolerance
1e-9 (absolute 1e-12 near zero); NaN equals NaN; NULL equals NULL only; bools, strings and
temporal values by equality; lists (LIST / ARRAY_AGG results) element by element under these
rules. Without a top-level ORDER BY, results are compared as multisets.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re

import duckdb
import numpy as np
import pyarrow as pa

REL_TOL = 1e-9
ABS_TOL = 1e-12
ROWNUM = "__rn"   # arrival-order column added to the referee's copy for FIRST/LAST

# --------------------------------------------------------------------------- the referee
_EMIT = re.compile(r"\bEMIT\s+(CHANGES|FINAL)\b", re.IGNORECASE)
_CREATE = re.compile(r"^\s*CREATE\s+(STREAM|TABLE)\s+\w+\s+AS\s+", re.IGNORECASE)
_FIRST_LAST = re.compile(r"\b(FIRST|LAST)\s*\(", re.IGNORECASE)


def _matching_paren(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (quotes respected)."""
    depth, quote = 0, None
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


def uses_first_last(query: str) -> bool:
    """Whether the query calls FIRST(...) or LAST(...)."""
    return _FIRST_LAST.search(query) is not None


def referee_sql(query: str) -> str:
    """Translate a gpuvelo query into DuckDB's dialect: drop EMIT and CREATE STREAM/TABLE ...
    AS, and make FIRST/LAST follow arrival order explicitly (``first(x ORDER BY __rn)``)."""
    q = _CREATE.sub("", _EMIT.sub("", query))
    out, pos = [], 0
    for m in _FIRST_LAST.finditer(q):
        if m.start() < pos:
            continue
        close = _matching_paren(q, m.end() - 1)
        out.append(q[pos:close] + f" ORDER BY {ROWNUM}")
        pos = close
    out.append(q[pos:])
    return "".join(out)


def duckdb_table(query: str, tables: dict[str, pa.Table]) -> pa.Table:
    """Run ``query`` (gpuvelo dialect) in DuckDB over ``tables`` and return an Arrow table."""
    con = duckdb.connect()
    try:
        con.execute("SET threads=1")
        for name, table in tables.items():
            if uses_first_last(query):
                table = table.append_column(ROWNUM, pa.array(np.arange(table.num_rows)))
            con.register(name, table)
        return con.sql(referee_sql(query)).to_arrow_table()
    finally:
        con.close()


def engine_table(query: str, tables: dict, **opts) -> pa.Table:
    """Run ``query`` in gpuvelo; ``opts`` are gpuvelo.sql's keyword options."""
    import gpuvelo

    result = gpuvelo.sql(query, **opts, **tables)
    assert isinstance(result, pa.Table), f"gpuvelo.sql returned {type(result).__name__}"
    return result


# --------------------------------------------------------------------------- normalising
def rows(table: pa.Table) -> list[tuple]:
    """The table's rows as tuples of Python values."""
    cols = [c.to_pylist() for c in table.columns]
    return list(zip(*cols)) if cols else []


def _is_number(v) -> bool:
    return isinstance(v, (int, float, decimal.Decimal, np.number)) and not isinstance(v, (bool, np.bool_))


def _interval_micros(v) -> int | None:
    """An INTERVAL value's microseconds: gpuvelo's ``timedelta`` or DuckDB's Arrow
    ``MonthDayNano`` (None when it has months, or is no interval)."""
    if isinstance(v, dt.timedelta):
        return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
    if type(v).__name__ == "MonthDayNano" and v.months == 0 and v.nanoseconds % 1_000 == 0:
        return v.days * 86_400_000_000 + v.nanoseconds // 1_000
    return None


def values_equal(a, b) -> bool:
    """SQL-result equality of two Python values under this module's comparison rules
    (intervals: equal lengths, whether held as days and time or as one timedelta)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            all(values_equal(x, y) for x, y in zip(a, b))
    if _interval_micros(a) is not None or _interval_micros(b) is not None:
        return _interval_micros(a) == _interval_micros(b)
    if _is_number(a) and _is_number(b):
        if isinstance(a, float) or isinstance(b, float):
            fa, fb = float(a), float(b)
            if math.isnan(fa) or math.isnan(fb):
                return math.isnan(fa) and math.isnan(fb)
            if math.isinf(fa) or math.isinf(fb):
                return fa == fb
            return math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        return decimal.Decimal(a) == decimal.Decimal(b)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and a == b
    return type(a) is type(b) and a == b


def rows_equal(r1: tuple, r2: tuple) -> bool:
    """Row equality, column by column, under :func:`values_equal`."""
    return len(r1) == len(r2) and all(values_equal(a, b) for a, b in zip(r1, r2))


def _sort_key_value(v):
    """A total, NULL-safe order over one column's values (floats rounded to 9 digits so
    tolerance-equal values sort alike)."""
    if v is None:
        return (0, 0)
    if isinstance(v, (bool, np.bool_)):
        return (1, bool(v))
    if _is_number(v):
        f = float(v)
        if math.isnan(f):
            return (3, 0, 0)
        # exact integers/decimals break ties that 9-digit rounding makes (e.g. keys near 2**63)
        exact = decimal.Decimal(int(v)) if isinstance(v, (int, np.integer)) else \
            v if isinstance(v, decimal.Decimal) else decimal.Decimal(0)
        return (2, float(f"{f:.9g}"), exact)
    if isinstance(v, str):
        return (4, v)
    if _interval_micros(v) is not None:
        return (5, "", _interval_micros(v))
    if isinstance(v, dt.datetime):
        return (5, v.replace(tzinfo=None).isoformat())
    if isinstance(v, dt.date):
        return (5, v.isoformat())
    if isinstance(v, list):
        return (7, tuple(_sort_key_value(x) for x in v))
    return (6, repr(v))


def sort_rows(rs: list[tuple]) -> list[tuple]:
    """Rows in a canonical order (for multiset comparison)."""
    return sorted(rs, key=lambda r: tuple(_sort_key_value(v) for v in r))


def has_order_by(query: str) -> bool:
    """Whether the query has a top-level ORDER BY (not one inside an aggregate call)."""
    depth = 0
    for m in re.finditer(r"\(|\)|\bORDER\s+BY\b", query, re.IGNORECASE):
        tok = m.group(0)
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif depth == 0:
            return True
    return False


def assert_same_rows(actual: list[tuple], expected: list[tuple], *, ordered: bool, context: str = ""):
    """Assert two results hold the same rows (in order when ``ordered``)."""
    where = f"\n{context}" if context else ""
    assert len(actual) == len(expected), (
        f"row count {len(actual)} != expected {len(expected)}{where}\n"
        f"actual:   {_show(actual)}\nexpected: {_show(expected)}")
    if not ordered:
        actual, expected = sort_rows(actual), sort_rows(expected)
    for i, (ra, re_) in enumerate(zip(actual, expected)):
        assert rows_equal(ra, re_), (
            f"row {i} differs{' (after sorting)' if not ordered else ''}: {ra!r} != expected {re_!r}"
            f"{where}\nactual:   {_show(actual)}\nexpected: {_show(expected)}")


def _show(rs: list[tuple], limit: int = 20) -> str:
    text = repr(rs[:limit])
    return text + (f" ... ({len(rs)} rows)" if len(rs) > limit else "")


def run_both(query: str, tables: dict[str, pa.Table], *, ordered: bool | None = None,
             check_names: bool = False, **opts) -> list[tuple]:
    """Run ``query`` in gpuvelo (with ``opts``) and in DuckDB on ``tables``, assert the
    results agree, and return gpuvelo's rows. ``ordered`` defaults to whether the query has
    a top-level ORDER BY; ``check_names`` also compares column names (case-insensitively)."""
    expected = duckdb_table(query, tables)
    actual = engine_table(query, tables, **opts)
    context = f"query: {query}\nopts: {opts}"
    assert actual.num_columns == expected.num_columns, (
        f"columns {actual.column_names} vs expected {expected.column_names}\n{context}")
    if check_names:
        assert [n.lower() for n in actual.column_names] == [n.lower() for n in expected.column_names], context
    if ordered is None:
        ordered = has_order_by(query)
    got = rows(actual)
    assert_same_rows(got, rows(expected), ordered=ordered, context=context)
    return got


# --------------------------------------------------------------------------- random data
STRINGS = ["a", "b", "", "é", "日本", "Z", "ab", "a%b", "x_y", "zz"]
KEY_STRINGS = ["a", "b", "", "é", "日本"]
EPOCH_US = 1_704_067_200_000_000   # 2024-01-01 00:00:00 UTC in microseconds
DEC_TYPE = pa.decimal128(12, 2)


def _with_nulls(rng: np.random.Generator, values, n: int, p: float, type_=None) -> pa.Array:
    mask = rng.random(n) < p if p > 0 else np.zeros(n, dtype=bool)
    return pa.array(values, type=type_, mask=mask)


def random_table(rng: np.random.Generator, n: int, *, null_p: float = 0.15) -> pa.Table:
    """A random table over every column kind the differential tests use.

    Keys: ``k1`` int32 0..4, ``k2`` string (incl. '' and non-ASCII), ``k3`` bool.
    Values: ``i`` int64 -1000..1000 (zeros, negatives), ``u`` uint32 0..2000, ``i16`` int16,
    ``u64`` uint64 below 10**12, ``f`` float64 quarters
    (exact sums in any order; includes -0.0), ``g`` float32 quarters, ``dec`` decimal(12,2),
    ``s`` string, ``ts`` timestamp[us] over a few days, ``d`` date32. All nullable.
    ``fn`` float64 with NaN and +-inf (used only where DuckDB's NaN semantics are intended).
    """
    i = rng.integers(-1000, 1001, n)
    i[rng.random(n) < 0.1] = 0
    f = rng.integers(-400, 401, n) / 4.0
    f[rng.random(n) < 0.05] = -0.0
    fn = rng.integers(-40, 41, n) / 4.0
    fn[rng.random(n) < 0.1] = np.nan
    fn[rng.random(n) < 0.03] = np.inf
    cents = rng.integers(-10**9, 10**9, n)
    dec = [decimal.Decimal(int(c)).scaleb(-2) for c in cents]
    cols = {
        "k1": _with_nulls(rng, rng.integers(0, 5, n).astype(np.int32), n, null_p),
        "k2": _with_nulls(rng, rng.choice(KEY_STRINGS, n), n, null_p, pa.string()),
        "k3": _with_nulls(rng, rng.random(n) < 0.5, n, null_p),
        "i": _with_nulls(rng, i.astype(np.int64), n, null_p),
        "u": _with_nulls(rng, rng.integers(0, 2_000, n).astype(np.uint32), n, null_p),
        "i16": _with_nulls(rng, rng.integers(-300, 300, n).astype(np.int16), n, null_p),
        "u64": _with_nulls(rng, rng.integers(0, 10**12, n).astype(np.uint64), n, null_p),
        "f": _with_nulls(rng, f, n, null_p),
        "g": _with_nulls(rng, (rng.integers(-400, 401, n) / 4.0).astype(np.float32), n, null_p),
        "dec": _with_nulls(rng, dec, n, null_p, DEC_TYPE),
        "s": _with_nulls(rng, rng.choice(STRINGS, n), n, null_p, pa.string()),
        "ts": _with_nulls(rng, EPOCH_US + rng.integers(0, 5 * 86_400_000_000, n), n, null_p,
                          pa.timestamp("us")),
        "d": _with_nulls(rng, rng.integers(19_700, 19_710, n).astype(np.int32), n, null_p, pa.date32()),
        "fn": _with_nulls(rng, fn, n, null_p),
    }
    return pa.table(cols)


def batches_of(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    """The table cut into record batches of ``size`` rows."""
    return table.to_batches(max_chunksize=size)


# Windowed queries (tumbling, hopping, session) over a table with columns k, v, x, ts, used to
# compare backends and GroupState implementations on the same stream.
WINDOW_QUERIES = [
    "SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS sv, MIN(x) AS mn, MAX(v) AS mx, "
    "AVG(x) AS ax FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
    "SELECT k, window_start, window_end, COUNT(v) AS nv, SUM(x) AS sx, FIRST(v) AS fv FROM t "
    "GROUP BY k WINDOW HOPPING(ts, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE)",
    "SELECT k, window_start, window_end, COUNT(*) AS n, MAX(x) AS mx, SUM(v) AS sv FROM t "
    "GROUP BY k WINDOW SESSION(ts, INTERVAL '2' MINUTE)",
]


def window_events(rng: np.random.Generator, n: int) -> pa.Table:
    """An event stream for WINDOW_QUERIES: string keys ``k`` (with NULLs and non-ASCII), ``v``
    int64 and ``x`` float64 (with NULLs), event time ``ts`` (ms) over 20 hours with up to
    200 s of disorder and a few NULL times -- thousands of windows, so eviction compacts."""
    t = 1_767_225_600_000 + np.sort(rng.integers(0, 20 * 3_600_000, n)) - rng.integers(0, 200_000, n)
    return pa.table({"k": pa.array(np.array(["a", "b", "c", "é"])[rng.integers(0, 4, n)],
                                   mask=rng.random(n) < 0.1),
                     "v": pa.array(rng.integers(-50, 100, n), mask=rng.random(n) < 0.1),
                     "x": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
                     "ts": pa.array(t, pa.timestamp("ms"), mask=rng.random(n) < 0.02)})
