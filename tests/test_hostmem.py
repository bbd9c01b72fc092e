"""The host allocator settings (``gpuvelo/backends/hostmem.py``) and their opt-outs."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = ("import gpuvelo.backends.hostmem as h, gpuvelo; "
         "gpuvelo.sql('SELECT a FROM t', t={'a': [1]}, backend='cpu'); print(h._applied)")


def _applied(env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_once_a_backend_is_chosen_unless_opted_out(monkeypatch):
    import os
    import platform

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GPUVELO_"))}
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _applied(base) == "True"
    assert _applied({**base, "GPUVELO_MALLOC_TUNING": "0"}) == "False"
    # the user's own glibc settings win
    assert _applied({**base, "MALLOC_ARENA_MAX": "2"}) == "False"
