"""The SQL room: gpuvelo's dialect, parsing, validation against a schema, planning, EXPLAIN."""

from .dialect import Gpuvelo
from .explain import explain
from .parse import ParsedQuery, parse_query
from .plan import QueryPlan, WindowSpec
from .planner import plan_query
from .sqltypes import result_type

__all__ = ["Gpuvelo", "ParsedQuery", "QueryPlan", "WindowSpec", "explain", "parse_query",
           "plan_query", "result_type"]
