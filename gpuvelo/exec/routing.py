"""Routing strategies: which partition each row (or batch) of the row stage goes to.

Every strategy gives the right answer (partitions keep partial aggregates and the coordinator
merges them when a key can live in several partitions); they differ in cost:

* ``hash``: the one key hash (``backends/keyhash.py``) modulo the partition count; each key
  lives in exactly one partition, so partitions finalize their groups independently.
* ``round_robin``: whole batches in turn; for queries without GROUP BY keys.
* ``sticky``: whole batches to the partition of the source partition they came from (one
  file of a directory, one Kafka partition); keys may spread, so partials are merged.
* ``smart``: sticky when the source says it is already partitioned by the GROUP BY columns,
  hash otherwise.

Routing is vectorised per batch: partition ids for all rows, then one stable scatter
(histogram -> exclusive scan -> scatter, ``Backend.partition``), the CPU twin of the GPU
partition kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GpuveloError
from ..backends.keyhash import partition_ids
from ..sql import plan as P
from .query import RowBatch

STRATEGIES = ("hash", "round_robin", "sticky", "smart")


@dataclass
class Piece:
    """The rows of one input batch that one partition receives: a row-stage batch, or None
    when the whole input batch goes to the partition, which runs the row stage itself;
    ``rows`` indexes the piece's rows in the row-stage output (None: all, in order)."""

    partition: int
    batch: RowBatch | None
    rows: object | None = None


def _take(rb: RowBatch, index) -> RowBatch:
    return RowBatch([k.take(index) for k in rb.keys],
                    [a.take(index) if a is not None else None for a in rb.args],
                    rb.positions[index], rb.rows_in, int(index.shape[0]),
                    extra={k: c.take(index) for k, c in rb.extra.items()} if rb.extra else None)


class Routing:
    """Base class: ``route`` splits one row-stage batch into per-partition pieces."""

    name = ""
    keys_local = False     # True when each key lives in one partition (no merge of partials)
    whole_batches = False  # True when routing needs no row values: partitions run the row stage

    def __init__(self, num_partitions: int, backend):
        self.n = num_partitions
        self.backend = backend

    def route(self, rb: RowBatch, source_partition: int) -> list[Piece]:
        raise NotImplementedError


class HashRouting(Routing):
    """Rows by the one key hash: ``hash(keys) % n``."""

    name = "hash"
    keys_local = True

    def route(self, rb: RowBatch, source_partition: int) -> list[Piece]:
        if self.n == 1:
            return [Piece(0, rb)]
        xp = self.backend.xp
        pids = partition_ids(self.backend.hash_keys(rb.keys), self.n, xp) if rb.keys else \
            xp.zeros(rb.rows_out, dtype=xp.int32)
        order, offsets = self.backend.partition(pids, self.n)
        offsets = self.backend.to_host(offsets)
        pieces = []
        for p in range(self.n):
            lo, hi = int(offsets[p]), int(offsets[p + 1])
            if hi > lo:
                idx = order[lo:hi]
                pieces.append(Piece(p, _take(rb, idx), idx))
        return pieces


class RoundRobinRouting(Routing):
    """Whole batches to partitions in turn."""

    name = "round_robin"
    whole_batches = True

    def __init__(self, num_partitions: int, backend):
        super().__init__(num_partitions, backend)
        self._next = 0

    def route(self, rb: RowBatch | None, source_partition: int) -> list[Piece]:
        p = self._next
        self._next = (self._next + 1) % self.n
        return [Piece(p, rb)]


class StickyRouting(Routing):
    """Whole batches to the partition their source partition maps to."""

    name = "sticky"
    whole_batches = True

    def route(self, rb: RowBatch | None, source_partition: int) -> list[Piece]:
        return [Piece(source_partition % self.n, rb)]


def _partitioned_by_keys(plan: P.QueryPlan, source) -> bool:
    """True when the source says each of its partitions holds whole GROUP BY keys."""
    by = getattr(source, "partition_key", None)
    key_cols = {k.name.lower() for k in plan.group_keys if isinstance(k, P.ColumnRef)}
    return bool(by) and bool(plan.group_keys) and len(key_cols) == len(plan.group_keys) and \
        {c.lower() for c in by} <= key_cols


def choose_routing(plan: P.QueryPlan, source, name: str | None, num_partitions: int,
                   backend) -> tuple[Routing, str]:
    """The routing for this query and source, and a sentence saying why it was chosen."""
    if name is not None and name not in STRATEGIES:
        raise GpuveloError(f"unknown routing strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    keyed = bool(plan.group_keys)
    if name is None:
        if num_partitions == 1:
            return HashRouting(1, backend), "one partition: every row goes to partition 0"
        if not plan.is_aggregate or not keyed:
            return (RoundRobinRouting(num_partitions, backend),
                    "no GROUP BY key: batches are spread round-robin and partials merged")
        if backend.name == "cpu" and not _partitioned_by_keys(plan, source):
            # Measured (benchmarks/bench_scaling.py): on CPU threads, hash routing runs the row
            # stage and the scatter on the reader thread and does not scale; whole batches let
            # every partition run them, and merging partials is cheap next to aggregating rows.
            return (RoundRobinRouting(num_partitions, backend),
                    "cpu default: whole batches spread round-robin, each partition filters and "
                    "pre-aggregates its batches (two-phase aggregation), partials merged at the end")
        name = "smart"
    if name == "smart":
        by = getattr(source, "partition_key", None)
        if _partitioned_by_keys(plan, source):
            return (StickyRouting(num_partitions, backend),
                    f"smart: the source is partitioned by {', '.join(by)}, a subset of the GROUP BY "
                    "keys, so each source partition keeps its batches")
        if not keyed:
            return (RoundRobinRouting(num_partitions, backend),
                    "smart: no GROUP BY key, batches spread round-robin")
        return (HashRouting(num_partitions, backend),
                "smart: rows routed by the hash of the GROUP BY key, so each key lives in one "
                "partition")
    if name == "hash":
        return HashRouting(num_partitions, backend), "hash: asked for by name"
    if name == "round_robin":
        return RoundRobinRouting(num_partitions, backend), "round_robin: asked for by name"
    return StickyRouting(num_partitions, backend), "sticky: asked for by name"
