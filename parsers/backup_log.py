"""A whole ``restic backup`` log, text or ``--json`` or both mixed, folded into its latest run.

Text or JSON is decided line by line (a ``--json`` log still holds plain-text fatal errors), so
nothing needs configuring.  Lines are consumed as a stream: the parser keeps only the run it is
building, never the log, so a log of any size costs the same memory.

A log to which many runs were appended reports the latest.  A new run starts when:

* a line of backup's start-up (``using parent snapshot``, ``start scan on``, ...) follows a line
  of the backup proper;
* a line that a run prints once (``Files:``, ``processed ...``, a JSON summary) comes again;
* a status line shows less time or fewer bytes done than the one before (a run killed without a
  word, then the next one); or
* anything but a trailer follows a finished run.  A run is finished by its ``processed`` line or
  JSON summary, a fatal error or an interruption; the trailers that may still follow are
  ``snapshot ... saved``, ``skipped creating snapshot``, the exit-3 warning, and the ``Fatal:``
  restic 0.17 and 0.18 print after an interruption.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from parsers import restic_json, restic_text
from parsers.records import (
    Added,
    BackupLog,
    BackupRun,
    BackupTimes,
    BlobCounts,
    Event,
    Fatal,
    Interrupted,
    ItemCounts,
    ItemError,
    Preamble,
    Processed,
    Progress,
    SnapshotSaved,
    SnapshotSkipped,
    SourceMissing,
    SourceReadWarning,
    StateCounts,
)

_STARTUP = (Preamble, SourceMissing)
_TRAILERS = (SnapshotSaved, SnapshotSkipped, SourceReadWarning)
_ONCE_PER_RUN = (ItemCounts, BlobCounts, Added, Processed, SnapshotSaved, SnapshotSkipped)


def parse_line(line: str, line_number: int) -> tuple[Event, ...]:
    """The events of one log line, whichever of restic's output modes it is in."""
    if restic_json.looks_like_json(line):
        events = restic_json.parse_line(line, line_number)
        if events:
            return events
    return restic_text.parse_line(line, line_number)


class BackupLogParser:
    """Feed it lines in order; ask it for the latest run at any point."""

    def __init__(self) -> None:
        self._run: _RunBuilder | None = None
        self._previous_complete: BackupRun | None = None
        self.runs = 0
        self.lines = 0

    def feed(self, line: str) -> None:
        self.lines += 1
        self.feed_events(parse_line(line, self.lines), self.lines)

    def feed_events(self, events: Iterable[Event], line_number: int) -> None:
        """Events of a line parsed elsewhere (a log that mixes commands routes them here)."""
        for event in events:
            self._apply(event, line_number)

    def feed_all(self, lines: Iterable[str]) -> BackupLog:
        for line in lines:
            self.feed(line)
        return self.result()

    def result(self) -> BackupLog:
        return BackupLog(
            latest_run=self._run.build() if self._run is not None else None,
            runs=self.runs,
            lines=self.lines,
            previous_complete_run=self._previous_complete,
        )

    def _apply(self, event: Event, line_number: int) -> None:
        if self._run is None or self._run.starts_new_run(event):
            if self._run is not None and self._run.complete:
                self._previous_complete = self._run.build()
            self._run = _RunBuilder(first_line=line_number)
            self.runs += 1
        self._run.apply(event, line_number)


def parse_backup_log(lines: Iterable[str]) -> BackupLog:
    """Parse a whole log (an iterable of lines, consumed once) into its latest run."""
    return BackupLogParser().feed_all(lines)


class _RunBuilder:
    """Mutable while the run is read (a frozen copy per line would cost more than the parse);
    frozen into a BackupRun on request."""

    def __init__(self, first_line: int) -> None:
        self.fields: dict[str, Any] = {"first_line": first_line, "last_line": first_line}
        self.seen: set[tuple[type, str]] = set()
        self.in_body = False

    @property
    def complete(self) -> bool:
        return bool(self.fields.get("complete"))

    def starts_new_run(self, event: Event) -> bool:
        if isinstance(event, Progress) and _went_back(self.fields.get("progress"), event):
            return True  # the previous run died without a word (killed): this is another one
        if isinstance(event, _STARTUP):
            return self.in_body or self.complete
        if _once_key(event) in self.seen:
            return True
        if not self.complete:
            return False
        if isinstance(event, _TRAILERS):
            return False
        fields = self.fields
        interrupted_without_fatal = fields.get("interrupted") and "fatal_message" not in fields
        return not (isinstance(event, Fatal) and interrupted_without_fatal)

    def apply(self, event: Event, line_number: int) -> None:
        if not isinstance(event, _STARTUP):
            self.in_body = True
        if isinstance(event, _ONCE_PER_RUN):
            self.seen.add(_once_key(event))
        _fold(self.fields, event)
        self.fields["last_line"] = line_number

    def build(self) -> BackupRun:
        return BackupRun(**{"complete": False, **self.fields})


def _went_back(previous: Progress | None, latest: Progress) -> bool:
    """Time and bytes done only grow within a run."""
    if previous is None:
        return False
    return (
        latest.elapsed_seconds < previous.elapsed_seconds or latest.bytes_done < previous.bytes_done
    )


def _once_key(event: Event) -> tuple[type, str]:
    if isinstance(event, ItemCounts | BlobCounts):
        return (type(event), event.kind)
    if isinstance(event, SnapshotSkipped):
        return (SnapshotSaved, "")
    return (type(event), "")


def _fold(run: dict[str, Any], event: Event) -> None:
    """Write what `event` says into the fields of the run being read."""
    if isinstance(event, Progress):
        run["progress"] = event
    elif isinstance(event, ItemCounts):
        run[event.kind] = StateCounts(event.new, event.changed, event.unmodified)
    elif isinstance(event, BlobCounts):
        run[f"{event.kind}_blobs"] = event.new
    elif isinstance(event, Added):
        run.update(
            added_bytes=event.added_bytes, stored_bytes=event.stored_bytes, dry_run=event.dry_run
        )
    elif isinstance(event, Processed):
        run.update(
            processed_files=event.files,
            processed_bytes=event.bytes,
            duration_seconds=event.duration_seconds,
            complete=True,
            exit_code=_exit_code(run, 0),
        )
    elif isinstance(event, SnapshotSaved):
        run["snapshot_id"] = event.snapshot_id
    elif isinstance(event, SnapshotSkipped):
        run["snapshot_skipped"] = True
    elif isinstance(event, ItemError | SourceMissing):
        run["errors"] = run.get("errors", 0) + 1
    elif isinstance(event, SourceReadWarning):
        run.update(source_read_warning=True, exit_code=_exit_code(run, 3))
    elif isinstance(event, Fatal):
        run.update(
            fatal_message=event.message,
            complete=True,
            exit_code=130
            if run.get("interrupted") and not event.exact_exit_code
            else event.exit_code,
        )
    elif isinstance(event, Interrupted):
        run.update(interrupted=True, complete=True, exit_code=130)
    elif isinstance(event, BackupTimes):
        run.update(
            started_timestamp_seconds=event.started_timestamp_seconds,
            ended_timestamp_seconds=event.ended_timestamp_seconds,
        )


def _exit_code(run: dict[str, Any], code: int) -> int:
    """The larger claim wins: a warning's 3 is not undone by the summary that precedes it."""
    known: int | None = run.get("exit_code")
    return code if known is None else max(known, code)
