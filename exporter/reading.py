"""A log read through the parser: what it holds and what kept it from being understood.

Every problem with the log becomes part of the reading (nothing is raised): a log that cannot be
read or understood still gets metrics that say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from exporter.errors import ExporterError, LogNotUnderstood, LogUnreadable
from exporter.fast_scan import scan
from exporter.logsource import JournalSource, LogSource, open_log
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
    line_time: Callable[[int], float | None] | None = None
    """When each line was written, by its number, where the source says (the journal)."""


def read_log(log: str) -> LogReading:
    """Stream `log` through the parser; every problem becomes part of the reading."""
    try:
        source = open_log(log)
    except LogUnreadable as error:
        return LogReading(None, error, None)
    parser = LogParser()
    try:
        if type(source) is LogSource:
            scan(source, parser)
        else:  # journalctl's output: its exit status is checked after its lines
            for line in source.lines():
                parser.feed(line)
        written_at = source.written_timestamp_seconds()
    except (LogUnreadable, LogNotUnderstood) as error:  # unreadable, or past the size bound
        return LogReading(None, error, None)
    finally:
        source.close()
    reading = reading_of(parser, source.name, source.skipped_long_lines, written_at)
    if isinstance(source, JournalSource):
        reading = dataclasses.replace(reading, line_time=source.line_time)
    return reading


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
        if (
            section.autorestic_backup
            and section.backup is None
            and not section.autorestic_finished
            and not section.autorestic_failed
        ):
            return LogNotUnderstood(
                f"{name}: the log ends before autorestic finished backing up "
                f"{section.location}@{section.backend} (cut off, or autorestic was killed)"
            )
        for command, run in section.commands.items():
            if not run.complete and not (live and command == "backup"):
                where = f" ({section.location}@{section.backend})" if section.location else ""
                return LogNotUnderstood(
                    f"{name}: the log ends before the {command} run that starts at line "
                    f"{run.first_line} finished{where} (cut off, or restic was killed)"
                )
    return None
