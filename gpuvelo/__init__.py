"""gpuvelo: a streaming SQL engine for GROUP BY aggregation on NVIDIA GPUs, with a NumPy fallback.

``gpuvelo.sql(query, **tables)`` runs a query to completion and returns a pyarrow Table;
``gpuvelo.Job(query, sources=..., sink=...)`` runs a streaming job; ``gpuvelo.explain``
describes a plan. Errors are ``gpuvelo.errors.GpuveloError`` subclasses.
"""

from . import errors, io
from .api import Job, explain, sql
from .exec.stats import JobStats

__version__ = "0.1.0"
__all__ = ["Job", "JobStats", "errors", "explain", "io", "sql", "__version__"]
