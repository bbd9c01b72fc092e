"""The SQL typing rules: the result DType of every plan operator, in one place.

The planner types every :class:`~gpuvelo.sql.plan.Call` with :func:`result_type`; the
expression compiler follows the same rules (it reads ``dtype`` off the plan).
"""

from __future__ import annotations

from ..errors import NotSupportedError, PlanError, TypeMismatchError
from ..types import (BOOL, DATE, FLOAT32, FLOAT64, INT64, NULL, STRING, TIME, UINT64, DType,
                     decimal, interval, timestamp)

ARITHMETIC = ("add", "sub", "mul", "div", "mod")
COMPARISON = ("eq", "ne", "lt", "le", "gt", "ge")
PREDICATES = COMPARISON + ("and", "or", "not", "is_null", "is_not_null", "in", "between", "like")
MAX_DECIMAL_SCALE = 18
MAX_DECIMAL_PRECISION = 18   # decimals are int64 scaled by 10**scale
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")   # coarsest to finest


def _scale(t: DType) -> int:
    return t.scale if t.is_decimal else 0


def float_type(types) -> DType:
    """The float type of an operation over ``types`` that involves a float (DuckDB):
    FLOAT32 when every float among them is a FLOAT32 (integers and decimals join it),
    else FLOAT64."""
    return FLOAT64 if any(t == FLOAT64 for t in types) else FLOAT32


def comparable(a: DType, b: DType) -> bool:
    """True when values of types ``a`` and ``b`` may be compared (=, <, IN, BETWEEN)."""
    if a.is_null or b.is_null:
        return True
    if a.is_numeric and b.is_numeric:
        return True
    if a.is_temporal and b.is_temporal:
        return True
    return a.kind == b.kind   # bool with bool, string with string, interval with interval


def joined_split(splits) -> str | None:
    """The ``split`` of an INTERVAL holding values of intervals with these splits (CASE,
    COALESCE): 'short' values fit any split; different others: unknown (None)."""
    rest = {s for s in splits if s != "short"}
    if not rest:
        return "short"
    return rest.pop() if len(rest) == 1 else None


def summed_split(a: str | None, b: str | None) -> str | None:
    """The ``split`` of the fieldwise sum (or product with an integer) of intervals: all
    time when neither has days, else unknown (days + days may pass a day of time)."""
    return "time" if a in ("time", "short") and b in ("time", "short") else None


def common_type(types) -> DType:
    """The common supertype of CASE branches / COALESCE / NULLIF arguments.

    NULL fits anything; all-integer -> INT64 (UINT64 if all unsigned), unless all the same
    type; any float -> FLOAT64 (FLOAT32 if every float is a FLOAT32, as DuckDB); integers with decimals -> DECIMAL(18, max scale); dates
    with timestamps -> the finest timestamp unit (with a time zone if any has one, as
    DuckDB); bool, string only with their own kind.
    Raises TypeMismatchError (without position; the caller adds it) otherwise.
    """
    ts = [t for t in types if not t.is_null]
    if not ts:
        return NULL
    if all(t == ts[0] for t in ts):
        return ts[0]
    if all(t.is_numeric for t in ts):
        if any(t.is_float for t in ts):
            return float_type(ts)
        if any(t.is_decimal for t in ts):
            return decimal(18, max(_scale(t) for t in ts))
        return UINT64 if all(t.is_unsigned_integer for t in ts) else INT64
    if all(t.is_interval for t in ts):
        return interval(joined_split(t.split for t in ts))
    if all(t.is_temporal for t in ts):
        stamps = [t for t in ts if t.kind == "timestamp"]
        if not stamps:
            return DATE
        unit = max((t.unit for t in stamps), key=TIMESTAMP_UNITS.index)   # the finest
        return timestamp(unit, next((t.tz for t in stamps if t.tz), None))
    raise TypeMismatchError("values of types " + ", ".join(sorted({str(t) for t in ts}))
                            + " have no common type")


def shifted_type(t: DType) -> DType:
    """The type of ``t`` (DATE or TIMESTAMP) plus an INTERVAL, as DuckDB: TIMESTAMP_NS stays
    ns, DATE and the other timestamps become TIMESTAMP(us); the time zone is kept."""
    if t.kind == "timestamp" and t.unit == "ns":
        return t
    return timestamp("us", t.tz if t.kind == "timestamp" else None)


def _interval_arithmetic(op: str, a: DType, b: DType) -> DType:
    """DuckDB's arithmetic with an INTERVAL operand (the other may be NULL): moments plus or
    minus intervals, intervals plus or minus intervals, intervals times or divided by
    numbers. Each result's ``split`` follows DuckDB's fieldwise arithmetic (see types)."""
    where = f"arithmetic '{op}' of {a} and {b} is not defined"
    a_iv, b_iv = a.is_interval, b.is_interval
    other = b if a_iv else a
    if op in ("add", "sub") and other.is_temporal:
        if op == "sub" and b.is_temporal:     # INTERVAL - DATE / TIMESTAMP
            raise TypeMismatchError(where)
        return shifted_type(other)
    if op in ("add", "sub"):
        if other.is_null:
            return a if a_iv else b
        if not (a_iv and b_iv):
            raise TypeMismatchError(f"{where} (an INTERVAL adds to an INTERVAL, a DATE or a TIMESTAMP)")
        return interval(summed_split(a.split, b.split))
    if op == "mul" or (op == "div" and a_iv and not b_iv):
        iv, factor = (a, b) if a_iv else (b, a)
        if factor.is_interval or not (factor.is_numeric or factor.is_null):
            raise TypeMismatchError(f"{where} (an INTERVAL multiplies with or divides by a number)")
        if op == "mul" and (factor.is_integer or factor.is_null):
            return interval(summed_split(iv.split, iv.split))   # exact, fieldwise
        if iv.split is None:   # DuckDB scales days and time apart, rounding each
            raise NotSupportedError(f"{where}: gpuvelo cannot scale an INTERVAL whose days "
                                    "and time are not apart (a sum or multiple of day "
                                    "intervals) by a fraction; multiply by an integer")
        return interval("time" if iv.split in ("time", "short") else None)
    raise TypeMismatchError(where)


def _temporal_arithmetic(op: str, a: DType, b: DType) -> DType:
    """DuckDB's arithmetic with a DATE or TIMESTAMP operand (the other may be NULL): days
    added to or subtracted from dates, the days between two dates; the difference of two
    moments at least one of them a TIMESTAMP is an INTERVAL (days, then the rest)."""
    where = f"'{op}' of {a} and {b}"
    if op not in ("add", "sub"):
        raise TypeMismatchError(f"arithmetic {where} is not defined")
    if op == "sub" and b.is_temporal:
        if not (a.is_temporal or a.is_null):
            raise TypeMismatchError(f"arithmetic {where} is not defined")
        if a.kind == "timestamp" or b.kind == "timestamp":
            return interval("days")
        return INT64                  # DATE - DATE: days
    date, other = (a, b) if a.is_temporal else (b, a)
    if other.is_null:
        return date                   # DuckDB reads the NULL as an INTERVAL or a day count
    if date.kind == "timestamp":
        raise TypeMismatchError(f"arithmetic {where} is not defined; add an INTERVAL to a "
                                "timestamp (ts + INTERVAL (n) SECOND)")
    if not other.is_integer:
        raise TypeMismatchError(f"arithmetic {where} is not defined (a DATE takes an integer "
                                "number of days)")
    return DATE


def _time_arithmetic(op: str, a: DType, b: DType) -> DType:
    """DuckDB's arithmetic with a TIME operand: ``TIME ± INTERVAL``, ``INTERVAL + TIME`` ->
    TIME (wrapping around midnight); ``DATE + TIME``, ``TIME + DATE`` -> TIMESTAMP. Nothing
    else (no ``TIME - TIME``, and ``TIME + NULL`` is ambiguous in DuckDB)."""
    if op in ("add", "sub") and a.is_time and b.is_interval:
        return TIME
    if op == "add" and a.is_interval and b.is_time:
        return TIME
    if op == "add" and {a.kind, b.kind} == {"date", "time"}:
        return timestamp("us")
    raise TypeMismatchError(f"arithmetic '{op}' of {a} and {b} is not defined (a TIME adds "
                            "or subtracts an INTERVAL, or adds to a DATE)")


def _arithmetic(op: str, a: DType, b: DType) -> DType:
    if a.is_time or b.is_time:
        return _time_arithmetic(op, a, b)
    if a.is_interval or b.is_interval:
        return _interval_arithmetic(op, a, b)
    if a.is_temporal or b.is_temporal:
        return _temporal_arithmetic(op, a, b)
    if a.is_null:
        a = b
    if b.is_null:
        b = a
    if a.is_null:           # NULL op NULL
        return NULL
    if not (a.is_numeric and b.is_numeric):
        raise TypeMismatchError(f"arithmetic '{op}' needs numbers, got {a} and {b}")
    if a.is_float or b.is_float:
        return float_type((a, b))
    if op == "div":
        return FLOAT64
    if a.is_decimal or b.is_decimal:
        scale = _scale(a) + _scale(b) if op == "mul" else max(_scale(a), _scale(b))
        if scale > MAX_DECIMAL_SCALE:
            raise PlanError(f"decimal result scale {scale} exceeds {MAX_DECIMAL_SCALE}")
        return decimal(18, scale)
    return UINT64 if a.is_unsigned_integer and b.is_unsigned_integer else INT64


def result_type(op: str, arg_types, digits: int = 0) -> DType:
    """The result type of ``Call(op, args)`` given the argument types.

    * ``add sub mul mod``: integers -> INT64 (UINT64 if both unsigned); any float -> FLOAT64
      (FLOAT32 when the floats are FLOAT32: computed in single precision, as DuckDB);
      decimal with decimal/int -> DECIMAL(18, max scale), for ``mul`` DECIMAL(18, s1 + s2)
      (PlanError above scale 18); decimal with float -> the float type. ``div`` -> FLOAT64
      (FLOAT32 with a FLOAT32 and no FLOAT64 operand).
      A NULL operand takes the other operand's type. Non-numbers -> TypeMismatchError.
    * dates (DuckDB): ``DATE ± integer``, ``integer + DATE`` -> DATE; ``DATE - DATE`` ->
      BIGINT (days); a NULL operand counts as the integer (``NULL - DATE`` as a DATE), with
      a TIMESTAMP as an interval (``ts ± NULL`` -> the TIMESTAMP). ``TIMESTAMP - TIMESTAMP``
      or ``- DATE`` (either side a TIMESTAMP) -> INTERVAL (split 'days'); other arithmetic
      on temporal values -> TypeMismatchError.
    * intervals (DuckDB): ``DATE/TIMESTAMP ± INTERVAL``, ``INTERVAL + DATE/TIMESTAMP`` ->
      :func:`shifted_type`; ``INTERVAL ± INTERVAL``, ``INTERVAL * number``, ``number *
      INTERVAL``, ``INTERVAL / number`` -> INTERVAL; anything else -> TypeMismatchError.
    * ``neg``: the argument's type (numbers and intervals); ``abs``: numbers only.
    * ``round floor ceil``: float -> same type; integer -> same type (ROUND of an unsigned
      integer -> INT64, as DuckDB); decimal ->
      DECIMAL(18, digits) for round (``digits`` = the digits literal, default 0) and
      DECIMAL(18, 0) for floor/ceil.
    * comparisons, ``and or not is_null is_not_null in between like`` -> BOOL.
    * ``lower upper`` -> STRING, ``length`` -> INT64 (strings only).
    * ``coalesce nullif`` -> :func:`common_type` of the arguments (nullif: of the first).
    """
    types = list(arg_types)
    if op in ARITHMETIC:
        return _arithmetic(op, types[0], types[1])
    if op in PREDICATES:
        return BOOL
    if op in ("neg", "abs", "round", "floor", "ceil"):
        (t,) = types[:1]
        if op == "neg" and t.is_interval:
            return t
        if not (t.is_numeric or t.is_null):
            raise TypeMismatchError(f"'{op}' needs a number, got {t}")
        if t.is_decimal and op != "neg" and op != "abs":
            return decimal(18, max(digits, 0) if op == "round" else 0)
        if op == "round" and t.is_unsigned_integer:
            return INT64       # DuckDB: rounding up may leave the unsigned type's range
        return t
    if op in ("lower", "upper", "length"):
        t = types[0]
        if not (t.is_string or t.is_null):
            raise TypeMismatchError(f"'{op}' needs a string, got {t}")
        return INT64 if op == "length" else STRING
    if op == "coalesce":
        return common_type(types)
    if op == "nullif":
        common_type(types)   # the two must be comparable
        return types[0]
    raise PlanError(f"no typing rule for operator '{op}'")
