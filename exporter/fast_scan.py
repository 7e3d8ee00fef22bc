"""Reading a big log fast: only the lines that can matter go through the line parsers.

A log is read in blocks of `BLOCK_BYTES`.  In each block, ``bytes`` regex searches (which run in C,
over the whole block) find the lines that some parser could read; every other line is only counted,
so that the parser's line numbers stay the true line numbers of the file.  Which lines can matter
is built from ``parsers.commands.COMMANDS`` and ``parsers.autorestic``: each declares a
`candidate` pattern that every line it reads passes.

The selection is a superset of the lines the parsers act on, and the parser is fed exactly what the
line-by-line reader (`LogSource.lines`) would give it, so the result is the same:

* each candidate pattern is split into its top-level alternatives: those anchored with ``^`` are
  joined into one search for a newline followed by any of them; the others (``does not exist,
  skipping$``, autorestic's ``@backend:``) are searched on their own, only in a block that holds
  their leading literal.  A match that spans several lines selects all of them;
* a line the ``bytes`` patterns might judge differently from the ``str`` ones is always selected:
  one with a byte that is not ASCII (``\\s``, ``\\d``, ``.`` differ on decoded text), with one of
  the control bytes ``\\x1b``-``\\x1f`` (ANSI codes are stripped before the patterns; ``\\s``
  matches ``\\x1c``-``\\x1f`` in ``str``), or that looks like JSON after leading whitespace;
* CRLF endings are removed before the search (the parser never sees them either), and a line
  longer than ``MAX_LINE_BYTES`` is skipped and counted, as the line reader does;
* ``--json`` lines whose ``message_type`` no command declares, and backup's per-item
  ``verbose_status`` messages (``parsers.restic_json``: only ``scan_finished`` gives anything),
  are skipped, only in a block where each line holds at most one ``message_type`` and ``action`` key
  and no ``\\u`` escape (so the key seen is the key ``json.loads`` keeps);
* once autorestic's log starts (one of ``autorestic.MARKERS``), every further line is fed: a blank
  line then ends autorestic's error block.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from exporter.logsource import MAX_LINE_BYTES, LogSource
from parsers import autorestic
from parsers.commands import COMMANDS
from parsers.log import LogParser
from parsers.restic_text import ANSI_ESCAPE

if TYPE_CHECKING:
    from exporter.prefilter import Hits, Prefilter

BLOCK_BYTES = 1024 * 1024

_JSON_KEY = b'{"message_type"'
_JSON_TYPE_KEY = _JSON_KEY + b':"'
_VERBOSE_ACTION = b'verbose_status","action":"'
"""After `_JSON_TYPE_KEY`: restic's per-item messages, of which only one action gives anything."""
_KEPT_ACTION = b'scan_finished"'
_VERBOSE_ITEM = b'"message_type":"verbose_status","action"'
_STATUS_ACTION = b'"message_type":"status","action"'
_ACTION_ITEMS = (_VERBOSE_ITEM, _STATUS_ACTION)
_UNSAFE_CONTROLS = tuple(bytes([byte]) for byte in range(0x1B, 0x20))


@dataclass(frozen=True)
class _Literal:
    """A pattern searched on its own, in a block that holds `literal`."""

    literal: bytes
    pattern: re.Pattern[bytes]


@dataclass(frozen=True)
class Selector:
    joined: bytes
    """Any anchored alternative, as one regex (a trie of their literals)."""
    silent_json: bytes
    """--json lines known to give nothing."""
    flags: int
    unanchored: tuple[_Literal, ...]
    pieces: tuple[str, ...]
    """The anchored alternatives (without ``^``) that `joined` is built from."""
    declared: tuple[str, ...]
    """The --json message types some command reads."""
    ignore_case: bool

    # Compiled when first used: the prefilter's path needs only line_json_safe.
    @cached_property
    def anchored(self) -> re.Pattern[bytes]:
        """A newline followed by any anchored alternative (searched in the block after a
        newline)."""
        return re.compile(rb"\n(?:" + self.joined + rb")", self.flags)

    @cached_property
    def anchored_json_safe(self) -> re.Pattern[bytes]:
        """The same, except for --json lines known to give nothing."""
        return re.compile(rb"\n(?!" + self.silent_json + rb")(?:" + self.joined + rb")", self.flags)

    @cached_property
    def line_json_safe(self) -> re.Pattern[bytes]:
        """`anchored_json_safe` without its newline: matched at a line start of the block."""
        return re.compile(rb"(?!" + self.silent_json + rb")(?:" + self.joined + rb")", self.flags)


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (``a|b(c|d)`` -> ``a``, ``b(c|d)``)."""
    alternatives: list[str] = []
    depth = 0
    in_class = False
    start = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1  # a "]" first in a class is a literal
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            alternatives.append(pattern[start:index])
            start = index + 1
        index += 1
    alternatives.append(pattern[start:])
    return alternatives


def _pieces(alternative: str) -> list[str]:
    """An alternative, with one group around all of it opened up: ``(?:a|b)`` -> ``a``, ``b``."""
    if alternative.startswith("(?:") and alternative.endswith(")"):
        inner = alternative[3:-1]
        if _balanced(inner):
            return [piece for part in split_alternatives(inner) for piece in _pieces(part)]
    return [alternative]


def _balanced(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    depth = 0
    for char in re.sub(r"\\.|\[(?:\\.|[^\]])*\]", "", pattern):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _trie(words: list[tuple[bytes, bytes]]) -> bytes:
    """One regex for the lines that start with any of `words` (a literal and a regex after it),
    a byte at a time: the regex engine tries alternatives in turn, and sharing their prefixes
    spares most of the tries."""
    root: dict[int, Any] = {}
    for literal, tail in words:
        node = root
        for byte in literal:
            node = node.setdefault(byte, {})
        node.setdefault(-1, []).append(tail)

    def emit(node: dict[int, Any]) -> bytes:
        tails: list[bytes] = node.get(-1, [])
        if b"" in tails:
            return b""  # a prefix test: a word that ends here is enough
        branches = [*tails]
        branches += [
            re.escape(bytes([byte])) + emit(child)
            for byte, child in sorted(node.items())
            if byte >= 0
        ]
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    branches = [
        (byte, re.escape(bytes([byte])) + emit(child))
        for byte, child in sorted(root.items())
        if byte >= 0
    ]
    return _dispatch(branches)


def _dispatch(branches: list[tuple[int, bytes]]) -> bytes:
    """Branches by their first byte, in halves behind a test of the bytes of the first half:
    a line's first byte is tested a few times rather than once per branch."""
    if len(branches) <= 6:
        return b"(?:" + b"|".join(branch for _, branch in branches) + b")"
    half = len(branches) // 2
    first = b"".join(re.escape(bytes([byte])) for byte, _ in branches[:half])
    return (
        b"(?:(?=["
        + first
        + b"])"
        + _dispatch(branches[:half])
        + b"|"
        + _dispatch(branches[half:])
        + b")"
    )


_SPACE = frozenset(b" \t\n\r\f\v")
_DIGIT = frozenset(b"0123456789")


def _words(piece: str) -> list[tuple[bytes, str]] | None:
    """`piece` as (literal, regex after it) pairs that together match what it matches, so that
    every alternative of the search starts with a literal byte: the regex engine then tests
    the first byte of each at once instead of entering each (several times faster).  A piece
    led by a character class (``\\d+``, ``\\s*``) becomes one pair per byte of the class.
    None when the piece is not of a shape this knows."""
    alternatives = _pieces(piece)
    if alternatives != [piece]:
        words: list[tuple[bytes, str]] = []
        for alternative in alternatives:
            expanded = _words(alternative)
            if expanded is None:
                return None
            words += expanded
        return words
    literal = _leading_literal(piece)
    if literal:
        return [(literal, _after_literal(piece, literal))]
    constants = re._constants  # type: ignore[attr-defined]
    items = list(re._parser.parse(piece))  # type: ignore[attr-defined]
    if not items:
        return None
    op, value = items[0]
    end = _end_of_first_item(piece)
    if end is None:
        return None
    item, tail = piece[:end], piece[end:]
    if op is constants.IN:
        found = _class_bytes(value)
        return None if found is None else [(bytes([byte]), tail) for byte in sorted(found)]
    if op is constants.MAX_REPEAT and len(value[2]) == 1 and value[2][0][0] is constants.IN:
        low, high, inner = value
        found = _class_bytes(inner[0][1])
        if found is None or high != constants.MAXREPEAT or low > 1:
            return None
        inner_source = item.rstrip("*+")
        led = [(bytes([byte]), inner_source + "*" + tail) for byte in sorted(found)]
        if low == 1:
            return led
        rest = _words(tail)
        return None if rest is None else rest + led
    return None


def _end_of_first_item(piece: str) -> int | None:
    """Where the first item of `piece` (a class or a repeated class, as written) ends."""
    first = next(iter(re._parser.parse(piece)))  # type: ignore[attr-defined]
    for end in range(1, len(piece) + 1):
        try:
            items = list(re._parser.parse(piece[:end]))  # type: ignore[attr-defined]
        except re.error:
            continue
        if repr(items) == repr([first]) and piece[end : end + 1] not in ("*", "+", "?", "{"):
            return end
    return None


def _class_bytes(items: Any) -> set[int] | None:
    """The bytes of a character class (``\\d``, ``\\s`` as ``bytes`` patterns read them)."""
    constants = re._constants  # type: ignore[attr-defined]
    found: set[int] = set()
    for op, value in items:
        if op is constants.LITERAL:
            found.add(value)
        elif op is constants.RANGE:
            found.update(range(value[0], value[1] + 1))
        elif op is constants.CATEGORY and value is constants.CATEGORY_DIGIT:
            found |= _DIGIT
        elif op is constants.CATEGORY and value is constants.CATEGORY_SPACE:
            found |= _SPACE
        else:
            return None
    return found if len(found) <= 16 else None


def _after_literal(piece: str, literal: bytes) -> str:
    """The source of `piece` after its leading `literal` (which may be spelt with escapes)."""
    for end in range(len(literal), len(piece) + 1):  # escapes only make the spelling longer
        try:
            if _leading_literal(piece[:end]) == literal:
                return piece[end:]
        except re.error:
            continue
    raise ValueError(f"no literal {literal!r} at the start of {piece!r}")


def _leading_literal(alternative: str) -> bytes:
    literal = bytearray()
    for op, value in re._parser.parse(alternative):  # type: ignore[attr-defined]
        if op is not re._constants.LITERAL:  # type: ignore[attr-defined]
            break
        literal += chr(value).encode()
    return bytes(literal)


def _patterns() -> list[re.Pattern[str]]:
    return [command.candidate for command in COMMANDS] + [autorestic.CANDIDATE]


@cache
def selector() -> Selector:
    """Built once from what the command modules declare."""
    words: list[tuple[bytes, bytes]] = []
    anchored: list[bytes] = []
    pieces = [r"[ \t\r\f\v]*\{"]  # JSON after leading whitespace
    unanchored: list[_Literal] = []
    ignore_case = any(pattern.flags & re.IGNORECASE for pattern in _patterns())
    for pattern in _patterns():
        if pattern.flags & ~(re.UNICODE | re.IGNORECASE):
            raise ValueError(f"candidate pattern with flags the fast path cannot copy: {pattern}")
        flags = re.MULTILINE | (pattern.flags & re.IGNORECASE)
        for alternative in split_alternatives(pattern.pattern):
            if alternative.startswith("^"):
                pieces += _pieces(alternative[1:])
            else:
                literal = _leading_literal(alternative) if not flags & re.IGNORECASE else b""
                unanchored.append(_Literal(literal, re.compile(alternative.encode(), flags)))
    for piece in pieces:
        expanded = None if ignore_case else _words(piece)
        if expanded is None:
            anchored.append(piece.encode())
        else:
            words += [(literal, tail.encode()) for literal, tail in expanded]
    declared = sorted({kind.message_type for command in COMMANDS for kind in command.json_messages})
    silent_json = (
        re.escape(_JSON_TYPE_KEY)
        + b"(?:"
        + re.escape(_VERBOSE_ACTION)
        + b"(?!"
        + re.escape(_KEPT_ACTION)
        + b")"
        + rb"|(?!(?:"
        + b"|".join(re.escape(name.encode()) for name in declared)
        + rb')")[^"\\\n]*")'
    )
    joined = b"|".join([_trie(words), *anchored])
    flags = re.MULTILINE | (
        re.IGNORECASE if any(p.flags & re.IGNORECASE for p in _patterns()) else 0
    )
    return Selector(
        joined=joined,
        silent_json=silent_json,
        flags=flags,
        unanchored=tuple(unanchored),
        pieces=tuple(pieces),
        declared=tuple(declared),
        ignore_case=ignore_case,
    )


_UNSAFE_BYTES = re.compile(rb"[\x1b-\x1f\x80-\xff]")


def _json_safe(block: bytes) -> bool:
    """Each line of `block` holds at most one ``message_type`` key, at its start, and only the
    ``status`` and ``verbose_status`` messages an ``action`` key, once, with no escape that could
    spell either key: what the skipped --json line shows is what ``json.loads`` would keep."""
    if b"\\u" in block or b"\x1b" in block:
        return False
    at_line_start = block.count(b"\n" + _JSON_KEY) + block.startswith(_JSON_KEY)
    if block.count(b"message_type") != at_line_start:
        return False
    return block.count(b'"action"') == sum(block.count(item) for item in _ACTION_ITEMS)


def selected_spans(block: bytes) -> list[tuple[int, int]]:
    """The spans of whole lines of `block` (complete lines, CR-free) that can matter, merged."""
    prefilter = _prefilter() if len(block) >= PREFILTER_MIN_BYTES else None
    if prefilter is None:
        return _selected_spans_re(block)
    return _selected_spans_prefiltered(block, prefilter.scan(block, _scratch(prefilter)))


def _selected_spans_re(block: bytes) -> list[tuple[int, int]]:
    chosen = selector()
    spans: list[tuple[int, int]] = []
    anchored = chosen.anchored_json_safe if _JSON_KEY in block and _json_safe(block) else None
    buffer = b"\n" + block
    for match in (anchored or chosen.anchored).finditer(buffer):
        start, end = match.start(), match.end() - 1  # block offsets of the line and the match end
        spans.append((start, block.find(b"\n", max(start, end - 1)) + 1))
    unanchored = range(len(chosen.unanchored))
    unsafe = not block.isascii() or any(control in block for control in _UNSAFE_CONTROLS)
    return _merged(_other_spans(block, spans, unanchored, unsafe))


def _selected_spans_prefiltered(block: bytes, hits: Hits | None) -> list[tuple[int, int]]:
    """What `_selected_spans_re` gives, with the searches tried only where `hits` says they can
    match: the same matches as ``finditer``, which tries each line start not inside the previous
    match.  None: the prefilter cannot judge the block."""
    if hits is None:
        return _selected_spans_re(block)
    # The prefilter gives hits for a block with _JSON_KEY only when the block is _json_safe, and
    # without _JSON_KEY no line is silent_json: either way, line_json_safe is the re path's search.
    line = selector().line_json_safe
    spans: list[tuple[int, int]] = []
    reached = -1  # where the previous match ended
    for start in hits.line_starts:
        if start <= reached:
            continue
        match = line.match(block, start)
        if match is not None:
            reached = match.end()
            spans.append((start, block.find(b"\n", max(start, reached - 1)) + 1))
    return _merged(_other_spans(block, spans, hits.literals, hits.unsafe))


def _other_spans(
    block: bytes, spans: list[tuple[int, int]], unanchored: Iterable[int], unsafe: bool
) -> list[tuple[int, int]]:
    """`spans` and those of the unanchored searches in `unanchored` whose literal is in `block`,
    and of the lines with an unsafe byte if `unsafe`."""
    chosen = selector()
    for index in unanchored:
        search = chosen.unanchored[index]
        if search.literal and search.literal not in block:
            continue
        for match in search.pattern.finditer(block):
            start = block.rfind(b"\n", 0, match.start()) + 1
            spans.append((start, block.find(b"\n", max(match.start(), match.end() - 1)) + 1))
    if unsafe:
        for match in _UNSAFE_BYTES.finditer(block):
            start = block.rfind(b"\n", 0, match.start()) + 1
            spans.append((start, block.find(b"\n", match.start()) + 1))
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


PREFILTER_MIN_BYTES = 256 * 1024
"""Blocks this long or longer are searched through the Hyperscan prefilter when it is there;
shorter ones (a small log, a pipe's output) cost less with ``re`` than compiling its database."""


@cache
def _prefilter() -> Prefilter | None:
    """The Hyperscan prefilter for `selector`, or None where Hyperscan is missing (not x86_64,
    no wheel, a CPU without SSSE3) or cannot stand in for one of its searches."""
    try:
        from exporter import prefilter
    except ImportError:
        return None
    chosen = selector()
    try:
        return prefilter.build(
            chosen,
            json_key=_JSON_KEY,
            per_item=_JSON_TYPE_KEY + _VERBOSE_ACTION,
            kept=_KEPT_ACTION,
            field_context=b'\n{"',
            field=b"message_type",
            action_contexts=[item[: -len(b'"action"')] for item in _ACTION_ITEMS],
            unsafe=_UNSAFE_BYTES.pattern,
        )
    except prefilter.Unsupported:
        return None


_SCRATCH = threading.local()


def _scratch(prefilter: Prefilter) -> Any:
    """This thread's Hyperscan scratch space (a scan must not share one with another thread)."""
    scratch = getattr(_SCRATCH, "space", None)
    if scratch is None:
        scratch = _SCRATCH.space = prefilter.scratch()
    return scratch


_CRS_BEFORE_NEWLINE = re.compile(rb"\r+\n")


def _without_crlf(block: bytes) -> bytes:
    """Every run of CRs before a newline taken out, in one pass (as each line's ``rstrip``:
    ``replace`` in a loop would take a pass per CR, forever on a line of a million CRs)."""
    return _CRS_BEFORE_NEWLINE.sub(b"\n", block) if b"\r" in block else block


def _newlines(block: bytes, start: int, end: int) -> int:
    """``block.count(b"\\n", start, end)``, about twice as fast: ``bytes.count`` tests each byte
    in a loop, ``replace`` finds the newlines with memchr."""
    segment = block[start:end] if start or end != len(block) else block
    return len(segment) - len(segment.replace(b"\n", b""))


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def _starts_autorestic(line: str) -> bool:
    text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
    return isinstance(autorestic.parse_line(text), autorestic.MARKERS)


class LineSelector:
    """Feeds a parser the lines of blocks of complete lines that can matter, counting the
    others: what `scan` does for a file, for callers that get their blocks elsewhere (``run``
    reads the command's output from a pipe)."""

    def __init__(self, parser: LogParser) -> None:
        self.parser = parser
        self.feed_all = False
        """autorestic's log has started: every line counts."""

    def feed_line(self, raw: bytes) -> None:
        line = _text(raw)
        self.parser.feed(line)
        if not self.feed_all and _starts_autorestic(line):
            self.feed_all = True

    def complete_lines(self, block: bytes) -> None:
        """Lines that all end with a newline and are no longer than MAX_LINE_BYTES."""
        block = _without_crlf(block)
        self.crlf_free_lines(block, None if self.feed_all else selected_spans(block))

    def crlf_free_lines(self, block: bytes, spans: list[tuple[int, int]] | None) -> None:
        """`complete_lines` of a block without CRLF, given its `selected_spans` (None when
        feed_all is set)."""
        if self.feed_all or spans is None:
            self._feed_every_line(block, 0)
            return
        position = 0
        for start, end in spans:
            if start < position:
                continue
            self._skip(_newlines(block, position, start))
            for raw in block[start : end - 1].split(b"\n"):
                self.feed_line(raw)
            position = end
            if self.feed_all:
                self._feed_every_line(block, position)
                return
        self._skip(_newlines(block, position, len(block)))

    def _feed_every_line(self, block: bytes, position: int) -> None:
        for raw in block[position:].split(b"\n")[:-1]:
            self.parser.feed(_text(raw))

    def _skip(self, count: int) -> None:
        if count:
            self.parser.lines += count  # LogParser.skip_lines(count)


def scan(source: LogSource, parser: LogParser, selection: LineSelector | None = None) -> None:
    """Feed `parser` what ``for line in source.lines(): parser.feed(line)`` would, reading
    `source` in blocks.  Raises as `LogSource.lines` does.  `selection`: the `LineSelector`
    (of `parser`) of an earlier scan this one reads on from, at the start of a line.

    With the Hyperscan prefilter, the spans of the next block are found in a second thread while
    this one feeds the parser the lines of the last: Hyperscan's scan runs without the GIL."""
    scan_state = LineSelector(parser) if selection is None else selection
    reader = _CompleteBlocks(source)
    blocks = iter(reader)
    first = next(blocks, None)
    if first is not None and len(first) < SMALL_LOG_BYTES:
        second = next(blocks, None)
        if second is None:  # a small log: every line, without building the searches
            for raw in _without_crlf(first).split(b"\n")[:-1]:
                scan_state.feed_line(raw)
            if reader.last_line:
                scan_state.feed_line(reader.last_line)
            return
        blocks = itertools.chain((second,), blocks)
    if first is not None and len(first) >= PREFILTER_MIN_BYTES and _prefilter() is not None:
        _scan_ahead(scan_state, first, blocks)
    elif first is not None:
        scan_state.complete_lines(first)
        for block in blocks:
            scan_state.complete_lines(block)
    if reader.last_line:
        scan_state.feed_line(reader.last_line)


def _scan_ahead(scan_state: LineSelector, first: bytes, blocks: Iterator[bytes]) -> None:
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    ahead: deque[tuple[bytes, Future[list[tuple[int, int]]]]] = deque()
    with ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="fast-scan") as pool:
        for block in itertools.chain((first,), blocks):
            block = _without_crlf(block)
            ahead.append((block, pool.submit(selected_spans, block)))
            if len(ahead) > SCAN_THREADS:
                done, spans = ahead.popleft()
                scan_state.crlf_free_lines(done, None if scan_state.feed_all else spans.result())
        for done, spans in ahead:
            scan_state.crlf_free_lines(done, None if scan_state.feed_all else spans.result())


SCAN_THREADS = 1
"""Blocks searched at once, each in its own thread, while this one feeds the parser."""
SMALL_LOG_BYTES = 64 * 1024
"""A log this small is fed line by line: building the searches would cost more (10 ms or so,
at every one-shot start) than parsing every line of it."""


class _CompleteBlocks:
    """`source`'s blocks cut to complete lines no longer than MAX_LINE_BYTES (the others are
    counted in ``source.skipped_long_lines``); then `last_line`, a last line without a newline."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.last_line = b""

    def __iter__(self) -> Iterator[bytes]:
        source = self.source
        pending = b""
        in_long_line = False
        while block := source.read_block(BLOCK_BYTES):
            start = 0
            if in_long_line or pending:
                newline = block.find(b"\n")
                if newline < 0:
                    if not in_long_line:
                        pending += block
                        if len(pending) > MAX_LINE_BYTES:
                            in_long_line, pending = True, b""
                    continue
                if in_long_line or len(pending) + newline > MAX_LINE_BYTES:
                    source.skipped_long_lines += 1
                else:
                    # The line begun in earlier blocks, on its own: a copy of its bytes only.
                    yield pending + block[: newline + 1]
                in_long_line, pending = False, b""
                start = newline + 1
            last = block.rfind(b"\n")
            if last < start:
                pending = block[start:]
                if len(pending) > MAX_LINE_BYTES:
                    in_long_line, pending = True, b""
                continue
            # Only the first line can be longer than a block: the others begin inside this block.
            first = block.find(b"\n", start)
            if first - start > MAX_LINE_BYTES:
                source.skipped_long_lines += 1
                start = first + 1
            if start <= last:
                yield block[start : last + 1] if start or last + 1 < len(block) else block
            pending = block[last + 1 :]
        if in_long_line:
            source.skipped_long_lines += 1
        else:
            self.last_line = pending
