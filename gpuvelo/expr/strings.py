"""String operations: computed once on the (small, host-side) dictionary with pyarrow.compute,
then mapped to rows by gathering through the int32 codes -- no per-row string work."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..columns import Col
from ..errors import DataError, NotSupportedError, PlanError
from ..types import BOOL, INT32, INT64, STRING
from .cast import cast_col
from .core import describe, gather, null_col, to_host


def _host(arr: pa.Array, fill) -> np.ndarray:
    return arr.fill_null(fill).to_numpy(zero_copy_only=False)


def ranks(dictionaries) -> list[np.ndarray]:
    """Dense ranks of the entries of several dictionaries in one common (code point) order:
    equal strings get equal ranks, so ranks compare exactly as the strings do."""
    lengths = [len(d) for d in dictionaries]
    both = pa.concat_arrays([d.cast(pa.string()) for d in dictionaries])
    r = _host(pc.rank(both, sort_keys="ascending", tiebreaker="dense"), 0).astype(np.int64)
    return np.split(r, np.cumsum(lengths)[:-1])


def row_ranks(xp, cols: list[Col]):
    """Per row, the rank of each string column's value in a common order (see :func:`ranks`)."""
    return [gather(xp, r, c.data) for r, c in zip(ranks([c.dictionary for c in cols]), cols)]


def unify(xp, cols: list[Col]):
    """One dictionary for several string columns (concatenated, not deduplicated) and each
    column's codes into it (a column with an empty dictionary -- only NULLs -- points at
    entry 0, so that every code stays inside the dictionary)."""
    dictionary = pa.concat_arrays([c.dictionary.cast(pa.string()) for c in cols])
    codes, offset = [], 0
    for c in cols:
        if len(c.dictionary):
            codes.append(c.data.astype(xp.int32) + xp.int32(offset))
        else:
            codes.append(xp.zeros(c.data.shape[0], dtype=xp.int32))
        offset += len(c.dictionary)
    return dictionary, codes


def map_dictionary(xp, col: Col, fn, dtype=STRING) -> Col:
    """Apply ``fn`` (pyarrow array -> pyarrow array) to the dictionary; strings keep the codes,
    other results are gathered to rows."""
    out = fn(col.dictionary)
    if dtype.is_string:      # codes stay codes (int32: a bare NULL argument's are bools)
        return Col(col.data.astype(xp.int32, copy=False), col.valid, STRING, out.cast(pa.string()))
    return Col(gather(xp, _host(out, False if dtype.is_bool else 0), col.data), col.valid, dtype)


def length(xp, col: Col) -> Col:
    """LENGTH: number of Unicode code points, as INT64."""
    return map_dictionary(xp, col, lambda d: pc.utf8_length(d).cast(pa.int64()), INT64)


def like_pattern(pattern: str, escape: str | None = None) -> str:
    """A DuckDB LIKE pattern as pyarrow's (whose escape character is a backslash): without
    ``escape`` there is none (as in DuckDB); with it, ``escape`` + c matches c literally."""
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == escape:
            ch = next(chars, "")
            out.append("\\" + ch if ch and ch in "%_\\" else ch)
        else:
            out.append("\\\\" if ch == "\\" else ch)
    return "".join(out)


def like(xp, col: Col, pattern: str, escape: str | None = None):
    """``col LIKE pattern [ESCAPE escape]`` as a bool array (validity is the column's). ``%``
    and ``_`` are the wildcards (see :func:`like_pattern`)."""
    matched = pc.match_like(col.dictionary, like_pattern(pattern, escape))
    return gather(xp, _host(matched, False), col.data)


def is_in(xp, col: Col, values: list[str]):
    """Rows whose string is one of ``values`` (non-NULL strings), as a bool array."""
    hit = pc.is_in(col.dictionary, value_set=pa.array(values, pa.string()))
    return gather(xp, _host(hit, False), col.data)


# --------------------------------------------------------------------------- catalogue functions
# Implementations of ``gpuvelo.sql.functions.strings`` (typing and semantics there):
# ``impl(xp, call, cols, n) -> Col`` of exactly ``call.dtype``. Every function but the
# concatenations works on the dictionary of its one string column; its other arguments are
# literals, read from the plan.

# Unicode space separators (Zs): what DuckDB's one-argument TRIM removes.
SPACES = "".join(map(chr, [0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]))

# Code points that can join a neighbour into one grapheme cluster (marks, joiners, emoji
# modifiers, regional indicators, Hangul jamo, prepended marks, Thai/Lao AM, CR): a
# superset, checked against DuckDB over every code point.
GRAPHEME_JOINERS = (r"[\p{M}\x{200C}\x{200D}\x{FF9E}\x{FF9F}\x{1F3FB}-\x{1F3FF}"
                    r"\x{1F1E6}-\x{1F1FF}\x{1100}-\x{11FF}\x{A960}-\x{A97F}\x{D7B0}-\x{D7FF}"
                    r"\x{E0020}-\x{E007F}\x{0600}-\x{0605}\x{06DD}\x{070F}\x{0890}\x{0891}"
                    r"\x{08E2}\x{0D4E}\x{110BD}\x{110CD}\x{111C2}\x{111C3}\x{1193F}\x{11941}"
                    r"\x{11A3A}\x{11A84}-\x{11A89}\x{11D46}\x{11F02}\x{0E33}\x{0EB3}\r]")


def _strict(fn):
    """``fn(xp, call, col, *literal values)`` as a catalogue implementation: NULL if any
    argument is NULL; invalid literal arguments (regular expressions...) raise PlanError."""
    def impl(xp, call, cols, n):
        if any(c.dtype.is_null for c in cols):
            return null_col(xp, n, call.dtype)
        try:
            return fn(xp, call, cols[0], *(a.value for a in call.args[1:]))
        except pa.ArrowInvalid as err:
            raise PlanError(f"{err} in {describe(call)}") from None
    return impl


def _on_dictionary(fn, dtype=STRING):
    """A strict implementation computing ``fn(dictionary, *literal values)`` once."""
    return _strict(lambda xp, call, col, *values:
                   map_dictionary(xp, col, lambda d: fn(d.cast(pa.string()), *values), dtype))


def first_flagged(xp, col: Col, entries: np.ndarray) -> str | None:
    """The string of the first non-NULL row whose dictionary entry is flagged in ``entries``
    (a host bool array), or None if there is none."""
    if not entries.any():
        return None
    hit = gather(xp, entries, col.data)
    rows = xp.nonzero(hit if col.valid is None else hit & col.valid)[0][:1]
    if rows.shape[0] == 0:
        return None
    return col.dictionary[int(to_host(xp, col.data[rows])[0])].as_py()


# -- trimming and slicing
def _trim(which):
    f = {"trim": pc.utf8_trim, "ltrim": pc.utf8_ltrim, "rtrim": pc.utf8_rtrim}[which]
    return _on_dictionary(lambda d, chars=SPACES: f(d, characters=chars))


def substring_bounds(start: int, length: int | None = None) -> tuple[int, int | None]:
    """Python slice bounds (negative: from the end; None: to the end) of DuckDB's
    ``substring(s, start, length)``: 1-based ``start``, 0 is one before the first character,
    negative counts from the end; a negative ``length`` takes the characters before ``start``."""
    if start < 0:
        if length is None:
            return start, None
        if length >= 0:
            return start, start + length if start + length < 0 else None
        return start + length, start
    first = start - 1
    if length is None:
        return max(first, 0), None
    if length >= 0:
        return max(first, 0), max(first + length, 0)
    return max(first + length, 0), max(first, 0)


def _slice(d, bounds):
    return pc.utf8_slice_codeunits(d, bounds[0], bounds[1])


def _right_bounds(n: int) -> tuple[int, int | None]:
    """right(s, n): the last ``n`` characters; negative ``n``: all but the first ``-n``."""
    return (0, 0) if n == 0 else (-n, None)


# -- concatenation
def _with_null_entry(xp, col: Col):
    """(int64 codes, dictionary) with NULL rows pointing at an added NULL entry."""
    d = col.dictionary.cast(pa.string())
    codes = col.data.astype(xp.int64)
    if col.valid is None and len(d):
        return codes, d
    codes = codes if col.valid is None else xp.where(col.valid, codes, xp.int64(len(d)))
    return codes, pa.concat_arrays([d, pa.nulls(1, pa.string())])


def _broadcast(d, size: int):
    return d.take(pa.array(np.zeros(size, np.int64)))


def join_pairs(xp, a, b, combine):
    """Combine two (codes, dictionary) string columns entry by entry: ``combine(left,
    right)`` runs on the host once per distinct pair of entries that occurs in a row (not on
    the cross product of the dictionaries); returns (codes, dictionary) of the result."""
    (ca, da), (cb, db) = a, b
    if len(db) == 1:                   # a constant side: the other side's codes stay
        return ca, combine(da, _broadcast(db, len(da)))
    if len(da) == 1:
        return cb, combine(_broadcast(da, len(db)), db)
    uniq, inverse = xp.unique(ca * xp.int64(len(db)) + cb, return_inverse=True)
    u = to_host(xp, uniq)
    left, right = da.take(pa.array(u // len(db))), db.take(pa.array(u % len(db)))
    return inverse.reshape(-1).astype(xp.int64), combine(left, right)


def _joiner(sep: str, skip_nulls: bool):
    """Entry-wise ``left || sep || right``; with ``skip_nulls`` a NULL side is left out
    (NULL only if both are), else NULL if either is."""
    def combine(left, right):
        both = pc.binary_join_element_wise(left, right, sep)
        if not skip_nulls:
            return both
        return pc.if_else(pc.is_null(left), right, pc.if_else(pc.is_null(right), left, both))
    return combine


def _concatenate(xp, call, cols, sep: str, skip_nulls: bool) -> Col:
    """Rows of ``cols`` (converted to strings) joined with ``sep``: NULLs skipped (never
    NULL) with ``skip_nulls``, else NULL if any is NULL."""
    cols = [cast_col(xp, c, STRING, describe(call)) for c in cols]
    combine = _joiner(sep, skip_nulls)
    acc = _with_null_entry(xp, cols[0])
    for c in cols[1:]:
        acc = join_pairs(xp, acc, _with_null_entry(xp, c), combine)
    codes, dictionary = acc
    if skip_nulls:                     # all arguments NULL: the empty string
        return Col(codes.astype(xp.int32), None, STRING, dictionary.fill_null(""))
    valid = gather(xp, _host(pc.is_valid(dictionary), False), codes)
    return Col(codes.astype(xp.int32), valid, STRING, dictionary)


def _concat(xp, call, cols, n):
    return _concatenate(xp, call, cols, "", skip_nulls=True)


def _dpipe(xp, call, cols, n):
    return _concatenate(xp, call, cols, "", skip_nulls=False)


def _concat_ws(xp, call, cols, n):
    sep = call.args[0].value
    if sep is None:
        return null_col(xp, n, STRING)
    return _concatenate(xp, call, cols[1:], str(sep), skip_nulls=True)


# -- searching
def _strpos(d, needle: str):
    """1-based code point position of the first ``needle`` in each entry, 0 if absent."""
    if needle == "":
        return pa.array(np.ones(len(d), np.int64))
    before = pc.list_element(pc.split_pattern(d, needle, max_splits=1), 0)
    position = pc.add(pc.utf8_length(before).cast(pa.int64()), 1)
    return pc.if_else(pc.match_substring(d, needle), position, 0)


def _replace(d, old: str, new: str):
    return d if old == "" else pc.replace_substring(d, old, new)


def _ilike(xp, call, col, pattern: str):
    """``s ILIKE p``: LIKE on lower-cased strings and pattern (as DuckDB)."""
    lowered = Col(col.data, col.valid, STRING, pc.utf8_lower(col.dictionary.cast(pa.string())))
    low_pattern = pc.utf8_lower(pa.array([pattern], pa.string()))[0].as_py()
    return Col(like(xp, lowered, low_pattern), col.valid, BOOL)


# -- building
def _reverse(xp, call, col):
    """Reverse by code points -- DuckDB reverses grapheme clusters, so strings where a
    cluster may span several code points (combining marks, emoji sequences) are refused."""
    d = col.dictionary.cast(pa.string())
    joiners = pc.and_(pc.match_substring_regex(d, GRAPHEME_JOINERS), pc.invert(pc.string_is_ascii(d)))
    example = first_flagged(xp, col, _host(joiners, False))
    if example is not None:
        raise NotSupportedError(f"{describe(call)}: reversing strings with combining marks or "
                                f"multi-code-point characters is not supported (e.g. {example!r})")
    return Col(col.data, col.valid, STRING, pc.utf8_reverse(d))


def _repeat(d, count: int):
    return pc.binary_repeat(d, max(count, 0))


def _pad(left: bool):
    """lpad / rpad(s, width, fill): cut to ``width`` characters, or pad with a prefix of
    ``fill`` repeated (DuckDB fails if padding is needed and ``fill`` is empty)."""
    def impl(xp, call, col, width: int, fill: str):
        d = col.dictionary.cast(pa.string())
        cut = pc.utf8_slice_codeunits(d, 0, max(width, 0))
        missing = np.maximum(width - _host(pc.utf8_length(cut), 0).astype(np.int64), 0)
        if fill == "":
            example = first_flagged(xp, col, missing > 0)
            if example is not None:
                raise DataError(f"insufficient padding in {describe(call)}: the fill is empty "
                                f"and {example!r} is shorter than {width}")
            return Col(col.data, col.valid, STRING, cut)
        if len(d) == 0:            # an all-NULL batch has an empty dictionary
            return Col(col.data, col.valid, STRING, cut)
        sizes, which = np.unique(missing, return_inverse=True)
        pattern = fill * (int(sizes[-1]) // len(fill) + 1)
        pads = pa.array([pattern[:k] for k in sizes.tolist()], pa.string()).take(pa.array(which))
        out = pc.binary_join_element_wise(pads, cut, "") if left else \
            pc.binary_join_element_wise(cut, pads, "")
        return Col(col.data, col.valid, STRING, out)
    return _strict(impl)


def split_part(d, delimiter: str, index: int):
    """DuckDB's split_part on each entry: the ``index``-th part (1-based; negative from the
    end; '' when out of range or 0). An empty delimiter splits into characters."""
    if index == 0:
        return pc.if_else(pc.is_valid(d), "", pa.scalar(None, pa.string()))
    if delimiter == "":
        return _slice(d, (index - 1, index) if index > 0 else (index, index + 1 or None))
    parts = pc.split_pattern(d, delimiter)
    count = _host(pc.list_value_length(parts), 0).astype(np.int64)
    offsets = parts.offsets.to_numpy()[:-1].astype(np.int64)
    j = np.full(len(d), index - 1, np.int64) if index > 0 else count + index
    ok = (j >= 0) & (j < count)
    if not ok.any():
        return pc.if_else(pc.is_valid(d), "", pa.scalar(None, pa.string()))
    picked = parts.values.take(pa.array(np.where(ok, offsets + j, 0)))   # some part exists
    return pc.if_else(pa.array(ok), picked, "")


# -- regular expressions
def re2_literal(text: str) -> str:
    """``text`` as an RE2 pattern matching it literally."""
    return "".join(c if c.isalnum() or ord(c) > 127 else f"\\x{{{ord(c):x}}}" for c in text)


def re2_pattern(pattern: str, options: str | None, full: bool = False) -> tuple[str, bool]:
    """(RE2 pattern, global) for a DuckDB pattern and options: ``c``/``i`` case (in)sensitive,
    ``l`` literal, ``s`` '.' matches newlines, ``m n p`` it does not (the default), ``g``
    replace all; later options win. ``full``: the pattern must match the whole string."""
    case, dot_nl, literal, every = True, False, False, False
    for ch in options or "":
        case = {"c": True, "i": False}.get(ch, case)
        dot_nl = {"s": True, "m": False, "n": False, "p": False}.get(ch, dot_nl)
        literal = literal or ch == "l"
        every = every or ch == "g"
    flags = ("" if case else "i") + ("s" if dot_nl else "")
    body = re2_literal(pattern) if literal else pattern
    if full:
        body = rf"\A(?:{body})\z"
    return (f"(?{flags})" if flags else "") + body, every


def _regexp_matches(full: bool):
    def fn(d, pattern: str, options: str | None = None):
        regex, _ = re2_pattern(pattern, options, full)
        pc.match_substring_regex(pa.array([""]), regex)   # a bad pattern fails on no rows too
        return pc.match_substring_regex(d, regex)
    return _on_dictionary(fn, BOOL)


def _regexp_replace(d, pattern: str, replacement: str, options: str | None = None):
    regex, every = re2_pattern(pattern, options)
    pc.replace_substring_regex(pa.array([""]), regex, replacement)   # validate on no rows too
    return pc.replace_substring_regex(d, regex, replacement, max_replacements=None if every else 1)


def _named_groups(regex: str) -> tuple[str, int]:
    """``regex`` with its capture groups renamed ``g1, g2, ...`` in RE2's numbering order
    (pyarrow's extract_regex only takes named groups), and how many there are."""
    out, i, k, in_class = [], 0, 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            out.append(regex[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            j = i + 1 + (regex[i + 1:i + 2] == "^")
            j += regex[j:j + 1] == "]"            # a ']' first in a class is literal
            out.append(regex[i:j])
            i, in_class = j, True
            continue
        elif c == "(":
            named = next((p for p in ("(?P<", "(?<") if regex.startswith(p, i)), None)
            if named or not regex.startswith("(?", i):
                k += 1
                out.append(f"(?P<g{k}>")
                i = regex.index(">", i) + 1 if named else i + 1
                continue
        out.append(c)
        i += 1
    return "".join(out), k


def _regexp_extract(d, pattern: str, group: int = 0, options: str | None = None):
    """DuckDB's regexp_extract on each entry: group ``group`` of the first match, '' when
    the pattern does not match or the group took no part in the match."""
    regex, _ = re2_pattern(pattern, options)
    named, count = _named_groups(regex)
    empty = pc.if_else(pc.is_valid(d), "", pa.scalar(None, pa.string()))
    if group > count:
        pc.match_substring_regex(pa.array([""]), regex)   # a bad pattern still fails
        return empty
    found = pc.extract_regex(d, f"(?P<g0>{named})")
    return pc.coalesce(pc.struct_field(found, f"g{group}"), empty)


# -- measuring and hashing
def _ascii(d):
    """The first code point of each entry (0 for the empty string)."""
    first = pc.utf8_slice_codeunits(d, 0, 1).fill_null("").to_numpy(zero_copy_only=False)
    return pa.array(np.asarray(first, dtype="U1").view(np.uint32).astype(np.int32))


def _digest(name: str):
    def fn(d):
        return pa.array([None if s is None else hashlib.new(name, s.encode()).hexdigest()
                         for s in d.to_pylist()], pa.string())
    return fn


FUNCTIONS = {
    "trim": _trim("trim"), "ltrim": _trim("ltrim"), "rtrim": _trim("rtrim"),
    "substring": _on_dictionary(lambda d, start, length=None: _slice(d, substring_bounds(start, length))),
    "left": _on_dictionary(lambda d, n: _slice(d, (0, n))),
    "right": _on_dictionary(lambda d, n: _slice(d, _right_bounds(n))),
    "concat": _concat, "||": _dpipe, "concat_ws": _concat_ws,
    "starts_with": _on_dictionary(lambda d, p: pc.starts_with(d, p), BOOL),
    "ends_with": _on_dictionary(lambda d, p: pc.ends_with(d, p), BOOL),
    "contains": _on_dictionary(lambda d, p: pc.match_substring(d, p), BOOL),
    "strpos": _on_dictionary(_strpos, INT64),
    "replace": _on_dictionary(_replace),
    "reverse": _strict(_reverse),
    "repeat": _on_dictionary(_repeat),
    "lpad": _pad(left=True), "rpad": _pad(left=False),
    "split_part": _on_dictionary(split_part),
    "regexp_matches": _regexp_matches(full=False),
    "regexp_full_match": _regexp_matches(full=True),
    "regexp_replace": _on_dictionary(_regexp_replace),
    "regexp_extract": _on_dictionary(_regexp_extract),
    "ilike": _strict(_ilike),
    "strlen": _on_dictionary(lambda d: pc.binary_length(d).cast(pa.int64()), INT64),
    "ascii": _on_dictionary(_ascii, INT32),
    "md5": _on_dictionary(_digest("md5")),
    "sha256": _on_dictionary(_digest("sha256")),
}
