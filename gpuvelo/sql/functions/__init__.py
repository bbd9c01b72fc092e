"""The catalogue of scalar SQL functions (beyond the operators the planner types itself).

Every function has a canonical lower-case name -- the ``op`` of its plan
:class:`~gpuvelo.sql.plan.Call` and the key of its implementation in ``gpuvelo.expr`` -- an
arity, the argument positions that must be literals (units, formats, patterns), and a typing
rule. The domain modules (:mod:`.math`, :mod:`.strings`, :mod:`.temporal`) each define

* ``FUNCTIONS``: canonical name -> :class:`Function`;
* ``NODES``: sqlglot expression class -> (canonical name, the node's argument keys in SQL
  argument order), for functions sqlglot parses into their own classes;
* ``ALIASES``: other spellings -> canonical name, for functions sqlglot leaves anonymous;
* ``REWRITES``: functions ``node -> replacement node | None`` applied to every node of the
  parsed query before planning (bottom-up), for syntax that is not a plain call (e.g.
  ``ts + INTERVAL 1 HOUR``): they return a node the planner understands, usually a call of a
  catalogue function spelled as ``exp.Anonymous``.

:func:`bind` turns a sqlglot node into (canonical name, argument nodes); the planner
compiles the arguments, checks them with :func:`check` and builds the typed Call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from ...errors import PlanError, TypeMismatchError
from ...types import DType

NOT_LITERAL = object()   # stands for a non-literal argument in ``Function.typing``'s values


@dataclass(frozen=True)
class Function:
    """One scalar function: ``typing(arg_types, literal_values) -> DType`` raises
    TypeMismatchError / PlanError (a message without position) for bad arguments;
    ``literal_values[i]`` is the argument's value when it is a literal, else NOT_LITERAL."""

    name: str
    min_args: int
    max_args: int
    typing: Callable[[list[DType], list], DType]
    literals: tuple[int, ...] = ()


def _catalogue():
    from . import math, strings, temporal   # noqa: PLC0415 (domain tables import this module)

    functions, nodes, aliases, rewrites = {}, {}, {}, []
    for module in (math, strings, temporal):
        functions.update(module.FUNCTIONS)
        nodes.update(module.NODES)
        aliases.update(module.ALIASES)
        rewrites.extend(getattr(module, "REWRITES", ()))
    return functions, nodes, aliases, rewrites


_TABLES = None


def tables():
    """(FUNCTIONS, NODES, ALIASES, REWRITES) merged over the domain modules."""
    global _TABLES
    if _TABLES is None:
        _TABLES = _catalogue()
    return _TABLES


def bind(node) -> tuple[str, list] | None:
    """(canonical name, argument nodes in SQL order) for a function call node this catalogue
    knows, else None. Missing optional arguments are left out (not passed as None)."""
    functions, nodes, aliases, _ = tables()
    spec = nodes.get(type(node))
    if spec is not None:
        name, keys = spec
        args = []
        for key in keys:
            value = node.args.get(key)
            if isinstance(value, list):
                args.extend(value)
            elif value is not None:
                args.append(value)
        return name, args
    if isinstance(node, exp.Anonymous):
        name = aliases.get(node.name.lower(), node.name.lower())
        if name in functions:
            return name, list(node.expressions)
    return None


def rewrite(tree):
    """``tree`` with every domain's REWRITES applied (a new tree; the input is not changed)."""
    rewrites = tables()[3]
    if not rewrites:
        return tree

    def apply(node):
        for fn in rewrites:
            out = fn(node)
            if out is not None:
                return out
        return node

    tree = tree.copy()
    # reversed pre-order: every node after its descendants, so a rewrite sees rewritten arguments
    for node in reversed(list(tree.walk(bfs=False))):
        out = apply(node)
        if out is not node:
            if node is tree:
                return out
            node.replace(out)
    return tree


def check(name: str, arg_types: list[DType], literal_values: list) -> DType:
    """Validate a call of ``name`` and return its result type (raises PlanError or
    TypeMismatchError with a message the planner completes with the position)."""
    fn = tables()[0][name]
    n = len(arg_types)
    if not fn.min_args <= n <= fn.max_args:
        want = str(fn.min_args) if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
        raise PlanError(f"{name}() takes {want} arguments, got {n}")
    for i in fn.literals:
        if i < n and literal_values[i] is NOT_LITERAL:
            raise PlanError(f"argument {i + 1} of {name}() must be a literal")
    return fn.typing(arg_types, literal_values)


def need(ok: bool, message: str) -> None:
    """Raise TypeMismatchError(message) unless ``ok`` (for typing rules)."""
    if not ok:
        raise TypeMismatchError(message)
