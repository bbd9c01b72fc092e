"""Compute backends behind one protocol (``protocol.py``): NumPy (``cpu``), CuPy (``gpu``), cuDF."""

from __future__ import annotations

from ..errors import BackendError
from .cpu import CpuBackend
from .hostmem import tune_malloc
from .protocol import AggSlot, Backend, GroupState, StateSpec

BACKENDS = ("auto", "cpu", "gpu", "cudf")


def gpu_usable() -> bool:
    """True when CuPy imports and a CUDA device answers (probed, never assumed)."""
    try:
        from .gpu import gpu_available
    except Exception:  # noqa: BLE001 -- no CuPy, or a broken install: no GPU
        return False
    try:
        return bool(gpu_available())
    except Exception:  # noqa: BLE001
        return False


def select_backend(name: str = "auto", **options) -> Backend:
    """The backend called ``name``: 'cpu', 'gpu', 'cudf', or 'auto' (GPU when usable, else CPU)."""
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    name = name.lower()
    tune_malloc()
    if name == "cpu" or (name == "auto" and not gpu_usable()):
        return CpuBackend()
    if name in ("gpu", "cudf") and not gpu_usable():
        raise BackendError(f"backend {name!r} needs a usable CUDA GPU and CuPy; none was found "
                           "(use backend='cpu' or 'auto')")
    from .gpu import GpuBackend
    if name == "cudf":
        options.setdefault("aggregator", "cudf")
    return GpuBackend(**options)


__all__ = ["AggSlot", "Backend", "BackendError", "CpuBackend", "GroupState", "StateSpec",
           "gpu_usable", "select_backend"]
