r"""A Hyperscan prefilter for `exporter.fast_scan`: the lines of a block that can be selected,
found by one multi-pattern pass in C instead of Python's ``re`` trying every line start.

Hyperscan is only an accelerator, never the judge.  Its databases, built from the same pieces as
`fast_scan.Selector`, report a superset of the line starts where the selector's search can match;
each of those is then tried with the selector's own ``re`` pattern, in order, skipping the starts
inside the previous match, which is what ``finditer`` does: the spans are the ``re`` path's.
The same pass tells whether the block holds the literal of an unanchored search; a second small
one whether it holds a byte of the unsafe class.

* a piece that cannot match a newline gives a pattern ``\npiece``; a hit's line starts after the
  last newline before the hit's end (the block's first line is always tried);
* a piece led by a repeat of a class with the newline in it (``\s*Total ``) can begin lines
  earlier: the pattern has the newline left out of that class, and the lines made only of that
  class's bytes right before a hit's line are tried too;
* a piece of any other shape (a newline elsewhere, a lookaround, a back reference) means no
  prefilter: `build` raises `Unsupported` and every block takes the ``re`` path.

A ``--json -v`` block is mostly restic's per-item lines, ``{"message_type":"verbose_status",
"action":"...``, which every line start search must look at.  In a block that holds the JSON key,
the prefix of those lines is first replaced by a mark of the same length (NUL bytes and the
prefix's last byte, a quote), and the copy is searched: the lines it still has to look at are
few, and its offsets are the block's.  The same pass checks ``fast_scan._json_safe``'s conditions
line by line (`violation_patterns`, exact on the copy, see there); when one fails, the block takes
the ``re`` path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import hyperscan

if TYPE_CHECKING:
    from exporter.fast_scan import Selector

_CONSTANTS: Any = re._constants  # type: ignore[attr-defined]
_PARSER: Any = re._parser  # type: ignore[attr-defined]

_SPACE = frozenset(b" \t\n\r\f\v")
_DIGIT = frozenset(b"0123456789")
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ALL = frozenset(range(256))
_NEWLINE = 0x0A


class Unsupported(ValueError):
    """A piece Hyperscan cannot stand in for."""


def _byte(value: int) -> str:
    return f"\\x{value:02x}"


def _class(found: Iterable[int]) -> str:
    chosen = sorted(set(found))
    if not chosen:
        raise Unsupported("an empty class")
    if len(chosen) == 1:
        return _byte(chosen[0])
    runs: list[str] = []
    start = previous = chosen[0]
    for value in [*chosen[1:], -2]:
        if value != previous + 1:
            runs.append(_byte(start) if start == previous else f"{_byte(start)}-{_byte(previous)}")
            start = value
        previous = value
    return "[" + "".join(runs) + "]"


def _class_bytes(items: Any) -> frozenset[int]:
    """The bytes an ``IN`` item of a ``bytes`` pattern matches."""
    found: set[int] = set()
    negate = False
    for op, value in items:
        if op is _CONSTANTS.NEGATE:
            negate = True
        elif op is _CONSTANTS.LITERAL:
            found.add(value)
        elif op is _CONSTANTS.RANGE:
            found.update(range(value[0], value[1] + 1))
        elif op is _CONSTANTS.CATEGORY:
            found |= _category(value)
        else:
            raise Unsupported(f"class item {op}")
    return _ALL - found if negate else frozenset(found)


def _category(value: Any) -> frozenset[int]:
    table = {
        _CONSTANTS.CATEGORY_DIGIT: _DIGIT,
        _CONSTANTS.CATEGORY_NOT_DIGIT: _ALL - _DIGIT,
        _CONSTANTS.CATEGORY_SPACE: _SPACE,
        _CONSTANTS.CATEGORY_NOT_SPACE: _ALL - _SPACE,
        _CONSTANTS.CATEGORY_WORD: _WORD,
        _CONSTANTS.CATEGORY_NOT_WORD: _ALL - _WORD,
    }
    if value not in table:
        raise Unsupported(f"category {value}")
    return table[value]


def _item_bytes(op: Any, value: Any) -> frozenset[int] | None:
    """The bytes a one-byte item matches; None for an item that is not one byte."""
    if op is _CONSTANTS.LITERAL:
        return frozenset({value})
    if op is _CONSTANTS.NOT_LITERAL:
        return _ALL - {value}
    if op is _CONSTANTS.IN:
        return _class_bytes(value)
    if op is _CONSTANTS.ANY:
        return _ALL - {_NEWLINE}  # no DOTALL: the candidate patterns' flags are checked
    return None


def _translate(items: Any) -> str:
    """A parsed ``bytes`` regex as Hyperscan syntax; raises Unsupported for what cannot be."""
    out: list[str] = []
    for op, value in items:
        found = _item_bytes(op, value)
        if found is not None:
            out.append(_class(found))
        elif op in (_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT):
            low, high, inner = value
            upper = "" if high == _CONSTANTS.MAXREPEAT else str(high)
            out.append(f"(?:{_translate(inner)}){{{low},{upper}}}")
        elif op is _CONSTANTS.SUBPATTERN:
            _group, add_flags, del_flags, inner = value
            if add_flags or del_flags:
                raise Unsupported("inline flags")
            out.append(f"(?:{_translate(inner)})")
        elif op is _CONSTANTS.BRANCH:
            out.append("(?:" + "|".join(_translate(branch) for branch in value[1]) + ")")
        elif op is _CONSTANTS.AT and value is _CONSTANTS.AT_BEGINNING:
            out.append("^")
        elif op is _CONSTANTS.AT and value is _CONSTANTS.AT_END:
            out.append("$")
        else:
            raise Unsupported(f"{op} {value}")
    return "".join(out)


def _matches_newline(items: Any) -> bool:
    for op, value in items:
        found = _item_bytes(op, value)
        if found is not None:
            if _NEWLINE in found:
                return True
        elif op in (_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT):
            if _matches_newline(value[2]):
                return True
        elif op is _CONSTANTS.SUBPATTERN:
            if _matches_newline(value[3]):
                return True
        elif op is _CONSTANTS.BRANCH:
            if any(_matches_newline(branch) for branch in value[1]):
                return True
        elif op is not _CONSTANTS.AT:
            raise Unsupported(f"{op} {value}")
    return False


@dataclass(frozen=True)
class LinePattern:
    """A Hyperscan pattern for the lines that can begin a match of the selector (without the
    newline before them)."""

    expression: str
    spaces: bytes | None = None
    """When not None, a match can also begin at the lines made only of these bytes (or empty)
    right before a hit's line."""


def line_pattern(piece: str) -> LinePattern:
    """A pattern whose hits' lines (and, with `spaces`, the lines of those bytes before them) are
    a superset of the lines where ``^piece`` matches in a ``bytes`` MULTILINE search."""
    items = list(_PARSER.parse(piece.encode()))
    if not items:
        raise Unsupported("an empty piece")
    op, value = items[0]
    leading = (
        _item_bytes(*value[2][0])
        if op in (_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT)
        and value[0] == 0
        and len(value[2]) == 1
        else None
    )
    if leading is None or _NEWLINE not in leading:
        if _matches_newline(items):
            raise Unsupported(f"a newline inside {piece!r}")
        return LinePattern(_translate(items))
    # ``\s*rest``: the newlines the repeat takes are lines of its bytes before the hit's line.
    rest = items[1:]
    if _matches_newline(rest):
        raise Unsupported(f"a newline inside {piece!r}")
    on_line = leading - {_NEWLINE}
    repeat = _class(on_line) + "*" if on_line else ""
    return LinePattern(repeat + _translate(rest), bytes(sorted(on_line)))


def _literal(text: bytes) -> str:
    return "".join(_byte(value) for value in text)


def _backward_complement(contexts: Sequence[bytes], allowed_at_start: bytes = b"") -> str:
    """A pattern for the text right before a position that does not end with one of `contexts`
    (nor with `allowed_at_start` at the block's start): reading backwards, the first byte that
    leaves them, or the block's start inside one."""
    trie: dict[int, Any] = {}
    for context in contexts:
        node = trie
        for value in reversed(context):
            node = node.setdefault(value, {})
        node[-1] = {}
    patterns: list[str] = []

    def walk(node: dict[int, Any], after: bytes) -> None:
        if -1 in node:
            return
        children = [value for value in node if value >= 0]
        patterns.append(_class(_ALL - set(children)) + _literal(after))
        patterns.append("\\A" + _literal(after))
        for value in children:
            walk(node[value], bytes([value]) + after)

    walk(trie, b"")
    cut = "\\A" + _literal(allowed_at_start)
    return "(?:" + "|".join(p for p in patterns if not allowed_at_start or p != cut) + ")"


def violation_patterns(field_context: bytes, field: bytes, allowed: Sequence[bytes]) -> list[str]:
    """Patterns for a line against ``fast_scan._json_safe``: an escape ``\\u`` or an ANSI escape;
    `field` (``message_type``) not right after `field_context` (``\\n{"``, or ``{"`` at the
    block's start) or not followed by a quote; ``"action"`` not right after one of `allowed`
    (``"message_type":"status",``).

    On the marked copy of a block (see the module's docstring) they find what they find on the
    block: no byte of the mark is in `field` or ``"action"``, nor in a context they look for but
    its quote, which is also the last byte of the prefix it stands for."""
    # At the block's start, the context without its newline is right: a block starts a line.
    at_start = field_context.lstrip(b"\n")
    return [
        _literal(b"\\u"),
        _literal(b"\x1b"),
        _backward_complement([field_context], at_start) + _literal(field),
        _literal(field) + "(?:" + _class(_ALL - {ord('"')}) + "|\\z)",
        _backward_complement(allowed) + _literal(b'"action"'),
    ]


def _straddles(literal: bytes, removed: bytes) -> bool:
    """Whether an occurrence of `literal` can overlap a `removed` prefix (which comes right after a
    newline) or the mark that stands for it."""
    if b"\n" in literal or b"\x00" in literal or literal in removed:
        return True
    return any(literal.startswith(removed[index:]) for index in range(len(removed)))


# Kinds of pattern: what a hit of each means.
LINE = 0
UNSAFE = 1
VIOLATION = 2
LITERAL = 3
JSON = 4


def _mark(removed: bytes) -> bytes:
    """What stands for a per-item prefix (after its newline): NUL bytes, in none of the literals
    the patterns look for, and the prefix's last byte, so that what follows keeps what it
    follows."""
    return b"\x00" * (len(removed) - 1) + removed[-1:]


@dataclass(frozen=True)
class Hits:
    """What the scans of a block found."""

    line_starts: list[int]
    """Block offsets of lines where the selector's search may match, sorted, no repeats."""
    unsafe: bool
    """The block holds a byte of the unsafe class."""
    literals: frozenset[int]
    """Indexes of the unanchored searches to run (their literal may be in the block)."""


DENSE = 2048
"""Hits in one block past which the scan stops and the block takes the ``re`` path: where most
lines are candidates (a log of many short runs), ``re`` trying each line start costs less than
a Python call per hit."""


def _record(ident: int, start: int, end: int, flags: int, found: Any) -> bool:
    found.append((ident, end))
    return len(found) > DENSE  # True stops the scan


class Scratch:
    """One thread's scratch space for each database (a scan must not share one)."""

    def __init__(self) -> None:
        self.spaces: dict[int, hyperscan.Scratch] = {}


class _Database:
    def __init__(self, patterns: Sequence[tuple[str, int, Any]]) -> None:
        """`patterns`: expression, kind, and the kind's detail."""
        self.expressions = tuple(expression for expression, _, _ in patterns)
        self.kinds = tuple((kind, detail) for _, kind, detail in patterns)
        self._compiled: hyperscan.Database | None = None
        self._refused = False
        self._lock = threading.Lock()

    def compiled(self) -> hyperscan.Database | None:
        """The database, compiled when first used (a text log needs no JSON one, and the
        compilation is most of the prefilter's start-up); None if Hyperscan refused it."""
        with self._lock:
            if self._compiled is None and not self._refused:
                multiline = hyperscan.HS_FLAG_MULTILINE
                once = multiline | hyperscan.HS_FLAG_SINGLEMATCH
                try:
                    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                    database.compile(
                        expressions=[
                            expression.encode("latin-1") for expression in self.expressions
                        ],
                        ids=list(range(len(self.expressions))),
                        elements=len(self.expressions),
                        flags=[multiline if kind == LINE else once for kind, _ in self.kinds],
                    )
                except hyperscan.error:
                    self._refused = True
                else:
                    self._compiled = database
            return self._compiled

    def scan(self, data: bytes, scratch: Scratch) -> list[tuple[int, int]] | None:
        """The pattern ids and match ends found in `data`; None if Hyperscan refused the
        database or the hits are DENSE."""
        database = self._compiled or self.compiled()
        if database is None:
            return None
        found: list[tuple[int, int]] = []
        try:
            space = scratch.spaces.get(id(self))
            if space is None:
                space = scratch.spaces[id(self)] = hyperscan.Scratch(database)
            database.scan(data, match_event_handler=_record, context=found, scratch=space)
        except hyperscan.error:  # DENSE hits (ScanTerminated), or Hyperscan failed: use re
            return None
        return found


class Prefilter:
    """The compiled databases and what each of their patterns means."""

    def __init__(
        self,
        lines: Sequence[LinePattern],
        unsafe: str,
        literals: Sequence[bytes],
        json_key: bytes,
        per_item: bytes,
        kept: bytes,
        violations: Sequence[str],
    ) -> None:
        line_patterns = [("\\n" + line.expression, LINE, line.spaces) for line in lines]
        searched = [
            (_literal(literal), LITERAL, index)
            for index, literal in enumerate(literals)
            if len(literal) > 1
        ]
        self.memchr = tuple(
            (index, literal) for index, literal in enumerate(literals) if len(literal) == 1
        )
        """One-byte literals: cheaper for ``in`` (memchr) than for Hyperscan."""
        self.always = frozenset(index for index, literal in enumerate(literals) if not literal)
        """The unanchored searches with no literal to look for: always run."""
        self.straddling = frozenset(
            index for index, literal in enumerate(literals) if _straddles(literal, per_item)
        )
        """Those whose literal the marked copy cannot show: run on every marked block."""
        self.json_key = json_key
        self.removed = b"\n" + per_item
        self.marked = b"\n" + _mark(per_item)
        self.text = _Database([*line_patterns, *searched, (_literal(json_key), JSON, None)])
        self.json = _Database(
            [
                *line_patterns,
                ("\\n" + _literal(_mark(per_item) + kept), LINE, None),
                *searched,
                *((violation, VIOLATION, None) for violation in violations),
            ]
        )
        self.unsafe = _Database([(unsafe, UNSAFE, None)])

    def scratch(self) -> Scratch:
        """Scratch space for one thread's scans."""
        return Scratch()

    def scan(self, block: bytes, scratch: Scratch) -> Hits | None:
        """What the scans of `block` (complete lines, CR-free) found; None when the block must take
        the ``re`` path."""
        if not block.startswith(self.json_key):
            found = self.text.scan(block, scratch)
            if found is None:
                return None
            if not any(self.text.kinds[ident][0] == JSON for ident, _ in found):
                return self._hits(block, found, self.text, block, scratch)
        marked = block.replace(self.removed, self.marked)
        found = self.json.scan(marked, scratch)
        if found is None or any(self.json.kinds[ident][0] == VIOLATION for ident, _ in found):
            return None
        return self._hits(marked, found, self.json, block, scratch)

    def _hits(
        self,
        data: bytes,
        found: list[tuple[int, int]],
        database: _Database,
        block: bytes,
        scratch: Scratch,
    ) -> Hits | None:
        starts: set[int] = {0}
        literals = set(self.always)
        literals.update(index for index, literal in self.memchr if literal in block)
        if database is self.json:
            literals |= self.straddling
        kinds = database.kinds
        for ident, end in found:
            kind, detail = kinds[ident]
            if kind == LINE:
                start = data.rfind(b"\n", 0, end) + 1
                starts.add(start)
                while detail is not None and start:
                    previous = data.rfind(b"\n", 0, start - 1) + 1
                    if data[previous : start - 1].strip(detail):
                        break
                    start = previous
                    starts.add(start)
            elif kind == LITERAL:
                literals.add(detail)
        unsafe = self.unsafe.scan(data, scratch)
        if unsafe is None:
            return None
        return Hits(sorted(starts), bool(unsafe), frozenset(literals))


def build(
    selector: Selector,
    *,
    json_key: bytes,
    per_item: bytes,
    kept: bytes,
    field_context: bytes,
    field: bytes,
    action_contexts: Sequence[bytes],
    unsafe: bytes,
) -> Prefilter:
    """The prefilter of `selector` (see `fast_scan._prefilter` for the other arguments).  Raises
    Unsupported when Hyperscan cannot stand in for one of its searches; a database Hyperscan
    refuses (found when first used) sends every block to the ``re`` path."""
    if selector.ignore_case:
        raise Unsupported("a case-insensitive candidate pattern")
    return Prefilter(
        [line_pattern(piece) for piece in selector.pieces],
        _translate(_PARSER.parse(unsafe)),
        [search.literal for search in selector.unanchored],
        json_key,
        per_item,
        kept,
        violation_patterns(field_context, field, action_contexts),
    )
