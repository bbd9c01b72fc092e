"""Compile plan expressions (``gpuvelo.sql.plan``) once into closures over an array namespace.

A compiled expression takes a mapping name -> :class:`Col` and returns a Col of exactly the
node's ``dtype``. Names: ColumnRef(name) -> ``name``; KeyRef(i) -> ``k{i}``; AggRef(j) ->
``a{j}``; WindowRef -> ``window_start`` / ``window_end``. Numeric work uses only functions
NumPy and CuPy share; string work runs on the host-side dictionaries (see ``strings.py``).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrowcol import arrow_to_col
from ..columns import Col
from ..errors import NotSupportedError, UnknownColumnError
from ..sql import plan as P
from ..types import BOOL, NULL, STRING, DType, from_arrow, timestamp, to_arrow
from . import intervals, numeric, strings, temporal, times
from .cast import cast_col, try_cast_col
from .compare import compare
from .core import and_valid, describe, null_col, truth

Fn = Callable[["Env"], Col]

# Catalogue functions (``gpuvelo.sql.functions``): op -> impl(xp, call, cols, n) -> Col.
_FUNCTIONS = {**numeric.FUNCTIONS, **strings.FUNCTIONS, **temporal.FUNCTIONS,
              **intervals.FUNCTIONS, **times.FUNCTIONS}


class Env:
    """What a compiled closure evaluates against: the input columns and the row count."""

    __slots__ = ("cols", "n")

    def __init__(self, cols: Mapping[str, Col], n: int):
        self.cols, self.n = cols, n


def _rows(cols: Mapping[str, Col], n: int | None) -> int:
    if n is not None:
        return n
    for c in cols.values():
        return len(c)
    return 1


def compile_expr(expr: P.Expr, xp=np) -> Callable[..., Col]:
    """Compile ``expr``; the result ``f(cols, n=None)`` evaluates it over a mapping of Cols
    (``n``: row count, needed only when ``cols`` is empty)."""
    fn = _compile(expr, xp)

    def run(cols: Mapping[str, Col], n: int | None = None) -> Col:
        with np.errstate(all="ignore"):
            out = fn(Env(cols, _rows(cols, n)))
        valid = None if out.valid is None else xp.ascontiguousarray(out.valid)
        return Col(xp.ascontiguousarray(out.data), valid, out.dtype, out.dictionary)

    return run


def compile_predicate(expr: P.Expr, xp=np) -> Callable[..., object]:
    """Compile a boolean ``expr`` to ``f(cols, n=None)`` -> xp bool array, True only where
    the expression is TRUE (FALSE and NULL give False)."""
    fn = _compile(expr, xp)

    def run(cols: Mapping[str, Col], n: int | None = None):
        with np.errstate(all="ignore"):
            return xp.ascontiguousarray(truth(xp, fn(Env(cols, _rows(cols, n)))))

    return run


# --------------------------------------------------------------------------- tree walk
def _compile(e: P.Expr, xp) -> Fn:
    if isinstance(e, P.Call):
        fn = _call(e, xp)
    elif isinstance(e, P.Literal):
        fn = _literal(e, xp)
    elif isinstance(e, P.Case):
        fn = _case(e, xp)
    elif isinstance(e, P.Cast):
        arg, what = _compile(e.arg, xp), describe(e)
        convert = try_cast_col if e.safe else cast_col
        return lambda env: convert(xp, arg(env), e.dtype, what)
    elif isinstance(e, (P.ColumnRef, P.KeyRef, P.AggRef, P.WindowRef)):
        fn = _ref(_ref_name(e))
    else:
        raise NotSupportedError(f"cannot compile expression node {type(e).__name__}")
    return _conform(fn, e.dtype, xp, describe(e))


def _conform(fn: Fn, dtype: DType, xp, what: str) -> Fn:
    """Make sure the closure returns ``dtype`` (casts if a sub-computation's type differs)."""
    def run(env):
        out = fn(env)
        return out if out.dtype == dtype else cast_col(xp, out, dtype, what)
    return run


def _ref_name(e: P.Expr) -> str:
    if isinstance(e, P.ColumnRef):
        return e.name
    if isinstance(e, P.KeyRef):
        return f"k{e.index}"
    if isinstance(e, P.AggRef):
        return f"a{e.index}"
    return f"window_{e.which}"


def _ref(name: str) -> Fn:
    def run(env):
        try:
            return env.cols[name]
        except KeyError:
            raise UnknownColumnError(f"column {name!r} is not among the inputs "
                                     f"{sorted(env.cols)}") from None
    return run


def _literal(e: P.Literal, xp) -> Fn:
    d = e.dtype
    if e.value is None or d.is_null:
        return lambda env: null_col(xp, env.n, d)
    if d.is_string:
        dictionary = pa.array([str(e.value)], pa.string())
        code = xp.zeros(1, dtype=xp.int32)
        return lambda env: Col(xp.broadcast_to(code, (env.n,)), None, STRING, dictionary)
    host = _literal_host(e.value, d)
    one = xp.asarray(host.data)
    return lambda env: Col(xp.broadcast_to(one, (env.n,)), None, d)


def _literal_host(value, d: DType) -> Col:
    """A one-row host Col of ``value`` converted to ``d`` (exactly, for decimals; times of
    second or millisecond unit rounded from microseconds, as DuckDB casts)."""
    if d.kind == "timestamp" and d.unit in ("s", "ms"):
        fine = timestamp("us", d.tz)
        return cast_col(np, arrow_to_col(pa.array([value], to_arrow(fine)), fine), d, f"literal {value!r}")
    try:
        return arrow_to_col(pa.array([value], to_arrow(d)), d)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    src = pa.array([value])
    try:
        src_dtype = from_arrow(src.type)
    except Exception as exc:
        raise NotSupportedError(f"literal {value!r} cannot be typed {d}") from exc
    return cast_col(np, arrow_to_col(src, src_dtype), d, f"literal {value!r}")


# --------------------------------------------------------------------------- calls
_ARITH = ("add", "sub", "mul", "div", "mod")
_UNARY = ("neg", "abs", "round", "floor", "ceil")
_CMP = ("eq", "ne", "lt", "le", "gt", "ge")


def _call(e: P.Call, xp) -> Fn:
    op, what = e.op, describe(e)
    if op == "like":
        return _like(e, xp)
    if op == "in":
        return _in(e, xp)
    args = [_compile(a, xp) for a in e.args]
    if op in _ARITH:
        fa, fb = args
        return lambda env: numeric.binary(xp, op, e.dtype, fa(env), fb(env), what)
    if op in _UNARY:
        digits = _digits(e) if op == "round" else 0
        return lambda env: numeric.unary(xp, op, e.dtype, args[0](env), what, digits)
    if op in _CMP:
        fa, fb = args
        return lambda env: compare(xp, op, fa(env), fb(env), what)
    if op in ("and", "or"):
        return lambda env: _kleene(xp, op, [f(env) for f in args])
    if op == "not":
        return lambda env: _not(xp, args[0](env))
    if op in ("is_null", "is_not_null"):
        return lambda env: _is_null(xp, args[0](env), op == "is_null")
    if op == "between":
        fv, flo, fhi = args
        def between(env):
            v = fv(env)
            return _kleene(xp, "and", [compare(xp, "ge", v, flo(env), what),
                                       compare(xp, "le", v, fhi(env), what)])
        return between
    if op in ("lower", "upper"):
        f = pc.utf8_lower if op == "lower" else pc.utf8_upper
        return lambda env: strings.map_dictionary(xp, args[0](env), f)
    if op == "length":
        return lambda env: strings.length(xp, args[0](env))
    if op == "coalesce":
        return lambda env: _coalesce(xp, e.dtype, [f(env) for f in args], what)
    if op == "nullif":
        fa, fb = args
        def nullif(env):
            a = fa(env)
            same = truth(xp, compare(xp, "eq", a, fb(env), what))
            return Col(a.data, and_valid(a.valid, ~same), a.dtype, a.dictionary)
        return nullif
    impl = _FUNCTIONS.get(op)
    if impl is not None:
        return lambda env: impl(xp, e, [f(env) for f in args], env.n)
    raise NotSupportedError(f"function {op!r} is not supported (in {what})")


def _digits(e: P.Call) -> int:
    if len(e.args) < 2:
        return 0
    d = e.args[1]
    if not isinstance(d, P.Literal) or not isinstance(d.value, int):
        raise NotSupportedError(f"ROUND digits must be an integer literal (in {describe(e)})")
    return d.value


def _kleene(xp, op: str, cols: list[Col]) -> Col:
    """Three-valued AND / OR of boolean columns."""
    out_true = out_false = None
    for c in cols:
        v = c.data.astype(xp.bool_)
        t = v if c.valid is None else v & c.valid
        f = ~v if c.valid is None else ~v & c.valid
        if out_true is None:
            out_true, out_false = t, f
        elif op == "and":
            out_true, out_false = out_true & t, out_false | f
        else:
            out_true, out_false = out_true | t, out_false & f
    return Col(out_true, out_true | out_false, BOOL)


def _not(xp, c: Col) -> Col:
    return Col(~c.data.astype(xp.bool_), c.valid, BOOL)


def _is_null(xp, c: Col, want_null: bool) -> Col:
    n = len(c)
    if c.valid is None:
        return Col(xp.full(n, not want_null, dtype=xp.bool_), None, BOOL)
    return Col(~c.valid if want_null else c.valid.copy(), None, BOOL)


def _like(e: P.Call, xp) -> Fn:
    value, pattern = e.args[:2]
    escape = e.args[2].value if len(e.args) > 2 else None
    if not isinstance(pattern, P.Literal):
        raise NotSupportedError(f"LIKE needs a literal pattern (in {describe(e)})")
    fv = _compile(value, xp)
    if pattern.value is None or value.dtype.is_null or (len(e.args) > 2 and escape is None):
        return lambda env: null_col(xp, env.n, BOOL)
    return lambda env: (lambda v: Col(strings.like(xp, v, pattern.value, escape or None),
                                      v.valid, BOOL))(fv(env))


def _in(e: P.Call, xp) -> Fn:
    what = describe(e)
    fv = _compile(e.args[0], xp)
    items = e.args[1:]
    if e.args[0].dtype.is_string and all(isinstance(i, P.Literal) and isinstance(i.value, str)
                                         for i in items):
        values = [i.value for i in items]
        return lambda env: (lambda v: Col(strings.is_in(xp, v, values), v.valid, BOOL))(fv(env))
    value_type = e.args[0].dtype
    if len(items) > 4 and not value_type.is_string and all(
            isinstance(i, P.Literal) and i.dtype in (value_type, NULL) for i in items):
        return _in_values(fv, value_type, [i.value for i in items], xp)
    fitems = [_compile(i, xp) for i in items]

    def run(env):
        v = fv(env)
        return _kleene(xp, "or", [compare(xp, "eq", v, f(env), what) for f in fitems])
    return run


def _in_values(fv: Fn, d: DType, values: list, xp) -> Fn:
    """``x IN (many literals of x's type)`` in one membership pass (``xp.isin``) instead of
    one comparison per value: NULL where x is NULL, or where it matches nothing and the list
    holds a NULL; NaN matches NaN, as DuckDB compares."""
    present = [v for v in values if v is not None]
    has_null = len(present) < len(values)
    table = xp.asarray(arrow_to_col(pa.array(present, to_arrow(d)), d).data)
    nan = d.is_float and bool(np.isnan(np.asarray(present, dtype=np.float64)).any()) if present else False

    def run(env):
        v = fv(env)
        hit = xp.isin(v.data, table)
        if nan:
            hit = hit | xp.isnan(v.data)
        valid = v.valid
        if has_null:
            valid = hit if valid is None else valid & hit
        return Col(hit, valid, BOOL)
    return run


def _coalesce(xp, out: DType, cols: list[Col], what: str) -> Col:
    """First non-NULL argument per row (all arguments converted to ``out``)."""
    cols = [cast_col(xp, c, out, what) for c in cols]
    if out.is_string:
        dictionary, codes = strings.unify(xp, cols)
        cols = [Col(k, c.valid, out) for k, c in zip(codes, cols)]
    else:
        dictionary = None
    data, valid = cols[-1].data, cols[-1].valid
    for c in reversed(cols[:-1]):
        if c.valid is None:
            data, valid = c.data, None
            continue
        data = xp.where(c.valid, c.data, data)
        valid = None if valid is None else c.valid | valid
    return Col(data, valid, out, dictionary)


# --------------------------------------------------------------------------- CASE
_MAY_RAISE = _ARITH + ("neg", "abs", "round")


def _may_raise(e: P.Expr) -> bool:
    """Whether evaluating ``e`` on rows it does not apply to could raise (overflow, casts)."""
    if isinstance(e, P.Cast):
        return True
    if isinstance(e, P.Call):
        return e.op in _MAY_RAISE or any(_may_raise(a) for a in e.args)
    if isinstance(e, P.Case):
        return any(_may_raise(x) for w in e.whens for x in w) or _may_raise(e.else_)
    return False


def _masked(env: Env, rows) -> Env:
    """The same inputs with every row outside ``rows`` made NULL (so checks skip them)."""
    cols = {k: Col(c.data, rows if c.valid is None else c.valid & rows, c.dtype, c.dictionary)
            for k, c in env.cols.items()}
    return Env(cols, env.n)


def _case(e: P.Case, xp) -> Fn:
    out, what = e.dtype, describe(e)
    conds = [_compile(c, xp) for c, _ in e.whens]
    values = [(_compile(v, xp), _may_raise(v)) for _, v in e.whens]
    values.append((_compile(e.else_, xp), _may_raise(e.else_)))

    def run(env):
        taken_so_far = xp.zeros(env.n, dtype=xp.bool_)
        picks = []
        for cond in conds:
            t = truth(xp, cond(env)) & ~taken_so_far
            picks.append(t)
            taken_so_far = taken_so_far | t
        picks.append(~taken_so_far)
        results = []
        for (fv, risky), rows in zip(values, picks):
            results.append(cast_col(xp, fv(_masked(env, rows) if risky else env), out, what))
        if out.is_string:
            dictionary, codes = strings.unify(xp, results)
            results = [Col(k, r.valid, out) for k, r in zip(codes, results)]
        else:
            dictionary = None
        data = results[-1].data
        valid = results[-1].valid
        for r, rows in zip(reversed(results[:-1]), reversed(picks[:-1])):
            data = xp.where(rows, r.data, data)
            if valid is not None or r.valid is not None:
                rv = xp.ones(env.n, dtype=xp.bool_) if r.valid is None else r.valid
                cur = xp.ones(env.n, dtype=xp.bool_) if valid is None else valid
                valid = xp.where(rows, rv, cur)
        return Col(data, valid, out, dictionary)

    return run

