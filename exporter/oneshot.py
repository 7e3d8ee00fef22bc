"""One log in, one metrics file out: what ``restic-textfile-exporter parse`` does.

The metrics file is written whenever the output can be written, also when the log could not be
read or understood: it then says so (``restic_exporter_parse_success 0``, ``restic_backup_success
0``) and carries the last success forward.  The problem is returned afterwards, for the exit code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from exporter import state
from exporter.errors import ExporterError, LogNotUnderstood, LogUnreadable, OutputUnwritable
from exporter.families import backup_families
from exporter.logsource import open_log
from exporter.report import BackupReport, make_report
from exporter.textfile import render, write_textfile
from parsers import BackupLogParser, BackupRun, LineError


@dataclass(frozen=True)
class LogReading:
    run: BackupRun | None
    problem: ExporterError | None
    """Why the log was not fully understood."""
    written_timestamp_seconds: float | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportResult:
    report: BackupReport
    problem: ExporterError | None
    """Why the log was not fully understood; the metrics were written all the same."""
    warnings: tuple[str, ...]


def export_backup_log(
    log: str,
    output: Path | None,
    labels: Mapping[str, str],
    exit_code: int | None = None,
    now: Callable[[], float] = time.time,
) -> ExportResult:
    """Parse `log` (a path, or ``-`` for stdin) and write its metrics to `output` (None: stdout).

    Raises OutputUnwritable when the metrics cannot be written; any other problem is returned in
    the result, after the metrics that describe it were written.
    """
    reading = read_backup_log(log)
    written_at = reading.written_timestamp_seconds
    report = make_report(
        reading.run,
        exit_code=exit_code,
        log_written_timestamp_seconds=written_at if written_at is not None else now(),
        previous_last_success_timestamp_seconds=(
            state.previous_last_success(output, labels) if output is not None else None
        ),
        problem=str(reading.problem) if reading.run is None and reading.problem else None,
    )
    data = render(backup_families(report, labels))
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            write_textfile(output, data)
        except OSError as error:
            raise OutputUnwritable(
                f"cannot write {output}: {error.strerror or error}; the previous file is untouched"
            ) from None
    return ExportResult(report, reading.problem, reading.warnings)


def read_backup_log(log: str) -> LogReading:
    """Stream `log` through the parser; every problem becomes part of the reading."""
    try:
        source = open_log(log)
    except LogUnreadable as error:
        return LogReading(None, error, None)
    parser = BackupLogParser()
    try:
        for line in source.lines():
            parser.feed(line)
        written_at = source.written_timestamp_seconds()
    except LogUnreadable as error:
        return LogReading(None, error, None)
    except LineError as error:
        return LogReading(None, LogNotUnderstood(f"{source.name}: {error}"), None)
    finally:
        source.close()
    warnings: tuple[str, ...] = ()
    if source.skipped_long_lines:
        warnings = (f"skipped {source.skipped_long_lines} line(s) longer than 1 MiB in {log}",)
    run = parser.result().latest_run
    problem = None
    if run is None and parser.lines == 0 and not source.skipped_long_lines:
        problem = LogNotUnderstood(
            f"{source.name} is empty (restic --quiet prints no summary unless --json is given)"
        )
    elif run is None:
        problem = LogNotUnderstood(
            f"{source.name}: no restic backup output found in {parser.lines} line(s)"
        )
    elif not run.complete:
        problem = LogNotUnderstood(
            f"{source.name}: the log ends before the backup run that starts at line "
            f"{run.first_line} finished (cut off, or restic was killed)"
        )
    return LogReading(run, problem, written_at, warnings)
