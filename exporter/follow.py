"""Following one log as it grows: read only what was appended, survive rotation and deletion.

The follower keeps its file open and its parser alive.  Each `read_appended()`:

* reads what was appended since the last call into the same `LogParser`: so a new run that
  starts in the file is seen as one.  It reads in blocks and feeds only the lines that
  `exporter.fast_scan` selects (the others are only counted), which ends exactly as feeding
  every line would: the same records, line numbers and errors, and the byte offset of each line
  that began a run (a file offset, also in a CRLF log), so `position()` is the same too;
* when the path now names another file (logrotate's rename-and-create), first reads the rest of
  the old file, then follows the new one from its start;
* when the file got shorter, or the bytes just before the read position changed (logrotate's
  copytruncate, also when the file grew past the old length before the next read), starts
  again from its start;
* when the file is gone, keeps what it had (the metrics stay as they were) and waits.

The parser is never reset, so a rotation loses no run: until the new file holds a run of its
own, the latest run is still the one read from the old file.  A line still being written (no
newline yet) waits for its end; a line longer than `MAX_LINE_BYTES` is skipped and counted once,
as `LogSource` does.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from exporter import fast_scan
from exporter.errors import LogUnreadable
from exporter.logsource import MAX_LINE_BYTES
from exporter.positions import Position
from parsers.log import LogParser

_CHUNK = 1024 * 1024  # at most MAX_LINE_BYTES + 1: only a chunk's first line can be too long
_CR_BEFORE_NEWLINE = re.compile(rb"\r+\n")
_NEWLINE = ord("\n")
_TAIL_BYTES = 64  # the bytes before the read position, to notice a file rewritten in place


class ReadingStopped(Exception):
    """The reading was stopped half-way (the daemon is stopping): what was read is not to be
    published."""


class LogFollower:
    def __init__(self, path: Path, resume: Position | None = None) -> None:
        self.path = path
        self.parser = LogParser()
        self.skipped_long_lines = 0
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._tail = b""
        self._skipping_long_line = False
        self._feed_all = False
        """autorestic's log began: every line is fed from then on (as `fast_scan` does)."""
        self._run_starts: dict[int, int] = {}  # line number -> offset, for lines that began runs
        self._resume = resume
        self._should_stop: Callable[[], bool] = lambda: False

    def read_appended(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Read what is new.  True when any complete line was read.  `should_stop` is asked
        between blocks: when it says so, raises ReadingStopped (a long backlog must not hold
        off a SIGTERM), and the follower is left where it was."""
        self._should_stop = should_stop
        read_any = False
        current = self._stat_path()
        if self._file is not None and current != self._identity:
            read_any |= self._drain()  # rotated away or deleted: finish the old file first
            self._close()
        if self._file is None:
            if current is None:
                return read_any
            self._open()
        if self._file is None:
            return read_any
        if self._truncated():  # copytruncate
            self._offset = 0
            self._partial = b""
            self._tail = b""
            self._skipping_long_line = False
        # Up to the size it has now: a log written faster than it is read is still published
        # now and then, each time as it was when this call began.
        return self._drain(os.fstat(self._file.fileno()).st_size) or read_any

    def _truncated(self) -> bool:
        """Shorter than what was read, or the bytes before the read position changed (truncated,
        then written past the old length before this read: copytruncate's race)."""
        assert self._file is not None
        descriptor = self._file.fileno()
        if os.fstat(descriptor).st_size < self._offset:
            return True
        tail = self._tail
        return bool(tail) and os.pread(descriptor, len(tail), self._offset - len(tail)) != tail

    def position(self) -> Position | None:
        if self._identity is None:
            return None
        line = self.parser.oldest_kept_line
        start = self._run_starts.get(line)
        if start is None:  # no run kept: a restart reads on from the next line, counting on
            line, start = self.parser.lines + 1, self._offset - len(self._partial)
        assert self._file is not None
        return Position(
            *self._identity,
            offset=self._offset,
            run_start_offset=start,
            run_start_line=line,
            before_offset=_digest_before(self._file.fileno(), self._offset),
        )

    def close(self) -> None:
        self._close()

    def _stat_path(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def _open(self) -> None:
        """Open the log if it is a regular file.  Anything else (a directory, a FIFO, which
        would block the daemon) raises LogUnreadable; the job says so, the others go on."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as error:
            raise LogUnreadable(f"cannot read log {self.path}: {error.strerror}") from None
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            os.close(descriptor)
            raise LogUnreadable(f"cannot read log {self.path}: not a regular file")
        self._file = os.fdopen(descriptor, "rb")
        self._identity = (status.st_dev, status.st_ino)
        self._offset = 0
        self._partial = b""
        self._tail = b""
        self._skipping_long_line = False
        resume, self._resume = self._resume, None
        if resume is not None and (resume.device, resume.inode) == self._identity:
            descriptor = self._file.fileno()
            size = os.fstat(descriptor).st_size
            # The same file, and the bytes before where we were are the same bytes: it was
            # not rewritten in place (">log") while the daemon was away.
            same = resume.before_offset == _digest_before(descriptor, resume.offset)
            if resume.offset <= size and same:
                self._offset = resume.run_start_offset
                self.parser.lines = max(0, resume.run_start_line - 1)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._identity = None

    def _drain(self, end: int | None = None) -> bool:
        """Read on to the end of the file, or to `end` when it is not None."""
        assert self._file is not None
        descriptor = self._file.fileno()
        read_any = False
        runs_before = self.parser.runs_started
        while end is None or self._offset < end:
            size = _CHUNK if end is None else min(_CHUNK, end - self._offset)
            chunk = os.pread(descriptor, size, self._offset)
            if not chunk:
                break
            if self._should_stop():
                raise ReadingStopped(str(self.path))
            read_any |= self._take(chunk)
            self._offset += len(chunk)
            self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
        if self.parser.runs_started != runs_before:  # only then can a run have been let go
            self._prune_run_starts()
        return read_any

    def _take(self, chunk: bytes) -> bool:
        """Feed the complete lines that `chunk` ends (it begins at `self._offset`), keep the
        rest for later.  True when a line ended in it."""
        ended_long_line = False
        if self._skipping_long_line:
            newline = chunk.find(b"\n")
            if newline < 0:
                return False
            self._skipping_long_line = False
            ended_long_line = True
            chunk = chunk[newline + 1 :]
            start_offset = self._offset + newline + 1
            buffer = chunk
        else:
            start_offset = self._offset - len(self._partial)
            buffer = self._partial + chunk if self._partial else chunk
        last = buffer.rfind(b"\n")
        if last < 0:
            self._keep_partial(buffer)
            return ended_long_line
        start = 0
        # Only the first line can be longer than a chunk: the others begin inside this one.
        first = buffer.find(b"\n")
        if first > MAX_LINE_BYTES:
            self.skipped_long_lines += 1
            start = first + 1
        if start <= last:
            self._feed_lines(buffer[start : last + 1], start_offset + start)
        self._keep_partial(buffer[last + 1 :])
        return True

    def _keep_partial(self, partial: bytes) -> None:
        self._partial = partial
        if len(partial) > MAX_LINE_BYTES:  # never hold an endless line
            self._partial = b""
            self._skipping_long_line = True
            self.skipped_long_lines += 1

    def _feed_lines(self, block: bytes, offset: int) -> None:
        """Feed the parser the lines of `block` (complete lines, at `offset` in the file) that
        can matter, as `exporter.fast_scan` selects them, and only count the others: it ends
        as feeding every line would, at a fraction of the cost."""
        if self._feed_all:
            self._feed_every_line(block, 0, offset)
            return
        plain = _CR_BEFORE_NEWLINE.sub(b"\n", block) if b"\r" in block else block
        offsets = _LineOffsets(block, plain)
        first_line = self.parser.lines + 1
        position = 0  # in `plain`
        for start, end in fast_scan.selected_spans(plain):
            if start < position:
                continue
            self._count(plain.count(b"\n", position, start))
            while start < end:
                newline = plain.index(b"\n", start)
                line_index = self.parser.lines + 1 - first_line
                self._feed(plain[start:newline], offsets, line_index, start, offset)
                start = newline + 1
                if self._feed_all:  # autorestic's log began: every further line counts
                    line_index = self.parser.lines + 1 - first_line
                    self._feed_every_line(block, offsets.in_block(line_index, start), offset)
                    return
            position = end
        self._count(plain.count(b"\n", position))

    def _feed_every_line(self, block: bytes, start: int, offset: int) -> None:
        while (end := block.find(b"\n", start)) != -1:
            runs_before = self.parser.runs_started
            self.parser.feed(block[start:end].rstrip(b"\r").decode("utf-8", errors="replace"))
            if self.parser.runs_started != runs_before:
                self._run_starts[self.parser.lines] = offset + start
            start = end + 1

    def _feed(
        self, raw: bytes, offsets: _LineOffsets, line_index: int, start: int, offset: int
    ) -> None:
        runs_before = self.parser.runs_started
        line = raw.decode("utf-8", errors="replace")
        self.parser.feed(line)
        if self.parser.runs_started != runs_before:
            self._run_starts[self.parser.lines] = offset + offsets.in_block(line_index, start)
        if fast_scan._starts_autorestic(line):
            self._feed_all = True

    def _count(self, lines: int) -> None:
        self.parser.lines += lines  # lines no parser acts on: only their number matters

    def _prune_run_starts(self) -> None:
        oldest = self.parser.oldest_kept_line
        self._run_starts = {
            line: offset for line, offset in self._run_starts.items() if line >= oldest
        }


class _LineOffsets:
    """Where a line of `block` starts, from where it starts in `plain` (`block` with each
    ``\\r`` before a newline taken out: the same lines, each shortened by its trailing CRs).
    Asked for lines in order; costs nothing when `block` had no CR to take out."""

    def __init__(self, block: bytes, plain: bytes) -> None:
        self._block = block
        self._same = block is plain
        self._line = 0
        self._in_block = 0
        self._in_plain = 0

    def in_block(self, line: int, in_plain: int) -> int:
        if self._same:
            return in_plain
        block, lines = self._block, line - self._line
        # A guess that holds when each line in between ended with one CR (a CRLF log), checked:
        # the start of a line, and the right number of lines after the last one found.
        guess = self._in_block + (in_plain - self._in_plain) + lines
        if not (
            guess <= len(block)
            and (guess == 0 or block[guess - 1] == _NEWLINE)
            and block.count(b"\n", self._in_block, guess) == lines
        ):
            guess = self._in_block
            for _ in range(lines):
                guess = block.index(b"\n", guess) + 1
        self._line, self._in_block, self._in_plain = line, guess, in_plain
        return guess


def _digest_before(descriptor: int, offset: int) -> str:
    """A digest of the (up to) `_TAIL_BYTES` bytes before `offset`."""
    start = max(0, offset - _TAIL_BYTES)
    try:
        data = os.pread(descriptor, offset - start, start)
    except OSError:
        return ""
    return hashlib.blake2b(data, digest_size=8).hexdigest()
