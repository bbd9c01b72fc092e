"""Fields of STRUCT columns (nested JSON objects, Parquet structs) read as columns --
``user.country``, ``t.user.geo.lat``, ``user['id']``, ``struct_extract(user, 'id')`` --
compared with DuckDB on the same data; the struct itself stays unreadable (clear error)."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from gpuvelo.errors import NotSupportedError, UnknownColumnError
from differential import run_both


def events(n: int = 240, seed: int = 3) -> pa.Table:
    """Events with a nested ``user`` struct: NULL structs, NULL fields, a nested struct."""
    rng = np.random.default_rng(seed)
    users = []
    for i in range(n):
        if i % 11 == 0:
            users.append(None)
            continue
        geo = None if i % 7 == 0 else {"lat": None if i % 5 == 0 else float(rng.integers(-90, 90)),
                                       "zone": f"z{i % 3}"}
        users.append({"id": int(rng.integers(0, 9)), "Country": None if i % 13 == 0 else
                      ["DE", "FR", "US"][i % 3], "geo": geo})
    return pa.table({"event": pa.array([["click", "view", "buy"][i % 3] for i in range(n)]),
                     "user": pa.array(users),
                     "ms": pa.array(rng.integers(0, 1000, n), pa.int64())})


QUERIES = [
    "SELECT user.Country, COUNT(*), SUM(ms) FROM t GROUP BY user.Country",
    "SELECT user.country, COUNT(*) FROM t GROUP BY 1",                       # any case
    "SELECT t.user.id, MAX(t.user.geo.lat), MIN(ms) FROM t GROUP BY t.user.id",
    "SELECT user['id'] AS i, COUNT(*) FROM t GROUP BY i",
    "SELECT struct_extract(user, 'geo')['zone'] AS z, AVG(ms) FROM t GROUP BY z",
    "SELECT event, COUNT(DISTINCT user.id), COUNT(user.geo.lat) FROM t GROUP BY event",
    "SELECT event, ms FROM t WHERE user.geo.zone = 'z1' AND user.id > 3 ORDER BY ms, event",
    "SELECT COUNT(*) FROM t WHERE user.id IS NULL",
    "SELECT user.id + 1 AS j, SUM(ms) FILTER (WHERE user.Country = 'DE') FROM t GROUP BY j",
    "SELECT * EXCLUDE (user) FROM t ORDER BY ms, event LIMIT 5",
]


@pytest.mark.parametrize("query", QUERIES)
def test_struct_fields_match_duckdb(backend, query):
    table = events()
    run_both(query, {"t": table}, backend=backend)
    run_both(query, {"t": table}, backend=backend, batch_size=7)


def test_struct_fields_of_json_and_parquet_files(tmp_path):
    table = events()
    pq.write_table(table, tmp_path / "e.parquet", row_group_size=50)
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    q = "SELECT user.geo.zone, COUNT(*) AS n, SUM(ms) AS s FROM '{}' GROUP BY 1 ORDER BY 1 NULLS FIRST"
    for name in ("e.parquet", "e.jsonl"):
        path = tmp_path / name
        got = gpuvelo.sql(q.format(path)).to_pylist()
        want = duckdb.sql(q.format(path)).fetchall()
        assert [tuple(r.values()) for r in got] == want


@pytest.mark.parametrize("query", [
    "SELECT d.tier, COUNT(*), SUM(e.ms) FROM t e JOIN d ON e.user.id = d.id GROUP BY d.tier",
    "SELECT d.tier, e.user.Country, COUNT(*) FROM t e JOIN d ON e.ms % 9 = d.id GROUP BY ALL",
    "SELECT tier, user.Country, COUNT(*) FROM t LEFT JOIN d ON t.ms = d.id GROUP BY ALL",
])
def test_struct_fields_in_joins(query):
    dims = pa.table({"id": pa.array(range(9), pa.int64()), "tier": [f"t{i % 2}" for i in range(9)]})
    run_both(query, {"t": events(), "d": dims})


@pytest.mark.parametrize("query, error, message", [
    ("SELECT user.nope FROM t", UnknownColumnError, "STRUCT 'user' has no field 'nope'; it has id, Country, geo"),
    ("SELECT event.x FROM t", UnknownColumnError, "'event' is not a STRUCT"),
    ("SELECT user.geo.lat.x FROM t", UnknownColumnError, "'user.geo.lat' is not a STRUCT"),
    ("SELECT user FROM t", NotSupportedError, "column 'user': type struct"),
    ("SELECT * FROM t", NotSupportedError, "column 'user': type struct"),
])
def test_struct_errors_are_clear(query, error, message):
    with pytest.raises(error, match=message):
        gpuvelo.sql(query, t=events())
