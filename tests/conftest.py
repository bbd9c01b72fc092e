"""Test configuration: the ``backend`` fixture, over every backend usable on this machine."""

from __future__ import annotations

import pytest


def _gpu_available() -> bool:
    try:
        from gpuvelo.backends.gpu import gpu_available
    except ImportError:
        return False
    return gpu_available()


def _backend_params() -> list:
    params = [pytest.param("cpu", id="cpu")]
    if _gpu_available():
        params.append(pytest.param("gpu", id="gpu", marks=pytest.mark.gpu))
    return params


@pytest.fixture(params=_backend_params())
def backend(request) -> str:
    """The backend name to pass as ``gpuvelo.sql(..., backend=...)``: "cpu", and "gpu" where usable."""
    return request.param
