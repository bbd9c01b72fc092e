"""gpuvelo's logical types: a small, backend-neutral description of a column's SQL type.

The SQL planner reasons in these types (no arrays); backends and I/O convert them to and
from Arrow with :func:`from_arrow` and :func:`to_arrow`.

Physical representation every backend uses for a column of each kind (see ``expr.columns.Col``):

=========== ================================================ ==========================
kind        data array                                       notes
=========== ================================================ ==========================
bool        bool                                             
int8..64    int8..int64                                      
uint8..64   uint8..uint64                                    
float32/64  float32 / float64                                
decimal     int64, the value scaled by 10**scale             precision <= 18 exactly
string      int32 codes into a host-side dictionary          dictionary: pyarrow string array
timestamp   int64 ticks of ``unit`` since the epoch          unit: s, ms, us, ns; tz kept
date        int32 days since the epoch                       
interval    int64 microseconds                               split: see below
time        int64 microseconds since midnight                0 <= value < 86_400_000_000
null        bool (all invalid)                               type of a bare NULL literal
list        int32 row codes into a host-side list array      dictionary: pyarrow ListArray
unsupported (none: never converted)                          ``arrow``: the Arrow type
=========== ================================================ ==========================

An INTERVAL (a timestamp difference, ``INTERVAL 90 MINUTE``, an Arrow duration of any unit)
is a number of microseconds: intervals with months are refused where they would be values.
DuckDB keeps an interval's days apart from its microseconds (``to_hours(25)`` prints as
``25:00:00``, a 25-hour timestamp difference as ``1 day 01:00:00``; they compare equal), so
the type records statically how its values split, ``split``: ``'days'`` (whole days, then
the rest, both with the value's sign: timestamp differences, ``to_days``), ``'time'``
(everything in microseconds: ``to_hours`` ..., Arrow durations), ``'short'`` (under a day
and no days: fits both; literals), or None (unknown: sums of day intervals, ...). Only
text casts and the day / time-of-day parts depend on it; they refuse a None split.

A TIME (time of day, DuckDB's TIME) reads Arrow time32 (s, ms) and time64 (us) and is
written as time64('us'); time64('ns') (DuckDB's TIME_NS, which keeps the nanoseconds) stays
``unsupported``.

A source column of a type gpuvelo cannot compute on (binary, time64[ns], Arrow interval,
struct, list, map, ...) gets kind ``unsupported``: a query that does not read it runs as
if the column were absent; one that reads it is refused with a NotSupportedError naming
the column and its Arrow type.
"""

from __future__ import annotations

from dataclasses import dataclass

INT_KINDS = ("int8", "int16", "int32", "int64")
UINT_KINDS = ("uint8", "uint16", "uint32", "uint64")
FLOAT_KINDS = ("float32", "float64")
_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16,
         "uint32": 32, "uint64": 64, "float32": 32, "float64": 64}


@dataclass(frozen=True)
class DType:
    """A logical column type. ``kind`` is one of the names in the module docstring."""

    kind: str
    unit: str | None = None        # timestamp unit
    tz: str | None = None          # timestamp time zone
    precision: int | None = None   # decimal
    scale: int | None = None       # decimal
    arrow: str | None = None       # unsupported: the Arrow type, for error messages
    split: str | None = None       # interval: how values split into days and time (above)
    # unsupported STRUCT: its fields as (name, DType) pairs -- a query reads them as columns
    fields: tuple[tuple[str, "DType"], ...] | None = None
    element: "DType | None" = None  # list: the elements' type (see list_of)

    # -- predicates -------------------------------------------------------------------
    @property
    def is_integer(self) -> bool:
        return self.kind in INT_KINDS or self.kind in UINT_KINDS

    @property
    def is_signed_integer(self) -> bool:
        return self.kind in INT_KINDS

    @property
    def is_unsigned_integer(self) -> bool:
        return self.kind in UINT_KINDS

    @property
    def is_float(self) -> bool:
        return self.kind in FLOAT_KINDS

    @property
    def is_decimal(self) -> bool:
        return self.kind == "decimal"

    @property
    def is_numeric(self) -> bool:
        """Integers, floats and decimals (bool is not numeric)."""
        return self.is_integer or self.is_float or self.is_decimal

    @property
    def is_string(self) -> bool:
        return self.kind == "string"

    @property
    def is_temporal(self) -> bool:
        return self.kind in ("timestamp", "date")

    @property
    def is_interval(self) -> bool:
        return self.kind == "interval"

    @property
    def is_time(self) -> bool:
        """A TIME (time of day): microseconds since midnight."""
        return self.kind == "time"

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def is_null(self) -> bool:
        return self.kind == "null"

    @property
    def is_list(self) -> bool:
        """A LIST (an aggregate's result only: see :func:`list_of`)."""
        return self.kind == "list"

    @property
    def is_unsupported(self) -> bool:
        """A source column's type gpuvelo cannot read (see the module docstring)."""
        return self.kind == "unsupported"

    @property
    def bits(self) -> int | None:
        return _BITS.get(self.kind)

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        if self.kind == "timestamp":
            return f"TIMESTAMP({self.unit}{', ' + self.tz if self.tz else ''})"
        if self.kind == "unsupported":
            return f"unsupported type {self.arrow}"
        if self.kind == "interval":
            return "INTERVAL"
        if self.kind == "list":
            return f"{self.element}[]"
        return self.kind.upper()


BOOL = DType("bool")
INT8, INT16, INT32, INT64 = (DType(k) for k in INT_KINDS)
UINT8, UINT16, UINT32, UINT64 = (DType(k) for k in UINT_KINDS)
FLOAT32, FLOAT64 = DType("float32"), DType("float64")
STRING = DType("string")
DATE = DType("date")
TIME = DType("time")
NULL = DType("null")


def timestamp(unit: str = "us", tz: str | None = None) -> DType:
    """A timestamp type with the given unit ('s', 'ms', 'us', 'ns')."""
    return DType("timestamp", unit=unit, tz=tz)


def decimal(precision: int, scale: int) -> DType:
    """A decimal type; gpuvelo computes on it exactly as int64 scaled by 10**scale."""
    return DType("decimal", precision=precision, scale=scale)


INTERVAL_SPLITS = ("days", "time", "short")


def interval(split: str | None = "time") -> DType:
    """An INTERVAL type (int64 microseconds); ``split``: how DuckDB would hold its values as
    days and microseconds (module docstring)."""
    return DType("interval", split=split)


def list_of(element: DType) -> DType:
    """The LIST type of ``LIST(x)`` / ``ARRAY_AGG(x)`` results (``element``: x's type). It is an
    output type only: results hold it (Arrow ``list<element>``), no expression computes on it,
    and a source column of an Arrow list type stays ``unsupported``."""
    return DType("list", element=element)


def unsupported(arrow_type) -> DType:
    """The DType of a column whose Arrow type gpuvelo cannot compute on (a STRUCT keeps its
    fields' types: ``user.country`` reads one)."""
    import pyarrow as pa

    fields = tuple((f.name, from_arrow(f.type)) for f in arrow_type) \
        if pa.types.is_struct(arrow_type) else None
    return DType("unsupported", arrow=str(arrow_type), fields=fields)


def from_arrow(t) -> DType:
    """Convert a pyarrow DataType to a DType (a duration of any unit: an INTERVAL held in
    microseconds, as DuckDB reads it; a time32 / time64[us]: a TIME); other types (binary,
    time64[ns], nested, decimals of a scale outside 0..18, ...) give an :func:`unsupported` DType, refused when
    a query reads the column."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return BOOL
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if pa.types.is_float16(t):
            return FLOAT32
        if pa.types.is_float32(t):
            return FLOAT32
        return FLOAT64 if pa.types.is_float64(t) else DType(str(t))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STRING
    if pa.types.is_timestamp(t):
        return timestamp(t.unit, t.tz)
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return DATE
    if pa.types.is_decimal(t):
        if t.scale > 18 or t.scale < 0:
            return unsupported(t)
        return decimal(min(t.precision, 38), t.scale)   # decimal256: results as decimal128
    if pa.types.is_null(t):
        return NULL
    if pa.types.is_duration(t):
        return interval("time")
    if pa.types.is_time(t) and t.unit != "ns":
        return TIME
    return unsupported(t)


def to_arrow(d: DType):
    """Convert a DType to the pyarrow DataType gpuvelo produces for it in results."""
    import pyarrow as pa

    if d.kind == "bool":
        return pa.bool_()
    if d.kind in _BITS:
        return {"float32": pa.float32(), "float64": pa.float64()}.get(d.kind) or getattr(pa, d.kind)()
    if d.kind == "string":
        return pa.string()
    if d.kind == "timestamp":
        return pa.timestamp(d.unit, d.tz)
    if d.kind == "date":
        return pa.date32()
    if d.kind == "decimal":
        return pa.decimal128(d.precision, d.scale)
    if d.kind == "interval":
        return pa.duration("us")
    if d.kind == "time":
        return pa.time64("us")
    if d.kind == "list":
        return pa.list_(to_arrow(d.element))
    return pa.null()
