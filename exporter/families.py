"""Reports to prometheus_client metric families.  Pure: no I/O, no clock.

Values the log did not state are left out rather than written as 0, so that a failed run does not
look like a run that backed up nothing.  Every sample carries the user's labels first, then its
section's (autorestic's location and backend), then its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter import catalogue
from exporter.catalogue import MetricSpec
from exporter.report import BackupReport, CommandReport, SectionReport
from parsers.records import (
    CheckRun,
    ForgetRun,
    PruneRun,
    RepositoryLock,
    StateCounts,
    StatsRun,
)


class _Families:
    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(
        self, spec: MetricSpec, value: float | None, labels: Mapping[str, str], **own: str
    ) -> None:
        if value is None:
            return
        family = self._families.get(spec.name)
        if family is None:
            family = self._families[spec.name] = GaugeMetricFamily(spec.name, spec.help)
        family.add_sample(spec.name, {**labels, **{n: own[n] for n in spec.labels}}, value)

    def add_states(
        self, spec: MetricSpec, counts: StateCounts | None, labels: Mapping[str, str]
    ) -> None:
        if counts is not None:
            self.add(spec, counts.new, labels, state="new")
            self.add(spec, counts.changed, labels, state="changed")
            self.add(spec, counts.unmodified, labels, state="unmodified")

    def families(self) -> list[Metric]:
        return list(self._families.values())


def log_families(sections: Iterable[SectionReport], user_labels: Mapping[str, str]) -> list[Metric]:
    out = _Families()
    for section in sections:
        labels = {**user_labels, **section.labels}
        if section.backup is not None:
            _backup(out, section.backup, labels)
        for command in section.commands:
            _command(out, command, labels)
    return out.families()


def _backup(out: _Families, report: BackupReport, labels: Mapping[str, str]) -> None:
    run = report.run
    if report.success is not None:
        out.add(catalogue.BACKUP_SUCCESS, int(report.success), labels)
    out.add(catalogue.BACKUP_EXIT_CODE, report.exit_code, labels)
    if run is not None:
        out.add_states(catalogue.BACKUP_FILES, run.files, labels)
        out.add_states(catalogue.BACKUP_DIRS, run.dirs, labels)
        out.add(catalogue.BACKUP_ADDED_BYTES, run.added_bytes, labels)
        out.add(catalogue.BACKUP_STORED_BYTES, run.stored_bytes, labels)
        out.add(catalogue.BACKUP_PROCESSED_FILES, run.processed_files, labels)
        out.add(catalogue.BACKUP_PROCESSED_BYTES, run.processed_bytes, labels)
        out.add(catalogue.BACKUP_DURATION, run.duration_seconds, labels)
        out.add(catalogue.BACKUP_BLOBS, run.data_blobs, labels, type="data")
        out.add(catalogue.BACKUP_BLOBS, run.tree_blobs, labels, type="tree")
        out.add(catalogue.BACKUP_ERRORS, run.errors, labels)
        if run.added_bytes is not None:  # only the "Added"/"Would add" line tells a dry run
            out.add(catalogue.BACKUP_DRY_RUN, int(run.dry_run), labels)
    out.add(catalogue.BACKUP_LAST_RUN, report.last_run_timestamp_seconds, labels)
    if run is not None:
        _lock(out, "backup", run.lock, report.last_run_timestamp_seconds, labels)
    out.add(catalogue.BACKUP_LAST_SUCCESS, report.last_success_timestamp_seconds, labels)
    if report.success is not None:
        out.add(catalogue.EXPORTER_PARSE_SUCCESS, int(report.parse_success), labels)
    if report.live is not None:
        live, progress = report.live, report.live.progress
        out.add(catalogue.BACKUP_RUNNING, int(live.running), labels)
        if live.running and progress is not None:
            out.add(catalogue.BACKUP_PROGRESS_RATIO, progress.ratio_done, labels)
            out.add(catalogue.BACKUP_PROGRESS_FILES, progress.files_done, labels)
            out.add(catalogue.BACKUP_PROGRESS_BYTES, progress.bytes_done, labels)
            out.add(catalogue.BACKUP_ETA, progress.eta_seconds, labels)
            out.add(catalogue.BACKUP_STARTED, live.started_timestamp_seconds, labels)


def _command(out: _Families, report: CommandReport, labels: Mapping[str, str]) -> None:
    if report.success is not None:
        out.add(catalogue.COMMAND_SUCCESS[report.command], int(report.success), labels)
    out.add(catalogue.COMMAND_LAST_RUN[report.command], report.last_run_timestamp_seconds, labels)
    run = report.run
    _lock(out, report.command, run.lock, report.last_run_timestamp_seconds, labels)
    if isinstance(run, ForgetRun):
        out.add(catalogue.FORGET_SNAPSHOTS, run.kept_snapshots, labels, action="keep")
        out.add(catalogue.FORGET_SNAPSHOTS, run.removed_snapshots, labels, action="remove")
    elif isinstance(run, PruneRun):
        for action, blobs, size in (
            ("repack", run.repack_blobs, run.repack_bytes),
            ("remove", run.remove_blobs, run.remove_bytes),
            ("delete", run.delete_blobs, run.delete_bytes),
            ("total_prune", run.total_prune_blobs, run.total_prune_bytes),
            ("remaining", run.remaining_blobs, run.remaining_bytes),
        ):
            out.add(catalogue.PRUNE_BLOBS, blobs, labels, action=action)
            out.add(catalogue.PRUNE_BYTES, size, labels, action=action)
        out.add(catalogue.PRUNE_UNUSED_AFTER, run.unused_bytes_after_prune, labels)
    elif isinstance(run, CheckRun):
        if run.complete:
            out.add(catalogue.CHECK_ERRORS_FOUND, int(run.errors_found), labels)
        out.add(catalogue.CHECK_PROBLEMS, run.problems, labels)
    elif isinstance(run, StatsRun):
        for stats in (*report.earlier_runs, run):
            if isinstance(stats, StatsRun):
                _stats(out, stats, labels)


def _stats(out: _Families, run: StatsRun, labels: Mapping[str, str]) -> None:
    """One stats run's values, labelled by its mode (each mode's latest run is reported)."""
    mode = run.mode or "unknown"
    for spec, value in (
        (catalogue.STATS_TOTAL_SIZE, run.total_size_bytes),
        (catalogue.STATS_UNCOMPRESSED_SIZE, run.total_uncompressed_size_bytes),
        (catalogue.STATS_SNAPSHOTS, run.snapshots),
        (catalogue.STATS_FILES, run.files),
        (catalogue.STATS_BLOBS, run.blobs),
        (catalogue.STATS_COMPRESSION_RATIO, run.compression_ratio),
        (catalogue.STATS_COMPRESSION_PROGRESS, run.compression_progress_ratio),
        (catalogue.STATS_COMPRESSION_SAVING, run.compression_space_saving_ratio),
    ):
        out.add(spec, value, labels, mode=mode)


def _lock(
    out: _Families,
    command: str,
    lock: RepositoryLock | None,
    ended: float | None,
    labels: Mapping[str, str],
) -> None:
    """Who held the lock that kept a run out.  Host and user are labels (a handful of values per
    repository, cut to 64 characters by the parser); the PID, new for every lock, is a value."""
    if lock is None:
        return
    exclusive = "true" if lock.exclusive else "false"
    out.add(
        catalogue.REPOSITORY_LOCK_INFO,
        1,
        labels,
        command=command,
        lock_host=lock.host,
        lock_user=lock.user,
        lock_exclusive=exclusive,
    )
    out.add(catalogue.REPOSITORY_LOCK_PID, lock.pid, labels, command=command)
    if lock.age_seconds is not None and ended is not None:
        created = ended - lock.age_seconds
        out.add(catalogue.REPOSITORY_LOCK_CREATED, created, labels, command=command)
