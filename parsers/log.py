"""A whole log, whatever it holds: restic backup, forget, prune, check and stats runs in any
order (a backup script's ``backup; forget --prune; check``), or an autorestic log of several
locations and backends.  Nothing is configured: both are detected line by line.

Each line goes to the command that prints it, as ``parsers.commands.COMMANDS`` declares them:
the first command whose candidate pattern the line passes and whose parser finds events in it.
A ``--json`` message goes to the command that declares its kind (``Command.json_messages``); a
message no command declares (another command's, such as restore's) is nobody's.

Lines every command may print (``Fatal: ...``, ``error: ...``, the interruption) are read by the
first command (backup) and belong to the command at work: the last one that printed a line, if
it claims shared lines and its run has not ended; otherwise to backup.  A ``Fatal:`` that a
command always claims (check's ``repository contains errors``) is that command's.

An autorestic log is split into sections by its headers (``parsers.autorestic``); each location x
backend section is parsed as a log of its own.  Only the latest autorestic run counts: a
``Using config:`` line, or a location seen before, starts a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from parsers import autorestic
from parsers.command import SHARED_EVENTS, CommandReader, JsonMessage, SharedEvent
from parsers.commands import COMMANDS
from parsers.lines import load_json
from parsers.records import (
    BackupRun,
    CheckRun,
    CommandRun,
    Fatal,
    ForgetRun,
    LineError,
    LockAge,
    PruneRun,
    StatsRun,
)
from parsers.restic_json import looks_like_json
from parsers.restic_text import ANSI_ESCAPE

_RunT = TypeVar("_RunT", bound=BackupRun | CommandRun)
Run = BackupRun | CommandRun


@dataclass(frozen=True)
class Section:
    """The latest run of each command in one log, or in one autorestic location x backend."""

    location: str | None = None
    backend: str | None = None
    runs: Mapping[str, Run] = field(default_factory=dict)
    """The latest run of each command that ran, by name, in the order of COMMANDS."""
    backup_before: BackupRun | None = None
    """The latest backup run before `backup` that reached its end."""
    earlier_variants: Mapping[str, tuple[Run, ...]] = field(default_factory=dict)
    """Per command, the latest complete run of each of its variants other than the latest
    run's (stats in another mode), oldest first."""
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
    def commands(self) -> dict[str, Run]:
        """The commands that ran, by name, in the order restic's scripts run them."""
        return dict(self.runs)

    @property
    def backup(self) -> BackupRun | None:
        return self._run("backup", BackupRun)

    @property
    def forget(self) -> ForgetRun | None:
        return self._run("forget", ForgetRun)

    @property
    def prune(self) -> PruneRun | None:
        return self._run("prune", PruneRun)

    @property
    def check(self) -> CheckRun | None:
        return self._run("check", CheckRun)

    @property
    def stats(self) -> StatsRun | None:
        return self._run("stats", StatsRun)

    def _run(self, name: str, record: type[_RunT]) -> _RunT | None:
        run = self.runs.get(name)
        return run if isinstance(run, record) else None


@dataclass(frozen=True)
class ParsedLog:
    sections: tuple[Section, ...]
    autorestic: bool
    lines: int


class _SectionParser:
    """One reader per command of COMMANDS, and which of them is at work."""

    def __init__(self) -> None:
        self._readers: tuple[CommandReader[Any, Any, Any], ...] = tuple(
            CommandReader(command) for command in COMMANDS
        )
        self._default = self._readers[0]
        # message_type -> the kinds of message of that type and whose each is, in COMMANDS order
        self._json_kinds: dict[str, list[tuple[JsonMessage, CommandReader[Any, Any, Any]]]] = {}
        for reader in self._readers:
            for kind in reader.command.json_messages:
                self._json_kinds.setdefault(kind.message_type, []).append((kind, reader))
        self._fatal_owners = {
            message: reader for reader in self._readers for message in reader.command.claims_fatal
        }
        self._active: CommandReader[Any, Any, Any] | None = None

    def feed(self, line: str, line_number: int) -> None:
        """Route one line to the command that printed it, if any did."""
        if looks_like_json(line):
            message = load_json(line)
            if isinstance(message, dict) and "message_type" in message:
                self._feed_json(message, line, line_number)
                return
        # Most lines (file names under status lines, tables, -vv items) pass no candidate test.
        for reader in self._readers:
            if reader.candidate(line):
                events = reader.parse_line(line, line_number)
                if events:
                    self._route(reader, events, line_number)
                    return

    def _feed_json(self, message: dict[str, Any], line: str, line_number: int) -> None:
        message_type = message["message_type"]
        if not isinstance(message_type, str):
            return
        for kind, reader in self._json_kinds.get(message_type, ()):
            if kind.keys_match(message):
                events = reader.parse_json(message, line, line_number)
                if events:
                    self._route(reader, events, line_number)
                return

    def _route(
        self, reader: CommandReader[Any, Any, Any], events: tuple[Any, ...], line_number: int
    ) -> None:
        if reader is self._default and isinstance(events[0], SHARED_EVENTS):
            shared = tuple(event for event in events if isinstance(event, SHARED_EVENTS))
            if len(shared) == len(events):
                reader = self._shared_owner(shared)
        reader.feed(events, line_number)
        self._active = reader

    def _shared_owner(self, events: tuple[SharedEvent, ...]) -> CommandReader[Any, Any, Any]:
        for event in events:
            if isinstance(event, Fatal) and event.message in self._fatal_owners:
                return self._fatal_owners[event.message]
        active = self._active
        if active is not None and isinstance(events[0], LockAge):
            return active  # the age of the lock named by the line before, whoever's it was
        if active is not None and active.command.claims_shared and not active.ended:
            return active
        return self._default

    @property
    def runs_started(self) -> int:
        return sum(reader.runs for reader in self._readers)

    def run_starts(self, *, kept: bool) -> list[int]:
        """The first lines of the latest run of each command; with `kept`, also of every run
        the readers hold besides (the complete run before the latest, the latest complete run
        of each variant): a parser that starts reading at the oldest of them rebuilds them."""
        starts = [reader.draft.first_line for reader in self._readers if reader.draft is not None]
        if kept:
            for reader in self._readers:
                if reader.previous_complete is not None:
                    starts.append(reader.previous_complete.first_line)
                starts.extend(run.first_line for run in reader.variants.values())
        return starts

    def state(self) -> tuple[object, ...]:
        """What decides how the lines to come are read and what `section()` gives."""
        active = None if self._active is None else self._readers.index(self._active)
        return (tuple(_reader_state(reader) for reader in self._readers), active)

    def section(
        self, pair: autorestic.Pair | None = None, state: autorestic.PairState | None = None
    ) -> Section:
        """The latest runs, and for autorestic's location x backend `pair` what it said."""
        runs: dict[str, Run] = {}
        for reader in self._readers:
            run = reader.latest()
            if run is not None:
                runs[reader.command.name] = run
        last = max(runs, key=lambda name: runs[name].last_line) if runs else None
        backup_before = self._default.previous_complete
        earlier = {
            reader.command.name: variants
            for reader in self._readers
            if (variants := reader.earlier_variants())
        }
        if pair is None or state is None:
            return Section(
                runs=runs, backup_before=backup_before, last_command=last, earlier_variants=earlier
            )
        return Section(
            location=pair[0],
            backend=pair[1],
            runs=runs,
            backup_before=backup_before,
            last_command=last,
            earlier_variants=earlier,
            autorestic_failed=state.failed,
            autorestic_exit_code=state.exit_code,
            autorestic_finished=state.finished,
            autorestic_backup=state.backup,
        )


class LogParser:
    """Feed it lines in order; `result()` gives the latest run of everything in the log."""

    def __init__(self) -> None:
        self.lines = 0
        self._first_errors: list[LineError] = []
        self._run_errors: list[LineError] = []
        """For each run that may be reported, the first line error at or after its first line."""
        self._plain = _SectionParser()
        self._autorestic = autorestic.Session(_SectionParser)

    @property
    def runs_started(self) -> int:
        """A count that changes whenever a run of any command (or of autorestic) begins."""
        sections = [self._plain, *self._autorestic.sections.values()]
        return self._autorestic.runs + sum(section.runs_started for section in sections)

    @property
    def line_errors(self) -> list[LineError]:
        """Lines that matched a pattern but whose values could not be converted, in order: the
        first 10 read, and the first one in each run that may be reported (so a malformed line
        in the latest run is known however many came before it)."""
        errors = {error.line_number: error for error in self._first_errors}
        errors.update((error.line_number, error) for error in self._run_errors)
        return [errors[line] for line in sorted(errors)]

    @property
    def oldest_reported_line(self) -> int:
        """The first line of the oldest run `result()` reports (of the autorestic run, for an
        autorestic log): reading the log again from there gives the same result."""
        return self._oldest_line(kept=False)

    @property
    def oldest_kept_line(self) -> int:
        """Like `oldest_reported_line`, counting also every other run the parser holds (the
        finished backup before the latest, which watch mode reports while the latest runs; the
        latest complete run of each of stats' modes): reading the log again from there, with
        the line numbers it had, rebuilds every run (a restart, a resumed ``parse``)."""
        return self._oldest_line(kept=True)

    def _oldest_line(self, kept: bool) -> int:
        if self._autorestic.active:
            return self._autorestic.run_line
        return min(self._plain.run_starts(kept=kept), default=0)

    def state_digest(self) -> str:
        """A digest of everything that decides what the lines to come do and what `result()`
        and `line_errors` give, except the line errors before the oldest reported run and the
        counts of runs started.  Two parsers with equal digests give equal results from here
        on, whatever each read before: a parser that started reading at `oldest_kept_line`
        can stand for one that read the whole log if, at the same point, their digests are
        equal.  Raises TypeError for a state it cannot spell out (then nothing is equal)."""
        session = self._autorestic
        state = (
            self.lines,
            tuple((error.line_number, str(error)) for error in self._live_run_errors()),
            None if session.active else self._plain.state(),
            _session_state(session),
        )
        return hashlib.blake2b(repr(state).encode(), digest_size=16).hexdigest()

    def feed(self, line: str) -> None:
        """One line more.  A line that cannot be converted is set aside in `line_errors`: it
        costs its own line, not the rest of the log."""
        self.lines += 1
        try:
            self._feed(line)
        except LineError as error:
            self._set_aside(error)

    def _set_aside(self, error: LineError) -> None:
        if len(self._first_errors) < 10:
            self._first_errors.append(error)
        # The first error at or after each reported run's first line decides whether that run
        # was understood: keep it, whatever came before.
        kept = self._live_run_errors()
        if not any(earlier.line_number >= max(self._reported_starts()) for earlier in kept):
            kept.append(error)
        self._run_errors = kept

    def _reported_starts(self) -> list[int]:
        if self._autorestic.active:
            return [self._autorestic.run_line]
        return self._plain.run_starts(kept=False) or [0]

    def _live_run_errors(self) -> list[LineError]:
        """The errors of `_run_errors` that are not older than every reported run (the oldest
        reported run's first line never moves back)."""
        oldest = min(self._reported_starts())
        return [error for error in self._run_errors if error.line_number >= oldest]

    def _feed(self, line: str) -> None:
        text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
        session = self._autorestic
        event = autorestic.parse_line(text)
        if isinstance(event, autorestic.ExitStatus) and event.code is None:
            raise LineError(self.lines, text, "not an exit status (0 to 255)")
        if session.claims(event):
            session.feed(event, self.lines)
            return
        if session.active:
            section = session.section_of(text)
            if section is not None:
                section.feed(text, self.lines)
            return
        self._plain.feed(text, self.lines)

    def result(self) -> ParsedLog:
        session = self._autorestic
        if not session.active:
            sections: tuple[Section, ...] = (self._plain.section(),)
        else:
            sections = tuple(
                parser.section(pair, session.state(pair))
                for pair, parser in sorted(session.sections.items())
            )
        return ParsedLog(sections, session.active, self.lines)


_STATIC_READER_SLOTS = frozenset(
    {
        "_fold",
        "_new_draft",
        "_parse_json",
        "_parse_line",
        "_starts_new_run",
        "candidate",
        "command",
        "runs",
        "variants",
    }
)


def _reader_state(reader: CommandReader[Any, Any, Any]) -> tuple[object, ...]:
    # Every slot but the command's functions and the count of runs; the variants by name (the
    # order they were first seen in tells nothing: `earlier_variants` sorts them).
    slots = sorted(set(type(reader).__slots__) - _STATIC_READER_SLOTS)
    variants = sorted((name, _canonical(run)) for name, run in reader.variants.items())
    return (
        reader.command.name,
        tuple((slot, _canonical(getattr(reader, slot))) for slot in slots),
        tuple(variants),
    )


def _session_state(session: autorestic.Session[_SectionParser]) -> tuple[object, ...]:
    values = vars(session)
    return tuple(
        (name, _canonical(values[name]))
        for name in sorted(values)
        if name not in ("_new_section", "runs")
    )


def _canonical(value: object) -> object:
    """`value` as plain tuples, strings and numbers whose ``repr`` is the same in every
    process (no addresses, no set order).  Raises TypeError for anything else."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, type):
        return ("type", f"{value.__module__}.{value.__qualname__}")
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_canonical(item) for item in value))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((_canonical(item) for item in value), key=repr)))
    if isinstance(value, dict):
        return ("dict", tuple((_canonical(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, _SectionParser):
        return ("section", value.state())
    if dataclasses.is_dataclass(value):
        pairs = ((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value))
        return (type(value).__qualname__, tuple(pairs))
    slots = [slot for cls in type(value).__mro__ for slot in getattr(cls, "__slots__", ())]
    if slots and not hasattr(value, "__dict__"):
        pairs = ((slot, _canonical(getattr(value, slot))) for slot in sorted(set(slots)))
        return (type(value).__qualname__, tuple(pairs))
    raise TypeError(f"cannot spell out a {type(value).__qualname__}")


def parse_log(lines: Iterable[str]) -> ParsedLog:
    parser = LogParser()
    for line in lines:
        parser.feed(line)
    return parser.result()
