"""Set operations (UNION / INTERSECT / EXCEPT [ALL]), SELECT without FROM, VALUES, column
alias lists, SIMILAR TO and the refusal of sampling: differential against DuckDB."""

from __future__ import annotations

import csv
import io

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import gpuvelo
from differential import random_table, run_both
from gpuvelo.cli import main
from gpuvelo.errors import NotSupportedError, PlanError

T = {"t": random_table(np.random.default_rng(23), 300)}
D = {**T, "d": pa.table({"k1": pa.array([0, 1, 2, None], pa.int32()),
                         "label": ["zero", "one", None, "nobody"]})}


def _cases(*queries):
    return pytest.mark.parametrize("query", queries)


def _both_batchings(query, tables, backend, **opts):
    run_both(query, tables, backend=backend, **opts)
    run_both(query, tables, backend=backend, batch_size=7, partitions=2, **opts)


# --------------------------------------------------------------------------- 1. set operations
@_cases(
    "SELECT k1, k2 FROM t WHERE i > 0 INTERSECT SELECT k1, k2 FROM t WHERE i < 300",
    "SELECT k1, k2 FROM t WHERE i > 0 INTERSECT ALL SELECT k1, k2 FROM t WHERE i < 300",
    "SELECT k2, k3 FROM t WHERE i > -500 EXCEPT SELECT k2, k3 FROM t WHERE i > 200",
    "SELECT k2, k3 FROM t WHERE i > -500 EXCEPT ALL SELECT k2, k3 FROM t WHERE i > 200",
    "SELECT k2 FROM t WHERE i > 0 UNION SELECT k2 FROM t WHERE i < -900",
    # NULLs, -0.0 / 0.0 and NaN compare equal
    "SELECT f FROM t WHERE i > 0 INTERSECT SELECT f FROM t WHERE i <= 0",
    "SELECT fn, k3 FROM t WHERE i > 0 EXCEPT SELECT fn, k3 FROM t WHERE k1 = 1",
    "SELECT fn FROM t WHERE i > 0 INTERSECT ALL SELECT fn FROM t WHERE k1 < 3",
    # every column type at once
    "SELECT * FROM t WHERE k1 < 3 INTERSECT SELECT * FROM t WHERE k3",
    "SELECT * FROM t EXCEPT ALL SELECT * FROM t WHERE i > 0",
    "SELECT * EXCLUDE (fn) FROM t UNION SELECT * EXCLUDE (fn) FROM t",
    "SELECT ts, d, dec, u64, g FROM t WHERE k1 = 1 INTERSECT SELECT ts, d, dec, u64, g FROM t WHERE i > 0",
)
def test_set_operations(query, backend):
    _both_batchings(query, T, backend)


@_cases(
    # chains of one kind and mixes, nested as sqlglot nests them (INTERSECT binds tighter)
    "SELECT k1 FROM t WHERE i > 0 EXCEPT SELECT k1 FROM t WHERE i > 900 EXCEPT SELECT k1 FROM t WHERE k2 = 'a'",
    "SELECT k2 FROM t EXCEPT ALL SELECT k2 FROM t WHERE i > 0 EXCEPT ALL SELECT k2 FROM t WHERE k3",
    "SELECT k2 FROM t EXCEPT ALL SELECT k2 FROM t WHERE i > 0 EXCEPT SELECT k2 FROM t WHERE k1 = 2",
    "SELECT k2 FROM t INTERSECT ALL SELECT k2 FROM t WHERE i > 0 INTERSECT ALL SELECT k2 FROM t WHERE k3",
    "SELECT k1 FROM t WHERE i > 900 UNION SELECT k1 FROM t WHERE i < 0 INTERSECT SELECT k1 FROM t WHERE k3",
    "SELECT k1 FROM t WHERE i < 0 INTERSECT SELECT k1 FROM t WHERE k3 UNION SELECT k1 FROM t WHERE i > 900",
    "SELECT k2 FROM t EXCEPT SELECT k2 FROM t WHERE i > 0 INTERSECT SELECT k2 FROM t WHERE k3",
    "SELECT k2 FROM t WHERE i > 0 UNION ALL SELECT k2 FROM t WHERE i > 900 EXCEPT ALL SELECT k2 FROM t WHERE k3",
    "SELECT k2 FROM t WHERE i > 0 UNION ALL SELECT k2 FROM t UNION SELECT k2 FROM t WHERE k3",
    "SELECT k2 FROM t EXCEPT (SELECT k2 FROM t WHERE i > 0 EXCEPT SELECT k2 FROM t WHERE k3)",
    "SELECT 1 AS x UNION SELECT 2 INTERSECT SELECT 3",
)
def test_chains_and_precedence(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT k2, k1 FROM t WHERE i > 0 INTERSECT SELECT k2, k1 FROM t WHERE k3 "
    "ORDER BY k2 NULLS FIRST, k1 DESC LIMIT 7",
    "SELECT i FROM t WHERE i > 0 EXCEPT ALL SELECT i FROM t WHERE k3 ORDER BY 1 DESC LIMIT 5 OFFSET 2",
    "SELECT k1 AS key FROM t EXCEPT SELECT k1 FROM t WHERE i > 950 ORDER BY key",
    "(SELECT i FROM t WHERE i IS NOT NULL ORDER BY i LIMIT 40) INTERSECT SELECT i FROM t WHERE i < 0 ORDER BY i",
    # aggregating branches
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 INTERSECT SELECT k1, COUNT(*) FROM t WHERE i > -2000 GROUP BY k1 "
    "ORDER BY k1",
)
def test_order_and_limit_over_a_set_operation(query, backend):
    _both_batchings(query, T, backend)


@_cases(
    # INTEGER with DOUBLE, a NULL literal with VARCHAR, int16 with uint32
    "SELECT k1 FROM t INTERSECT SELECT f FROM t",
    "SELECT f FROM t WHERE i > 0 EXCEPT SELECT k1 FROM t",
    "SELECT k2 FROM t EXCEPT SELECT NULL",
    "SELECT NULL AS x INTERSECT SELECT k2 FROM t",
    "SELECT i16 FROM t INTERSECT ALL SELECT u FROM t",
    "SELECT k2, k1 FROM t WHERE i > 0 UNION SELECT NULL, 1.5",
    "SELECT i FROM t UNION SELECT 1.5",
    "SELECT dec FROM t INTERSECT SELECT i16 FROM t",
)
def test_branch_types_promote(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT k2, COUNT(*) AS n FROM (SELECT k1, k2 FROM t WHERE i > 0 EXCEPT ALL "
    "SELECT k1, k2 FROM t WHERE i > 500) GROUP BY k2",
    "WITH s AS (SELECT k1, k2 FROM t INTERSECT SELECT k1, k2 FROM t WHERE k3) "
    "SELECT k1, COUNT(*) AS n FROM s GROUP BY k1 ORDER BY k1",
    "SELECT COUNT(*) AS n, COUNT(DISTINCT k) AS nk FROM (SELECT k2 AS k FROM t UNION ALL SELECT s FROM t) x",
    "WITH a AS (SELECT k1, k2 FROM t WHERE i > 0), b AS (SELECT k1, k2 FROM a INTERSECT "
    "SELECT k1, k2 FROM t WHERE k3) SELECT k2, SUM(k1) AS s FROM b GROUP BY k2",
    "WITH a AS (SELECT k1 FROM t WHERE i > 0) SELECT k1 FROM a INTERSECT SELECT k1 FROM t WHERE i < 0",
    "WITH g AS (SELECT k2, SUM(i) AS s FROM t GROUP BY k2) SELECT k2 FROM g WHERE s > 0 "
    "EXCEPT SELECT k2 FROM t WHERE k3",
)
def test_set_operations_in_subqueries_and_ctes(query, backend):
    _both_batchings(query, T, backend)


def test_set_operation_errors():
    with pytest.raises(PlanError, match="return 2 and 1 columns"):
        gpuvelo.sql("SELECT k1, k2 FROM t INTERSECT SELECT k1 FROM t", **T)
    with pytest.raises(PlanError, match="return 1 and 2 columns"):
        gpuvelo.sql("SELECT k1 FROM t EXCEPT ALL SELECT k1, k2 FROM t", **T)
    with pytest.raises(PlanError, match="do not combine"):     # DuckDB casts to VARCHAR
        gpuvelo.sql("SELECT k2 FROM t INTERSECT SELECT ts FROM t", **T)


def test_explain_and_cli_run_a_set_operation(tmp_path, capsys):
    query = "SELECT k FROM t EXCEPT SELECT k FROM t WHERE v > 4 ORDER BY k"
    table = pa.table({"k": ["b", "a", "b", "c", "a"], "v": [1, 2, 3, 4, 5]})
    text = gpuvelo.explain(query, sources={"t": table})
    assert "__stacked" in text and "order by" in text
    path = tmp_path / "t.csv"
    pcsv.write_csv(table, path)
    assert main(["run", query, "--source", f"t={path}", "--format", "csv", "--backend", "cpu"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [["k"], ["b"], ["c"]]


# --------------------------------------------------------------------------- 2. no FROM, VALUES
@_cases(
    "SELECT 1 AS a, 'x' AS b",
    "SELECT 1 + 2 AS a, NULL AS n, 1.5 AS d, upper('q') AS u",
    "SELECT COUNT(*) AS n, SUM(2) AS s",
    "SELECT 1 AS a WHERE 1 = 0",
    "SELECT k2, SUM(i) AS s FROM t GROUP BY k2 UNION ALL SELECT 'total', SUM(i) FROM t",
    "SELECT k2, SUM(i) AS s FROM t GROUP BY k2 UNION ALL SELECT 'x', 1",
    "SELECT k1 FROM t INTERSECT SELECT 1",
    "SELECT k1 FROM t EXCEPT SELECT 1 UNION ALL SELECT 7",
    "SELECT i FROM t WHERE i > (SELECT 990)",
    "SELECT * FROM (SELECT 1 AS a, 'x' AS b)",
)
def test_select_without_from(query, backend):
    run_both(query, T, backend=backend, check_names=True)


@_cases(
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (NULL, 'c')) AS v(id, name)",
    "SELECT * FROM (VALUES (1, 1.5, 'x', NULL, 3000000000), (-2, 12.25, NULL, NULL, 1)) v",
    "SELECT * FROM (VALUES (1, 2, 3)) v(a)",
    "VALUES (1, 2), (3, 4)",
    "SELECT id * 2 AS twice, name FROM (VALUES (1, 'a'), (2, 'b')) v(id, name) WHERE id > 1",
    "SELECT name, SUM(id) AS s FROM (VALUES (1, 'a'), (2, 'b'), (3, 'a')) v(id, name) GROUP BY name",
    "SELECT t.k1, v.name, COUNT(*) AS n FROM t JOIN (VALUES (1, 'one'), (2, 'two')) v(k, name) "
    "ON t.k1 = v.k GROUP BY t.k1, v.name",
    "WITH v(k, w) AS (VALUES (0, 1.5), (3, 2.25)) SELECT k, w FROM v",
    "SELECT k1 FROM t EXCEPT SELECT * FROM (VALUES (1), (2)) v(x)",
)
def test_values(query, backend):
    _both_batchings(query, T, backend, check_names=True)


def test_values_types_follow_duckdb():
    query = "SELECT * FROM (VALUES (1, 1.5, 'x', NULL, 3000000000), (2, 12.25, NULL, NULL, 1)) v(a, b, c, d, e)"
    got = gpuvelo.sql(query).schema.types
    want = duckdb.sql(query).to_arrow_table().schema.types
    assert got == want == [pa.int32(), pa.decimal128(4, 2), pa.string(), pa.null(), pa.int64()]
    mixed = "SELECT * FROM (VALUES (1), (1.5), (NULL)) v(a)"
    assert gpuvelo.sql(mixed).schema.types == duckdb.sql(mixed).to_arrow_table().schema.types \
        == [pa.decimal128(11, 1)]


def test_values_errors():
    with pytest.raises(PlanError, match="same length"):
        gpuvelo.sql("SELECT * FROM (VALUES (1), (2, 3)) v(a)")
    with pytest.raises(PlanError, match="2 columns available but 3 columns specified"):
        gpuvelo.sql("SELECT * FROM (VALUES (1, 2)) v(a, b, c)")


# --------------------------------------------------------------------------- 3. column alias lists
@_cases(
    "SELECT * FROM (SELECT k1, k2 FROM t) AS x(a, b)",
    "SELECT a, COUNT(*) AS n FROM (SELECT k1, k2 FROM t) AS x(a) GROUP BY a",
    "WITH x(a, b) AS (SELECT k1, SUM(i) FROM t GROUP BY k1) SELECT a, b FROM x ORDER BY a",
    "SELECT c1, c2 FROM t AS u(c1, c2) WHERE c1 > 1",
    "SELECT u.c1, COUNT(*) AS n FROM t AS u(c1) GROUP BY u.c1",
    "SELECT a, k2 FROM (SELECT * FROM t WHERE i > 0) x(a)",
    "WITH x(a) AS (SELECT * FROM t) SELECT a, SUM(i) AS s FROM x GROUP BY a",
    "SELECT * FROM (SELECT k1 FROM t UNION SELECT i16 FROM t) x(v)",
    "SELECT t.k1, x.lbl FROM t JOIN d AS x(key, lbl) ON t.k1 = x.key",
    "SELECT t.i, x.lbl FROM t JOIN (SELECT k1, label FROM d) AS x(key, lbl) ON t.k1 = x.key",
)
def test_column_alias_lists(query, backend):
    _both_batchings(query, D, backend, check_names=True)


def test_column_alias_list_errors():
    with pytest.raises(PlanError, match="1 columns available but 2 columns specified"):
        gpuvelo.sql("SELECT * FROM (SELECT k1 FROM t) x(a, b)", **T)
    many = ", ".join(f"c{i}" for i in range(20))
    with pytest.raises(PlanError, match="14 columns available but 20 columns specified"):
        gpuvelo.sql(f"SELECT * FROM t AS u({many})", **T)


# --------------------------------------------------------------------------- 4. sampling
@pytest.mark.parametrize("query", [
    "SELECT * FROM t TABLESAMPLE (10 PERCENT)",
    "SELECT * FROM t USING SAMPLE 10%",
    "SELECT * FROM t USING SAMPLE 10% (bernoulli, 42)",
    "SELECT * FROM t TABLESAMPLE RESERVOIR(5 ROWS) REPEATABLE (1)",
    "SELECT k1, COUNT(*) FROM (SELECT * FROM t USING SAMPLE 10) GROUP BY k1",
])
def test_sampling_is_refused(query):
    with pytest.raises(NotSupportedError, match="sampling"):
        gpuvelo.sql(query, **T)


# --------------------------------------------------------------------------- 5. SIMILAR TO
@_cases(
    "SELECT s, s SIMILAR TO 'a.*' AS m, s NOT SIMILAR TO '[ab]' AS n FROM t",
    "SELECT i FROM t WHERE k2 SIMILAR TO '(a|b)' AND s NOT SIMILAR TO '.*b.*'",
    "SELECT s SIMILAR TO '.*b' AS m, COUNT(*) AS n FROM t GROUP BY 1",
    "SELECT k1, COUNT_IF(k2 SIMILAR TO 'é|日本') AS n, SUM(i) FILTER (WHERE s SIMILAR TO 'a%b') AS s "
    "FROM t GROUP BY k1",
)
def test_similar_to(query, backend):
    _both_batchings(query, T, backend)


def test_similar_to_escape_is_refused():
    with pytest.raises(NotSupportedError, match="ESCAPE"):
        gpuvelo.sql("SELECT s SIMILAR TO 'a#.' ESCAPE '#' AS m FROM t", **T)


def test_long_values_list_of_literals_is_data_not_sql():
    """A VALUES list of plain literals becomes a table built from the values (typed as DuckDB
    types them), so a 2,000-row list plans in well under a second (as SQL CASEs it took 18 s)."""
    import time

    import duckdb

    vals = ", ".join(f"({i}, 'name{i}', {i}.5, {'true' if i % 2 else 'NULL'}, -{i})" for i in range(2000))
    q = f"SELECT count(*), sum(a), max(b), sum(c), count(d), min(e) FROM (VALUES {vals}) v(a, b, c, d, e)"
    t0 = time.perf_counter()
    got = [tuple(r.values()) for r in gpuvelo.sql(q, backend="cpu").to_pylist()]
    assert time.perf_counter() - t0 < 10
    assert got == duckdb.sql(q).fetchall()
    types = gpuvelo.sql("SELECT * FROM (VALUES (1, 'a', 1.5, true), (3000000000, NULL, 2.25, NULL)) v",
                        backend="cpu").schema.types
    assert [str(t) for t in types] == ["int64", "string", "decimal128(3, 2)", "bool"]   # as DuckDB
