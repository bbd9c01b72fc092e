"""run_on_dask: the stream's parts aggregated on Dask workers, merged on the client -- the
same answers as DuckDB over all the rows (and arrival order across parts for FIRST/LAST)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("distributed")

import duckdb  # noqa: E402

from gpuvelo.distributed import run_on_dask  # noqa: E402
from gpuvelo.errors import DataError, NotSupportedError  # noqa: E402
from differential import assert_same_rows, has_order_by, rows  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def _part(rng, i: int, n: int = 3000) -> pa.Table:
    return pa.table({
        "sym": pa.array([None if v == 0 else f"S{v}" for v in rng.integers(0, 30, n)]),
        "qty": pa.array(rng.integers(-50, 100, n), pa.int64()),
        "px": pa.array(np.round(rng.uniform(1, 100, n), 2)),
        "seq": pa.array(np.arange(i * n, (i + 1) * n), pa.int64()),
    })


@pytest.fixture(scope="module")
def parts():
    rng = np.random.default_rng(5)
    return [_part(rng, i) for i in range(5)]


QUERIES = [
    "SELECT sym, COUNT(*), SUM(qty), AVG(px), MIN(px), MAX(qty), STDDEV(px), MEDIAN(qty), "
    "COUNT(DISTINCT qty) FROM t GROUP BY sym",
    "SELECT sym, FIRST(seq), LAST(seq), ARG_MAX(qty, seq) FROM t WHERE qty > 90 GROUP BY sym",
    "SELECT d.sector, COUNT(*), SUM(t.qty) FROM t JOIN d ON t.sym = d.sym WHERE t.px > 50 "
    "GROUP BY d.sector HAVING COUNT(*) > 3 ORDER BY 1",
    "SELECT COUNT(*), SUM(qty), MAX(px) FROM t",
    "SELECT sym, SUM(qty) AS q FROM t GROUP BY sym ORDER BY q DESC, sym LIMIT 5",
]


def _referee(query: str, table: pa.Table, dims: pa.Table) -> list:
    con = duckdb.connect()
    con.execute("SET threads=1")
    con.register("t", table)
    con.register("d", dims)
    q = query.replace("FIRST(seq)", "FIRST(seq ORDER BY seq)").replace("LAST(seq)", "LAST(seq ORDER BY seq)")
    return rows(con.sql(q).to_arrow_table())


@pytest.mark.parametrize("query", QUERIES)
def test_parts_on_workers_match_duckdb(client, parts, tmp_path, query):
    dims = pa.table({"sym": [f"S{i}" for i in range(30)], "sector": [f"x{i % 4}" for i in range(30)]})
    expected = _referee(query, pa.concat_tables(parts), dims)
    for i, p in enumerate(parts):
        pq.write_table(p, tmp_path / f"p{i}.parquet", row_group_size=700)
    for stream in (str(tmp_path), str(tmp_path / "*.parquet"), parts):
        got = rows(run_on_dask(query, client, backend="cpu", batch_size=1000, t=stream, d=dims))
        assert_same_rows(got, expected, ordered=has_order_by(query), context=query)


def test_files_per_task_and_progress(client, parts, tmp_path):
    for i, p in enumerate(parts):
        pq.write_table(p, tmp_path / f"p{i}.parquet")
    seen = []
    got = run_on_dask("SELECT COUNT(*) AS n FROM t", client, backend="cpu", files_per_task=2,
                      on_progress=lambda done, total: seen.append((done, total)), t=str(tmp_path))
    assert got.to_pylist() == [{"n": 15000}]
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("query, error, message", [
    ("SELECT sym FROM t", NotSupportedError, "aggregate queries"),
    ("SELECT sym, COUNT(*), RANK() OVER (ORDER BY COUNT(*)) FROM t GROUP BY sym", NotSupportedError,
     "window functions"),
    ("SELECT COUNT(*) FROM t UNION ALL SELECT COUNT(*) FROM t", NotSupportedError, "set operations"),
])
def test_what_it_refuses(client, parts, query, error, message):
    with pytest.raises(error, match=message):
        run_on_dask(query, client, backend="cpu", t=parts)


def test_the_stream_must_come_in_parts(client):
    with pytest.raises(DataError, match="pass files"):
        run_on_dask("SELECT COUNT(*) FROM t", client, t={"a": [1, 2]})
    with pytest.raises(DataError, match="no table of that name"):
        run_on_dask("SELECT COUNT(*) FROM t", client, u=[pa.table({"a": [1]})])


def test_cli_runs_on_a_dask_cluster(client, parts, tmp_path, capsys):
    from gpuvelo.cli import main

    for i, p in enumerate(parts):
        pq.write_table(p, tmp_path / f"p{i}.parquet")
    out = tmp_path / "out.parquet"
    assert main(["run", "SELECT sym, COUNT(*) AS n FROM t GROUP BY sym ORDER BY n DESC, sym LIMIT 3",
                 "--source", f"t={tmp_path}", "--dask", client.scheduler.address,
                 "--backend", "cpu", "-o", str(out)]) == 0
    got = pq.read_table(out).to_pylist()
    everything = pa.concat_tables(parts)  # noqa: F841 -- DuckDB reads it by name
    expected = duckdb.sql("SELECT sym, COUNT(*) AS n FROM everything GROUP BY sym "
                          "ORDER BY n DESC, sym LIMIT 3").fetchall()
    assert [tuple(r.values()) for r in got] == expected
