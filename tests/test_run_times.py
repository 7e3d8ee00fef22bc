"""The clocks of a run, decided without files: exporter.run_times on hand-made reports."""

from __future__ import annotations

from exporter.report import BackupReport, LiveProgress, SectionReport
from exporter.run_memory import RunMemory
from exporter.run_times import stamp_runs
from parsers import BackupRun

NOW = 1_800_000_000.0


def _running(started: float) -> SectionReport:
    report = BackupReport(
        run=None,
        parse_success=True,
        success=None,
        exit_code=None,
        last_run_timestamp_seconds=None,
        last_success_timestamp_seconds=None,
        failure_reason=None,
        live=LiveProgress(running=True, started_timestamp_seconds=started),
    )
    return SectionReport({}, report, ())


def _started(section: SectionReport) -> float | None:
    assert section.backup is not None and section.backup.live is not None
    return section.backup.live.started_timestamp_seconds


def test_a_running_backups_start_does_not_wander_with_whole_second_status_lines() -> None:
    memory = RunMemory()
    shown = []
    for estimate in (1000.7, 1000.1, 1001.0, 1000.4, 1001.6):  # written minus whole seconds
        stamped = stamp_runs((_running(estimate),), memory, {}, {}, None, NOW)
        memory = stamped.memory
        shown.append(_started(stamped.sections[0]))
    assert shown == [1000.7, 1000.1, 1000.1, 1000.1, 1000.1]
    later = stamp_runs((_running(4600.2),), memory, {}, {}, None, NOW)  # the next night's run
    assert _started(later.sections[0]) == 4600.2


def test_a_new_run_takes_restics_own_end_time_else_the_line_time_else_the_mtime() -> None:
    run = BackupRun(first_line=1, last_line=9, complete=True, snapshot_id="abc", exit_code=0)
    report = BackupReport(run, True, True, 0, 1.0, 1.0, None)
    section = SectionReport({}, report, ())

    def last_run(line_time: object, ended: float | None = None) -> float | None:
        own = BackupRun(**{**run.__dict__, "ended_timestamp_seconds": ended})
        stamped = stamp_runs(
            (SectionReport({}, BackupReport(own, True, True, 0, 1.0, 1.0, None), ()),),
            RunMemory(), {}, {}, NOW - 50, NOW, line_time=line_time,  # type: ignore[arg-type]
        )  # fmt: skip
        backup = stamped.sections[0].backup
        assert backup is not None
        return backup.last_run_timestamp_seconds

    assert section.backup is not None
    assert last_run(lambda line: NOW - 70.0, ended=NOW - 90) == NOW - 90
    assert last_run(lambda line: NOW - 70.0 if line == 9 else None) == NOW - 70
    assert last_run(None) == NOW - 50
    assert last_run(lambda line: NOW + 3600) == NOW  # a line time in the future: now
