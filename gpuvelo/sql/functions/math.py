"""Numeric scalar functions: typing rules (implementations: ``gpuvelo.expr.numeric``).

Float functions (``sqrt cbrt exp ln log log2 log10 power sin cos tan asin acos atan atan2
radians degrees``) take any numbers and return FLOAT64 with IEEE results where DuckDB gives
them (``sqrt(-1)`` NaN, ``ln(0)`` -inf). ``log(x)`` is base 10, ``log(b, x)`` base ``b``.
``sign`` -> INT8; ``trunc(x[, digits])`` (toward zero) keeps floats and integers,
decimals -> DECIMAL(18, min(scale, digits));
``isnan isinf isfinite`` -> BOOL; ``greatest least`` -> the common type, NULLs ignored, NaN
largest; ``int_div`` (``a // b``): integers -> INT64 (UINT64 if both unsigned) truncated
toward zero, NULL for a zero divisor, any other numbers -> float division (FLOAT32
with FLOAT32 and no FLOAT64 operands, else FLOAT64, as DuckDB);
``pi()`` -> FLOAT64.
"""

from __future__ import annotations

from sqlglot import exp

from ...types import BOOL, FLOAT64, INT8, INT64, UINT64, decimal
from ..sqltypes import common_type, float_type
from . import Function, need

FLOAT_FUNCTIONS = {"sqrt": 1, "cbrt": 1, "exp": 1, "ln": 1, "log2": 1, "log10": 1,
                   "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1,
                   "radians": 1, "degrees": 1, "power": 2, "atan2": 2}


def _numbers(name):
    def check(types, _values):
        for t in types:
            need(t.is_numeric or t.is_null, f"{name}() needs numbers, got {t}")
    return check


def _float(name):
    check = _numbers(name)

    def typing(types, values):
        check(types, values)
        return FLOAT64
    return typing


def _sign(types, values):
    _numbers("sign")(types, values)
    return INT8


def _trunc(types, values):
    _numbers("trunc")(types, values)
    t = types[0]
    digits = 0
    if len(types) > 1:
        need(types[1].is_integer and isinstance(values[1], int),
             f"trunc() digits must be an integer, got {types[1]}")
        digits = values[1]
    return decimal(18, min(t.scale, max(digits, 0))) if t.is_decimal else t


def _float_test(name):
    def typing(types, values):
        _numbers(name)(types, values)
        return BOOL
    return typing


def _extreme(name):
    def typing(types, _values):
        try:
            return common_type(types)
        except Exception as err:
            need(False, f"{name}() arguments: {err.args[0]}")
    return typing


def _int_div(types, values):
    _numbers("//")(types, values)
    a, b = (t if not t.is_null else types[1 - i] for i, t in enumerate(types))
    if a.is_integer and b.is_integer:
        return UINT64 if a.is_unsigned_integer and b.is_unsigned_integer else INT64
    return float_type((a, b)) if a.is_float or b.is_float else FLOAT64


FUNCTIONS = {name: Function(name, n, n, _float(name)) for name, n in FLOAT_FUNCTIONS.items()}
FUNCTIONS.update({
    "log": Function("log", 1, 2, _float("log")),
    "sign": Function("sign", 1, 1, _sign),
    "trunc": Function("trunc", 1, 2, _trunc, literals=(1,)),
    "isnan": Function("isnan", 1, 1, _float_test("isnan")),
    "isinf": Function("isinf", 1, 1, _float_test("isinf")),
    "isfinite": Function("isfinite", 1, 1, _float_test("isfinite")),
    "greatest": Function("greatest", 1, 64, _extreme("greatest")),
    "least": Function("least", 1, 64, _extreme("least")),
    "int_div": Function("int_div", 2, 2, _int_div),
    "pi": Function("pi", 0, 0, lambda types, values: FLOAT64),
})

NODES = {
    exp.Sqrt: ("sqrt", ("this",)), exp.Cbrt: ("cbrt", ("this",)), exp.Exp: ("exp", ("this",)),
    exp.Ln: ("ln", ("this",)), exp.Log: ("log", ("this", "expression")),
    exp.Pow: ("power", ("this", "expression")), exp.Sign: ("sign", ("this",)),
    exp.Trunc: ("trunc", ("this", "decimals")), exp.IsNan: ("isnan", ("this",)),
    exp.IsInf: ("isinf", ("this",)), exp.Greatest: ("greatest", ("this", "expressions")),
    exp.Least: ("least", ("this", "expressions")), exp.IntDiv: ("int_div", ("this", "expression")),
    exp.Pi: ("pi", ()), exp.Radians: ("radians", ("this",)), exp.Degrees: ("degrees", ("this",)),
    exp.Sin: ("sin", ("this",)), exp.Cos: ("cos", ("this",)), exp.Tan: ("tan", ("this",)),
    exp.Asin: ("asin", ("this",)), exp.Acos: ("acos", ("this",)), exp.Atan: ("atan", ("this",)),
    exp.Atan2: ("atan2", ("this", "expression")),
}

ALIASES = {"pow": "power", "signum": "sign"}
