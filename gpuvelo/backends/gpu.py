"""The GPU backend: CuPy arrays plus gpuvelo's own CUDA kernels (``kernels/``).

Batches are decoded on the host (``arrowcol.batch_to_cols``), staged into pinned
buffers (two, used alternately, so batch i+1 is copied while batch i is processed) and
copied to the device on a copy stream. Key hashing, the partition scatter and the
aggregation run on the device; each :class:`GpuGroupState` runs on its own non-blocking
stream and keeps its state (hash table, accumulators) in device memory across batches.

What stays on the host, and why:

* string dictionaries and one *interner* per state (string -> dense int64 code, found with
  the two 64-bit string hashes, per distinct string): the device groups and stores strings
  as these codes, because codes are exact 64-bit words and the strings themselves are only
  needed to hand results out;
* string MIN/MAX: the device finds each group's best string *of the batch* (by the rank of
  the batch's dictionary, sorted on the host); comparing that with the stored best needs the
  strings' order, so that one comparison per touched group happens on the host (pyarrow);
* ``finalize`` turns partials into SQL results with the CPU backend's ``finalize`` (the one
  definition of AVG, VAR, decimal scaling...), so GPU and CPU results cannot drift apart.

Integer and decimal sums are exact 128-bit accumulators; a sum that does not fit in 64 bits
raises :class:`ArithmeticOverflowError` when the state is read (``partials``/``finalize``),
since checking on every batch would need a device-to-host read per batch.
"""

from __future__ import annotations

import threading

from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..columns import Col
from ..errors import BackendError
from . import keyhash
from ..arrowcol import batch_to_cols
from .gpu_kernels import kernel
from .protocol import StateSpec

BLOCK = 256
MAX_PARTS = 2048          # GV_MAX_PARTS in partition.cu
SHARED_GROUPS = 2048      # below this many groups, aggregate through shared memory first
F_SUM, F_MIN, F_MAX = 1, 2, 4
KIND_I64, KIND_U64, KIND_F64 = 0, 1, 2
U64_MAX = np.uint64(2**64 - 1)
NULL = np.uint64(0)


def gpu_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 -- no CuPy, no driver, no device: all mean "no GPU"
        return False


def _cp():
    import cupy

    return cupy


def _launch(func: str, module: str, n: int, args: tuple) -> None:
    """Launch kernel ``func`` over ``n`` items (grid-stride) on the current stream."""
    if n <= 0:
        return
    grid = min((n + BLOCK - 1) // BLOCK, 8 * 1024)
    # an absent optional pointer argument travels as a 64-bit zero: a null pointer
    args = tuple(NULL if x is None else x for x in args)
    kernel(module, func)((grid,), (BLOCK,), args)


def _i64(v) -> np.int64:
    return np.int64(v)


def _oom(e: Exception, rows: int) -> BackendError:
    return BackendError(f"GPU out of memory while processing a batch of {rows} rows; "
                        f"lower the batch size (rows per batch) or the number of partitions ({e})")


def _is_oom(e: Exception) -> bool:
    cp = _cp()
    return isinstance(e, cp.cuda.memory.OutOfMemoryError) or "out of memory" in str(e).lower()


# ---------------------------------------------------------------------------- backend
def _is_pinned(cp, a: np.ndarray) -> bool:
    """Whether a host array lives in page-locked (pinned) memory, so that the device can copy
    it directly and asynchronously (False whenever CUDA cannot tell)."""
    if a.nbytes == 0 or not a.flags.c_contiguous:
        return False
    try:
        attrs = cp.cuda.runtime.pointerGetAttributes(a.ctypes.data)
    except Exception:  # noqa: BLE001 -- pageable memory on older drivers raises: not pinned
        return False
    return getattr(attrs, "type", 0) == 1     # cudaMemoryTypeHost


class GpuBackend:
    """CuPy backend. ``aggregator``: 'gpuvelo' (our kernels) or 'cudf' (cuDF's group-by reduces
    each qualifying batch, merged into a GpuGroupState: see ``gpu_cudf.py``)."""

    name = "gpu"

    def __init__(self, aggregator: str = "gpuvelo", device: int = 0):
        if not gpu_available():
            raise BackendError("backend 'gpu' needs CuPy and a usable CUDA device; none was found "
                               "(use backend='cpu', or 'auto' to fall back to the CPU)")
        if aggregator not in ("gpuvelo", "cudf"):
            raise BackendError(f"unknown GPU aggregator {aggregator!r}; use 'gpuvelo' or 'cudf'")
        if aggregator == "cudf":
            try:
                import cudf  # noqa: F401
            except Exception as e:  # noqa: BLE001
                raise BackendError(f"aggregator='cudf' needs cuDF, which does not import: {e}") from e
        cp = _cp()
        self.xp = cp
        self.aggregator = aggregator
        self.device = cp.cuda.Device(device)
        self.device.use()
        self.copy_stream = cp.cuda.Stream(non_blocking=True)
        self._pinned = [None, None]           # pinned staging buffers, used alternately
        self._copied = [None, None]           # event: the copy out of that buffer is done
        self._sources = [None, None]          # already-pinned inputs copied directly: kept
                                              # alive until their copy is done
        self._slot = 0
        self._prev_compute = None             # event: compute enqueued before the last to_device
        # partitions that run the row stage call to_device from their own threads: the
        # staging buffers and their events are shared, so staging is one thread at a time
        self._stage_lock = threading.Lock()

    # -- transfers --------------------------------------------------------------------
    def _stage(self, arrays: list[np.ndarray]) -> list[Any]:
        """Copy host arrays to the device through one pinned buffer, asynchronously."""
        with self._stage_lock:
            return self._stage_locked(arrays)

    def _stage_locked(self, arrays: list[np.ndarray]) -> list[Any]:
        import cupyx

        cp = self.xp
        k, self._slot = self._slot, 1 - self._slot
        if self._copied[k] is not None:
            self._copied[k].synchronize()     # the copy made from this buffer two batches ago
        self._sources[k] = None
        pinned = [_is_pinned(cp, a) for a in arrays]
        offs, total = [], 0
        for a, direct in zip(arrays, pinned):
            offs.append(total)
            if not direct:
                total += (a.nbytes + 255) // 256 * 256
        if total and (self._pinned[k] is None or self._pinned[k].nbytes < total):
            self._pinned[k] = cupyx.empty_pinned((max(total, 1 << 20) * 5 // 4,), dtype=np.uint8)
        buf = self._pinned[k] if total else None
        current = cp.cuda.get_current_stream()
        if self._prev_compute is not None:
            # device memory freed by batches before the previous one may be reused below
            self.copy_stream.wait_event(self._prev_compute)
        self._prev_compute = current.record()
        out = []
        with self.copy_stream:
            for a, o, direct in zip(arrays, offs, pinned):
                if direct:      # already in pinned memory (e.g. cupyx.empty_pinned): DMA it
                    view = a
                else:
                    view = buf[o:o + a.nbytes].view(a.dtype).reshape(a.shape)
                    np.copyto(view, a)
                d = cp.empty(a.shape, a.dtype)
                d.set(view, stream=self.copy_stream)
                out.append(d)
            self._copied[k] = self.copy_stream.record()
        if any(pinned):
            self._sources[k] = [a for a, direct in zip(arrays, pinned) if direct]
        current.wait_event(self._copied[k])
        return out

    def to_device(self, batch: pa.RecordBatch, schema: dict[str, T.DType]) -> dict[str, Col]:
        """Decode on the host, then move data and validity to the device (strings: int32
        codes on the device, dictionary on the host)."""
        host = batch_to_cols(batch, schema)
        arrays, where = [], []
        for name, col in host.items():
            arrays.append(np.ascontiguousarray(col.data))
            where.append((name, "data"))
            if col.valid is not None:
                arrays.append(np.ascontiguousarray(col.valid))
                where.append((name, "valid"))
        try:
            dev = self._stage(arrays)
        except Exception as e:  # noqa: BLE001
            if _is_oom(e):
                raise _oom(e, batch.num_rows) from e
            raise
        parts: dict[str, dict] = {name: {"valid": None} for name in host}
        for (name, what), d in zip(where, dev):
            parts[name][what] = d
        return {name: Col(parts[name]["data"], parts[name]["valid"], col.dtype, col.dictionary)
                for name, col in host.items()}

    def to_host(self, array) -> np.ndarray:
        """Copy a device array to a host numpy array (synchronous)."""
        return self.xp.asnumpy(array) if isinstance(array, self.xp.ndarray) else np.asarray(array)

    # -- hashing and partitioning ----------------------------------------------------
    def hash_keys(self, keys: Sequence[Col]) -> Any:
        """The one key hash of each row, computed by ``kernels/keyhash.cu``."""
        cp = self.xp
        n = len(keys[0]) if keys else 0
        if not keys:
            return cp.full(n, keyhash.ROW_SEED, dtype=cp.uint64)
        words = cp.empty((len(keys), n), dtype=cp.uint64)
        for c, col in enumerate(keys):
            hash_words(col, words[c])
        out = cp.empty(n, dtype=cp.uint64)
        _launch("gv_hash_rows", "keyhash", n, (words, np.int32(len(keys)), _i64(n), out))
        return out

    def partition_ids(self, hashes, num_partitions: int):
        """``hash % num_partitions`` per row (int32), on the device."""
        cp = self.xp
        n = int(hashes.shape[0])
        part = cp.empty(n, dtype=cp.int32)
        _launch("gv_partition_ids", "partition", n, (hashes, _i64(n), np.int32(num_partitions), part))
        return part

    def partition(self, part_ids, num_partitions: int):
        """Stable scatter plan (order, offsets) by the histogram/scan/scatter kernels."""
        cp = self.xp
        if num_partitions > MAX_PARTS:
            raise BackendError(f"the GPU backend supports at most {MAX_PARTS} partitions")
        part_ids = cp.ascontiguousarray(part_ids, dtype=cp.int32)
        n = int(part_ids.shape[0])
        chunk = max(2048, -(-n // 16384))
        blocks = max(1, -(-n // chunk))
        hist = cp.zeros(num_partitions * blocks, dtype=cp.int64)
        order = cp.empty(n, dtype=cp.int64)
        if n:
            args = (part_ids, _i64(n), np.int32(num_partitions), _i64(chunk))
            kernel("partition", "gv_partition_hist")((blocks,), (BLOCK,), args + (hist,))
        ends = cp.cumsum(hist)
        base = ends - hist
        if n:
            kernel("partition", "gv_partition_scatter")((blocks,), (BLOCK,), args + (base, order))
        offsets = cp.zeros(num_partitions + 1, dtype=cp.int64)
        offsets[1:] = ends.reshape(num_partitions, blocks)[:, -1]
        return order, offsets

    def group_state(self, spec: StateSpec, stream=None):
        """A new GroupState on its own non-blocking stream (or ``stream``); with the cuDF
        aggregator, a CudfGroupState around it."""
        state = GpuGroupState(spec, stream)
        if self.aggregator == "cudf":
            from .gpu_cudf import CudfGroupState

            return CudfGroupState(spec, state, schema=state._ref.partials_schema())
        return state


def hash_words(col: Col, out) -> None:
    """The one hash's key word of every value of a device ``col`` into ``out`` (uint64)."""
    cp = _cp()
    n = len(col)
    d = col.dtype
    valid = None if col.valid is None else cp.ascontiguousarray(col.valid).view(cp.uint8)
    if d.is_string:
        dictionary = pc.fill_null(col.dictionary, "")
        dh = cp.asarray(keyhash.strhash_arrow(dictionary)) if len(dictionary) else cp.zeros(1, cp.uint64)
        w = dh[col.data]
        out[...] = w if valid is None else cp.where(col.valid, w, cp.uint64(keyhash.NULL_WORD))
        return
    if d.is_float:
        func, data = ("gv_words_f32", col.data) if d.kind == "float32" else ("gv_words_f64", col.data)
    elif d.is_unsigned_integer or d.is_bool:
        func, data = "gv_words_u64", col.data.astype(cp.uint64)
    else:
        func, data = "gv_words_i64", col.data.astype(cp.int64)
    _launch(func, "keyhash", n, (cp.ascontiguousarray(data), valid, _i64(n), out))


from .gpu_state import GpuGroupState  # noqa: E402  (the state needs the helpers above)
