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

from exporter import previous as previous_metrics
from exporter.errors import ExporterError, LogNotUnderstood, LogUnreadable, OutputUnwritable
from exporter.families import log_families
from exporter.logsource import open_log
from exporter.report import SectionReport, log_report, make_report, missing_sections
from exporter.textfile import NotDurable, render, write_textfile
from parsers.log import LogParser, ParsedLog


@dataclass(frozen=True)
class LogReading:
    parsed: ParsedLog | None
    """None when the log could not be read or had a malformed restic line."""
    problem: ExporterError | None
    """Why the log was not fully understood."""
    written_timestamp_seconds: float | None
    warnings: tuple[str, ...] = ()
    line_error: bool = False
    """The problem is a malformed line in a run that is reported."""


@dataclass(frozen=True)
class ExportResult:
    sections: tuple[SectionReport, ...]
    problem: ExporterError | None
    """Why the log was not fully understood; the metrics were written all the same."""
    warnings: tuple[str, ...]


def export_log(
    log: str,
    output: Path | None,
    labels: Mapping[str, str],
    exit_code: int | None = None,
    now: Callable[[], float] = time.time,
    partial_ok: bool = False,
) -> ExportResult:
    """Parse `log` (a path, or ``-`` for stdin) and write its metrics to `output` (None: stdout).

    Raises OutputUnwritable when the metrics cannot be written; any other problem is returned in
    the result, after the metrics that describe it were written.
    """
    reading = read_log(log)
    sections = report_sections(reading, output, labels, exit_code, now(), partial_ok=partial_ok)
    write_metrics(output, render(log_families(sections, labels)))
    return ExportResult(sections, reading.problem, reading.warnings)


def report_sections(
    reading: LogReading,
    output: Path | None,
    labels: Mapping[str, str],
    exit_code: int | None,
    now: float,
    live: bool = False,
    partial_ok: bool = False,
) -> tuple[SectionReport, ...]:
    """The reports for a reading, with what the previous metrics file at `output` carries
    forward.  `live` (watch mode): a backup in progress is reported as running."""
    previous = previous_metrics.read_previous(output, now)
    written_at = reading.written_timestamp_seconds
    log_time = written_at if written_at is not None else now
    if reading.parsed is None:
        report = make_report(
            None,
            exit_code=exit_code,
            log_written_timestamp_seconds=log_time,
            previous_last_success_timestamp_seconds=previous.last_success_for(labels),
            problem=str(reading.problem),
        )
        return (SectionReport({}, report, ()),)
    sections = log_report(
        reading.parsed,
        exit_code=exit_code,
        log_written_timestamp_seconds=log_time,
        last_success=previous.last_success_for,
        user_labels=labels,
        problem=str(reading.problem) if reading.line_error else None,
        live_now=now if live else None,
        partial_ok=partial_ok,
    )
    if reading.parsed.autorestic:
        sections += missing_sections(
            sections, previous.backup_label_sets, previous.last_success_for, labels
        )
    return sections


def write_metrics(output: Path | None, data: bytes) -> None:
    """Replace `output` atomically (None: stdout).  Raises OutputUnwritable."""
    if output is None:
        _write_stdout(data)
        return
    try:
        write_textfile(output, data)
    except NotDurable as error:
        raise OutputUnwritable(
            f"wrote {output}, but could not sync its directory: {error.strerror or error}"
        ) from None
    except OSError as error:
        raise OutputUnwritable(
            f"cannot write {output}: {error.strerror or error}; the previous file is untouched"
        ) from None


def _write_stdout(data: bytes) -> None:
    if sys.stdout is None:
        raise OutputUnwritable("cannot write the metrics: standard output is closed")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as error:
        raise OutputUnwritable(
            f"cannot write the metrics to standard output: {error.strerror or error}"
        ) from None


def read_log(log: str) -> LogReading:
    """Stream `log` through the parser; every problem becomes part of the reading."""
    try:
        source = open_log(log)
    except LogUnreadable as error:
        return LogReading(None, error, None)
    parser = LogParser()
    try:
        for line in source.lines():
            parser.feed(line)
        written_at = source.written_timestamp_seconds()
    except LogUnreadable as error:
        return LogReading(None, error, None)
    finally:
        source.close()
    return reading_of(parser, source.name, source.skipped_long_lines, written_at)


def reading_of(
    parser: LogParser,
    name: str,
    skipped_long_lines: int,
    written_at: float | None,
    live: bool = False,
) -> LogReading:
    """What a parser that has read a log makes of it.  `live` (watch mode): a backup still
    running is no problem."""
    warnings: list[str] = []
    if skipped_long_lines:
        warnings.append(f"skipped {skipped_long_lines} line(s) longer than 1 MiB in {name}")
    parsed = parser.result()
    # A malformed line in an older run costs a warning; in a run that is reported, exit 4.
    reported_from = parser.oldest_reported_line
    problem: LogNotUnderstood | None = None
    line_error_in_reported_run = False
    for line_error in parser.line_errors:
        if line_error.line_number < reported_from:
            warnings.append(f"{name}: {line_error} (in an earlier run: ignored)")
        elif problem is None:
            problem = LogNotUnderstood(f"{name}: {line_error}")
            line_error_in_reported_run = True
    if problem is None:
        problem = _problem(parsed, name, parser.lines == 0 and not skipped_long_lines, live)
    return LogReading(parsed, problem, written_at, tuple(warnings), line_error_in_reported_run)


def _problem(parsed: ParsedLog, name: str, empty: bool, live: bool) -> LogNotUnderstood | None:
    if empty:
        return LogNotUnderstood(
            f"{name} is empty (restic --quiet prints no summary unless --json is given)"
        )
    if not parsed.autorestic and not parsed.sections[0].commands:
        return LogNotUnderstood(f"{name}: no restic output found in {parsed.lines} line(s)")
    for section in parsed.sections:
        for command, run in section.commands.items():
            if not run.complete and not (live and command == "backup"):
                where = f" ({section.location}@{section.backend})" if section.location else ""
                return LogNotUnderstood(
                    f"{name}: the log ends before the {command} run that starts at line "
                    f"{run.first_line} finished{where} (cut off, or restic was killed)"
                )
    return None
