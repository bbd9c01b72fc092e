"""Date and time functions over ``xp`` arrays (typing rules: ``gpuvelo.sql.functions.temporal``)."""

from __future__ import annotations

# op -> impl(xp, call, cols, n) -> Col of exactly call.dtype
FUNCTIONS = {}
