"""``restic-textfile-exporter run -- restic backup ...``: run the command, pass its output through
untouched, and publish its metrics with the exact start, end and exit code.

* The command's stdout and stderr are copied byte for byte, as they come, to ours (and appended
  to ``--log``): a user watching the terminal, or a ``--json`` consumer downstream, sees what they
  would see without us.  The same bytes feed the parser, line by line.
* While it runs, the outputs show it running (``restic_backup_running 1`` and the progress that
  restic's status lines give) at most once every `progress_interval_seconds`, from a thread of
  its own: a slow output never slows the command, and each publication replaces the last one, so
  a run of any length writes a bounded number of bytes.
* SIGINT, SIGTERM and SIGHUP are forwarded to the command; the final metrics are still written.
* At the end the outputs get the metrics ``parse`` would write for the same output, with the
  command's exit code (a death by a signal is 128 + its number) and the time it ended.
* ``--ping``: start, then success or the exit code (`exporter.ping`); a failed ping is one line
  on stderr and never changes the exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, TextIO

from exporter.fast_scan import LineSelector
from exporter.logsource import MAX_LINE_BYTES
from exporter.outputs import Output
from exporter.paths import describe_os_error
from exporter.ping import MAX_BODY_BYTES, Pinger, PingFailed
from exporter.pipeline import Publication, PublishOptions, publish
from exporter.reading import reading_of
from parsers.log import LogParser

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
COPY_GRACE_SECONDS = 2.0
"""After the command ended, how long its output is still read (what it wrote just before)."""
DEFAULT_PROGRESS_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class WrappedRun:
    exit_code: int
    started_timestamp_seconds: float
    ended_timestamp_seconds: float
    publication: Publication | None
    """The final publication (also when the command could not be started)."""
    messages: tuple[str, ...]
    """Our own problems (outputs, pings), one line each."""


class _Feed:
    """The command's output, parsed as it arrives; safe to read from another thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parser = LogParser()
        self._selector = LineSelector(self.parser)
        self.lock = threading.Lock()
        self.skipped_long_lines = 0
        self.tail: deque[bytes] = deque()
        self._tail_bytes = 0
        self.lines_seen = 0

    def add(self, partial: bytearray, chunk: bytes) -> None:
        """`chunk` read from one stream whose unfinished line is `partial`."""
        with self.lock:  # both streams' copiers keep one tail
            self._keep_tail(chunk)
        partial += chunk
        if b"\n" not in chunk:
            if len(partial) > MAX_LINE_BYTES:  # never hold an endless line
                del partial[:]
                with self.lock:
                    self.skipped_long_lines += 1
            return
        data = bytes(partial)
        end = data.rfind(b"\n") + 1
        partial[:] = data[end:]
        with self.lock:  # only the lines that can matter are parsed (exporter.fast_scan)
            self._selector.complete_lines(data[:end])
            self.lines_seen += data.count(b"\n", 0, end)

    def _keep_tail(self, chunk: bytes) -> None:
        self.tail.append(chunk)
        self._tail_bytes += len(chunk)
        while self._tail_bytes - len(self.tail[0]) >= MAX_BODY_BYTES:
            self._tail_bytes -= len(self.tail.popleft())

    def tail_bytes(self) -> bytes:
        with self.lock:
            return b"".join(self.tail)[-MAX_BODY_BYTES:]


def run_wrapped(
    command: Sequence[str],
    outputs: Sequence[Output],
    options: PublishOptions,
    *,
    log: Path | None = None,
    pinger: Pinger | None = None,
    progress_interval_seconds: float = DEFAULT_PROGRESS_INTERVAL_SECONDS,
    environment: dict[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> WrappedRun:
    messages: list[str] = []
    ping_threads: list[threading.Thread] = []
    if pinger is not None:
        ping_threads.append(_in_background(pinger.start, messages))
    log_file = _open_log(log, messages)
    feed = _Feed(" ".join(command)[:200])
    started = clock()
    try:
        process = subprocess.Popen(
            list(command),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
    except (OSError, ValueError) as error:
        code = 127 if isinstance(error, FileNotFoundError) else 126
        reason = f"cannot run {command[0]!r}: {getattr(error, 'strerror', None) or error}"
        messages.append(reason)
        feed.add(bytearray(), f"{reason}\n".encode())  # the run's whole output, for the ping
        if log_file is not None:
            log_file.close()
        return _finish(feed, code, started, clock(), outputs, options, pinger, ping_threads,
                       messages)  # fmt: skip
    previous_handlers = _forward_signals(process)
    stop_progress = threading.Event()
    try:
        assert process.stdout is not None and process.stderr is not None
        copiers = [
            threading.Thread(
                target=_copy,
                args=(source, _descriptor_of(target), log_file, feed),
                name=f"copy-{name}",
                daemon=True,
            )
            for name, source, target in (
                ("stdout", process.stdout, sys.stdout),
                ("stderr", process.stderr, sys.stderr),
            )
        ]
        for copier in copiers:
            copier.start()
        progress = threading.Thread(
            target=_publish_progress,
            args=(feed, outputs, options, progress_interval_seconds, stop_progress, clock),
            name="progress",
            daemon=True,
        )
        progress.start()
        returncode = process.wait()
        ended = clock()
        for copier in copiers:
            # A process the command left behind may hold its stdout open for ever: what it
            # writes after the command ended is not this run's, and is not waited for.
            copier.join(timeout=COPY_GRACE_SECONDS)
        stop_progress.set()
        progress.join()
        exit_code = 128 - returncode if returncode < 0 else returncode
        # Signals are still forwarded (to a command that is gone: ignored) until the final
        # metrics are out, so a SIGTERM now does not replace restic's exit code with ours.
        return _finish(feed, exit_code, started, ended, outputs, options, pinger, ping_threads,
                       messages)  # fmt: skip
    finally:
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
        if log_file is not None:
            with contextlib.suppress(OSError):
                log_file.close()


def _finish(
    feed: _Feed,
    exit_code: int,
    started: float,
    ended: float,
    outputs: Sequence[Output],
    options: PublishOptions,
    pinger: Pinger | None,
    ping_threads: list[threading.Thread],
    messages: list[str],
) -> WrappedRun:
    """The final metrics (always: also for a command that could not be started), then the
    ping."""
    with feed.lock:
        reading = reading_of(feed.parser, feed.name, feed.skipped_long_lines, ended)
    final = PublishOptions(options.labels, exit_code, options.partial_ok, run_just_ended=True)
    publication = publish(reading, final, outputs, ended)
    messages.extend(str(failure) for failure in publication.failed_outputs)
    if pinger is not None:
        _join(ping_threads)
        _ping_finish(pinger, exit_code, feed.tail_bytes(), messages)
    return WrappedRun(exit_code, started, ended, publication, tuple(messages))


def _descriptor_of(stream: TextIO | None) -> int | None:
    try:
        return stream.fileno() if stream is not None else None
    except (OSError, ValueError):  # closed, or not a real file (a test's capture)
        return None


def _copy(source: BinaryIO, target: int | None, log_file: BinaryIO | None, feed: _Feed) -> None:
    """Pass the bytes through as they come; a closed terminal must not stop the command."""
    partial = bytearray()
    descriptor = source.fileno()
    while chunk := os.read(descriptor, 65536):
        if target is not None:
            try:
                _write_all(target, chunk)
            except OSError:
                target = None  # our stdout closed (a consumer that quit): the command goes on
        if log_file is not None:
            try:
                log_file.write(chunk)
                log_file.flush()
            except OSError:
                log_file = None  # a full disk: the command goes on, the log stops here
        feed.add(partial, chunk)
    if partial:
        feed.add(partial, b"\n")


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _publish_progress(
    feed: _Feed,
    outputs: Sequence[Output],
    options: PublishOptions,
    interval: float,
    stop: threading.Event,
    clock: Callable[[], float],
) -> None:
    live = PublishOptions(options.labels, None, options.partial_ok, live=True)
    published_lines = -1
    while not stop.wait(interval):
        with feed.lock:
            if feed.lines_seen == published_lines:
                continue  # nothing new: no write
            published_lines = feed.lines_seen
            now = clock()
            reading = reading_of(feed.parser, feed.name, feed.skipped_long_lines, now, live=True)
        publish(reading, live, outputs, now)


def _forward_signals(process: subprocess.Popen[bytes]) -> dict[int, Any]:
    def forward(number: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(number)

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, forward) for number in FORWARDED_SIGNALS}


def _open_log(log: Path | None, messages: list[str]) -> BinaryIO | None:
    """The log to append to: a regular file (made if missing), never a FIFO (opening one would
    wait for a reader before the command even starts), a device or a link."""
    if log is None:
        return None
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY
    try:
        descriptor = os.open(log, flags | os.O_CLOEXEC, 0o644)
    except OSError as error:
        messages.append(f"cannot append to {log}: {describe_os_error(error)}; running without it")
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        messages.append(f"cannot append to {log}: not a regular file; running without it")
        return None
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "ab")


def _in_background(ping: Callable[[], None], messages: list[str]) -> threading.Thread:
    def attempt() -> None:
        try:
            ping()
        except PingFailed as error:
            messages.append(str(error))

    thread = threading.Thread(target=attempt, name="ping", daemon=True)
    thread.start()
    return thread


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


def _ping_finish(pinger: Pinger, exit_code: int, tail: bytes, messages: list[str]) -> None:
    try:
        pinger.finish(exit_code, tail)
    except PingFailed as error:
        messages.append(str(error))
