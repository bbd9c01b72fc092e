"""LIST / ARRAY_AGG against DuckDB: arrival order, ORDER BY, DISTINCT, FILTER, NULLs, every
element type, batches, partitions, EMIT CHANGES, windows, sinks and the refusals.

DuckDB's order among rows with equal ORDER BY values is unspecified (its sort is not
stable), and so is its order of DISTINCT values (its hash table's); gpuvelo keeps arrival
order in both. The referee is then asked for that order explicitly: ``ORDER BY y, __rn``
(``__rn`` the arrival position) and, for DISTINCT, the first row of each value.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from gpuvelo.errors import NotSupportedError, PlanError
from differential import (assert_same_rows, duckdb_table, engine_table, random_table, rows,
                          run_both, values_equal)

RN = "__rn"


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return random_table(np.random.default_rng(7), 400)


def with_rn(t: pa.Table) -> pa.Table:
    """``t`` plus its arrival position ``__rn`` (for the referee's tie-breaks)."""
    return t.append_column(RN, pa.array(np.arange(t.num_rows)))


def check_against(query: str, referee: str, t: pa.Table, **opts) -> list[tuple]:
    """gpuvelo's ``query`` over ``t`` against DuckDB's ``referee`` over ``t`` with ``__rn``."""
    expected = rows(duckdb_table(referee, {"t": with_rn(t)}))
    got = rows(engine_table(query, {"t": t}, **opts))
    assert_same_rows(got, expected, ordered=True, context=f"query: {query}\nopts: {opts}")
    return got


# --------------------------------------------------------------------------- values
ELEMENTS = ["i", "u", "i16", "u64", "f", "g", "dec", "s", "ts", "d", "k3", "fn", "k2"]


@pytest.mark.parametrize("col", ELEMENTS)
def test_list_of_every_element_type_in_arrival_order(backend, table, col):
    """Each group's values in arrival order (DuckDB's single-threaded scan order), NULLs kept."""
    got = run_both(f"SELECT k1, list({col}) AS l, array_agg({col}) FROM t GROUP BY k1 ORDER BY k1",
                   {"t": table}, backend=backend)
    assert any(None in r[1] for r in got)       # NULL values are list elements


def test_list_of_intervals_and_expressions(backend, table):
    run_both("SELECT k2, list(ts - TIMESTAMP '2024-01-01 00:00:00') AS iv, list(i * 2 + u) AS e, "
             "list(upper(s)) AS up FROM t GROUP BY k2 ORDER BY k2 NULLS FIRST", {"t": table}, backend=backend)


def test_result_type_is_an_arrow_list(table):
    out = gpuvelo.sql("SELECT k1, list(dec) AS l, list(ts) AS m, list(NULL) AS n FROM t GROUP BY k1",
                      t=table, backend="cpu")
    assert out.schema.field("l").type == pa.list_(pa.decimal128(12, 2))
    assert out.schema.field("m").type == pa.list_(pa.timestamp("us"))
    assert out.schema.field("n").type == pa.list_(pa.int32())
    assert all(set(v) == {None} for v in out.column("n").to_pylist())


def test_global_list_and_empty_input(backend, table):
    run_both("SELECT list(i) AS a, list(s ORDER BY s DESC) AS b, count(*) FROM t", {"t": table}, backend=backend)
    got = run_both("SELECT list(i) AS a, count(*) FROM t WHERE i > 10000", {"t": table}, backend=backend)
    assert got == [(None, 0)]          # no rows: NULL, not an empty list
    assert run_both("SELECT k1, list(i) FROM t WHERE i > 10000 GROUP BY k1", {"t": table},
                    backend=backend) == []


def test_all_null_group_is_a_list_of_nulls(backend):
    t = pa.table({"k": [1, 1, 2], "x": pa.array([None, None, 3], pa.int64())})
    assert run_both("SELECT k, list(x) FROM t GROUP BY k ORDER BY k", {"t": t}, backend=backend) == \
        [(1, [None, None]), (2, [3])]


def test_with_other_aggregates_and_a_result_stage(backend, table):
    """Several LISTs beside other aggregates; HAVING, expressions of other outputs, ORDER BY
    and LIMIT carry the list column along."""
    run_both("SELECT k1, count(*) AS n, list(i) AS li, sum(i) AS s, string_agg(s, ',') AS sa, "
             "list(s) AS ls, mode(k2) AS m FROM t GROUP BY k1 ORDER BY k1", {"t": table}, backend=backend)
    run_both("SELECT k1 + 1 AS k, list(i) AS li, count(*) * 2 AS n2 FROM t GROUP BY k1 "
             "HAVING count(*) > 60 ORDER BY n2 DESC, k LIMIT 3", {"t": table}, backend=backend)


# --------------------------------------------------------------------------- ORDER BY
ORDERS = ["i", "i DESC", "i NULLS FIRST", "i DESC NULLS FIRST", "s", "s DESC", "fn", "fn DESC",
          "fn DESC NULLS FIRST", "ts DESC", "d", "dec DESC", "k3", "u * -1 + i", "f",
          "ts - TIMESTAMP '2024-01-02 00:00:00' DESC"]


@pytest.mark.parametrize("order", ORDERS)
def test_order_by_another_expression(backend, table, order):
    """ORDER BY sorts like ORDER BY (NULLs last by default either way, NaN largest); equal
    values keep arrival order -- DuckDB's referee breaks its ties with ``__rn``."""
    check_against(f"SELECT k2, list(k1 ORDER BY {order}) AS l FROM t GROUP BY k2 ORDER BY k2 NULLS FIRST",
                  f"SELECT k2, list(k1 ORDER BY {order}, {RN}) AS l FROM t GROUP BY k2 ORDER BY k2 NULLS FIRST",
                  table, backend=backend)


@pytest.mark.parametrize("order", ["", " DESC", " NULLS FIRST", " DESC NULLS FIRST"])
def test_order_by_the_value_itself(backend, table, order):
    run_both(f"SELECT k1, list(fn ORDER BY fn{order}) AS a, list(s ORDER BY s{order}) AS b "
             "FROM t GROUP BY k1 ORDER BY k1", {"t": table}, backend=backend)


def test_order_by_a_unique_key_needs_no_tie_break(backend):
    rng = np.random.default_rng(3)
    t = pa.table({"k": rng.integers(0, 4, 300), "x": pa.array(rng.integers(0, 9, 300), mask=rng.random(300) < .2),
                  "y": pa.array(rng.permutation(300) / 7.0)})
    run_both("SELECT k, list(x ORDER BY y DESC) FROM t GROUP BY k ORDER BY k", {"t": t}, backend=backend)


def test_order_by_a_constant_is_arrival_order(table):
    a = gpuvelo.sql("SELECT k1, list(i ORDER BY 1) AS l FROM t GROUP BY k1 ORDER BY k1", t=table, backend="cpu")
    b = gpuvelo.sql("SELECT k1, list(i) AS l FROM t GROUP BY k1 ORDER BY k1", t=table, backend="cpu")
    assert a.equals(b)


# --------------------------------------------------------------------------- DISTINCT
@pytest.mark.parametrize("col", ["k2", "f", "fn", "i", "dec", "k3", "d"])
def test_distinct_keeps_each_value_once_at_its_first_arrival(backend, table, col):
    """NULL is kept once, NaN equals NaN and -0.0 equals 0.0 (the first arrival's spelling);
    DuckDB's order of distinct values is its hash table's, so the referee lists each value's
    first row in arrival order."""
    check_against(f"SELECT k1, list(DISTINCT {col}) AS l FROM t GROUP BY k1 ORDER BY k1",
                  f"SELECT k1, list({col} ORDER BY {RN}) AS l FROM (SELECT *, row_number() OVER "
                  f"(PARTITION BY k1, {col} ORDER BY {RN}) AS dup FROM t) WHERE dup = 1 "
                  "GROUP BY k1 ORDER BY k1", table, backend=backend)


@pytest.mark.parametrize("order", ["", " DESC", " NULLS FIRST", " DESC NULLS FIRST"])
def test_distinct_ordered_by_the_value(backend, table, order):
    run_both(f"SELECT k1, list(DISTINCT k2 ORDER BY k2{order}) AS a, array_agg(DISTINCT fn ORDER BY fn{order}) "
             "FROM t GROUP BY k1 ORDER BY k1", {"t": table}, backend=backend)


def test_distinct_signed_zero_keeps_the_first_spelling(backend):
    t = pa.table({"x": pa.array([-0.0, 0.0, float("nan"), None, float("nan"), None, 1.0])})
    got = run_both("SELECT list(DISTINCT x ORDER BY x) FROM t", {"t": t}, backend=backend)
    assert str(got[0][0]) == "[-0.0, 1.0, nan, None]"


# --------------------------------------------------------------------------- FILTER
@pytest.mark.parametrize("agg", ["list(i) FILTER (WHERE f > 0)",
                                 "list(i ORDER BY s DESC) FILTER (WHERE k3)",
                                 "list(s) FILTER (WHERE i IS NULL)",
                                 "list(s) FILTER (WHERE i > 100000)"])
def test_filter_keeps_null_values_of_the_kept_rows(backend, table, agg):
    """FILTER drops rows, not NULL values; a group whose rows it all drops gets NULL."""
    referee = agg.replace("ORDER BY s DESC", f"ORDER BY s DESC, {RN}")
    got = check_against(f"SELECT k1, {agg} AS l, count(*) FROM t GROUP BY k1 ORDER BY k1",
                        f"SELECT k1, {referee} AS l, count(*) FROM t GROUP BY k1 ORDER BY k1",
                        table, backend=backend)
    assert any(None in (r[1] or []) for r in got) or "100000" in agg
    if "100000" in agg:
        assert all(r[1] is None for r in got)


def test_filter_with_distinct(backend, table):
    check_against("SELECT k1, list(DISTINCT k2) FILTER (WHERE i > 0) AS l FROM t GROUP BY k1 ORDER BY k1",
                  f"SELECT k1, list(k2 ORDER BY {RN}) AS l FROM (SELECT *, row_number() OVER "
                  f"(PARTITION BY k1, k2 ORDER BY {RN}) AS dup FROM t WHERE i > 0) WHERE dup = 1 "
                  "GROUP BY k1 ORDER BY k1", table, backend=backend)


def test_filter_and_the_same_list_unfiltered_are_two_aggregates(backend, table):
    run_both("SELECT k1, list(i) AS a, list(i) FILTER (WHERE i > 0) AS b, list(i) FILTER (WHERE i < 0) AS c "
             "FROM t GROUP BY k1 ORDER BY k1", {"t": table}, backend=backend)


# --------------------------------------------------------------------------- batches, partitions, streams
QUERY = ("SELECT k2, list(i) AS a, list(s ORDER BY f DESC, {rn}) AS b, list(DISTINCT k1 ORDER BY k1) AS c, "
         "list(dec ORDER BY dec) AS d, count(*) AS n FROM t GROUP BY k2 ORDER BY k2 NULLS FIRST")


@pytest.mark.parametrize("opts", [dict(batch_size=1), dict(batch_size=7), dict(batch_size=7, partitions=3),
                                  dict(partitions=3), dict(batch_size=50, partitions=2)])
def test_batches_and_partitions_do_not_change_lists(backend, opts):
    t = random_table(np.random.default_rng(11), 150)
    q = QUERY.replace(", {rn}", "")
    expected = rows(duckdb_table(QUERY.format(rn=RN), {"t": with_rn(t)}))
    got = rows(engine_table(q, {"t": t}, backend=backend, **opts))
    assert_same_rows(got, expected, ordered=True, context=str(opts))


@pytest.mark.parametrize("opts", [dict(batch_size=1), dict(batch_size=7, partitions=3)])
def test_filter_across_batches_and_partitions(backend, opts):
    t = random_table(np.random.default_rng(13), 150)
    check_against("SELECT k1, list(dec) FILTER (WHERE k3) AS a, list(s ORDER BY i) FILTER (WHERE f > 0) AS b "
                  "FROM t GROUP BY k1 ORDER BY k1 NULLS FIRST",
                  f"SELECT k1, list(dec ORDER BY {RN}) FILTER (WHERE k3) AS a, list(s ORDER BY i, {RN}) "
                  "FILTER (WHERE f > 0) AS b FROM t GROUP BY k1 ORDER BY k1 NULLS FIRST", t, backend=backend, **opts)


def test_emit_changes_last_emit_per_group_is_duckdbs(backend):
    t = random_table(np.random.default_rng(12), 300)
    q = QUERY.replace(", {rn}", "").replace(" ORDER BY k2 NULLS FIRST", "")
    emits = []
    gpuvelo.Job(q, sources={"t": t}, sink=gpuvelo.io.CallbackSink(emits.append), emit="changes",
                batch_size=23, backend=backend, partitions=2).run()
    assert len(emits) > 5
    last = {}
    for table in emits:
        for r in rows(table):
            last[r[0]] = r
    expected = rows(duckdb_table(QUERY.format(rn=RN), {"t": with_rn(t)}))
    assert_same_rows(sorted(last.values(), key=lambda r: (r[0] is not None, r[0] or "")), expected,
                     ordered=True)


def test_tumbling_windows_evict_and_compact_lists(backend):
    rng = np.random.default_rng(5)
    n = 3000
    ts = 1_767_225_600_000 + np.sort(rng.integers(0, 3_600_000, n)) - rng.integers(0, 100_000, n)
    t = pa.table({"k": pa.array(np.array(["a", "b", "c"])[rng.integers(0, 3, n)], mask=rng.random(n) < .1),
                  "v": pa.array(rng.integers(-5, 9, n), mask=rng.random(n) < .1),
                  "ts": pa.array(ts, pa.timestamp("ms"))})
    sink = gpuvelo.io.MemorySink()
    gpuvelo.Job("SELECT k, window_start, list(v) AS l, list(v ORDER BY ts DESC) AS o FROM t GROUP BY k "
                "WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)", sources={"t": t}, sink=sink, batch_size=97,
                backend=backend, max_out_of_orderness=10**9).run()
    expected = duckdb_table(f"SELECT k, time_bucket(INTERVAL '1 minute', ts) AS ws, list(v ORDER BY {RN}), "
                            f"list(v ORDER BY ts DESC, {RN}) FROM t GROUP BY k, ws", {"t": with_rn(t)})
    assert_same_rows(rows(sink.table()), rows(expected), ordered=False)


def test_partials_merge_interleaved_states(table):
    """Two states fed interleaved rows, one's partials merged into the other: the same lists
    as one state fed every row (positions, not merge order, decide the order)."""
    from gpuvelo.arrowcol import arrow_to_col
    from gpuvelo.backends.cpu import CpuGroupState
    from gpuvelo.columns import ListArg
    from gpuvelo.backends.protocol import AggSlot, StateSpec
    from gpuvelo import types as T

    s_t, f_t = T.STRING, T.FLOAT64
    spec = StateSpec((T.INT32,), (AggSlot("list", s_t, T.list_of(s_t), (None, False, False)),
                                  AggSlot("list", s_t, T.list_of(s_t), ("desc", True, False), f_t),
                                  AggSlot("list", s_t, T.list_of(s_t), (None, False, True))))

    def feed(state, rows):
        part = table.take(pa.array(rows))
        keys = [arrow_to_col(part["k1"], T.INT32)]
        value, order = arrow_to_col(part["s"], s_t), arrow_to_col(part["f"], f_t)
        state.update(keys, [ListArg(value), ListArg(value, order), ListArg(value)], np.asarray(rows))

    whole, odd, even = (CpuGroupState(spec) for _ in range(3))
    feed(whole, np.arange(table.num_rows))
    feed(odd, np.arange(1, table.num_rows, 2))
    feed(even, np.arange(0, table.num_rows, 2))
    even.merge(odd.partials())
    assert_same_rows(rows(even.finalize()), rows(whole.finalize()), ordered=False)


# --------------------------------------------------------------------------- sinks and printing
def test_parquet_and_json_lines_sinks_write_lists(tmp_path, table):
    q = "SELECT k1, list(i) AS li, list(s) AS ls, list(dec) AS ld, list(ts) AS lt, list(fn) AS lf FROM t GROUP BY k1"
    expected = gpuvelo.sql(q, t=table, backend="cpu")
    pq_path, js_path = tmp_path / "out.parquet", tmp_path / "out.jsonl"
    for path in (pq_path, js_path):
        gpuvelo.Job(q, sources={"t": table}, sink=str(path), backend="cpu").run()
    back = pq.read_table(pq_path)
    assert back.schema.field("li").type == pa.list_(pa.int64())
    assert_same_rows(rows(back), rows(expected), ordered=False)
    lines = [json.loads(line) for line in js_path.read_text().splitlines()]
    assert len(lines) == expected.num_rows
    by_key = {r["k1"]: r for r in lines}
    for r in expected.to_pylist():
        line = by_key[r["k1"]]
        assert line["li"] == r["li"] and line["ls"] == r["ls"]
        assert line["ld"] == [None if v is None else str(v) for v in r["ld"]]    # decimals as strings
        assert line["lt"] == [None if v is None else v.isoformat() for v in r["lt"]]
        assert all(values_equal(a, b) or (a is None and b != b) or (a is None and abs(b) == float("inf"))
                   for a, b in zip(line["lf"], r["lf"]))        # NaN and infinities as null


def test_json_lines_of_empty_null_and_sliced_lists():
    from gpuvelo.io.sinks import json_lines

    arr = pa.array([[1, None], [], None, [3]], pa.list_(pa.int64())).slice(1)
    text = json_lines(pa.RecordBatch.from_arrays([arr], names=["l"])).decode()
    assert text.splitlines() == ['{"l":[]}', '{"l":null}', '{"l":[3]}']


def test_csv_sink_writes_lists_as_duckdb_text(tmp_path, table):
    """CSV has no list type: lists are written as DuckDB's COPY TO writes them (see
    tests/test_sweep_cli.py for the exact text)."""
    out = tmp_path / "out.csv"
    gpuvelo.Job("SELECT k1, list(i ORDER BY i) AS l FROM t WHERE k1 IS NOT NULL GROUP BY k1 ORDER BY k1",
                sources={"t": table}, sink=str(out), backend="cpu").run()
    lines = out.read_text().splitlines()
    assert lines[0] == "\"k1\",\"l\"" and len(lines) > 1 and all("[" in line for line in lines[1:])


def test_cli_table_shows_lists_as_duckdb_does():
    from gpuvelo.cli import format_table

    t = pa.table({"k": [1, 2], "l": pa.array([[1.5, None, 2.0], None], pa.list_(pa.float64())),
                  "s": pa.array([["a", None], []], pa.list_(pa.string()))})
    text = format_table(t)
    assert "[1.5, NULL, 2]" in text and "[a, NULL]" in text and "[]" in text


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("query, match", [
    ("SELECT len(list(i)) FROM t", "LIST result can only be returned"),
    ("SELECT array_length(list(i)) FROM t", "not supported"),
    ("SELECT k1, list(i) AS l, l IS NULL FROM t GROUP BY k1", "LIST result can only be returned"),
    ("SELECT k1, list(i) AS l FROM t GROUP BY k1 ORDER BY 2", "LIST result can only be returned"),
    ("SELECT k1, list(i) || 'x' FROM t GROUP BY k1", "LIST result can only be returned"),
    ("SELECT CAST(list(i) AS VARCHAR) FROM t", "LIST result can only be returned"),
    ("SELECT k1 FROM t GROUP BY k1 HAVING list(i) IS NOT NULL", "LIST result can only be returned"),
    ("SELECT k1, list(i) AS l FROM t GROUP BY k1 ORDER BY list(i)", "LIST result can only be returned"),
    ("SELECT k1, list(i) AS l FROM t GROUP BY k1 ORDER BY l", "LIST result can only be returned"),
    ("SELECT k1, list(i) AS l FROM t GROUP BY k1 HAVING l IS NULL", "LIST result can only be returned"),
    ("SELECT list(i, s) FROM t", "LIST takes one argument"),
    ("SELECT list(i ORDER BY s, f) FROM t", "ORDER BY takes one expression"),
])
def test_lists_in_expressions_are_refused(table, query, match):
    with pytest.raises(NotSupportedError, match=match):
        gpuvelo.sql(query, t=table, backend="cpu")


def test_distinct_ordered_by_another_expression_is_refused_as_in_duckdb(table):
    with pytest.raises(PlanError, match="ORDER BY expressions must appear in the argument list"):
        gpuvelo.sql("SELECT list(DISTINCT i ORDER BY s) FROM t", t=table, backend="cpu")
    with pytest.raises(duckdb.BinderException):
        duckdb.sql("SELECT list(DISTINCT i ORDER BY s) FROM (SELECT 1 i, 'a' s)").fetchall()


def test_a_list_read_by_an_outer_query_is_refused(table):
    with pytest.raises(NotSupportedError):
        gpuvelo.sql("SELECT count(l) FROM (SELECT k1, list(i) AS l FROM t GROUP BY k1) s", t=table, backend="cpu")
