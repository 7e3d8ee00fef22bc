"""A whole log, whatever it holds: restic backup, forget, prune, check and stats runs in any
order (a backup script's ``backup; forget --prune; check``), or an autorestic log of several
locations and backends.  Nothing is configured: both are detected line by line.

Each line goes to the command that prints it.  Lines every command may print (``Fatal: ...``,
``error: ...``, the interruption) belong to the command at work: the last one that printed a
line, if its run has not ended; otherwise to ``backup``.  ``Fatal: repository contains errors``
is always check's.

An autorestic log is split into sections by its headers (``parsers.autorestic``); each location x
backend section is parsed as a log of its own.  Only the latest autorestic run counts: a
``Using config:`` line, or a location seen before, starts a new one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from parsers import autorestic, restic_check, restic_forget, restic_prune, restic_stats
from parsers.backup_log import BackupLogParser
from parsers.backup_log import parse_line as parse_backup_line
from parsers.command_log import CommandTracker
from parsers.records import (
    BackupRun,
    CheckRun,
    CommandRun,
    Fatal,
    ForgetRun,
    Interrupted,
    ItemError,
    LineError,
    PruneRun,
    StatsRun,
)
from parsers.restic_text import ANSI_ESCAPE

_SHARED_EVENTS = (Fatal, ItemError, Interrupted)
_ANY_COMMAND = re.compile(
    "|".join(
        f"(?:{module.CANDIDATE.pattern})"
        for module in (restic_forget, restic_prune, restic_check, restic_stats)
    )
)
_CHECK_FAILED = "repository contains errors"
# The commands that take a shared line while they run.  Not forget: it has no closing line, so
# a "Fatal:" after its tables is the next command's (a backup that fails to open the repository).
_SHARING = ("prune", "check", "stats")


@dataclass(frozen=True)
class Section:
    """The latest run of each command in one log, or in one autorestic location x backend."""

    location: str | None = None
    backend: str | None = None
    backup: BackupRun | None = None
    backup_before: BackupRun | None = None
    """The latest backup run before `backup` that reached its end."""
    forget: ForgetRun | None = None
    prune: PruneRun | None = None
    check: CheckRun | None = None
    stats: StatsRun | None = None
    last_command: str | None = None
    """The command whose run printed the section's last recognised line."""
    autorestic_failed: bool = False
    """autorestic listed this location and backend among its errors."""
    autorestic_exit_code: int | None = None
    autorestic_finished: bool = False
    """The autorestic run got to its end (a ``Done`` after its last location, or its final
    error count): a backend it lists no error for succeeded, shown restic's output or not."""
    autorestic_backup: bool = False
    """autorestic started a backup of this location to this backend."""

    @property
    def commands(self) -> dict[str, BackupRun | CommandRun]:
        """The commands that ran, by name, in the order restic's scripts run them."""
        runs: dict[str, BackupRun | CommandRun | None] = {
            "backup": self.backup,
            "forget": self.forget,
            "prune": self.prune,
            "check": self.check,
            "stats": self.stats,
        }
        return {name: run for name, run in runs.items() if run is not None}


@dataclass(frozen=True)
class ParsedLog:
    sections: tuple[Section, ...]
    autorestic: bool
    lines: int


class _SectionParser:
    def __init__(self) -> None:
        self.backup = BackupLogParser()
        self.forget = CommandTracker(ForgetRun, restic_forget.fold)
        self.prune = CommandTracker(PruneRun, restic_prune.fold)
        self.check = CommandTracker(CheckRun, restic_check.fold)
        self.stats = CommandTracker(StatsRun, restic_stats.fold)
        self._trackers: dict[
            str,
            CommandTracker[ForgetRun]
            | CommandTracker[PruneRun]
            | CommandTracker[CheckRun]
            | CommandTracker[StatsRun],
        ] = {
            "forget": self.forget,
            "prune": self.prune,
            "check": self.check,
            "stats": self.stats,
        }
        self._modules = {
            "forget": (restic_forget.CANDIDATE, restic_forget.parse_line),
            "prune": (restic_prune.CANDIDATE, restic_prune.parse_line),
            "check": (restic_check.CANDIDATE, restic_check.parse_line),
            "stats": (restic_stats.CANDIDATE, restic_stats.parse_line),
        }
        self.active: str | None = None

    def feed(self, line: str, line_number: int) -> None:
        """Route one line to the command that printed it, if any did."""
        events = parse_backup_line(line, line_number)
        if events:
            self._route_backup_events(events, line_number)
            return
        if not _ANY_COMMAND.match(line):
            return  # most lines: file names under status lines, tables, -vv items
        for name, (candidate, parse) in self._modules.items():
            if not candidate.match(line):
                continue
            command_events = parse(line, line_number)
            if command_events:
                for event in command_events:
                    self._trackers[name].feed(event, line_number)
                self.active = name
                return

    def _route_backup_events(self, events: tuple[object, ...], line_number: int) -> None:
        target = "backup"
        if all(isinstance(event, _SHARED_EVENTS) for event in events):
            if any(isinstance(e, Fatal) and e.message == _CHECK_FAILED for e in events):
                target = "check"
            elif self.active in _SHARING and not self._trackers[self.active].ended:
                target = self.active
        if target == "backup":
            self.backup.feed_events(events, line_number)  # type: ignore[arg-type]
        else:
            for event in events:
                self._trackers[target].feed(event, line_number)
        self.active = target

    @property
    def runs_started(self) -> int:
        return self.backup.runs + sum(tracker.runs for tracker in self._trackers.values())

    def section(self, **autorestic_fields: object) -> Section:
        backup = self.backup.result()
        runs = {
            "backup": backup.latest_run,
            "forget": self.forget.latest(),
            "prune": self.prune.latest(),
            "check": self.check.latest(),
            "stats": self.stats.latest(),
        }
        present = {name: run for name, run in runs.items() if run is not None}
        last = max(present, key=lambda name: present[name].last_line) if present else None
        return Section(
            last_command=last,
            backup_before=backup.previous_complete_run,
            **runs,  # type: ignore[arg-type]
            **autorestic_fields,  # type: ignore[arg-type]
        )


class LogParser:
    """Feed it lines in order; `result()` gives the latest run of everything in the log."""

    def __init__(self) -> None:
        self.lines = 0
        self.line_errors: list[LineError] = []
        """Lines that matched a pattern but whose values could not be converted (the first 10)."""
        self._plain = _SectionParser()
        self._autorestic = False
        self._autorestic_runs = 0
        self._autorestic_run_line = 0
        self._reset_autorestic()

    def _reset_autorestic(self) -> None:
        self._sections: dict[tuple[str, str], _SectionParser] = {}
        self._locations: list[str] = []
        self._finished = False
        self._failed: dict[tuple[str, str], int | None] = {}
        self._location: str | None = None
        self._current: tuple[str, str] | None = None
        self._error_block: tuple[str, str] | None = None
        self._backing_up = False
        self._backups: set[tuple[str, str]] = set()

    @property
    def runs_started(self) -> int:
        """A count that changes whenever a run of any command (or of autorestic) begins."""
        sections = [self._plain, *self._sections.values()]
        return self._autorestic_runs + sum(section.runs_started for section in sections)

    @property
    def oldest_reported_line(self) -> int:
        """The first line of the oldest run `result()` reports (of the autorestic run, for an
        autorestic log): reading the log again from there gives the same result."""
        return self._oldest_line(with_backup_before=False)

    @property
    def oldest_kept_line(self) -> int:
        """Like `oldest_reported_line`, counting also the finished backup before the latest
        (which watch mode reports while the latest runs): where a restart reads on from."""
        return self._oldest_line(with_backup_before=True)

    def _oldest_line(self, with_backup_before: bool) -> int:
        if self._autorestic:
            return self._autorestic_run_line
        section = self._plain.section()
        before = [section.backup_before] if with_backup_before and section.backup_before else []
        runs = [*section.commands.values(), *before]
        return min((run.first_line for run in runs), default=0)

    def feed(self, line: str) -> None:
        """One line more.  A line that cannot be converted is set aside in `line_errors`: it
        costs its own line, not the rest of the log."""
        self.lines += 1
        try:
            self._feed(line)
        except LineError as error:
            if len(self.line_errors) < 10:
                self.line_errors.append(error)

    def _feed(self, line: str) -> None:
        text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
        event = autorestic.parse_line(text)
        if isinstance(event, autorestic.MARKERS) or (self._autorestic and event is not None):
            self._on_autorestic(event)
            return
        if self._autorestic:
            if self._error_block is not None:
                if not text.strip():
                    self._error_block = None
                return  # restic's stderr again: it was shown in the section already
            if self._current is not None:
                section = self._sections.setdefault(self._current, _SectionParser())
                section.feed(text, self.lines)
            return
        self._plain.feed(text, self.lines)

    def _on_autorestic(self, event: autorestic.AutoresticEvent | None) -> None:
        starts_run = isinstance(event, autorestic.AutoresticStart) or (
            isinstance(event, autorestic.LocationHeader) and event.location in self._locations
        )
        if not self._autorestic or starts_run:
            self._autorestic = True
            self._autorestic_runs += 1
            self._autorestic_run_line = self.lines
            self._reset_autorestic()
        if isinstance(event, autorestic.ExitStatus):
            if self._error_block is not None:
                self._failed[self._error_block] = event.code
            return
        self._error_block = None
        if isinstance(event, autorestic.LocationHeader | autorestic.ForgetLocationHeader):
            self._backing_up = isinstance(event, autorestic.LocationHeader)
            self._finished = False
            self._location = event.location
            self._current = None
            if event.location not in self._locations:
                self._locations.append(event.location)
        elif isinstance(event, autorestic.BackendHeader | autorestic.ForgetBackendHeader):
            if self._location is not None:
                self._current = (self._location, event.backend)
                self._sections.setdefault(self._current, _SectionParser())
                if self._backing_up:
                    self._backups.add(self._current)
        elif isinstance(event, autorestic.LocationDone | autorestic.FinalError):
            self._finished = True
            self._current = None
        elif isinstance(event, autorestic.SectionEnd):
            self._current = None
        elif isinstance(event, autorestic.ErrorBlock):
            key = (event.location, event.backend)
            self._error_block = key
            self._failed[key] = None
            self._backups.add(key)
            self._sections.setdefault(key, _SectionParser())

    def result(self) -> ParsedLog:
        if not self._autorestic:
            sections: tuple[Section, ...] = (self._plain.section(),)
        else:
            sections = tuple(
                parser.section(
                    location=location,
                    backend=backend,
                    autorestic_failed=(location, backend) in self._failed,
                    autorestic_exit_code=self._failed.get((location, backend)),
                    autorestic_finished=self._finished,
                    autorestic_backup=(location, backend) in self._backups,
                )
                for (location, backend), parser in sorted(self._sections.items())
            )
        return ParsedLog(sections, self._autorestic, self.lines)


def parse_log(lines: Iterable[str]) -> ParsedLog:
    parser = LogParser()
    for line in lines:
        parser.feed(line)
    return parser.result()
