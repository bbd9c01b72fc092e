"""String operations: computed once on the (small, host-side) dictionary with pyarrow.compute,
then mapped to rows by gathering through the int32 codes -- no per-row string work."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..columns import Col
from ..types import INT64, STRING
from .core import gather


def _host(arr: pa.Array, fill) -> np.ndarray:
    return arr.fill_null(fill).to_numpy(zero_copy_only=False)


def ranks(dictionaries) -> list[np.ndarray]:
    """Dense ranks of the entries of several dictionaries in one common (code point) order:
    equal strings get equal ranks, so ranks compare exactly as the strings do."""
    lengths = [len(d) for d in dictionaries]
    both = pa.concat_arrays([d.cast(pa.string()) for d in dictionaries])
    r = _host(pc.rank(both, sort_keys="ascending", tiebreaker="dense"), 0).astype(np.int64)
    return np.split(r, np.cumsum(lengths)[:-1])


def row_ranks(xp, cols: list[Col]):
    """Per row, the rank of each string column's value in a common order (see :func:`ranks`)."""
    return [gather(xp, r, c.data) for r, c in zip(ranks([c.dictionary for c in cols]), cols)]


def unify(xp, cols: list[Col]):
    """One dictionary for several string columns (concatenated, not deduplicated) and each
    column's codes into it."""
    dictionary = pa.concat_arrays([c.dictionary.cast(pa.string()) for c in cols])
    codes, offset = [], 0
    for c in cols:
        codes.append(c.data.astype(xp.int32) + xp.int32(offset))
        offset += len(c.dictionary)
    return dictionary, codes


def map_dictionary(xp, col: Col, fn, dtype=STRING) -> Col:
    """Apply ``fn`` (pyarrow array -> pyarrow array) to the dictionary; strings keep the codes,
    other results are gathered to rows."""
    out = fn(col.dictionary)
    if dtype.is_string:
        return Col(col.data, col.valid, STRING, out.cast(pa.string()))
    return Col(gather(xp, _host(out, 0), col.data), col.valid, dtype)


def length(xp, col: Col) -> Col:
    """LENGTH: number of Unicode code points, as INT64."""
    return map_dictionary(xp, col, lambda d: pc.utf8_length(d).cast(pa.int64()), INT64)


def like(xp, col: Col, pattern: str):
    """``col LIKE pattern`` as a bool array (validity is the column's). ``%`` and ``_`` are the
    only wildcards (no escape character, as in DuckDB)."""
    escaped = pattern.replace("\\", "\\\\")
    return gather(xp, _host(pc.match_like(col.dictionary, escaped), False), col.data)


def is_in(xp, col: Col, values: list[str]):
    """Rows whose string is one of ``values`` (non-NULL strings), as a bool array."""
    hit = pc.is_in(col.dictionary, value_set=pa.array(values, pa.string()))
    return gather(xp, _host(hit, False), col.data)


# --------------------------------------------------------------------------- catalogue functions
# Implementations of ``gpuvelo.sql.functions.strings``: op -> impl(xp, call, cols, n) -> Col.
FUNCTIONS = {}
