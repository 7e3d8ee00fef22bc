"""What the runs of forget, prune, check and stats share: their draft's common fields, and when a
line starts a new run.

A command module's events are marked with what they mean for run boundaries:

* ``StartLine``: the command's first lines.  After any other line of a run, it starts a new run.
* ``BodyLine``: the middle.  After the run ended, it starts a new run.
* ``EndLine``: the run ended (``done``, ``no errors were found``).
* ``TrailerLine``: may follow the end of its run (stats' compression lines after ``Total Size``).
* ``WholeRun``: one line that is a whole run (``forget --json``'s array).

``Fatal`` and ``ItemError`` from ``parsers.records`` end, or count as an error in, the current run
(a ``Fatal`` also a run that ended without one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Self, TypeVar

from parsers.command import SharedEvent
from parsers.records import Fatal, ItemError, LockAge, RepositoryLock


class StartLine:
    __slots__ = ()


class BodyLine:
    __slots__ = ()


class EndLine:
    __slots__ = ()


class TrailerLine:
    __slots__ = ()


class WholeRun:
    __slots__ = ()


@dataclass(slots=True)
class CommandDraft:
    """The fields of `parsers.records.CommandRun` while the run is read, and where it is."""

    first_line: int
    last_line: int
    complete: bool = False
    errors: int = 0
    fatal_message: str | None = None
    exit_code: int | None = None
    lock: RepositoryLock | None = None
    in_body: bool = False
    """A line after the command's first lines was read."""
    ended: bool = False

    @classmethod
    def starting_at(cls, line_number: int) -> Self:
        return cls(first_line=line_number, last_line=line_number)


DraftT = TypeVar("DraftT", bound=CommandDraft)
EventT = TypeVar("EventT")


def starts_new_run(draft: CommandDraft, event: object) -> bool:
    """Run boundaries by the marker classes above (the draft is the run being read)."""
    if isinstance(event, WholeRun):
        return True
    if isinstance(event, StartLine):
        return draft.in_body or draft.ended
    if isinstance(event, TrailerLine | LockAge):
        return False
    if isinstance(event, Fatal):  # check --json's exit_error follows its summary
        return draft.fatal_message is not None
    return draft.ended


def folding(
    fold: Callable[[DraftT, EventT | SharedEvent], None],
) -> Callable[[DraftT, EventT | SharedEvent], None]:
    """A command's own `fold`, wrapped in what every command's run does with an event: a Fatal
    ends it, an ItemError counts, an end marker ends and completes it."""

    def fold_event(draft: DraftT, event: EventT | SharedEvent) -> None:
        if isinstance(event, Fatal):
            draft.fatal_message = event.message
            draft.exit_code = event.exit_code
            draft.lock = event.lock or draft.lock
            draft.complete = True
            draft.ended = True
            return
        if isinstance(event, LockAge):
            if draft.lock is not None:
                draft.lock = replace(draft.lock, age_seconds=event.age_seconds)
            return
        if isinstance(event, ItemError):
            draft.errors += 1
        fold(draft, event)
        if not isinstance(event, StartLine):
            draft.in_body = True
        if isinstance(event, EndLine | WholeRun):
            draft.ended = True
            draft.complete = True

    return fold_event
