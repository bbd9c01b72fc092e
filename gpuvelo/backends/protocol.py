"""The backend protocol: what the execution layer may ask of the CPU, GPU and cuDF backends.

The execution layer (``gpuvelo.exec``) talks to a backend only through :class:`Backend` and
:class:`GroupState`. Aggregation state is a table of mergeable partial accumulators (see
``partials.py`` for the exact Arrow layout every backend reads and writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, Sequence

from ..columns import Col
from ..types import DType


@dataclass(frozen=True)
class AggSlot:
    """One aggregate as a GroupState sees it: the function name (``sql.plan.AGG_FUNCS``),
    its argument's type (None for count_star) and its SQL result type."""

    func: str
    arg_dtype: DType | None
    out_dtype: DType
    param: Fraction | tuple | None = None   # the quantile; string_agg's (separator, order, distinct)
    arg2_dtype: DType | None = None  # arg_max / arg_min: the ordering argument's type


@dataclass(frozen=True)
class StateSpec:
    """What a GroupState aggregates: the key column types and the aggregates, in order."""

    key_dtypes: tuple[DType, ...]
    aggs: tuple[AggSlot, ...]


class GroupState(Protocol):
    """Per-partition aggregation state: one row per group, persistent across batches.

    Groups are identified by dense int64 ids (``gids``) that stay valid until the next
    ``evict`` (which may renumber the survivors).
    """

    def update(self, keys: Sequence[Col], args: Sequence[Col | None], positions: Any) -> None:
        """Fold one batch in. ``keys[i]`` is the i-th key column, ``args[j]`` the evaluated
        argument of aggregate j (None for count_star), ``positions`` the int64 global
        arrival position of each row (for FIRST/LAST). All have the batch's length.
        Atomic: on error the state is unchanged. Marks the touched groups changed."""

    def merge(self, partials: Any) -> None:
        """Fold in an Arrow table of partial accumulators (layout: ``partials.py``)."""

    def partials(self, gids: Any | None = None) -> Any:
        """The accumulators of ``gids`` (all live groups when None) as an Arrow table."""

    def finalize(self, gids: Any | None = None) -> Any:
        """SQL results of ``gids`` (all when None): Arrow table with columns k0.., a0.."""

    def changed(self) -> Any:
        """Host numpy int64 array of the gids changed since the last ``clear_changed()``."""

    def clear_changed(self) -> None:
        """Forget which groups changed."""

    def evict(self, gids: Any) -> None:
        """Drop these groups (their window closed) and, from time to time, free their memory.
        Freeing may renumber the live groups: gids obtained before an evict are invalid
        after it (ask ``live_gids``, ``lookup`` or ``changed`` again)."""

    def keys(self, gids: Any | None = None) -> Any:
        """The key values of ``gids`` (all live groups when None): Arrow table k0.., in order."""

    def lookup(self, keys: Sequence[Col]) -> Any:
        """Host int64 gid of each row of ``keys`` (one Col per key column); -1 for keys
        that have no live group."""

    def live_gids(self) -> Any:
        """Host numpy int64 array of all live group ids, ascending."""

    @property
    def num_groups(self) -> int:
        """Number of live groups."""


class Backend(Protocol):
    """A compute backend: an array namespace plus the few primitives the engine needs."""

    name: str      # 'cpu', 'gpu' or 'cudf'
    xp: Any        # numpy or cupy

    def to_device(self, batch: Any, schema: dict[str, DType]) -> dict[str, Col]:
        """Decode an Arrow RecordBatch into Cols on this backend (strings dictionary-encoded,
        decimals to scaled int64, validity bitmaps to bool arrays)."""

    def hash_keys(self, keys: Sequence[Col]) -> Any:
        """The one key hash (``keyhash.py``) of each row of ``keys``, as uint64."""

    def partition(self, part_ids: Any, num_partitions: int) -> tuple[Any, Any]:
        """Stable scatter plan: ``(order, offsets)`` such that rows ``order[offsets[p]:
        offsets[p+1]]`` are partition p's rows in arrival order (histogram -> exclusive scan
        -> scatter)."""

    def group_state(self, spec: StateSpec) -> GroupState:
        """A new, empty GroupState for ``spec`` on this backend."""

    def to_host(self, array: Any) -> Any:
        """Copy an array of this backend to a host numpy array."""
