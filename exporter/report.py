"""What the exporter concludes about a backup: the parsed run plus what only the exporter knows.

Pure: restic's exit code, when the log was last written and the previous file's last success are
passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers import BackupRun


@dataclass(frozen=True)
class BackupReport:
    run: BackupRun | None
    """The latest run in the log; None when the log held none or could not be read."""
    parse_success: bool
    success: bool
    exit_code: int | None
    last_run_timestamp_seconds: float | None
    last_success_timestamp_seconds: float | None
    failure_reason: str | None
    """Why `success` is 0, in a few words; None on success."""


def make_report(
    run: BackupRun | None,
    *,
    exit_code: int | None,
    log_written_timestamp_seconds: float | None,
    previous_last_success_timestamp_seconds: float | None,
    problem: str | None = None,
) -> BackupReport:
    """Decide success and the timestamps.

    `exit_code` is restic's exit code as the caller knows it (``--exit-code``, ``$EXIT_STATUS``);
    it overrides what the log suggests.  `problem` is why the log could not be read, if so.
    """
    if run is not None and exit_code is None:
        exit_code = run.exit_code
    reason = problem or (
        run.failure_reason if run is not None else "the log holds no restic backup"
    )
    if reason is None and exit_code not in (None, 0):
        reason = f"restic exited with {exit_code}"
    success = reason is None
    last_run = None
    if run is not None:
        last_run = run.ended_timestamp_seconds or log_written_timestamp_seconds
    last_success = previous_last_success_timestamp_seconds
    if success and last_run is not None:
        # max(): re-reading an older log must not move the last success back in time.
        last_success = max(last_run, last_success or last_run)
    return BackupReport(
        run=run,
        parse_success=run is not None and run.complete and problem is None,
        success=success,
        exit_code=exit_code,
        last_run_timestamp_seconds=last_run,
        last_success_timestamp_seconds=last_success,
        failure_reason=reason,
    )
