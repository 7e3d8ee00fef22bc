"""The latest run of one restic command (forget, prune, check, stats), tracked through a log.

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
from typing import Any, Generic, TypeVar

from parsers.records import CommandRun, Fatal, ItemError


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


RunT = TypeVar("RunT", bound=CommandRun)
Fold = Callable[[dict[str, Any], object], None]


class CommandTracker(Generic[RunT]):
    """Folds one command's events into the fields of its latest run; builds the record on demand."""

    def __init__(self, record: type[RunT], fold: Fold) -> None:
        self._record = record
        self._fold = fold
        self._fields: dict[str, Any] | None = None
        self._in_body = False
        self._ended = False
        self.runs = 0

    @property
    def ended(self) -> bool:
        return self._ended

    def feed(self, event: object, line_number: int) -> None:
        if self._starts_new_run(event):
            self.runs += 1
            self._fields = {"first_line": line_number}
            self._in_body = False
            self._ended = False
        fields = self._fields
        assert fields is not None
        fields["last_line"] = line_number
        if isinstance(event, Fatal):
            fields.update(fatal_message=event.message, exit_code=event.exit_code, complete=True)
            self._ended = True
            return
        if isinstance(event, ItemError):
            fields["errors"] = fields.get("errors", 0) + 1
        self._fold(fields, event)
        if not isinstance(event, StartLine):
            self._in_body = True
        if isinstance(event, EndLine | WholeRun):
            self._ended = True
            fields.setdefault("complete", True)

    def latest(self) -> RunT | None:
        if self._fields is None:
            return None
        return self._record(**self._fields)

    def _starts_new_run(self, event: object) -> bool:
        if self._fields is None or isinstance(event, WholeRun):
            return True
        if isinstance(event, StartLine):
            return self._in_body or self._ended
        if isinstance(event, TrailerLine):
            return False
        if isinstance(event, Fatal):  # check --json's exit_error follows its summary
            return "fatal_message" in self._fields
        return self._ended
