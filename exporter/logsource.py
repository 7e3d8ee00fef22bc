"""Reading a log, from a path or stdin, as a stream of text lines that never fills memory.

Whatever the bytes are, the reader yields ``str`` lines: CRLF and LF endings are stripped,
bytes that are not UTF-8 become U+FFFD, and a line longer than `MAX_LINE_BYTES` (no restic line
comes near it) is skipped without ever being held whole, and counted.

A read always ends: a device (``/dev/zero``, a disk) is refused before any byte is read, and a
stream (a FIFO, stdin) that goes on past `MAX_LOG_BYTES` stops the read with LogNotUnderstood.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import subprocess
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from exporter.errors import LogNotUnderstood, LogUnreadable
from exporter.paths import describe_os_error

MAX_LINE_BYTES = 1024 * 1024
MAX_LOG_BYTES = 64 * 1024**3
"""What one parse reads at most (64 GiB): far beyond any restic log (a million files listed
with --verbose is about 200 MB), and at a few GB/s an endless stream stops within a minute."""
STDIN = "-"
JOURNAL_PREFIX = "journal:"
"""``journal:<invocation id>``: a systemd service invocation's output, read with journalctl."""


@dataclass
class LogSource:
    """An open log.  `skipped_long_lines` counts as the lines are read."""

    name: str
    stream: IO[bytes]
    skipped_long_lines: int = 0
    max_bytes: int = MAX_LOG_BYTES
    bytes_read: int = 0
    is_stdin: bool = False
    """Standard input: it has no mtime worth reading, and is not ours to close."""

    def lines(self) -> Iterator[str]:
        """The lines.  Raises LogUnreadable on a read error, LogNotUnderstood past `max_bytes`."""
        try:
            yield from self._lines()
        except OSError as error:
            raise LogUnreadable(f"cannot read {self.name}: {describe_os_error(error)}") from None

    def _lines(self) -> Iterator[str]:
        while chunk := self._readline(MAX_LINE_BYTES + 1):
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                self.skipped_long_lines += 1
                while (rest := self._readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                continue
            yield chunk.rstrip(b"\r\n").decode("utf-8", errors="replace")

    def read_block(self, size: int) -> bytes:
        """Up to `size` bytes more (fewer only at the end).  Raises as `lines` does."""
        try:
            block = self.stream.read(size)
        except OSError as error:
            raise LogUnreadable(f"cannot read {self.name}: {describe_os_error(error)}") from None
        self._count(len(block))
        return block

    def _readline(self, limit: int) -> bytes:
        chunk = self.stream.readline(limit)
        self._count(len(chunk))
        return chunk

    def _count(self, size: int) -> None:
        self.bytes_read += size
        if self.bytes_read > self.max_bytes:
            raise LogNotUnderstood(
                f"{self.name} is larger than {self.max_bytes} bytes: stopped reading "
                "(no restic log is that large; an endless stream?)"
            )

    def written_timestamp_seconds(self) -> float | None:
        """When the log was last written: its mtime; None for a pipe or a terminal."""
        if self.is_stdin:
            return None
        try:
            return os.fstat(self.stream.fileno()).st_mtime
        except OSError:
            return None

    def close(self) -> None:
        if not self.is_stdin:
            self.stream.close()


@dataclass
class JournalSource(LogSource):
    """The output of one systemd service invocation, as journalctl prints it in JSON: each
    line's text and the time journald received it (`line_time`), the clock a run's end is
    best read from when restic does not print it."""

    process: subprocess.Popen[bytes] | None = None
    times: array[float] = field(default_factory=lambda: array("d"))

    def lines(self) -> Iterator[str]:
        for entry in super().lines():
            text, moment = _journal_entry(entry)
            for line in text.split("\n"):
                self.times.append(moment)
                yield line
        assert self.process is not None
        if self.process.wait() != 0:
            assert self.process.stderr is not None
            reason = self.process.stderr.read().decode(errors="replace").strip().splitlines()
            raise LogUnreadable(f"journalctl failed: {reason[-1] if reason else 'no reason given'}")

    def line_time(self, line_number: int) -> float | None:
        """When journald received line `line_number` (1-based), if it said."""
        if not 1 <= line_number <= len(self.times):
            return None
        moment = self.times[line_number - 1]
        return None if math.isnan(moment) else moment

    def written_timestamp_seconds(self) -> float | None:
        return None  # the hook runs as the service ends: "now" is when it ended

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _journal_entry(line: str) -> tuple[str, float]:
    """One line of ``journalctl --output=json``: the message (text, or bytes journald kept as a
    list of numbers) and ``__REALTIME_TIMESTAMP`` (microseconds).  A line that is not such an
    entry is taken as text with no time."""
    try:
        entry = json.loads(line)
        message = entry.get("MESSAGE")
        if isinstance(message, list):
            message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256)
            message = message.decode("utf-8", errors="replace")
        moment = int(entry.get("__REALTIME_TIMESTAMP", "")) / 1e6
    except (ValueError, TypeError, AttributeError, RecursionError, OverflowError):
        return line, math.nan
    text = message if isinstance(message, str) else ""
    return text, moment if math.isfinite(moment) and moment > 0 else math.nan


def open_journal(invocation: str) -> LogSource:
    """journalctl's output for `invocation`, after asking journald to write out what it has
    (the service's last lines may still be on their way)."""
    command = [
        "journalctl",
        "--no-pager",
        "--output=json",
        "--output-fields=MESSAGE",
        f"_SYSTEMD_INVOCATION_ID={invocation}",
    ]
    try:
        subprocess.run(["journalctl", "--sync"], capture_output=True, timeout=10, check=False)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LogUnreadable(f"cannot run journalctl: {error}") from None
    assert process.stdout is not None
    return JournalSource(f"the journal of invocation {invocation}", process.stdout, process=process)


def open_log(name: str, *, max_bytes: int = MAX_LOG_BYTES) -> LogSource:
    """Open a log by path, ``-`` for stdin, or ``journal:<invocation id>``; reading it stops
    after `max_bytes`.  Raises LogUnreadable with a one-line reason, also for a path that is a
    device or a directory: a log is a regular file, a FIFO or a socket."""
    if name == STDIN:
        if sys.stdin is None:  # started with stdin closed (<&-)
            raise LogUnreadable("cannot read standard input: it is closed")
        return LogSource("standard input", sys.stdin.buffer, max_bytes=max_bytes, is_stdin=True)
    if name.startswith(JOURNAL_PREFIX):
        source = open_journal(name.removeprefix(JOURNAL_PREFIX))
        source.max_bytes = max_bytes
        return source
    try:
        stream = _open_log_file(Path(name))
    except OSError as error:
        raise LogUnreadable(f"cannot read log {name}: {describe_os_error(error)}") from None
    return LogSource(name, stream, max_bytes=max_bytes)


def _open_log_file(path: Path) -> IO[bytes]:
    # A FIFO is opened blocking, as before: it waits for its writer (reopening a FIFO after a
    # non-blocking open could miss a writer that came and went).  Anything else is opened
    # non-blocking, so that a device's open cannot block before we know what the path is.
    fifo = stat.S_ISFIFO(os.stat(path).st_mode)
    flags = os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | (0 if fifo else os.O_NONBLOCK)
    descriptor = os.open(path, flags)
    try:
        kind = _refused_kind(os.fstat(descriptor).st_mode)
        if kind is not None:
            raise OSError(errno.EINVAL, f"it is {kind}, not a log")
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def _refused_kind(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return None
