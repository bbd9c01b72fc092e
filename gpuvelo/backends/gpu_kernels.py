"""Finding and loading the CUDA sources of ``kernels/`` (CuPy ``RawModule``).

Installed, the sources are the package data of ``gpuvelo.kernels``; in a source checkout
that is not installed, they are the top-level ``kernels/`` folder beside ``gpuvelo/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

try:
    from gpuvelo.kernels import KERNEL_DIR
except ImportError:  # running from a checkout without `pip install -e .`
    KERNEL_DIR = Path(__file__).resolve().parents[2] / "kernels"

NVRTC_OPTIONS = ("-std=c++17", f"-I{KERNEL_DIR}")


@lru_cache(maxsize=None)
def module(name: str):
    """The compiled ``cupy.RawModule`` of ``kernels/<name>.cu`` (compiled once, cached)."""
    import cupy

    code = (KERNEL_DIR / f"{name}.cu").read_text()
    return cupy.RawModule(code=code, options=NVRTC_OPTIONS)


def kernel(module_name: str, func: str):
    """The ``cupy.RawKernel`` ``func`` (an ``extern "C"`` kernel) of ``kernels/<module_name>.cu``."""
    return module(module_name).get_function(func)
