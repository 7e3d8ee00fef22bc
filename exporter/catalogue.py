"""Every metric this exporter writes: name, HELP text and own labels, declared once.

The names are the public interface.  All are gauges (each value can go down from one run to the
next), in base units, with ``_timestamp_seconds`` for times.  HELP never varies: node_exporter
rejects a family whose HELP differs between two ``.prom`` files.  A user's ``--label``s come first
on every metric and are not listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.commands import NAMES


@dataclass(frozen=True)
class MetricSpec:
    name: str
    help: str
    labels: tuple[str, ...] = ()


BACKUP_SUCCESS = MetricSpec(
    "restic_backup_success",
    "1 if the latest restic backup saved a snapshot (or skipped one because nothing changed) "
    "with no errors, 0 if it failed, was partial, interrupted or could not be read.",
)
BACKUP_EXIT_CODE = MetricSpec(
    "restic_backup_exit_code",
    "Exit code of the latest restic backup: as given by --exit-code or systemd's $EXIT_STATUS, "
    "else as the log shows it (0, 1, 3, 10, 11, 12, 130).",
)
BACKUP_FILES = MetricSpec(
    "restic_backup_files",
    "Files in the latest restic backup, by state (new, changed, unmodified).",
    ("state",),
)
BACKUP_DIRS = MetricSpec(
    "restic_backup_dirs",
    "Directories in the latest restic backup, by state (new, changed, unmodified).",
    ("state",),
)
BACKUP_ADDED_BYTES = MetricSpec(
    "restic_backup_added_bytes",
    "Bytes of new data the latest restic backup added to the repository, before compression.",
)
BACKUP_STORED_BYTES = MetricSpec(
    "restic_backup_stored_bytes",
    "Bytes the latest restic backup actually stored in the repository, after compression "
    "(restic 0.14 and later).",
)
BACKUP_PROCESSED_FILES = MetricSpec(
    "restic_backup_processed_files",
    "Files the latest restic backup processed (new, changed and unmodified).",
)
BACKUP_PROCESSED_BYTES = MetricSpec(
    "restic_backup_processed_bytes",
    "Bytes the latest restic backup processed: the size of every file in the backup set.",
)
BACKUP_DURATION = MetricSpec(
    "restic_backup_duration_seconds",
    "Wall-clock duration of the latest restic backup in seconds.",
)
BACKUP_BLOBS = MetricSpec(
    "restic_backup_blobs",
    "New blobs the latest restic backup added, by type (data, tree).",
    ("type",),
)
BACKUP_ERRORS = MetricSpec(
    "restic_backup_errors",
    "Items the latest restic backup could not read (error lines and missing sources).",
)
BACKUP_DRY_RUN = MetricSpec(
    "restic_backup_dry_run",
    "1 if the latest restic backup was a dry run (--dry-run), which saves no snapshot.",
)
BACKUP_LAST_RUN = MetricSpec(
    "restic_backup_last_run_timestamp_seconds",
    "Unix time the latest restic backup ended, successful or not.",
)
BACKUP_LAST_SUCCESS = MetricSpec(
    "restic_backup_last_success_timestamp_seconds",
    "Unix time the latest successful restic backup ended; kept across failed runs.",
)
EXPORTER_PARSE_SUCCESS = MetricSpec(
    "restic_exporter_parse_success",
    "1 if the exporter read a complete restic run from the log, 0 if the log was missing, "
    "unreadable, empty, unrecognised or cut off.",
)

# --- a backup in progress (watch mode) ------------------------------------------------------------

BACKUP_RUNNING = MetricSpec(
    "restic_backup_running",
    "1 while a restic backup is in progress in the watched log, 0 when none is.",
)
BACKUP_PROGRESS_RATIO = MetricSpec(
    "restic_backup_progress_ratio",
    "Share of the bytes of the running restic backup done so far (0-1).",
)
BACKUP_PROGRESS_FILES = MetricSpec(
    "restic_backup_progress_files",
    "Files the running restic backup has processed so far.",
)
BACKUP_PROGRESS_BYTES = MetricSpec(
    "restic_backup_progress_bytes",
    "Bytes the running restic backup has processed so far.",
)
BACKUP_ETA = MetricSpec(
    "restic_backup_eta_seconds",
    "Seconds the running restic backup expects to need still, as restic estimates it.",
)
BACKUP_STARTED = MetricSpec(
    "restic_backup_started_timestamp_seconds",
    "Unix time the running restic backup started.",
)


# --- every other command (forget, prune, check, stats): for each one the log holds -----------


def _success(command: str) -> MetricSpec:
    return MetricSpec(
        f"restic_{command}_success",
        f"1 if the latest restic {command} finished without errors, 0 if it failed or was cut off.",
    )


def _last_run(command: str) -> MetricSpec:
    return MetricSpec(
        f"restic_{command}_last_run_timestamp_seconds",
        f"Unix time the latest restic {command} ended (when its log was last written).",
    )


# Every command after backup (which has metrics of its own above), as parsers.commands lists them.
COMMAND_SUCCESS = {name: _success(name) for name in NAMES if name != "backup"}
COMMAND_LAST_RUN = {name: _last_run(name) for name in NAMES if name != "backup"}

FORGET_SNAPSHOTS = MetricSpec(
    "restic_forget_snapshots",
    "Snapshots the latest restic forget kept or removed, by action (keep, remove).",
    ("action",),
)
PRUNE_BLOBS = MetricSpec(
    "restic_prune_blobs",
    "Blobs in the latest restic prune's statistics, by action (repack, remove, delete, "
    "total_prune, remaining).",
    ("action",),
)
PRUNE_BYTES = MetricSpec(
    "restic_prune_bytes",
    "Bytes in the latest restic prune's statistics, by action (repack, remove, delete, "
    "total_prune, remaining).",
    ("action",),
)
PRUNE_UNUSED_AFTER = MetricSpec(
    "restic_prune_unused_after_prune_bytes",
    "Unused bytes left in the repository after the latest restic prune.",
)
CHECK_ERRORS_FOUND = MetricSpec(
    "restic_check_errors_found",
    "1 if the latest restic check found errors in the repository, 0 if it found none.",
)
CHECK_PROBLEMS = MetricSpec(
    "restic_check_problems",
    "Problems the latest restic check listed (missing or damaged packs, trees, blobs).",
)
REPOSITORY_LOCK_CREATED = MetricSpec(
    "restic_repository_lock_created_timestamp_seconds",
    "Unix time the repository lock that kept the latest run of a restic command out was "
    "created: the run's end minus the lock's age restic reported, by command.",
    ("command",),
)
REPOSITORY_LOCK_INFO = MetricSpec(
    "restic_repository_lock_info",
    "1 for the holder of the repository lock that kept the latest run of a restic command out: "
    "its host, user and whether the lock is exclusive (true, false), by command.",
    ("command", "lock_host", "lock_user", "lock_exclusive"),
)
REPOSITORY_LOCK_PID = MetricSpec(
    "restic_repository_lock_pid",
    "Process ID, on the lock's host, of the restic holding the repository lock that kept the "
    "latest run of a restic command out, by command.",
    ("command",),
)


def _stats(name: str, help_text: str) -> MetricSpec:
    return MetricSpec(f"restic_stats_{name}", f"{help_text}, by stats mode.", ("mode",))


STATS_TOTAL_SIZE = _stats(
    "total_size_bytes", "Total size in bytes the latest restic stats reported"
)
STATS_UNCOMPRESSED_SIZE = _stats(
    "total_uncompressed_size_bytes",
    "Total uncompressed size in bytes the latest restic stats reported",
)
STATS_SNAPSHOTS = _stats("snapshots", "Snapshots the latest restic stats processed")
STATS_FILES = _stats("files", "Total file count the latest restic stats reported")
STATS_BLOBS = _stats("blobs", "Total blob count the latest restic stats reported")
STATS_COMPRESSION_RATIO = _stats(
    "compression_ratio", "Compression ratio (uncompressed / compressed) restic stats reported"
)
STATS_COMPRESSION_PROGRESS = _stats(
    "compression_progress_ratio", "Share of the data already compressed (0-1), from restic stats"
)
STATS_COMPRESSION_SAVING = _stats(
    "compression_space_saving_ratio", "Share of space saved by compression (0-1), from restic stats"
)

ALL = (
    BACKUP_SUCCESS,
    BACKUP_EXIT_CODE,
    BACKUP_FILES,
    BACKUP_DIRS,
    BACKUP_ADDED_BYTES,
    BACKUP_STORED_BYTES,
    BACKUP_PROCESSED_FILES,
    BACKUP_PROCESSED_BYTES,
    BACKUP_DURATION,
    BACKUP_BLOBS,
    BACKUP_ERRORS,
    BACKUP_DRY_RUN,
    BACKUP_LAST_RUN,
    BACKUP_LAST_SUCCESS,
    EXPORTER_PARSE_SUCCESS,
    BACKUP_RUNNING,
    BACKUP_PROGRESS_RATIO,
    BACKUP_PROGRESS_FILES,
    BACKUP_PROGRESS_BYTES,
    BACKUP_ETA,
    BACKUP_STARTED,
    *COMMAND_SUCCESS.values(),
    *COMMAND_LAST_RUN.values(),
    FORGET_SNAPSHOTS,
    PRUNE_BLOBS,
    PRUNE_BYTES,
    PRUNE_UNUSED_AFTER,
    CHECK_ERRORS_FOUND,
    CHECK_PROBLEMS,
    STATS_TOTAL_SIZE,
    STATS_UNCOMPRESSED_SIZE,
    STATS_SNAPSHOTS,
    STATS_FILES,
    STATS_BLOBS,
    STATS_COMPRESSION_RATIO,
    STATS_COMPRESSION_PROGRESS,
    STATS_COMPRESSION_SAVING,
    REPOSITORY_LOCK_CREATED,
    REPOSITORY_LOCK_INFO,
    REPOSITORY_LOCK_PID,
)

# autorestic's location and backend go on every metric of their section.
SECTION_LABELS = ("location", "backend")
# Labels the metrics use themselves: a user's --label may not take these names.
RESERVED_LABELS = frozenset(label for spec in ALL for label in spec.labels) | set(SECTION_LABELS)
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def label_problem(name: str, value: object) -> str | None:
    """Why `name = value` cannot be a label of ours, or None."""
    if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
        return f"{name!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"
    if name in RESERVED_LABELS:
        return f"{name!r} is used by the metrics themselves"
    if not isinstance(value, str):
        return f"the value of {name!r} must be a string"
    return None
