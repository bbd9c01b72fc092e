"""Turning a parsed ``WINDOW ...`` clause into a :class:`~gpuvelo.sql.plan.WindowSpec`.

Accepted forms (durations in the result are milliseconds)::

    TUMBLING(ts, INTERVAL '1' MINUTE)        TUMBLING(1m)          TUMBLING(ts, 30s)
    SLIDING(ts, INTERVAL '10' MINUTE, INTERVAL '2' MINUTE)  -> hopping (size, advance)
    SESSION(ts, INTERVAL '30' SECOND)
    TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS)       (ksqlDB)
    HOPPING (SIZE 20 SECONDS, ADVANCE BY 5 SECONDS)          (ksqlDB)
    SESSION (30 SECONDS)                                     (ksqlDB)

A duration is ``[INTERVAL] n unit``, ``[INTERVAL] 'n' unit``, ``INTERVAL 'n unit'`` or ``n``
followed by a short suffix (``500ms``, ``30s``, ``1m``, ``1h``, ``1d``).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

from ..errors import PlanError
from .plan import WindowSpec

_MS = {"millisecond": 1, "ms": 1, "second": 1000, "sec": 1000, "s": 1000,
       "minute": 60_000, "min": 60_000, "m": 60_000, "hour": 3_600_000, "h": 3_600_000,
       "day": 86_400_000, "d": 86_400_000}
_KIND = {"TUMBLING": "tumbling", "HOPPING": "hopping", "SLIDING": "hopping", "SESSION": "session"}
# positional durations each kind takes, in order
_POSITIONAL = {"tumbling": ("size",), "hopping": ("size", "advance"), "session": ("gap",)}


def unit_ms(unit: str, token=None, sql: str | None = None) -> int:
    """Milliseconds in one ``unit`` (MILLISECOND(S) ... DAY(S), or ms/s/m/h/d)."""
    u = unit.lower()
    if u in _MS:
        return _MS[u]
    if u.endswith("s") and u[:-1] in _MS and len(u) > 2:
        return _MS[u[:-1]]
    raise PlanError(f"unknown time unit '{unit}' in WINDOW clause", **_pos(token, sql))


def _pos(token, sql: str | None) -> dict:
    if token is None or sql is None:
        return {}
    return {**position(sql, token.start), "sql": sql}


def position(sql: str, offset: int) -> dict:
    """``{'line': l, 'column': c}`` (1-based) of a character offset into ``sql``."""
    before = sql[:offset]
    return {"line": before.count("\n") + 1, "column": offset - (before.rfind("\n") + 1) + 1}


def where(node, sql: str) -> dict:
    """``line``/``column``/``sql`` keyword arguments for an error about ``node`` (the first
    token sqlglot recorded a position for), or just ``sql`` when none is known."""
    for n in node.walk() if isinstance(node, exp.Expression) else ():
        if "start" in n.meta:
            return {**position(sql, n.meta["start"]), "sql": sql}
    return {"sql": sql}


def _number(text: str, token, sql) -> float:
    try:
        return float(text)
    except ValueError:
        raise PlanError(f"expected a number in WINDOW duration, got '{text}'", **_pos(token, sql)) from None


def parse_duration(tokens, sql: str | None = None) -> int:
    """Milliseconds of a duration given as sqlglot tokens (see the module docstring)."""
    toks = list(tokens)
    if toks and toks[0].token_type == TokenType.INTERVAL:
        toks = toks[1:]
    sign = 1
    if toks and toks[0].token_type == TokenType.DASH:
        sign, toks = -1, toks[1:]
    if not toks:
        raise PlanError("empty duration in WINDOW clause", **_pos(tokens[0] if tokens else None, sql))
    first = toks[0]
    if len(toks) == 1 and first.token_type == TokenType.STRING and " " in first.text.strip():
        value, unit = first.text.split(None, 1)     # INTERVAL '1 minute'
        return round(sign * _number(value, first, sql) * unit_ms(unit.strip(), first, sql))
    if len(toks) != 2:
        text = " ".join(t.text for t in tokens)
        raise PlanError(f"cannot read duration '{text}' in WINDOW clause (expected e.g. "
                        "INTERVAL '1' MINUTE, 10 SECONDS or 30s)", **_pos(first, sql))
    return round(sign * _number(first.text, first, sql) * unit_ms(toks[1].text, toks[1], sql))


def _is_column(arg) -> bool:
    return len(arg) == 1 and arg[0].token_type not in (TokenType.NUMBER, TokenType.STRING)


def window_spec(node, sql: str) -> WindowSpec:
    """Build and check the WindowSpec of a :class:`~gpuvelo.sql.dialect.StreamWindow` node.

    Raises PlanError for a wrong number of durations, an unknown unit, a size or gap that is
    not positive, or an advance that is not positive or exceeds the size. (The time column
    is checked against the schema by the planner.)
    """
    kind_token = node.meta["token"]
    kind = _KIND[node.this.name]
    where = _pos(kind_token, sql)
    named: dict[str, int] = {}
    positional: list[int] = []
    time_column = None
    for i, arg in enumerate(node.meta["args"]):
        words = [t.text.upper() for t in arg]
        if words[:1] == ["SIZE"]:
            named["size"] = parse_duration(arg[1:], sql)
        elif words[:2] == ["ADVANCE", "BY"]:
            named["advance"] = parse_duration(arg[2:], sql)
        elif words[:2] == ["GRACE", "PERIOD"]:
            named["grace"] = parse_duration(arg[2:], sql)
        elif i == 0 and _is_column(arg):
            time_column = arg[0].text
        else:
            positional.append(parse_duration(arg, sql))
    slots = _POSITIONAL[kind]
    if len(positional) > len(slots):
        raise PlanError(f"WINDOW {node.this.name} takes {len(slots)} duration(s) "
                        f"({', '.join(slots)}), got {len(positional)}", **where)
    for slot, value in zip(slots, positional):
        if slot in named:
            raise PlanError(f"WINDOW {node.this.name} gives its {slot} twice", **where)
        named[slot] = value
    missing = [s for s in slots if s not in named]
    if missing:
        raise PlanError(f"WINDOW {node.this.name} needs a {missing[0]}", **where)
    for slot in ("size", "gap"):
        if slot in named and named[slot] <= 0:
            raise PlanError(f"WINDOW {node.this.name} {slot} must be positive, got {named[slot]} ms", **where)
    if kind == "hopping" and not 0 < named["advance"] <= named["size"]:
        raise PlanError(f"WINDOW {node.this.name} advance must be positive and at most the size "
                        f"({named['size']} ms), got {named['advance']} ms", **where)
    if named.get("grace", 0) < 0:
        raise PlanError("WINDOW GRACE PERIOD must not be negative", **where)
    if set(named) - set(slots) - {"grace"}:
        extra = sorted(set(named) - set(slots) - {"grace"})[0]
        raise PlanError(f"WINDOW {node.this.name} does not take {extra.upper()}", **where)
    return WindowSpec(kind=kind, time_column=time_column, size_ms=named.get("size"),
                      advance_ms=named.get("advance"), gap_ms=named.get("gap"),
                      grace_ms=named.get("grace"))
