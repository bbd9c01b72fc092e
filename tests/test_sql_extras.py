"""DuckDB conveniences a new user writes, against DuckDB: DISTINCT ON, ``= ANY`` / ``<> ALL``
over subqueries, LIMIT ... PERCENT (was silently read as a row count), FETCH FIRST, GLOB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

QUERIES = [
    "SELECT DISTINCT ON (k2) k2, rid, i FROM t ORDER BY k2, rid DESC",
    "SELECT DISTINCT ON (k2) * FROM t ORDER BY k2, rid",
    "SELECT DISTINCT ON (k1, k3) k1, k3, rid FROM t ORDER BY k1, k3, rid",
    "SELECT DISTINCT ON (1) k2 AS g, rid FROM t ORDER BY 1, 2 DESC",
    "SELECT DISTINCT ON (g) k2 AS g, rid FROM t ORDER BY g NULLS FIRST, rid",
    "SELECT DISTINCT ON (k2) k2, rid FROM t WHERE i > 0 ORDER BY k2, rid LIMIT 3",
    "SELECT k2, COUNT(*) FROM t WHERE k1 = ANY (SELECT k1 FROM t WHERE i > 500) GROUP BY k2",
    "SELECT k2, COUNT(*) FROM t WHERE k1 <> ALL (SELECT k1 FROM t WHERE i > 500) GROUP BY k2",
    "SELECT k2, COUNT(*) FROM t WHERE k1 <> ALL (SELECT k1 FROM t WHERE i > 500 AND k1 IS NOT NULL) "
    "GROUP BY k2",
    "SELECT k2 FROM t ORDER BY rid LIMIT 10 PERCENT",
    "SELECT rid FROM t WHERE i > 0 LIMIT 33.3 PERCENT",
    "SELECT k2, COUNT(*) AS c FROM t GROUP BY k2 ORDER BY c, k2 LIMIT 50 PERCENT",
    "SELECT k2, rid FROM t ORDER BY rid OFFSET 5 ROWS FETCH NEXT 3 ROWS ONLY",
    "SELECT k2, rid FROM t ORDER BY rid FETCH FIRST ROW ONLY",
    "SELECT COUNT(*), COUNT(*) FILTER (WHERE s GLOB '*a?'), COUNT(*) FILTER (WHERE s GLOB '[!a-m]*') FROM t",
    "SELECT k2, COUNT(*) FROM t WHERE s NOT GLOB 's?[0-4]*' GROUP BY k2",
]


@pytest.mark.parametrize("query", QUERIES)
def test_conveniences_match_duckdb(backend, query):
    t = random_table(np.random.default_rng(3), 300)
    t = t.append_column("rid", pa.array(np.arange(300)))
    run_both(query, {"t": t}, backend=backend)
    run_both(query, {"t": t}, backend=backend, batch_size=7)
