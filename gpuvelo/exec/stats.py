"""Job statistics: counts that add up (read = filtered + aggregated + rejected + late) and timings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, asdict


@dataclass
class JobStats:
    """What a job did. ``records_read`` always equals ``records_filtered + records_aggregated
    + records_rejected + records_late`` once the job has finished (stateless queries count
    rows that pass WHERE as aggregated, i.e. processed)."""

    backend: str = ""
    partitions: int = 1
    strategy: str = "single"
    strategy_reason: str = ""
    records_read: int = 0
    records_filtered: int = 0
    records_aggregated: int = 0
    records_rejected: int = 0
    records_late: int = 0
    rejected_reasons: dict = field(default_factory=dict)
    records_routed: list = field(default_factory=list)     # per partition
    records_emitted: int = 0
    batches_read: int = 0
    batches_rejected: int = 0
    emits: int = 0
    groups: int = 0
    queue_high_water: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    time_reading_s: float = 0.0
    time_routing_s: float = 0.0
    time_aggregating_s: float = 0.0
    time_merging_s: float = 0.0
    time_writing_s: float = 0.0
    stopped: str = ""          # '' (input ended), 'graceful', 'abort' or 'error'
    stages: list = field(default_factory=list)   # JobStats of aggregating subqueries run first
    error: str = ""

    def __post_init__(self):
        self._lock = threading.Lock()

    def add(self, **counts) -> None:
        """Add to counters atomically (safe from several threads)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def reject(self, reason: str, rows: int) -> None:
        """Count ``rows`` rejected for ``reason``."""
        with self._lock:
            self.records_rejected += rows
            self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + rows

    @property
    def balanced(self) -> bool:
        """The conservation law: every row read is filtered, aggregated, rejected or late."""
        return self.records_read == (self.records_filtered + self.records_aggregated
                                     + self.records_rejected + self.records_late)

    @property
    def rows_per_s(self) -> float:
        return self.records_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict:
        """Plain-dict view (for JSON and the CLI)."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        d["rows_per_s"] = self.rows_per_s
        return d
