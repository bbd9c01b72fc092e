"""Strings scalar functions: typing rules (implementations: ``gpuvelo.expr.strings``)."""

from __future__ import annotations

FUNCTIONS = {}
NODES = {}
ALIASES = {}
