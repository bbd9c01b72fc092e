"""User mistakes raise gpuvelo's own errors, saying what and where (DESIGN.md, invariant 5)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from gpuvelo.errors import (ArithmeticOverflowError, DataError, GpuveloError, PlanError, SqlSyntaxError,
                            UnknownColumnError)

TABLE = pa.table({"k": pa.array([1, 2, 1], pa.int64()), "price": [1.5, 2.0, 3.0],
                  "qty": pa.array([1, 2, 3], pa.int32()), "name": ["a", "b", "c"]})


def _norm(text: str) -> str:
    """Lower-cased, whitespace-free: for finding query fragments in messages."""
    return re.sub(r"\s+", "", text.lower())


def plan_error(query: str, backend: str = "cpu") -> PlanError:
    with pytest.raises(PlanError) as info:
        gpuvelo.sql(query, backend=backend, orders=TABLE)
    return info.value


# --------------------------------------------------------------------------- SQL errors
@pytest.mark.parametrize("query,line", [
    ("SELECT k,, price FROM orders", 1),
    ("SELECT k FROM orders WHERE", 1),
    ("SELECT k\nFROM orders\nWHERE price = = 2", 3),
    ("SELECT k, SUM(price FROM orders GROUP BY k", 1),
])
def test_bad_sql_is_a_syntax_error_with_position(query, line, backend):
    with pytest.raises(SqlSyntaxError) as info:
        gpuvelo.sql(query, backend=backend, orders=TABLE)
    err = info.value
    assert err.line == line, f"line {err.line} for {query!r}"
    assert isinstance(err.column, int) and err.column >= 1


def test_unknown_column_names_it_and_lists_the_available_ones(backend):
    err = plan_error("SELECT k, SUM(pricee) FROM orders GROUP BY k", backend)
    assert isinstance(err, UnknownColumnError)
    message = str(err)
    assert "pricee" in message
    for column in TABLE.column_names:
        assert column in message, f"{column!r} missing from: {message}"


def test_unknown_column_in_where(backend):
    err = plan_error("SELECT k FROM orders WHERE nope > 1", backend)
    assert isinstance(err, UnknownColumnError) and "nope" in str(err)


def test_non_grouped_column_in_select(backend):
    err = plan_error("SELECT k, name, COUNT(*) FROM orders GROUP BY k", backend)
    assert "name" in str(err)


def test_aggregate_in_where(backend):
    err = plan_error("SELECT k FROM orders WHERE SUM(qty) > 1 GROUP BY k", backend)
    assert "sum(qty)" in _norm(str(err))


def test_nested_aggregates(backend):
    err = plan_error("SELECT k, SUM(MAX(qty)) FROM orders GROUP BY k", backend)
    assert "max(qty)" in _norm(str(err))


def test_unknown_function(backend):
    err = plan_error("SELECT k, FROBNICATE(qty) FROM orders", backend)
    assert "frobnicate" in str(err).lower()


def test_sum_of_a_string(backend):
    err = plan_error("SELECT k, SUM(name) FROM orders GROUP BY k", backend)
    assert "sum(name)" in _norm(str(err))


def test_unknown_table_is_an_error(backend):
    with pytest.raises(GpuveloError) as info:
        gpuvelo.sql("SELECT k FROM missing", backend=backend, orders=TABLE)
    assert "missing" in str(info.value)


# --------------------------------------------------------------------------- data errors
def test_stream_whose_second_batch_changes_schema(backend):
    first = pa.record_batch({"k": pa.array([1, 2], pa.int64()), "qty": pa.array([1, 2], pa.int64())})
    second = pa.record_batch({"k": pa.array([3], pa.int64()), "qty": pa.array(["three"], pa.string())})
    with pytest.raises(DataError) as info:
        gpuvelo.sql("SELECT k, SUM(qty) FROM orders GROUP BY k", backend=backend, orders=iter([first, second]))
    message = str(info.value)
    assert "orders" in message and "qty" in message, message


def test_stream_whose_second_batch_lacks_a_column(backend):
    first = pa.record_batch({"k": pa.array([1, 2], pa.int64()), "qty": pa.array([1, 2], pa.int64())})
    second = pa.record_batch({"k": pa.array([3], pa.int64())})
    with pytest.raises(DataError) as info:
        gpuvelo.sql("SELECT k, SUM(qty) FROM orders GROUP BY k", backend=backend, orders=[first, second])
    message = str(info.value)
    assert "orders" in message and "qty" in message, message


def test_dict_with_unequal_lengths(backend):
    with pytest.raises(DataError):
        gpuvelo.sql("SELECT k FROM orders", backend=backend, orders={"k": [1, 2, 3], "qty": [1, 2]})


@pytest.mark.parametrize("bad", [42, "not a table", object(), None], ids=["int", "str", "object", "None"])
def test_unsupported_input_object(bad, backend):
    with pytest.raises(DataError):
        gpuvelo.sql("SELECT k FROM orders", backend=backend, orders=bad)


def test_iterable_of_non_batches(backend):
    with pytest.raises(DataError):
        gpuvelo.sql("SELECT k FROM orders", backend=backend, orders=[{"k": 1}, {"k": 2}])


def test_errors_are_gpuvelo_errors_not_numpy_ones(backend):
    """A string compared with a number is a planning error, not a NumPy traceback."""
    with pytest.raises(GpuveloError):
        gpuvelo.sql("SELECT k FROM orders WHERE name > 3", backend=backend,
                    orders={"k": np.arange(3), "name": ["a", "b", "c"]})


@pytest.mark.parametrize("batch_size", [None, 1])
def test_integer_sum_overflow_is_an_overflow_error(batch_size, backend):
    """SUM of BIGINT is BIGINT in gpuvelo (DuckDB widens to HUGEINT): overflow must raise, never wrap."""
    data = {"k": [1, 1, 2], "x": pa.array([2**63 - 1, 1, 5], pa.int64())}
    with pytest.raises(ArithmeticOverflowError) as info:
        gpuvelo.sql("SELECT k, SUM(x) FROM t GROUP BY k", backend=backend, batch_size=batch_size, t=data)
    assert "sum" in str(info.value).lower()


def test_integer_arithmetic_overflow_is_an_overflow_error(backend):
    with pytest.raises(ArithmeticOverflowError):
        gpuvelo.sql("SELECT x + 1 FROM t", backend=backend, t={"x": pa.array([2**63 - 1], pa.int64())})


@pytest.mark.parametrize("options,words", [
    ({"emit": "sometimes"}, "emit"), ({"error_policy": "ignore"}, "error_policy"),
    ({"partitions": 0}, "partitions"), ({"batch_size": -5}, "batch_size"),
    ({"strategy": "random", "partitions": 2}, "strategy"), ({"backend": "tpu"}, "backend"),
    ({"late_policy": "keep"}, "late_policy"),
])
def test_bad_job_options_are_clear_errors(options, words):
    """Every Job option is checked up front, with a message naming it."""
    from gpuvelo.errors import GpuveloError
    with pytest.raises(GpuveloError, match=words):
        job = gpuvelo.Job("SELECT k, COUNT(*) FROM t GROUP BY k", sources={"t": {"k": [1, 2]}},
                          sink=gpuvelo.io.MemorySink(), **options)
        job.run()
