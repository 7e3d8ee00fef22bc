"""The pattern to copy for the next command (``restore``, say).  Not in ``COMMANDS``: it reads
nothing real, and exists so that a new command starts from a module that type-checks.

To add a command:

1. Copy this module to ``parsers/restic_<command>.py``.  Its docstring is the spec: what it reads,
   which versions, a verbatim sample of real output, and the events each line gives.
2. Add its record to ``parsers/records.py``: a frozen ``CommandRun`` subclass, units in the field
   names, ``None`` for what the log did not say.  Here the record is ``CommandRun`` itself.
3. Add its ``COMMAND`` to ``parsers.commands.COMMANDS``, where scripts run it.
4. Declare its metrics in ``exporter/catalogue.py`` (success and last run come by themselves)
   and write them in ``exporter/families.py``.
5. Put real captured output in ``tests/fixtures/commands/`` and write its expected files with
   ``pytest tests/test_fixtures.py --regenerate-goldens``; review them as a diff.

Sample (made up: this command does not exist)::

    template: starting
    template: 3 things done
    template: finished

Lines and events: ``template: starting`` gives TemplateStart (a new run), ``template: N things
done`` TemplateDone(N), ``template: finished`` TemplateEnd (the run is complete).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, assert_never

from parsers.command import Command, JsonMessage, SharedEvent, freeze_into
from parsers.command_log import (
    BodyLine,
    CommandDraft,
    EndLine,
    StartLine,
    folding,
    starts_new_run,
)
from parsers.lines import converted
from parsers.records import CommandRun, Fatal, Interrupted, ItemError, LockAge

# "template: starting"
START = re.compile(r"^template: starting\s*$")
# "template: 3 things done"
DONE = re.compile(r"^template: (?P<things>\d+) things done\s*$")
# "template: finished"
END = re.compile(r"^template: finished\s*$")

# Every line this module reads starts like one of these: a quick test before the patterns.
CANDIDATE = re.compile(r"^template: ")

# The --json messages that are this command's, told apart from other commands' messages of the
# same message_type by a key only this command's have.
JSON_MESSAGES = (JsonMessage("summary", having=frozenset({"things_done"})),)


@dataclass(frozen=True)
class TemplateStart(StartLine):
    pass


@dataclass(frozen=True)
class TemplateDone(BodyLine):
    things: int


@dataclass(frozen=True)
class TemplateEnd(EndLine):
    pass


TemplateEvent = TemplateStart | TemplateDone | TemplateEnd


def parse_line(line: str, line_number: int) -> tuple[TemplateEvent, ...]:
    # `converted` turns a value that matched but cannot be converted into a LineError
    return converted(_events, line, line_number)


def _events(line: str) -> tuple[TemplateEvent, ...]:
    if START.match(line):
        return (TemplateStart(),)
    if match := DONE.match(line):
        return (TemplateDone(int(match["things"])),)
    if END.match(line):
        return (TemplateEnd(),)
    return ()


def parse_message(
    message: dict[str, Any], line: str, line_number: int
) -> tuple[TemplateEvent, ...]:
    """One of its own JSON messages, decoded by the router."""
    things = message.get("things_done")
    if isinstance(things, bool) or not isinstance(things, int):
        return ()
    return (TemplateDone(things), TemplateEnd())


@dataclass(slots=True)
class TemplateDraft(CommandDraft):
    things_done: int | None = None

    def freeze(self) -> CommandRun:
        return freeze_into(CommandRun, self)


@folding
def fold(draft: TemplateDraft, event: TemplateEvent | SharedEvent) -> None:
    """`folding` has already counted an ItemError and ended the run on a Fatal or an end line;
    the branches say what the command's own events add.  assert_never fails mypy when an event
    has no branch."""
    if isinstance(event, TemplateDone):
        draft.things_done = (draft.things_done or 0) + event.things
    elif isinstance(event, TemplateStart | TemplateEnd | ItemError | Interrupted | Fatal | LockAge):
        pass
    else:
        assert_never(event)


COMMAND = Command(
    name="template",
    record=CommandRun,
    candidate=CANDIDATE,
    parse_line=parse_line,
    new_draft=TemplateDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    claims_shared=True,  # a Fatal: while it works is its own (False if it has no closing line)
    json_messages=JSON_MESSAGES,
    parse_json=parse_message,
)
