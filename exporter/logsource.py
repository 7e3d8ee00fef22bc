"""Reading a log, from a path or stdin, as a stream of text lines that never fills memory.

Whatever the bytes are, the reader yields ``str`` lines: CRLF and LF endings are stripped,
bytes that are not UTF-8 become U+FFFD, and a line longer than `MAX_LINE_BYTES` (no restic line
comes near it) is skipped without ever being held whole, and counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from exporter.errors import LogUnreadable

MAX_LINE_BYTES = 1024 * 1024
STDIN = "-"
JOURNAL_PREFIX = "journal:"
"""``journal:<invocation id>``: a systemd service invocation's output, read with journalctl."""


@dataclass
class LogSource:
    """An open log.  `skipped_long_lines` counts as the lines are read."""

    name: str
    stream: IO[bytes]
    skipped_long_lines: int = 0

    def lines(self) -> Iterator[str]:
        try:
            yield from self._lines()
        except OSError as error:
            raise LogUnreadable(f"cannot read {self.name}: {_reason(error)}") from None

    def _lines(self) -> Iterator[str]:
        readline = self.stream.readline
        while chunk := readline(MAX_LINE_BYTES + 1):
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                self.skipped_long_lines += 1
                while (rest := readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                continue
            yield chunk.rstrip(b"\r\n").decode("utf-8", errors="replace")

    def written_timestamp_seconds(self) -> float | None:
        """When the log was last written: its mtime; None for a pipe or a terminal."""
        if self.stream is sys.stdin.buffer:
            return None
        try:
            return os.fstat(self.stream.fileno()).st_mtime
        except OSError:
            return None

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()


@dataclass
class JournalSource(LogSource):
    """The output of one systemd service invocation, as journalctl prints it."""

    process: subprocess.Popen[bytes] | None = None

    def lines(self) -> Iterator[str]:
        yield from super().lines()
        assert self.process is not None
        if self.process.wait() != 0:
            assert self.process.stderr is not None
            reason = self.process.stderr.read().decode(errors="replace").strip().splitlines()
            raise LogUnreadable(f"journalctl failed: {reason[-1] if reason else 'no reason given'}")

    def written_timestamp_seconds(self) -> float | None:
        return None  # the hook runs as the service ends: "now" is when it ended

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def open_journal(invocation: str) -> LogSource:
    """journalctl's output for `invocation`, after asking journald to write out what it has
    (the service's last lines may still be on their way)."""
    command = ["journalctl", "--no-pager", "--output=cat", f"_SYSTEMD_INVOCATION_ID={invocation}"]
    try:
        subprocess.run(["journalctl", "--sync"], capture_output=True, timeout=10, check=False)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LogUnreadable(f"cannot run journalctl: {error}") from None
    assert process.stdout is not None
    return JournalSource(f"the journal of invocation {invocation}", process.stdout, process=process)


def open_log(name: str) -> LogSource:
    """Open a log by path, ``-`` for stdin, or ``journal:<invocation id>``.  Raises LogUnreadable
    with a one-line reason."""
    if name == STDIN:
        return LogSource("standard input", sys.stdin.buffer)
    if name.startswith(JOURNAL_PREFIX):
        return open_journal(name.removeprefix(JOURNAL_PREFIX))
    path = Path(name)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise LogUnreadable(f"cannot read log {name}: {_reason(error)}") from None
    return LogSource(name, stream)


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
