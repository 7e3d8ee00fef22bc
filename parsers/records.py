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
    duration_seconds: float


@dataclass(frozen=True)
class SnapshotSaved:
    snapshot_id: str


@dataclass(frozen=True)
class SnapshotSkipped:
    """``skipped creating snapshot`` (0.17+, ``--skip-if-unchanged``); a JSON summary without ID."""


@dataclass(frozen=True)
class ItemError:
    """A per-item error (``error: open x: permission denied``); the backup goes on."""

    message: str


@dataclass(frozen=True)
class SourceReadWarning:
    """``Warning: at least one source file could not be read``: restic exits 3."""


@dataclass(frozen=True)
class Fatal:
    """The run ended with an error; `exit_code` is restic's, as far as the text tells it."""

    message: str
    exit_code: int
    exact_exit_code: bool = False
    """restic said the code itself (a JSON ``exit_error``): nothing overrides it."""


@dataclass(frozen=True)
class Interrupted:
    signal_name: str


@dataclass(frozen=True)
class BackupTimes:
    """JSON ``backup_start`` and ``backup_end`` (0.18+)."""

    started_timestamp_seconds: float
    ended_timestamp_seconds: float


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
    source_read_warning: bool = False
    fatal_message: str | None = None
    interrupted: bool = False
    exit_code: int | None = None
    """restic's exit code as the log tells it; None where the log does not say."""
    started_timestamp_seconds: float | None = None
    ended_timestamp_seconds: float | None = None
    progress: Progress | None = None
    """The latest status line, if the log had any."""

    @property
    def saved_snapshot(self) -> bool:
        """A snapshot was saved, or deliberately skipped because nothing had changed."""
        return self.snapshot_id is not None or self.snapshot_skipped

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
        if self.source_read_warning or self.errors:
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
