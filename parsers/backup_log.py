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
from dataclasses import dataclass, field, replace
from typing import assert_never

from parsers import restic_json, restic_text
from parsers.command import Command, CommandReader, freeze_into
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
    LockAge,
    Preamble,
    Processed,
    Progress,
    RepositoryLock,
    ScanFinished,
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


@dataclass(slots=True)
class BackupDraft:
    """A BackupRun while it is read (a frozen copy per line would cost more than the parse)."""

    first_line: int
    last_line: int
    complete: bool = False
    dry_run: bool = False
    snapshot_id: str | None = None
    snapshot_skipped: bool = False
    files: StateCounts | None = None
    dirs: StateCounts | None = None
    data_blobs: int | None = None
    tree_blobs: int | None = None
    added_bytes: int | None = None
    stored_bytes: int | None = None
    processed_files: int | None = None
    processed_bytes: int | None = None
    duration_seconds: float | None = None
    errors: int = 0
    missing_sources: int = 0
    source_read_warning: bool = False
    fatal_message: str | None = None
    interrupted: bool = False
    exit_code: int | None = None
    lock: RepositoryLock | None = None
    started_timestamp_seconds: float | None = None
    ended_timestamp_seconds: float | None = None
    progress: Progress | None = None
    dropped_values: tuple[str, ...] = ()
    interrupted_by_carriage_return: bool = False
    """The signal line was 0.19's: a Fatal after it still means exit 130."""
    error_items: _ErrorItems = field(default_factory=lambda: _ErrorItems())
    seen: set[tuple[type, str]] = field(default_factory=set)
    """The lines a run prints once that were read (see `_once_key`)."""
    in_body: bool = False
    """A line after backup's start-up was read."""

    @classmethod
    def starting_at(cls, line_number: int) -> BackupDraft:
        return cls(first_line=line_number, last_line=line_number)

    @property
    def ended(self) -> bool:
        return self.complete

    def freeze(self) -> BackupRun:
        run = freeze_into(BackupRun, self)
        if run.missing_sources and not run.source_read_warning and run.exit_code == 0:
            # restic before 0.19 exits 0, 0.19 exits 3 and warns after the snapshot line: a
            # log cut before that warning cannot tell
            run = replace(run, exit_code=None)
        return run


class _ErrorItems:
    """The items JSON ``error`` messages named, to count each once: restic reports an unreadable
    directory during the scan (``/backup/src/locked``) and again during archival (``src/locked``,
    relative on some versions), so a path and its tail at a ``/`` are one item."""

    __slots__ = ("_paths", "_tails")

    def __init__(self) -> None:
        self._paths: dict[str, set[str]] = {}
        """Per phase (``scan``, ``archival``, ...), every item and every ``/``-tail of it."""
        self._tails: dict[str, set[str]] = {}

    def is_new(self, item: str, during: str) -> bool:
        """Records `item`; False when another phase named it already."""
        tails = _tails(item)
        for phase, paths in self._paths.items():
            if phase == during:
                continue
            if item in self._tails[phase] or not paths.isdisjoint(tails):
                self._paths.setdefault(during, set()).add(item)
                self._tails.setdefault(during, set()).update(tails)
                return False
        self._paths.setdefault(during, set()).add(item)
        self._tails.setdefault(during, set()).update(tails)
        return True


def _tails(path: str) -> set[str]:
    """``/a/b/c`` -> {``/a/b/c``, ``a/b/c``, ``b/c``, ``c``} (bounded: a path of 64 parts)."""
    parts = path.strip("/").split("/")[-64:]
    return {path, *("/".join(parts[index:]) for index in range(len(parts)))}


def starts_new_run(run: BackupDraft, event: Event) -> bool:
    if isinstance(event, Progress) and _went_back(run.progress, event):
        return True  # the previous run died without a word (killed): this is another one
    if isinstance(event, LockAge):
        return False
    if run.interrupted and run.fatal_message is None and isinstance(event, Progress | ItemError):
        return False  # 0.17+ go on printing status lines until the cancelled run ends
    if isinstance(event, _STARTUP):
        return run.in_body or run.complete
    if _once_key(event) in run.seen:
        return True
    if not run.complete:
        return False
    if isinstance(event, _TRAILERS):
        return False
    interrupted_without_fatal = run.interrupted and run.fatal_message is None
    return not (isinstance(event, Fatal) and interrupted_without_fatal)


def fold(run: BackupDraft, event: Event) -> None:
    """Write what `event` says into the run being read."""
    if not isinstance(event, _STARTUP):
        run.in_body = True
    if isinstance(event, _ONCE_PER_RUN):
        run.seen.add(_once_key(event))
    if isinstance(event, Progress):
        run.progress = event
    elif isinstance(event, ItemCounts):
        counts = StateCounts(event.new, event.changed, event.unmodified)
        if event.kind == "files":
            run.files = counts
        else:
            run.dirs = counts
    elif isinstance(event, BlobCounts):
        if event.kind == "data":
            run.data_blobs = event.new
        else:
            run.tree_blobs = event.new
    elif isinstance(event, Added):
        run.added_bytes = event.added_bytes
        run.stored_bytes = event.stored_bytes
        run.dry_run = event.dry_run
    elif isinstance(event, Processed):
        run.processed_files = event.files
        run.processed_bytes = event.bytes
        run.duration_seconds = event.duration_seconds
        run.dropped_values += event.dropped
        run.complete = True
        run.exit_code = _exit_code(run, 0)
    elif isinstance(event, SnapshotSaved):
        run.snapshot_id = event.snapshot_id
    elif isinstance(event, SnapshotSkipped):
        run.snapshot_skipped = True
    elif isinstance(event, ItemError):
        if event.item is None or run.error_items.is_new(event.item, event.during or ""):
            run.errors += 1
    elif isinstance(event, SourceMissing):
        run.errors += 1
        run.missing_sources += 1
    elif isinstance(event, SourceReadWarning):
        # printed after the snapshot was saved (0.11 --json may print no summary before it)
        run.source_read_warning = True
        run.complete = True
        run.exit_code = _exit_code(run, 3)
    elif isinstance(event, Fatal):
        run.fatal_message = event.message
        run.complete = True
        run.lock = event.lock or run.lock
        cancelled_on_019 = run.interrupted and run.interrupted_by_carriage_return
        run.exit_code = 130 if cancelled_on_019 and not event.exact_exit_code else event.exit_code
    elif isinstance(event, Interrupted):
        run.interrupted = True
        run.interrupted_by_carriage_return = event.carriage_return
        run.complete = True
        run.exit_code = 130
    elif isinstance(event, LockAge):
        if run.lock is not None:
            run.lock = replace(run.lock, age_seconds=event.age_seconds)
    elif isinstance(event, BackupTimes):
        run.started_timestamp_seconds = event.started_timestamp_seconds
        run.ended_timestamp_seconds = event.ended_timestamp_seconds
        run.dropped_values += event.dropped
    elif isinstance(event, Preamble | ScanFinished):
        pass  # they only mark where a run starts and that it is under way
    else:
        assert_never(event)


COMMAND = Command(
    name="backup",
    record=BackupRun,
    # the router hands JSON messages to parse_json: parse_line gets the text lines
    candidate=restic_text.ROUTER_CANDIDATE,
    parse_line=restic_text.parse_candidate,
    new_draft=BackupDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    json_messages=restic_json.JSON_MESSAGES,
    parse_json=restic_json.parse_message,
)


class BackupLogParser:
    """Feed it lines in order; ask it for the latest run at any point."""

    def __init__(self) -> None:
        self._reader = CommandReader(COMMAND)
        self.lines = 0

    @property
    def runs(self) -> int:
        return self._reader.runs

    def feed(self, line: str) -> None:
        self.lines += 1
        self._reader.feed(parse_line(line, self.lines), self.lines)

    def feed_all(self, lines: Iterable[str]) -> BackupLog:
        for line in lines:
            self.feed(line)
        return self.result()

    def result(self) -> BackupLog:
        return BackupLog(
            latest_run=self._reader.latest(),
            runs=self.runs,
            lines=self.lines,
            previous_complete_run=self._reader.previous_complete,
        )


def parse_backup_log(lines: Iterable[str]) -> BackupLog:
    """Parse a whole log (an iterable of lines, consumed once) into its latest run."""
    return BackupLogParser().feed_all(lines)


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


def _exit_code(run: BackupDraft, code: int) -> int:
    """The larger claim wins: a warning's 3 is not undone by the summary that precedes it."""
    known = run.exit_code
    return code if known is None else max(known, code)
