"""gpuvelo's exception hierarchy: every user mistake raises one of these, with what and where."""

from __future__ import annotations


class GpuveloError(Exception):
    """Base class of every error gpuvelo raises on purpose."""


class SqlError(GpuveloError):
    """The query text is not valid SQL, or uses SQL that gpuvelo cannot plan.

    ``line`` and ``column`` (1-based) point into the query text when known.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 sql: str | None = None):
        self.line, self.column, self.sql = line, column, sql
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        super().__init__(f"{message}{where}")


class SqlSyntaxError(SqlError):
    """The query does not parse."""


class PlanError(SqlError):
    """The query parses but cannot be planned: unknown column or function, bad grouping, type mismatch."""


class UnknownColumnError(PlanError):
    """A column named in the query is not in the source schema."""


class TypeMismatchError(PlanError):
    """An expression is applied to a value of a type it does not accept (e.g. SUM of a string)."""


class NotSupportedError(PlanError):
    """Valid SQL that gpuvelo does not support (yet); the message says what."""


class DataError(GpuveloError):
    """Input data is malformed: wrong schema, bad rows, overflow; names source, batch and column."""


class SchemaMismatchError(DataError):
    """A batch's schema differs from the first batch of the same source."""


class ArithmeticOverflowError(DataError):
    """An exact integer or decimal computation overflowed its 64-bit representation."""


class BackendError(GpuveloError):
    """A backend cannot be used (no GPU, missing cuDF) or failed (device out of memory)."""


class JobError(GpuveloError):
    """A running job failed; the message names the partition, source and batch involved."""


class SinkError(JobError):
    """A sink failed to accept output."""


class SourceError(JobError):
    """A source failed while reading."""
