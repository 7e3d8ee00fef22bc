"""What the exporter concludes about a log: per section, the backup and every other command.

Pure: restic's exit code, when the log was last written and what the previous metrics file said
are passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from exporter.catalogue import SECTION_LABELS
from parsers import BackupRun
from parsers.log import ParsedLog, Section
from parsers.records import CheckRun, CommandRun, Progress

Labels = Mapping[str, str]
LastSuccessLookup = Callable[[Labels], "float | None"]


@dataclass(frozen=True)
class BackupReport:
    run: BackupRun | None
    """The latest run in the log; None when the log held none or could not be read."""
    parse_success: bool
    success: bool | None
    """None when the outcome is not known (the first backup still running, an autorestic
    pair missing from the latest run): then no success metric is written, only the last
    success, whose age alerts on a backup that stays away."""
    exit_code: int | None
    last_run_timestamp_seconds: float | None
    last_success_timestamp_seconds: float | None
    failure_reason: str | None
    """Why `success` is 0, in a few words; None on success."""
    live: LiveProgress | None = None
    """Watch mode only: whether a backup is running now, and how far it got."""


@dataclass(frozen=True)
class LiveProgress:
    running: bool
    progress: Progress | None = None
    started_timestamp_seconds: float | None = None


@dataclass(frozen=True)
class CommandReport:
    """forget, prune, check or stats."""

    command: str
    run: CommandRun
    success: bool | None
    """None while the run is still going (watch mode)."""
    last_run_timestamp_seconds: float
    failure_reason: str | None
    earlier_runs: tuple[CommandRun, ...] = ()
    """Complete runs before `run` of another variant (stats in another mode): their own
    values are reported beside the latest run's, labelled by that variant."""


@dataclass(frozen=True)
class SectionReport:
    labels: dict[str, str]
    """The section's own labels (autorestic's location and backend), before the user's."""
    backup: BackupReport | None
    commands: tuple[CommandReport, ...]


def make_report(
    run: BackupRun | None,
    *,
    exit_code: int | None,
    log_written_timestamp_seconds: float | None,
    previous_last_success_timestamp_seconds: float | None,
    problem: str | None = None,
    failure: str | None = None,
    succeeded_without_output: bool = False,
    partial_ok: bool = False,
) -> BackupReport:
    """Decide a backup's success and timestamps.

    `exit_code` is restic's exit code as the caller knows it (``--exit-code``, ``$EXIT_STATUS``,
    autorestic's error block); it always wins over what the log suggests: 0 is a success
    (unless a dry run saved nothing), any other code a failure (3 too, without `partial_ok`),
    codes restic does not list included.  `problem` is why the log
    could not be read, if so; `failure`, a failure known from elsewhere than the run's own lines
    (autorestic's error block).  `succeeded_without_output`: autorestic without ``-v`` shows no
    restic output, only that the location is done.  `partial_ok`: a snapshot saved although
    some files could not be read (restic's exit code 3) counts as a success.
    """
    given = exit_code is not None
    if run is not None and exit_code is None:
        exit_code = run.exit_code
    if problem is None and failure is None and run is None and not succeeded_without_output:
        problem = "the log holds no restic backup"
    reason = problem or failure or (run.failure_reason if run is not None else None)
    if partial_ok and run is not None and _partial(run) and exit_code in (None, 0, 3):
        reason = None
    if given and problem is None and failure is None and run is not None and not run.dry_run:
        # restic's own word on how it ended beats what its lines suggest (a missing source
        # is exit 0 before 0.19 and 3 from 0.19: the same lines)
        reason = None
    if reason is None and exit_code not in (None, 0) and not (partial_ok and exit_code == 3):
        reason = f"restic exited with {exit_code}"
    success = reason is None
    last_run = None
    if run is not None or succeeded_without_output:
        ended = run.ended_timestamp_seconds if run is not None else None
        last_run = ended or log_written_timestamp_seconds
    last_success = previous_last_success_timestamp_seconds
    if success and last_run is not None:
        # max(): re-reading an older log must not move the last success back in time.
        last_success = max(last_run, last_success or last_run)
    return BackupReport(
        run=run,
        parse_success=problem is None
        and ((run is not None and run.complete) or succeeded_without_output or failure is not None),
        success=success,
        exit_code=exit_code,
        last_run_timestamp_seconds=last_run,
        last_success_timestamp_seconds=last_success,
        failure_reason=reason,
    )


def _partial(run: BackupRun) -> bool:
    """Only unreadable files kept the run from being a success."""
    return (
        run.complete
        and run.saved_snapshot
        and not run.dry_run
        and run.fatal_message is None
        and not run.interrupted
    )


def command_report(
    command: str,
    run: CommandRun,
    exit_code: int | None,
    log_written_timestamp_seconds: float,
    problem: str | None = None,
    live: bool = False,
) -> CommandReport:
    if live and problem is None and not run.complete:  # a check or prune at work
        return CommandReport(command, run, None, log_written_timestamp_seconds, None)
    reason = problem or run.failure_reason
    if reason is None and isinstance(run, CheckRun) and run.problems:
        reason = f"{run.problems} problem(s) found"
    if reason is None and exit_code not in (None, 0):
        reason = f"restic exited with {exit_code}"
    return CommandReport(command, run, reason is None, log_written_timestamp_seconds, reason)


def log_report(
    parsed: ParsedLog,
    *,
    exit_code: int | None,
    log_written_timestamp_seconds: float,
    last_success: LastSuccessLookup,
    user_labels: Labels,
    problem: str | None = None,
    live_now: float | None = None,
    partial_ok: bool = False,
) -> tuple[SectionReport, ...]:
    """Every section's reports.  `exit_code` belongs to the command that ran last (a script's
    exit status is its last command's); autorestic's own error blocks say which backend failed.
    `problem` (a malformed line in a reported run) makes every report say it was not understood.
    `live_now` (watch mode: the time now) reports a backup in progress as running, and the
    latest finished one as the outcome."""
    reports = []
    for section in parsed.sections:
        own = _section_labels(section)
        last_command = None if parsed.autorestic else section.last_command
        commands = tuple(
            replace(
                command_report(
                    name,
                    run,
                    exit_code if name == last_command else None,
                    log_written_timestamp_seconds,
                    problem,
                    live=live_now is not None,
                ),
                earlier_runs=tuple(
                    earlier
                    for earlier in section.earlier_variants.get(name, ())
                    if isinstance(earlier, CommandRun)
                ),
            )
            for name, run in section.commands.items()
            if isinstance(run, CommandRun)
        )
        backup = None
        run, live, failure = section.backup, None, _autorestic_failure(section)
        if live_now is not None:
            run, live = _live(section, log_written_timestamp_seconds)
        previous = last_success({**user_labels, **own})
        if live is not None and live.running and run is None:  # the first backup is running
            backup = unknown_outcome(previous, live)
        elif section.backup is not None or section.autorestic_backup or not section.commands:
            backup = make_report(
                run,
                exit_code=_backup_exit_code(section, parsed.autorestic, exit_code, last_command),
                log_written_timestamp_seconds=log_written_timestamp_seconds,
                previous_last_success_timestamp_seconds=previous,
                problem=problem,
                failure=failure,
                succeeded_without_output=section.autorestic_finished
                and not section.autorestic_failed,
                partial_ok=partial_ok,
            )
            backup = replace(backup, live=live)
        reports.append(SectionReport(own, backup, commands))
    return tuple(reports)


def missing_sections(
    present: tuple[SectionReport, ...],
    previous: tuple[dict[str, str], ...],
    last_success: LastSuccessLookup,
    user_labels: Labels,
) -> tuple[SectionReport, ...]:
    """autorestic locations x backends the previous file had and the latest run lacks (a cron
    run that skipped them, ``backup -l other``): not reported as fresh, nor as failed; their
    last success is kept, so its age tells when they stay away too long."""
    seen = [report.labels for report in present]
    missing = []
    for labels in previous:
        own: dict[str, str] = {key: labels[key] for key in SECTION_LABELS if key in labels}
        if len(own) != 2 or own in seen:
            continue
        previous_success = last_success({**user_labels, **own})
        missing.append(SectionReport(own, unknown_outcome(previous_success, None), ()))
        seen.append(own)
    return tuple(missing)


def unknown_outcome(last_success: float | None, live: LiveProgress | None) -> BackupReport:
    return BackupReport(
        run=None,
        parse_success=True,
        success=None,
        exit_code=None,
        last_run_timestamp_seconds=None,
        last_success_timestamp_seconds=last_success,
        failure_reason=None,
        live=live,
    )


def _live(section: Section, log_written: float) -> tuple[BackupRun | None, LiveProgress]:
    """A run still going (no end, no fatal error) is shown as progress; the outcome reported
    meanwhile is the latest finished run's.  It started its elapsed time before the log was
    last written (not before now: the log may be read late, after a restart)."""
    run = section.backup
    if run is None or run.complete:
        return run, LiveProgress(running=False)
    progress = run.progress
    started = log_written - progress.elapsed_seconds if progress is not None else None
    return section.backup_before, LiveProgress(True, progress, started)


def _section_labels(section: Section) -> dict[str, str]:
    if section.location is None or section.backend is None:
        return {}
    return {"location": section.location, "backend": section.backend}


def _backup_exit_code(
    section: Section, autorestic: bool, exit_code: int | None, last_command: str | None
) -> int | None:
    if autorestic:
        return section.autorestic_exit_code
    if last_command in (None, "backup"):
        return exit_code
    return None


def _autorestic_failure(section: Section) -> str | None:
    if not section.autorestic_failed:
        return None
    run = section.backup
    if run is not None and run.failure_reason is not None:
        return run.failure_reason
    code = section.autorestic_exit_code
    return f"autorestic reported restic failed (exit status {code})"
