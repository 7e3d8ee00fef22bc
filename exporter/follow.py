"""Following one log as it grows: read only what was appended, survive rotation and deletion.

The follower keeps its file open and its parser alive.  Each `read_appended()`:

* reads what was appended since the last call, line by line, into the same `LogParser`: so a
  new run that starts in the file is seen as one;
* when the path now names another file (logrotate's rename-and-create), first reads the rest of
  the old file, then follows the new one from its start;
* when the file got shorter, or the bytes just before the read position changed (logrotate's
  copytruncate, also when the file grew past the old length before the next read), starts
  again from its start;
* when the file is gone, keeps what it had (the metrics stay as they were) and waits.

The parser is never reset, so a rotation loses no run: until the new file holds a run of its
own, the latest run is still the one read from the old file.  A line still being written (no
newline yet) waits for its end.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from exporter.errors import LogUnreadable
from exporter.logsource import MAX_LINE_BYTES
from exporter.positions import Position
from parsers.log import LogParser

_CHUNK = 1024 * 1024
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
            self._file.seek(0)
        return self._drain() or read_any

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
        if start is None:  # no run kept: a restart reads on from here, counting lines on
            line, start = self.parser.lines + 1, self._offset
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
        resume, self._resume = self._resume, None
        if resume is not None and (resume.device, resume.inode) == self._identity:
            descriptor = self._file.fileno()
            size = os.fstat(descriptor).st_size
            # The same file, and the bytes before where we were are the same bytes: it was
            # not rewritten in place (">log") while the daemon was away.
            same = resume.before_offset == _digest_before(descriptor, resume.offset)
            if resume.offset <= size and same:
                self._offset = resume.run_start_offset
                self._file.seek(self._offset)
                self.parser.lines = max(0, resume.run_start_line - 1)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._identity = None

    def _drain(self) -> bool:
        assert self._file is not None
        read_any = False
        while chunk := self._file.read(_CHUNK):
            if self._should_stop():
                raise ReadingStopped(str(self.path))
            data = self._partial + chunk
            start = 0
            while (end := data.find(b"\n", start)) != -1:
                self._feed(data[start:end], self._offset + start - len(self._partial))
                start = end + 1
                read_any = True
            self._offset += len(chunk)
            self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
            self._partial = data[start:]
            if len(self._partial) > MAX_LINE_BYTES:  # never hold an endless line
                self._partial = b""
                self._skipping_long_line = True
                self.skipped_long_lines += 1
        self._prune_run_starts()
        return read_any

    def _feed(self, raw: bytes, offset: int) -> None:
        if self._skipping_long_line:  # the tail of a line too long to keep
            self._skipping_long_line = False
            return
        runs_before = self.parser.runs_started
        self.parser.feed(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        if self.parser.runs_started != runs_before:
            self._run_starts[self.parser.lines] = offset

    def _prune_run_starts(self) -> None:
        oldest = self.parser.oldest_kept_line
        self._run_starts = {
            line: offset for line, offset in self._run_starts.items() if line >= oldest
        }


def _digest_before(descriptor: int, offset: int) -> str:
    """A digest of the (up to) `_TAIL_BYTES` bytes before `offset`."""
    start = max(0, offset - _TAIL_BYTES)
    try:
        data = os.pread(descriptor, offset - start, start)
    except OSError:
        return ""
    return hashlib.blake2b(data, digest_size=8).hexdigest()
