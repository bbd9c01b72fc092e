"""String scalar functions (``gpuvelo.sql.functions.strings``) against DuckDB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

import gpuvelo
from gpuvelo import types as TY
from gpuvelo.arrowcol import batch_to_cols, col_to_arrow
from gpuvelo.errors import DataError, NotSupportedError, PlanError, SqlError, TypeMismatchError
from gpuvelo.expr import compile_expr
from gpuvelo.sql.plan import Call, ColumnRef

T = {"t": random_table(np.random.default_rng(5), 300)}

EDGE_STRINGS = ["", "a", "hello", "héllo日本", "日本", "  a b  ", "\u3000x\u00a0", "\tx\n",
                "a,b,,c", ",", "aaa", None, "ÉCOLE", "ab%_c", "Σς ǅ"]
EDGE = {"t": pa.table({
    "k": pa.array(range(len(EDGE_STRINGS)), pa.int32()),
    "s": pa.array(EDGE_STRINGS, pa.string()),
    "s2": pa.array(EDGE_STRINGS[::-1], pa.string()),
})}


def _select(*exprs: str) -> str:
    """One query selecting ``k`` and every expression (named c0, c1, ...) from t."""
    return "SELECT k, " + ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs)) + " FROM t"


def _cases(*queries):
    return pytest.mark.parametrize("query", queries)


# --------------------------------------------------------------------------- edge values
R = range(-7, 8)


@_cases(
    _select(*(f"substring(s, {a})" for a in R), *(f"substr(s, {a}, {b})" for a in R for b in R)),
    _select(*(f"left(s, {n})" for n in R), *(f"right(s, {n})" for n in R),
            "substring(s FROM 2 FOR 3)", "substring(s, NULL)", "left(s, NULL)", "left(NULL, 2)"),
    _select(*(f"lpad(s, {n}, 'xy')" for n in R), *(f"rpad(s, {n}, '日é')" for n in R),
            "lpad(s, 3, NULL)", "rpad(s, NULL, 'x')", "lpad(s, 0, '')", "rpad(s, -1, '')"),
    _select(*(f"split_part(s, {d!r}, {i})" for d in [",", "a", "", "日本", ",,", "l"]
              for i in range(-5, 6)), "split_part(s, NULL, 1)", "split_part(s, ',', NULL)"),
    _select(*(f"strpos(s, {d!r})" for d in [",", "a", "", "日本", "本", "l", "é", " "]),
            "instr(s, 'b')", "position('l' IN s)", "strpos(s, NULL)",
            *(f"contains(s, {d!r})" for d in ["", "a", "本"]),
            *(f"starts_with(s, {d!r})" for d in ["", "a", "日"]), "prefix(s, 'he')",
            *(f"ends_with(s, {d!r})" for d in ["", "c", "本"]), "suffix(s, 'o')"),
    _select(*(f"replace(s, {a!r}, {b!r})" for a in ["", "a", "aa", "é", "l"] for b in ["", "X", "日本"]),
            "replace(s, NULL, 'x')", "replace(s, 'a', NULL)"),
    _select("trim(s)", "ltrim(s)", "rtrim(s)", "trim(s, ' a')", "trim(s, '')", "ltrim(s, 'ah')",
            "rtrim(s, '本c')", "trim(BOTH 'x' FROM s)", "trim(LEADING ' ' FROM s)",
            "trim(s, NULL)", "trim(NULL)", "ltrim(rtrim(s, 'o'), 'h')"),
    _select(*(f"repeat(s, {n})" for n in [-1, 0, 1, 3]), "repeat(s, NULL)", "strlen(s)",
            "ascii(s)", "md5(s)", "sha256(s)", "length(s)"),
    _select("s ILIKE 'a%'", "s ILIKE '%É%'", "s NOT ILIKE 'école'", "s ILIKE NULL", "s ILIKE '_'",
            "s ILIKE 'ab\\%%'", "s ILIKE 'σΣ%'", "s ~~* 'HELLO'"),
)
def test_edge_values(query, backend):
    run_both(query, EDGE, backend=backend)


@_cases(
    _select(*(f"regexp_matches(s, {p!r})" for p in ["", "a", "^a", "b$", "[a-z]+", "日.", "(?i)É", "a.b"]),
            *(f"regexp_matches(s, {p!r}, {o!r})" for p in ["A", "é", "a.b"]
              for o in ["i", "c", "s", "l", "ci", "ic", "m", "n", "p"]),
            "regexp_matches(s, NULL)", "regexp_matches(NULL, 'a')"),
    _select(*(f"regexp_full_match(s, {p!r})" for p in ["", "a", "a+", "[a-z]+", ".*", "h.*本"]),
            "regexp_full_match(s, 'A', 'i')", "regexp_full_match(s, 'HELLO', 'i')",
            "regexp_full_match(s, 'a.c', 'l')"),
    _select(*(f"regexp_replace(s, {p!r}, {r!r})" for p in ["", "a", "l+", "(.)", "^", "$", "[,]"]
              for r in ["X", "[\\1]", "\\0\\0", "\\\\", "$1"])),
    _select(*(f"regexp_replace(s, {p!r}, {r!r}, 'g')" for p in ["", "a", "l+", "(.)", "[,]", "x*"]
              for r in ["X", "[\\1]"]),
            *(f"regexp_replace(s, 'A', 'X', {o!r})" for o in ["i", "gi", "l", "c"]),
            "regexp_replace(s, '.', 'X', 'l')", "regexp_replace(s, NULL, 'x')"),
)
def test_regular_expressions(query, backend):
    run_both(query, EDGE, backend=backend)


@_cases(
    _select("concat(s)", "concat(s, s2)", "concat(s, NULL, k)", "concat(NULL)", "concat('x', 'y')",
            "s || s2", "s || NULL", "s || k", "k || s", "NULL || NULL", "s || 'é' || s2",
            "concat_ws(',', s, k, s2)", "concat_ws(NULL, s)", "concat_ws('', s, s2)",
            "concat_ws('-', NULL, s)", "concat(s, 1.5, true, DATE '2024-01-02')"),
)
def test_concatenation(query, backend):
    run_both(query, EDGE, backend=backend)


def test_octet_length_counts_bytes(backend):
    # DuckDB has octet_length for BLOBs only; gpuvelo also takes strings (as PostgreSQL).
    out = gpuvelo.sql("SELECT octet_length(s) AS n FROM t", t=EDGE["t"], backend=backend)
    assert out.column("n").to_pylist() == [None if v is None else len(v.encode()) for v in EDGE_STRINGS]


def test_reverse_matches_duckdb_where_code_points_are_graphemes(backend):
    run_both("SELECT reverse(s) AS r, reverse(s2 || 'ab') AS q FROM t", EDGE, backend=backend)


# --------------------------------------------------------------------------- random data
@_cases(
    "SELECT trim(s) AS a, ltrim(k2, 'é') AS b, substring(s, 2) AS c, left(k2, 1) AS e, right(s, 1) AS h FROM t",
    "SELECT concat(k2, s) AS a, k2 || s AS b, concat(s, '-', i, '-', k3) AS c, s || d AS e, concat_ws('/', k2, ts, s) AS h FROM t",
    "SELECT starts_with(s, 'a') AS a, ends_with(k2, '本') AS b, contains(s, '%') AS c, strpos(s, 'b') AS e, s ILIKE 'A%' AS h FROM t",
    "SELECT replace(s, 'a', 'XY') AS a, repeat(k2, 2) AS b, lpad(s, 3, '*') AS c, rpad(k2, 2, '.') AS e, split_part(s, '_', 2) AS h FROM t",
    "SELECT regexp_matches(s, '^[a-b]+$') AS a, regexp_replace(s, '[ab]', 'Q', 'g') AS b, strlen(k2) AS c, ascii(s) AS e, md5(k2) AS h FROM t",
)
def test_row_functions(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT concat(k2, s) AS c, COUNT(*) AS n FROM t GROUP BY c",
    "SELECT k2 || s AS c, SUM(i) AS n FROM t GROUP BY k2 || s",
    "SELECT left(s, 1) AS c, upper(trim(k2)) AS v, COUNT(*) AS n FROM t GROUP BY c, v",
    "SELECT split_part(concat_ws(',', k2, s), ',', 2) AS p, COUNT(*) AS n FROM t GROUP BY p HAVING COUNT(*) > 1 ORDER BY p",
    "SELECT concat(k1, k3, d, dec) AS c, COUNT(*) AS n FROM t GROUP BY c",
    "SELECT k1, MIN(concat(k2, s)) AS a, MAX(s || k2) AS b, COUNT(DISTINCT concat(k2, s)) AS c, "
    "COUNT(DISTINCT lpad(s, 3, 'x')) AS e FROM t GROUP BY k1",
    "SELECT k1, SUM(strlen(s)) AS a, AVG(strpos(s, 'b')) AS b, MAX(ascii(k2)) AS c, "
    "SUM(length(concat(s, k2))) AS e FROM t GROUP BY k1",
    "SELECT k1, strlen(MIN(s)) AS a, concat(MAX(k2), '-', COUNT(*)) AS b, upper(MIN(s)) || MAX(s) AS c, "
    "left(MAX(concat(s, k2)), 2) AS e FROM t GROUP BY k1",
    "SELECT k2, concat(k2, SUM(i)) AS c, k2 || COUNT(*) AS e, starts_with(k2, 'a') AS f FROM t GROUP BY k2",
    "SELECT k1, COUNT(*) AS n FROM t WHERE starts_with(s, 'a') OR s ILIKE '%É%' OR regexp_matches(k2, '本$') GROUP BY k1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE s NOT ILIKE 'a%' AND concat(k2, s) <> '' GROUP BY k1",
    "SELECT i, s FROM t WHERE concat(k2, s) = 'aa' OR k2 || s = 'éé' OR contains(concat_ws('|', s, k2), '|')",
    "SELECT replace(k2, 'a', 'b') AS r, COUNT(DISTINCT s) AS n, MIN(reverse(s)) AS m FROM t GROUP BY r",
)
def test_in_aggregate_queries(query, backend):
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7)


# --------------------------------------------------------------------------- two columns
def test_concat_of_two_columns_builds_only_the_pairs_that_occur():
    left = [f"l{i}" for i in range(500)]
    right = [f"r{i}" for i in range(500)]
    rows = [(3, 7), (3, 7), (10, 2), (499, 0), (3, 7)]
    table = pa.table({
        "a": pa.DictionaryArray.from_arrays(pa.array([r[0] for r in rows], pa.int32()), pa.array(left)),
        "b": pa.DictionaryArray.from_arrays(pa.array([r[1] for r in rows], pa.int32()), pa.array(right)),
    })
    cols = batch_to_cols(table.to_batches()[0], {"a": TY.STRING, "b": TY.STRING})
    assert len(cols["a"].dictionary) == 500
    call = Call(TY.STRING, "concat", (ColumnRef(TY.STRING, "a"), ColumnRef(TY.STRING, "b")))
    out = compile_expr(call)(cols)
    assert len(out.dictionary) == 3
    assert col_to_arrow(out).to_pylist() == ["l3r7", "l3r7", "l10r2", "l499r0", "l3r7"]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("query, error", [
    ("SELECT substring(s, i) FROM t", PlanError),
    ("SELECT left(s, 2.5) FROM t", TypeMismatchError),
    ("SELECT starts_with(i, 'a') FROM t", TypeMismatchError),
    ("SELECT trim(s, k2) FROM t", PlanError),
    ("SELECT s ILIKE k2 FROM t", PlanError),
    ("SELECT concat_ws(k2, s) FROM t", PlanError),
    ("SELECT lpad(s, 3) FROM t", SqlError),
    ("SELECT strpos(s, 'a', 2) FROM t", SqlError),
    ("SELECT substring(s, 9999999999) FROM t", PlanError),
    ("SELECT regexp_matches(s, 'a', 'g') FROM t", PlanError),
    ("SELECT regexp_replace(s, 'a', 'b', 'x') FROM t", PlanError),
])
def test_bad_calls_are_plan_errors(query, error):
    with pytest.raises(error) as info:
        gpuvelo.sql(query, t=T["t"])
    assert "line 1" in str(info.value)


@pytest.mark.parametrize("query", [
    "SELECT regexp_matches(s, '(') FROM t",
    "SELECT regexp_replace(s, 'a', '\\2') FROM t",
])
def test_invalid_regular_expressions_are_plan_errors(query):
    with pytest.raises(PlanError, match="REGEXP_"):
        gpuvelo.sql(query, t=T["t"])


def test_invalid_regular_expression_fails_even_on_null_rows():
    nulls = pa.table({"s": pa.array([None, None], pa.string())})
    with pytest.raises(PlanError):
        gpuvelo.sql("SELECT regexp_matches(s, '(') FROM t", t=nulls)


def test_reverse_refuses_what_duckdb_reverses_by_grapheme():
    table = pa.table({"s": pa.array(["ab", "e\u0301x", None])})
    with pytest.raises(NotSupportedError, match="combining"):
        gpuvelo.sql("SELECT reverse(s) FROM t", t=table)
    out = gpuvelo.sql("SELECT reverse(s) AS r FROM t WHERE s <> 'e\u0301x'", t=table)
    assert out.column("r").to_pylist() == ["ba"]


def test_padding_with_an_empty_fill_fails_only_where_needed():
    table = pa.table({"s": pa.array(["abc", "abcd", None])})
    out = gpuvelo.sql("SELECT lpad(s, 3, '') AS p FROM t", t=table)
    assert out.column("p").to_pylist() == ["abc", "abc", None]
    with pytest.raises(DataError, match="padding"):
        gpuvelo.sql("SELECT rpad(s, 4, '') AS p FROM t", t=table)
