"""Typed records: what one line of a restic log says (events), and what one backup run was.

Units are in the field names and are Prometheus base units (bytes, seconds, Unix timestamps in
seconds).  A field that the log did not state is ``None``, never 0 or -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class LineError(ValueError):
    """A line that looks like restic output but whose values cannot be converted."""

    def __init__(self, line_number: int, line: str, reason: str) -> None:
        self.line_number = line_number
        self.line = line
        self.reason = reason
        shown = line if len(line) <= 120 else line[:117] + "..."
        super().__init__(f"line {line_number}: {reason}: {shown!r}")


# --- events: one per recognised line (a JSON summary line yields several) ----------------------


@dataclass(frozen=True)
class Preamble:
    """A line restic prints before the backup proper: opening, locking, choosing a parent."""

    text: str


@dataclass(frozen=True)
class SourceMissing:
    """``/srv/gone does not exist, skipping``: a source given on the command line is missing."""

    path: str


@dataclass(frozen=True)
class Progress:
    """A status line (text with ``RESTIC_PROGRESS_FPS``, or a JSON ``status`` message)."""

    elapsed_seconds: float
    ratio_done: float | None
    files_done: int
    bytes_done: int
    total_files: int | None
    total_bytes: int | None
    errors: int
    eta_seconds: float | None


@dataclass(frozen=True)
class ScanFinished:
    files: int
    bytes: int
    duration_seconds: float


@dataclass(frozen=True)
class ItemCounts:
    """``Files:`` or ``Dirs:``: how many items were new, changed, unmodified."""

    kind: Literal["files", "dirs"]
    new: int
    changed: int
    unmodified: int


@dataclass(frozen=True)
class BlobCounts:
    kind: Literal["data", "tree"]
    new: int


@dataclass(frozen=True)
class Added:
    """``Added to the repository: X (Y stored)`` or its dry-run form ``Would add ...``."""

    added_bytes: int
    stored_bytes: int | None
    dry_run: bool


@dataclass(frozen=True)
class Processed:
    files: int
    bytes: int
    duration_seconds: float | None
    """None when restic printed an impossible duration (named in `dropped`)."""
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapshotSaved:
    snapshot_id: str


@dataclass(frozen=True)
class SnapshotSkipped:
    """``skipped creating snapshot`` (0.17+, ``--skip-if-unchanged``); a JSON summary without ID."""


@dataclass(frozen=True)
class ItemError:
    """A per-item error (``error: open x: permission denied``); the backup goes on.  `item` and
    `during` (``scan`` or ``archival``) come from a JSON ``error`` message, which restic prints
    twice for one unreadable directory (once per phase)."""

    message: str
    item: str | None = None
    during: str | None = None


@dataclass(frozen=True)
class SourceReadWarning:
    """``Warning: at least one source file could not be read``: restic exits 3."""


@dataclass(frozen=True)
class Fatal:
    """The run ended with an error; `exit_code` is restic's, as far as the text tells it."""

    message: str
    exit_code: int | None
    """None where restic's versions exit with different codes for this text (a wrong password:
    1 up to 0.17.0, 12 from 0.17.1; a lock held by another: 1 before 0.17, 11 from 0.17)."""
    exact_exit_code: bool = False
    """restic said the code itself (a JSON ``exit_error``): nothing overrides it."""
    lock: RepositoryLock | None = None
    """Who holds the lock, for ``unable to create lock in backend: repository is already
    locked ...``."""


@dataclass(frozen=True)
class Interrupted:
    signal_name: str
    carriage_return: bool = False
    """The line began with a carriage return, as 0.19 prints it (``\\rsignal interrupt received,
    cleaning up ``); older versions erase the line with ``\\x1b[2K``.  0.19 exits 130 even when
    a ``Fatal: ... context canceled`` follows; 0.17 and 0.18 then exit 1."""


@dataclass(frozen=True)
class RepositoryLock:
    """Who holds the lock that kept a command out: restic's ``repository is already locked
    [exclusively] by PID <pid> on <host> by <user> (UID <uid>, GID <gid>)`` and its next line
    ``lock was created at <local time> (<Go duration> ago)``."""

    pid: int
    host: str
    user: str
    exclusive: bool
    age_seconds: float | None = None
    """How old the lock was when restic reported it; None until the ``lock was created`` line."""


@dataclass(frozen=True)
class LockAge:
    """``lock was created at 2026-12-04 15:00:22 (378.157569ms ago)``: the age of the lock just
    named.  The creation time is restic's local time without a zone, so only the age is kept."""

    age_seconds: float


@dataclass(frozen=True)
class BackupTimes:
    """JSON ``backup_start`` and ``backup_end`` (0.18+)."""

    started_timestamp_seconds: float | None
    ended_timestamp_seconds: float | None
    dropped: tuple[str, ...] = ()
    """Times restic printed that cannot be a backup's (``0001-01-01T00:00:00Z``)."""


Event = (
    Preamble
    | SourceMissing
    | Progress
    | ScanFinished
    | ItemCounts
    | BlobCounts
    | Added
    | Processed
    | SnapshotSaved
    | SnapshotSkipped
    | ItemError
    | SourceReadWarning
    | Fatal
    | Interrupted
    | LockAge
    | BackupTimes
)


# --- what a run was ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateCounts:
    new: int
    changed: int
    unmodified: int


@dataclass(frozen=True)
class BackupRun:
    """One ``restic backup`` run as its log shows it."""

    first_line: int
    last_line: int
    complete: bool
    """The run reached an end the log shows: a summary, a fatal error or an interruption."""
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
    """Items restic could not read, and sources that do not exist (one per item, not per
    message: ``--json`` reports an unreadable directory twice)."""
    missing_sources: int = 0
    """Sources given on the command line that do not exist (``x does not exist, skipping``);
    counted in `errors` too.  restic before 0.19 saves the snapshot and exits 0."""
    source_read_warning: bool = False
    fatal_message: str | None = None
    interrupted: bool = False
    exit_code: int | None = None
    """restic's exit code as the log tells it; None where the log does not say."""
    lock: RepositoryLock | None = None
    """Who held the repository's lock, when a lock kept the run out."""
    started_timestamp_seconds: float | None = None
    ended_timestamp_seconds: float | None = None
    progress: Progress | None = None
    """The latest status line, if the log had any."""
    dropped_values: tuple[str, ...] = ()
    """Values restic printed that cannot be true (a duration of 5124095573468383 hours, a
    backup ending in year 1), left out of the record's fields: the exporter warns of them."""

    @property
    def saved_snapshot(self) -> bool:
        """A snapshot was saved, or deliberately skipped because nothing had changed.  restic
        prints its exit-3 warning only after saving the snapshot: 0.11 ``--json`` sometimes
        prints no summary, only that warning."""
        return (
            self.snapshot_id is not None
            or self.snapshot_skipped
            or (self.source_read_warning and self.fatal_message is None and not self.dry_run)
        )

    @property
    def failure_reason(self) -> str | None:
        """Why the run did not succeed, in a few words; None when the log shows a clean success."""
        if self.fatal_message is not None:
            return self.fatal_message
        if self.interrupted:
            return "interrupted"
        if not self.complete:
            return "the log ends before the run finished"
        if self.dry_run:
            return "dry run: no snapshot was saved"
        if self.source_read_warning or self.errors > self.missing_sources:
            return f"{self.errors} item(s) could not be read"
        if not self.saved_snapshot:
            return "no snapshot was saved"
        return None


@dataclass(frozen=True)
class BackupLog:
    """What a whole log holds: its latest run and how much of it was understood."""

    latest_run: BackupRun | None
    runs: int
    lines: int
    previous_complete_run: BackupRun | None = None
    """The latest run before `latest_run` that reached its end: what a backup in progress
    does not yet replace."""


# --- the other commands: forget, prune, check, stats ---------------------------------------------


@dataclass(frozen=True)
class CommandRun:
    """What every command's run shares.  `complete`: the log shows how the run ended."""

    first_line: int
    last_line: int
    complete: bool = False
    errors: int = 0
    fatal_message: str | None = None
    exit_code: int | None = None
    lock: RepositoryLock | None = None
    """Who held the repository's lock, when a lock kept the run out."""

    @property
    def failure_reason(self) -> str | None:
        if self.fatal_message is not None:
            return self.fatal_message
        if not self.complete:
            return "the log ends before the run finished"
        if self.errors:
            return f"{self.errors} error(s)"
        return None


@dataclass(frozen=True)
class ForgetRun(CommandRun):
    kept_snapshots: int | None = None
    removed_snapshots: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class PruneRun(CommandRun):
    repack_blobs: int | None = None
    repack_bytes: int | None = None
    remove_blobs: int | None = None
    remove_bytes: int | None = None
    delete_blobs: int | None = None
    delete_bytes: int | None = None
    total_prune_blobs: int | None = None
    total_prune_bytes: int | None = None
    remaining_blobs: int | None = None
    remaining_bytes: int | None = None
    unused_bytes_after_prune: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class CheckRun(CommandRun):
    problems: int = 0
    """Problems restic listed (missing packs, damaged trees, error lines)."""

    @property
    def errors_found(self) -> bool:
        return self.problems > 0 or self.errors > 0 or self.fatal_message is not None


@dataclass(frozen=True)
class StatsRun(CommandRun):
    mode: str | None = None
    snapshots: int | None = None
    files: int | None = None
    blobs: int | None = None
    total_size_bytes: int | None = None
    total_uncompressed_size_bytes: int | None = None
    compression_ratio: float | None = None
    compression_progress_ratio: float | None = None
    compression_space_saving_ratio: float | None = None
