"""CUDA C++ sources of gpuvelo's GPU kernels, shipped as package data (``gpuvelo.kernels``)."""

from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent


def source(name: str) -> str:
    """Return the text of the kernel source file ``name`` (e.g. ``"keyhash.cuh"``)."""
    return (KERNEL_DIR / name).read_text()
