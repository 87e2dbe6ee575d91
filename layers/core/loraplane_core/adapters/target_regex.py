"""PEFT's string `target_modules` (a regex fullmatched against module paths), matched safely.

The pattern comes from an upload, so it must not get to run on a backtracking engine: `(a|a)*`
against a crafted tensor name takes exponential time in `re`. Here the pattern is parsed
with Python's own parser (so it means exactly what it means to PEFT) and then run as a set
of positions over the text, which is linear in pattern size x text length whatever the
pattern. Constructs that need backtracking are refused: backreferences, lookarounds,
conditionals, atomic groups and possessive repeats, and repeats of a group other than `?`
(`(ab)*`; `x*` on a single character or class is fine). So are flags: `(?i)` etc.
"""
import functools
import re
import warnings
from re import _constants as C  # the opcodes (private, stable from Python 3.11 on)
from re import _parser

MAX_PATTERN_CHARS = 256
_ATOMS = (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)
_ALLOWED_FLAGS = C.SRE_FLAG_UNICODE | C.SRE_FLAG_VERBOSE  # VERBOSE changes parsing only
_AT = (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_END, C.AT_END_STRING, C.AT_BOUNDARY, C.AT_NON_BOUNDARY)
_CATEGORIES = {
    C.CATEGORY_DIGIT: str.isdecimal, C.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdecimal(),
    C.CATEGORY_SPACE: str.isspace, C.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    C.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    C.CATEGORY_NOT_WORD: lambda ch: not (ch.isalnum() or ch == "_"),
}

_NEEDS_BACKTRACKING = {
    C.GROUPREF: "a backreference", C.GROUPREF_EXISTS: "a conditional group", C.ASSERT: "a lookaround",
    C.ASSERT_NOT: "a negative lookaround", C.ATOMIC_GROUP: "an atomic group", C.POSSESSIVE_REPEAT: "a possessive repeat",
}


class UnsafePattern(ValueError):
    """A pattern that is not a valid regex, or needs backtracking to run."""


def _check(items) -> None:
    for op, av in items:
        if op in _ATOMS:
            if op == C.IN and any(o == C.CATEGORY and a not in _CATEGORIES for o, a in av):
                raise UnsafePattern("it uses a character category that is not supported")
        elif op == C.AT:
            if av not in _AT:
                raise UnsafePattern(f"it uses the unsupported anchor {av}")
        elif op == C.BRANCH:
            for alternative in av[1]:
                _check(alternative)
        elif op == C.SUBPATTERN:
            if av[1] or av[2]:
                raise UnsafePattern("it sets flags inside a group")
            _check(av[3])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            _, hi, body = av
            single = len(body) == 1 and body[0][0] in _ATOMS
            if not single and hi > 1:
                raise UnsafePattern("it repeats a group (only single characters or classes may repeat; `?` is fine)")
            _check(body)
        else:
            raise UnsafePattern(f"it uses {_NEEDS_BACKTRACKING.get(op, str(op).lower())}, which needs a backtracking engine")


@functools.lru_cache(maxsize=64)
def compile_target_regex(pattern: str) -> "TargetRegex":
    """Parse and check; raises UnsafePattern with a reason the user can act on."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"it is longer than {MAX_PATTERN_CHARS} characters")
    try:
        with warnings.catch_warnings():  # "possible nested set" etc.: the user's business, not our logs
            warnings.simplefilter("ignore")
            re.compile(pattern)  # valid for PEFT's re.fullmatch too
            parsed = _parser.parse(pattern)
    except (re.error, OverflowError, RecursionError) as e:
        raise UnsafePattern(f"not a valid regex: {e}") from None
    if parsed.state.flags & ~_ALLOWED_FLAGS:
        raise UnsafePattern("it sets flags such as (?i); write the module names out instead")
    _check(parsed)
    return TargetRegex(list(parsed))


def _char_ok(op, av, ch: str) -> bool:
    if op == C.LITERAL:
        return ord(ch) == av
    if op == C.NOT_LITERAL:
        return ord(ch) != av
    if op == C.ANY:
        return ch != "\n"
    negate = bool(av) and av[0][0] == C.NEGATE  # op == IN
    found = False
    for item_op, item in av:
        if item_op == C.LITERAL:
            found = ord(ch) == item
        elif item_op == C.RANGE:
            found = item[0] <= ord(ch) <= item[1]
        elif item_op == C.CATEGORY:
            found = _CATEGORIES[item](ch)
        elif item_op == C.NOT_LITERAL:
            found = ord(ch) != item
        if found:
            break
    return found != negate


class TargetRegex:
    """A checked pattern; `fullmatch` runs in O(len(pattern) x len(text)), no backtracking."""

    def __init__(self, items):
        self._items = items

    def fullmatch(self, text: str) -> bool:
        return len(text) in _seq(self._items, text, {0})


def _seq(items, text: str, starts: set[int]) -> set[int]:
    """The end positions of matches of `items` that start at one of `starts`."""
    for op, av in items:
        if not starts:
            break
        starts = _node(op, av, text, starts)
    return starts


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _node(op, av, text: str, starts: set[int]) -> set[int]:
    n = len(text)
    if op in _ATOMS:
        return {p + 1 for p in starts if p < n and _char_ok(op, av, text[p])}
    if op == C.SUBPATTERN:
        return _seq(av[3], text, starts)
    if op == C.BRANCH:
        return set().union(*(_seq(alternative, text, starts) for alternative in av[1]))
    if op == C.AT:
        return {p for p in starts if _at(av, text, p)}
    lo, hi, body = av  # MAX_REPEAT / MIN_REPEAT: greedy or lazy, the same set of ends
    if len(body) == 1 and body[0][0] in _ATOMS:
        return _repeat_atom(body[0], lo, hi, text, starts)
    if hi == 0:  # (...){0} matches the empty string only
        return starts
    ends = _seq(body, text, starts)  # a group with `?` (or {1}): hi <= 1, checked above
    return ends if lo else ends | starts


def _repeat_atom(atom, lo: int, hi: int, text: str, starts: set[int]) -> set[int]:
    n = len(text)
    run = [0] * (n + 1)  # run[i]: how many characters from i on match the atom
    for i in range(n - 1, -1, -1):
        run[i] = run[i + 1] + 1 if _char_ok(atom[0], atom[1], text[i]) else 0
    cover = [0] * (n + 2)  # difference array over the end positions p+lo .. p+min(hi, run)
    for p in starts:
        first, last = p + lo, p + min(hi, run[p])
        if first <= last:
            cover[first] += 1
            cover[last + 1] -= 1
    ends, depth = set(), 0
    for i in range(n + 1):
        depth += cover[i]
        if depth:
            ends.add(i)
    return ends


def _at(code, text: str, p: int) -> bool:
    n = len(text)
    if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return p == 0
    if code == C.AT_END:
        return p == n or (p == n - 1 and text[p] == "\n")
    if code == C.AT_END_STRING:
        return p == n
    if n == 0:  # as `re`: no word boundary, nor its absence, in an empty string
        return False
    boundary = _is_word(text, p - 1) != _is_word(text, p)
    return boundary if code == C.AT_BOUNDARY else not boundary
