"""The in-flight column representation shared by backends and the expression compiler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .types import DType


@dataclass
class Col:
    """One column of a batch on some backend.

    ``data`` is an array of the backend's namespace (numpy or cupy) in the physical layout
    that ``gpuvelo.types`` documents for ``dtype`` (decimals as scaled int64, strings as int32
    codes, timestamps as int64 ticks, dates as int32 days). ``valid`` is a bool array of the
    same length (True = not NULL) or None when no value is NULL. ``dictionary`` is, for
    strings, a host-side ``pyarrow.StringArray`` that the codes index into (entries need
    not be unique; codes of NULL rows are 0 and meaningless); for a LIST result, the
    host-side ``pyarrow.ListArray`` its int32 row codes index into.
    """

    data: Any
    valid: Any | None
    dtype: DType
    dictionary: Any | None = None

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def take(self, index) -> "Col":
        """Rows selected by a boolean mask or an integer index array (same namespace)."""
        return Col(self.data[index], None if self.valid is None else self.valid[index],
                   self.dtype, self.dictionary)


@dataclass
class ColPair:
    """The two arguments of a two-argument aggregate, row-aligned: ARG_MAX(value, order)."""

    value: Col
    order: Col

    def __len__(self) -> int:
        return len(self.value)

    def take(self, index) -> "ColPair":
        """Rows selected from both arguments."""
        return ColPair(self.value.take(index), self.order.take(index))


@dataclass
class ListArg:
    """LIST's argument as the row stage hands it to a GroupState, row-aligned: the values,
    the ORDER BY values (None without an ordering expression of their own) and the rows its
    FILTER keeps (a bool array of the backend's namespace; None: every row)."""

    value: Col
    order: Col | None = None
    keep: Any = None

    def __len__(self) -> int:
        return len(self.value)

    def take(self, index) -> "ListArg":
        """Rows selected from every part."""
        return ListArg(self.value.take(index), None if self.order is None else self.order.take(index),
                       None if self.keep is None else self.keep[index])
