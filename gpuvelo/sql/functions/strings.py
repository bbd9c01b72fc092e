"""String scalar functions: typing rules (implementations: ``gpuvelo.expr.strings``).

Semantics are DuckDB's; positions and lengths count Unicode code points, 1-based:

* ``trim ltrim rtrim (s[, chars])``: without ``chars``, Unicode space separators (Zs) are
  trimmed -- not tabs or newlines, as in DuckDB;
* ``substring/substr (s, start[, length])`` (negative ``start`` counts from the end, a
  negative ``length`` goes backwards, ``start`` 0 is one before the first character),
  ``left right (s, n)`` (negative ``n``: all but the last/first ``-n``);
* ``concat(a, ...)`` skips NULL arguments (never NULL); ``a || b`` is NULL if either side
  is; ``concat_ws(sep, a, ...)`` skips NULL arguments and their separators. Non-string
  arguments of these three are converted as ``CAST(x AS VARCHAR)``;
* ``starts_with/prefix ends_with/suffix contains`` -> BOOL; ``strpos/instr/position``
  -> INT64 (0 when absent); ``replace reverse repeat lpad rpad split_part``;
* ``regexp_matches regexp_full_match (s, pattern[, options])`` -> BOOL,
  ``regexp_replace(s, pattern, replacement[, options])`` (first match unless option ``g``)
  and ``regexp_extract(s, pattern[, group[, options]])`` (the first match's capture group
  0..9, '' when nothing matches or the group does not exist);
  options: ``c i l m n p s`` (and ``g`` for regexp_replace); ``s ILIKE pattern``;
* ``strlen/octet_length`` (bytes) -> INT64, ``ascii`` (first code point) -> INT32,
  ``md5 sha256`` -> lower-case hex.

Every argument but the first string (and every argument of concat, ``||`` and concat_ws
but the separator) must be a literal: characters, positions, counts, patterns, options.
"""

from __future__ import annotations

from sqlglot import exp

from ...errors import PlanError
from ...types import BOOL, INT32, INT64, STRING
from . import Function, need, rewrite

MAX_POSITION = 2**32 - 1            # DuckDB's substring offsets/lengths lie in [-2**32, 2**32)
REGEX_OPTIONS = "cilmnps"           # 'g' (global) is for regexp_replace only

# Argument kinds: "s" a string, "i" an integer, "*" anything (converted to a string).
_KINDS = {"s": ("a string", lambda t: t.is_string), "i": ("an integer", lambda t: t.is_integer),
          "*": ("any value", lambda t: True)}


def _typed(name, kinds, result, extra=None):
    """A typing rule: argument ``i`` must be of kind ``kinds[i]`` (the last kind repeats) or
    NULL; ``extra(values)`` checks literal values."""
    def typing(types, values):
        for i, t in enumerate(types):
            what, ok = _KINDS[kinds[min(i, len(kinds) - 1)]]
            need(t.is_null or ok(t), f"argument {i + 1} of {name}() must be {what}, got {t}")
        if extra is not None:
            extra(values)
        return result
    return typing


def _positions(name, *indexes):
    """Literal positions/lengths must lie in DuckDB's supported range."""
    def check(values):
        for i in indexes:
            v = values[i] if i < len(values) else None
            if v is not None and not -MAX_POSITION - 1 <= v <= MAX_POSITION:
                raise PlanError(f"{name}() position or length {v} is outside the supported range")
    return check


def regex_options(name: str, options: str | None, allow_global: bool = False) -> None:
    """Raise PlanError unless ``options`` are DuckDB regex options valid for ``name``."""
    for ch in options or "":
        if ch == "g" and allow_global:
            continue
        if ch == "g":
            raise PlanError(f"option 'g' (global replace) is only valid for regexp_replace, in {name}()")
        if ch not in REGEX_OPTIONS:
            raise PlanError(f"unrecognized regex option {ch!r} in {name}()")


def _regex(name, options_at, allow_global=False):
    def check(values):
        if len(values) > options_at:
            regex_options(name, values[options_at], allow_global)
    return check


def _extract_group(values):
    group = values[2] if len(values) > 2 else 0
    if not (isinstance(group, int) and 0 <= group <= 9):
        raise PlanError(f"regexp_extract() group must be an integer between 0 and 9, got {group}")
    _regex("regexp_extract", 3)(values)


def _fn(name, min_args, max_args, kinds, result, literals=(), extra=None):
    return Function(name, min_args, max_args, _typed(name, kinds, result, extra), literals)


MANY = 1024   # the most arguments concat / concat_ws take

FUNCTIONS = {f.name: f for f in (
    _fn("trim", 1, 2, "ss", STRING, (1,)),
    _fn("ltrim", 1, 2, "ss", STRING, (1,)),
    _fn("rtrim", 1, 2, "ss", STRING, (1,)),
    _fn("substring", 2, 3, "sii", STRING, (1, 2), _positions("substring", 1, 2)),
    _fn("left", 2, 2, "si", STRING, (1,), _positions("left", 1)),
    _fn("right", 2, 2, "si", STRING, (1,), _positions("right", 1)),
    _fn("concat", 1, MANY, "*", STRING),
    _fn("||", 2, 2, "*", STRING),
    _fn("concat_ws", 2, MANY, "s*", STRING, (0,)),
    _fn("starts_with", 2, 2, "ss", BOOL, (1,)),
    _fn("ends_with", 2, 2, "ss", BOOL, (1,)),
    _fn("contains", 2, 2, "ss", BOOL, (1,)),
    _fn("strpos", 2, 2, "ss", INT64, (1,)),
    _fn("replace", 3, 3, "sss", STRING, (1, 2)),
    _fn("reverse", 1, 1, "s", STRING),
    _fn("repeat", 2, 2, "si", STRING, (1,)),
    _fn("lpad", 3, 3, "sis", STRING, (1, 2)),
    _fn("rpad", 3, 3, "sis", STRING, (1, 2)),
    _fn("split_part", 3, 3, "ssi", STRING, (1, 2)),
    _fn("regexp_matches", 2, 3, "s", BOOL, (1, 2), _regex("regexp_matches", 2)),
    _fn("regexp_full_match", 2, 3, "s", BOOL, (1, 2), _regex("regexp_full_match", 2)),
    _fn("regexp_replace", 3, 4, "s", STRING, (1, 2, 3), _regex("regexp_replace", 3, True)),
    _fn("regexp_extract", 2, 4, "ssis", STRING, (1, 2, 3), _extract_group),
    _fn("ilike", 2, 2, "ss", BOOL, (1,)),
    _fn("strlen", 1, 1, "s", INT64),
    _fn("ascii", 1, 1, "s", INT32),
    _fn("md5", 1, 1, "s", STRING),
    _fn("sha256", 1, 1, "s", STRING),
)}

# Keys a DuckDB call never fills (``zero_start``, ``position``...) are listed so that their
# presence fails the arity check instead of being dropped.
NODES = {
    exp.Trim: ("trim", ("this", "expression")),
    exp.Substring: ("substring", ("this", "start", "length", "zero_start")),
    exp.Left: ("left", ("this", "expression")),
    exp.Right: ("right", ("this", "expression")),
    exp.Concat: ("concat", ("expressions",)),
    exp.DPipe: ("||", ("this", "expression")),
    exp.ConcatWs: ("concat_ws", ("expressions",)),
    exp.StartsWith: ("starts_with", ("this", "expression")),
    exp.EndsWith: ("ends_with", ("this", "expression")),
    exp.Contains: ("contains", ("this", "expression")),
    exp.StrPosition: ("strpos", ("this", "substr", "position", "occurrence")),
    exp.Replace: ("replace", ("this", "expression", "replacement")),
    exp.Reverse: ("reverse", ("this",)),
    exp.Repeat: ("repeat", ("this", "times")),
    exp.SplitPart: ("split_part", ("this", "delimiter", "part_index")),
    exp.RegexpLike: ("regexp_matches", ("this", "expression", "flag")),
    exp.RegexpFullMatch: ("regexp_full_match", ("this", "expression", "options")),
    exp.RegexpReplace: ("regexp_replace", ("this", "expression", "replacement", "modifiers")),
    exp.RegexpExtract: ("regexp_extract", ("this", "expression", "group", "parameters", "position",
                                           "occurrence")),
    exp.ILike: ("ilike", ("this", "expression")),
    exp.Ascii: ("ascii", ("this",)),
    exp.MD5: ("md5", ("this",)),
}

ALIASES = {"prefix": "starts_with", "suffix": "ends_with", "octet_length": "strlen"}


# --------------------------------------------------------------------------- rewrites
def _call(name: str, *args) -> exp.Anonymous:
    """``name(args)`` as an anonymous call; the arguments are rewritten too (a replaced
    node's subtree is not visited again by :func:`rewrite`)."""
    return exp.Anonymous(this=name, expressions=[rewrite(a) for a in args if a is not None])


def _one_sided_trim(node):
    """LTRIM / RTRIM (sqlglot: TRIM with a LEADING / TRAILING position)."""
    if not isinstance(node, exp.Trim):
        return None
    side = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(str(node.args.get("position") or "").upper())
    return _call(side, node.this, node.expression) if side else None


def _pad(node):
    """LPAD / RPAD (sqlglot: PAD with is_left)."""
    if not isinstance(node, exp.Pad):
        return None
    name = "lpad" if node.args.get("is_left") else "rpad"
    return _call(name, node.this, node.expression, node.args.get("fill_pattern"))


def _not_ilike(node):
    """``s NOT ILIKE p`` -> NOT (s ILIKE p)."""
    if not (isinstance(node, exp.ILike) and node.args.get("negate")):
        return None
    inner = exp.ILike(this=rewrite(node.this), expression=rewrite(node.expression))
    return exp.Not(this=inner)


def _sha256(node):
    """sha256(s) (sqlglot: SHA2 with length 256)."""
    if not isinstance(node, exp.SHA2):
        return None
    length = node.args.get("length")
    if length is None or str(length.name) == "256":
        return _call("sha256", node.this)
    return None


REWRITES = [_one_sided_trim, _pad, _not_ilike, _sha256]
