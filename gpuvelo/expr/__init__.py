"""Compile plan expressions to vectorised functions over NumPy or CuPy, with SQL NULL semantics."""

from .compile import compile_expr, compile_predicate

__all__ = ["compile_expr", "compile_predicate"]
