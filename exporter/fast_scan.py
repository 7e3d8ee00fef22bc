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

import re
from dataclasses import dataclass
from functools import cache

from exporter.logsource import MAX_LINE_BYTES, LogSource
from parsers import autorestic
from parsers.commands import COMMANDS
from parsers.log import LogParser
from parsers.restic_text import ANSI_ESCAPE

BLOCK_BYTES = 1024 * 1024

_JSON_KEY = b'{"message_type"'
_VERBOSE_ITEM = b'"message_type":"verbose_status","action"'
_STATUS_ACTION = b'"message_type":"status","action"'
_UNSAFE_CONTROLS = tuple(bytes([byte]) for byte in range(0x1B, 0x20))


@dataclass(frozen=True)
class _Literal:
    """A pattern searched on its own, in a block that holds `literal`."""

    literal: bytes
    pattern: re.Pattern[bytes]


@dataclass(frozen=True)
class Selector:
    anchored: re.Pattern[bytes]
    """A newline followed by any anchored alternative (searched in the block after a newline)."""
    anchored_json_safe: re.Pattern[bytes]
    """The same, except for --json lines known to give nothing."""
    unanchored: tuple[_Literal, ...]


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
    anchored: list[bytes] = [rb"[ \t\r\f\v]*\{"]  # JSON after leading whitespace
    unanchored: list[_Literal] = []
    for pattern in _patterns():
        if pattern.flags & ~(re.UNICODE | re.IGNORECASE):
            raise ValueError(f"candidate pattern with flags the fast path cannot copy: {pattern}")
        flags = re.MULTILINE | (pattern.flags & re.IGNORECASE)
        for alternative in split_alternatives(pattern.pattern):
            if alternative.startswith("^"):
                anchored.append(alternative[1:].encode())
            else:
                literal = _leading_literal(alternative) if not flags & re.IGNORECASE else b""
                unanchored.append(_Literal(literal, re.compile(alternative.encode(), flags)))
    declared = sorted({kind.message_type for command in COMMANDS for kind in command.json_messages})
    silent_json = (
        rb'\{"message_type":"(?:verbose_status","action":"(?!scan_finished")'
        + rb"|(?!(?:"
        + b"|".join(re.escape(name.encode()) for name in declared)
        + rb')")[^"\\\n]*")'
    )
    joined = b"|".join(anchored)
    flags = re.MULTILINE | (
        re.IGNORECASE if any(p.flags & re.IGNORECASE for p in _patterns()) else 0
    )
    return Selector(
        anchored=re.compile(rb"\n(?:" + joined + rb")", flags),
        anchored_json_safe=re.compile(rb"\n(?!" + silent_json + rb")(?:" + joined + rb")", flags),
        unanchored=tuple(unanchored),
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
    return block.count(b'"action"') == block.count(_VERBOSE_ITEM) + block.count(_STATUS_ACTION)


def selected_spans(block: bytes) -> list[tuple[int, int]]:
    """The spans of whole lines of `block` (complete lines, CR-free) that can matter, merged."""
    chosen = selector()
    spans: list[tuple[int, int]] = []
    anchored = chosen.anchored_json_safe if _JSON_KEY in block and _json_safe(block) else None
    buffer = b"\n" + block
    for match in (anchored or chosen.anchored).finditer(buffer):
        start, end = match.start(), match.end() - 1  # block offsets of the line and the match end
        spans.append((start, block.find(b"\n", max(start, end - 1)) + 1))
    for search in chosen.unanchored:
        if search.literal and search.literal not in block:
            continue
        for match in search.pattern.finditer(block):
            start = block.rfind(b"\n", 0, match.start()) + 1
            spans.append((start, block.find(b"\n", max(match.start(), match.end() - 1)) + 1))
    if not block.isascii() or any(control in block for control in _UNSAFE_CONTROLS):
        for match in _UNSAFE_BYTES.finditer(block):
            start = block.rfind(b"\n", 0, match.start()) + 1
            spans.append((start, block.find(b"\n", match.start()) + 1))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def _starts_autorestic(line: str) -> bool:
    text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
    return isinstance(autorestic.parse_line(text), autorestic.MARKERS)


class _Scan:
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
        if b"\r" in block:
            while b"\r\n" in block:
                block = block.replace(b"\r\n", b"\n")
        if self.feed_all:
            self._feed_every_line(block, 0)
            return
        position = 0
        for start, end in selected_spans(block):
            if start < position:
                continue
            self._skip(block.count(b"\n", position, start))
            for raw in block[start : end - 1].split(b"\n"):
                self.feed_line(raw)
            position = end
            if self.feed_all:
                self._feed_every_line(block, position)
                return
        self._skip(block.count(b"\n", position))

    def _feed_every_line(self, block: bytes, position: int) -> None:
        for raw in block[position:].split(b"\n")[:-1]:
            self.parser.feed(_text(raw))

    def _skip(self, count: int) -> None:
        if count:
            self.parser.lines += count  # LogParser.skip_lines(count)


def scan(source: LogSource, parser: LogParser) -> None:
    """Feed `parser` what ``for line in source.lines(): parser.feed(line)`` would, reading
    `source` in blocks.  Raises as `LogSource.lines` does."""
    scan_state = _Scan(parser)
    pending = b""
    in_long_line = False
    while block := source.read_block(BLOCK_BYTES):
        if in_long_line:
            newline = block.find(b"\n")
            if newline < 0:
                continue
            in_long_line = False
            source.skipped_long_lines += 1
            block = block[newline + 1 :]
        buffer = pending + block if pending else block
        last = buffer.rfind(b"\n")
        if last < 0:
            pending = b""
            if len(buffer) > MAX_LINE_BYTES:
                in_long_line = True
            else:
                pending = buffer
            continue
        start = 0
        # Only the first line can be longer than a block: the others begin inside this block.
        first = buffer.find(b"\n")
        if first > MAX_LINE_BYTES:
            source.skipped_long_lines += 1
            start = first + 1
        if start <= last:
            scan_state.complete_lines(buffer[start : last + 1])
        pending = buffer[last + 1 :]
    if in_long_line:
        source.skipped_long_lines += 1
    elif pending:
        scan_state.feed_line(pending)
