"""What a command module declares about itself (`Command`), and the reader that folds the lines
of one command into its runs (`CommandReader`).

A command module (``restic_forget``, ``restic_check``, ...; ``restic_template`` is the one to
copy) ends with one ``COMMAND = Command(...)``; ``parsers.commands.COMMANDS`` lists them, and the
router (``parsers.log``), the exporter's catalogue and families and the fixture tests are built
from that list.

A run is read into a draft: a mutable ``@dataclass(slots=True)`` of the run's fields, folded one
event at a time and frozen into the command's record by its ``freeze()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

from parsers.records import BackupRun, CommandRun, Fatal, Interrupted, ItemError, LockAge

SharedEvent = Fatal | ItemError | Interrupted | LockAge
"""What lines every command may print give: ``Fatal: ...``, ``error: ...``, the interruption,
the age of a lock that kept the command out."""
SHARED_EVENTS = (Fatal, ItemError, Interrupted, LockAge)

RunT = TypeVar("RunT", bound=BackupRun | CommandRun)
RunT_co = TypeVar("RunT_co", bound=BackupRun | CommandRun, covariant=True)
EventT = TypeVar("EventT")
DraftT = TypeVar("DraftT", bound="Draft[Any]")


class Draft(Protocol[RunT_co]):
    """A run while it is read.  `ended`: its closing line was read (a shared line that follows
    is no longer its own); `complete`: the log shows how the run ended."""

    first_line: int
    last_line: int

    @property
    def complete(self) -> bool: ...

    @property
    def ended(self) -> bool: ...

    def freeze(self) -> RunT_co: ...


def freeze_into(record: type[RunT], draft: object) -> RunT:
    """`record` with the values of the draft's fields of the same names (a draft has every field
    of its record, and may have more: where it is in the run)."""
    return record(**{field.name: getattr(draft, field.name) for field in fields(record)})


@dataclass(frozen=True, slots=True)
class JsonMessage:
    """A kind of ``--json`` message a command prints: its ``message_type``, told apart from other
    commands' messages of the same type by a key it always has (`having`, any one of them) or
    never has (`lacking`)."""

    message_type: str
    having: frozenset[str] = frozenset()
    lacking: frozenset[str] = frozenset()

    def matches(self, message: dict[str, Any]) -> bool:
        return message.get("message_type") == self.message_type and self.keys_match(message)

    def keys_match(self, message: dict[str, Any]) -> bool:
        """`matches`, for a message known to be of `message_type`."""
        having, lacking = self.having, self.lacking
        return (not having or not having.isdisjoint(message)) and lacking.isdisjoint(message)


@dataclass(frozen=True)
class Command(Generic[EventT, DraftT, RunT]):
    """One restic command, as its module declares it."""

    name: str
    """The command as typed after ``restic`` and as it appears in metric names."""
    record: type[RunT]
    """What one run of it is, frozen."""
    candidate: re.Pattern[str]
    """A quick test (``search``) that every line `parse_line` reads passes."""
    parse_line: Callable[[str, int], tuple[EventT, ...]]
    """The events of one line (and its number, for errors): none for a line not its own."""
    new_draft: Callable[[int], DraftT]
    """An empty run starting at the given line."""
    fold: Callable[[DraftT, EventT | SharedEvent], None]
    """Writes what one event says into the run being read (exhaustive over its events)."""
    starts_new_run: Callable[[DraftT, EventT | SharedEvent], bool]
    """Whether an event belongs to a new run rather than to the one being read."""
    claims_shared: bool = False
    """It takes the lines every command prints (``Fatal:``, ``error:``, the interruption)
    while its run has not ended; otherwise they are the first command's (backup's)."""
    claims_fatal: tuple[str, ...] = ()
    """``Fatal:`` messages that are always its own, whatever ran before."""
    json_messages: tuple[JsonMessage, ...] = ()
    """The ``--json`` messages (objects with a ``message_type``) that are its own."""
    parse_json: Callable[[dict[str, Any], str, int], tuple[EventT, ...]] | None = None
    """The events of one of its own JSON messages (decoded once, by the router)."""
    variant: Callable[[Any], str] | None = None
    """What tells its runs apart where each kind's latest run counts (stats' mode): the latest
    complete run of every variant is kept, not only the latest run."""

    def owns_json(self, message: dict[str, Any]) -> bool:
        return any(kind.matches(message) for kind in self.json_messages)


class CommandReader(Generic[EventT, DraftT, RunT]):
    """Folds one command's events into its latest run; freezes the record on demand.  Keeps the
    latest run before it that was complete, too (a backup in progress does not yet replace it)."""

    __slots__ = (
        "_fold",
        "_new_draft",
        "_parse_json",
        "_parse_line",
        "_starts_new_run",
        "candidate",
        "command",
        "draft",
        "previous_complete",
        "runs",
        "variants",
    )

    def __init__(self, command: Command[EventT, DraftT, RunT]) -> None:
        self.command = command
        self.draft: DraftT | None = None
        self.previous_complete: RunT | None = None
        self.variants: dict[str, RunT] = {}
        """The latest complete run of each variant before the current run (`Command.variant`)."""
        self.runs = 0
        # bound once: the reader is on the path of every line
        self.candidate = command.candidate.search
        self._parse_line = command.parse_line
        self._parse_json = command.parse_json
        self._fold = command.fold
        self._starts_new_run = command.starts_new_run
        self._new_draft = command.new_draft

    @property
    def ended(self) -> bool:
        return self.draft is not None and self.draft.ended

    def parse_line(self, line: str, line_number: int) -> tuple[EventT, ...]:
        return self._parse_line(line, line_number)

    def parse_json(
        self, message: dict[str, Any], line: str, line_number: int
    ) -> tuple[EventT, ...]:
        parse = self._parse_json
        return parse(message, line, line_number) if parse is not None else ()

    def feed(self, events: tuple[EventT | SharedEvent, ...], line_number: int) -> None:
        for event in events:
            draft = self.draft
            if draft is None or self._starts_new_run(draft, event):
                if draft is not None and draft.complete:
                    self.previous_complete = draft.freeze()
                    variant = self.command.variant
                    if variant is not None:
                        self.variants[variant(self.previous_complete)] = self.previous_complete
                draft = self.draft = self._new_draft(line_number)
                self.runs += 1
            self._fold(draft, event)
            draft.last_line = line_number

    def earlier_variants(self) -> tuple[RunT, ...]:
        """The latest complete run of every variant but the latest run's, oldest first."""
        variant, latest = self.command.variant, self.latest()
        if variant is None or latest is None:
            return ()
        own = variant(latest)
        runs = (run for key, run in self.variants.items() if key != own)
        return tuple(sorted(runs, key=lambda run: run.last_line))

    def latest(self) -> RunT | None:
        draft = self.draft
        if draft is None:
            return None
        run: RunT = draft.freeze()
        return run
