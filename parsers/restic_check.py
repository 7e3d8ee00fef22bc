"""restic check, text (all versions) and ``--json`` (0.18+).

Observed with restic 0.14.0, success::

    using temporary cache in /var/cache/restic-check-cache-1165818062
    create exclusive lock for repository
    load indexes
    check all packs
    check snapshots, trees and blobs
    [0:00] 100.00%  2 / 2 snapshots

    no errors were found

and failure (a pack file deleted), problems on stderr::

    pack bb7d92aac79127a3097de25176897dc2709e123ec6450bca84dc121ccb683b8f: does not exist
    Fatal: repository contains errors

Events: CheckStep (start and progress lines, and the non-critical notes ``pack <id>: not
referenced in any index`` and ``N additional files were found``), CheckProblem (each problem
restic lists: ``pack <id>: ...``, ``error for tree <id>:``, ``unused blob <id>``, and with
``--json`` the ``{"message_type":"error","message":...}`` lines; ``error: ...`` lines while a
check runs count as its errors), CheckPassed (``no errors were found``) and, for ``--json``,
CheckSummary (``num_errors``, which the run's problem count then equals: 0.18+ also print
the repair hint ``The repository is damaged and must be repaired ...`` as an ``error`` message,
which is advice, not a problem).  ``Fatal: repository contains errors`` ends the run.
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
from parsers.lines import load_json
from parsers.records import CheckRun, Fatal, Interrupted, ItemError, LockAge
from parsers.units import MAX_COUNT

# "using temporary cache in /tmp/restic-check-cache-1", "create exclusive lock for repository",
# "load indexes"
START = re.compile(
    r"^(?:using temporary cache in .+|create exclusive lock for repository|load indexes)\s*$"
)
# "check all packs", "read all data", "read group #1 of 5 data packs (out of total 12 packs in
# 5 groups)", "read 10.0% of data packs", "read 1000 bytes of data packs"
STEP = re.compile(
    r"^(?:check all packs|check snapshots, trees and blobs|read all (?:data|tree data)"
    r"|read group #\d+ of \d+ .*|read [\d.]+% of .*data packs.*"
    r"|read \d+ bytes of .*data packs.*)\s*$"
)
# "pack 1a2b...: does not exist", "error for tree 1a2b...:", "unused blob 1a2b..."
PROBLEM = re.compile(
    r"^(?:pack [0-9a-f]+: .+|error for tree [0-9a-f]+:.*|unused blob [0-9a-f]+"
    r"|tree [0-9a-f]+: .+)\s*$"
)
# Not errors: restic check exits 0 and says "no errors were found" after them (left over from an
# interrupted backup or prune; prune removes them).
# "pack 1a2b...: not referenced in any index", "3 additional files were found in the repo, ..."
NOTE = re.compile(
    r"^(?:pack [0-9a-f]+: not referenced in any index|\d+ additional files were found in the repo"
    r"|This is non-critical|You can run `restic prune`).*$"
)
PASSED = re.compile(r"^no errors were found\s*$")
# 0.18+, after the problems (with --json as an "error" message of its own):
# "The repository is damaged and must be repaired. Please follow the troubleshooting guide ..."
REPAIR_HINT = re.compile(r"^The repository is damaged and must be repaired\b")


# Every line this module reads starts like one of these: a quick test before the patterns.
CANDIDATE = re.compile(
    r"^(?:\{|using temporary cache|create exclusive lock|load indexes|check |read |pack "
    r"|error for tree|unused blob|\d+ additional files|This is non-critical|You can run"
    r"|tree |no errors were found)"
)


@dataclass(frozen=True)
class CheckStart(StartLine):
    pass


@dataclass(frozen=True)
class CheckStep(BodyLine):
    pass


@dataclass(frozen=True)
class CheckProblem(BodyLine):
    text: str


@dataclass(frozen=True)
class CheckPassed(EndLine):
    pass


@dataclass(frozen=True)
class CheckSummary(EndLine):
    """``check --json`` (0.18+): ``{"message_type":"summary","num_errors":N,...}``."""

    num_errors: int


CheckEvent = CheckStart | CheckStep | CheckProblem | CheckPassed | CheckSummary

# check --json (0.18+): its summary counts errors, its errors carry only a message (backup's carry
# an "error" object).  Its "exit_error" is every command's: parsers.restic_json reads it.
JSON_MESSAGES = (
    JsonMessage("summary", having=frozenset({"num_errors"})),
    JsonMessage("error", having=frozenset({"message"}), lacking=frozenset({"error"})),
)
# The Fatal that only check prints.
CHECK_FAILED = "repository contains errors"


def parse_line(line: str, line_number: int) -> tuple[CheckEvent, ...]:
    if line.startswith("{"):
        return _json(line)
    if START.match(line):
        return (CheckStart(),)
    if NOTE.match(line):
        return (CheckStep(),)
    if STEP.match(line):
        return (CheckStep(),)
    if PROBLEM.match(line):
        return (CheckProblem(line.strip()),)
    if PASSED.match(line):
        return (CheckPassed(),)
    return ()


def _json(line: str) -> tuple[CheckEvent, ...]:
    message = load_json(line)
    if not isinstance(message, dict):
        return ()
    return parse_message(message, line, 0)


def parse_message(message: dict[str, Any], line: str, line_number: int) -> tuple[CheckEvent, ...]:
    """The events of one decoded ``check --json`` message."""
    if message.get("message_type") == "error" and isinstance(message.get("message"), str):
        text = message["message"].strip()
        if REPAIR_HINT.match(text):
            return (CheckStep(),)  # 0.18+: advice after the problems, not one of them
        return (CheckProblem(text),)
    if message.get("message_type") != "summary":
        return ()
    errors = message.get("num_errors")
    if isinstance(errors, bool) or not isinstance(errors, int) or not 0 <= errors <= MAX_COUNT:
        return ()
    return (CheckSummary(errors),)


@dataclass(slots=True)
class CheckDraft(CommandDraft):
    problems: int = 0

    def freeze(self) -> CheckRun:
        return freeze_into(CheckRun, self)


@folding
def fold(draft: CheckDraft, event: CheckEvent | SharedEvent) -> None:
    if isinstance(event, CheckProblem):
        draft.problems += 1
    elif isinstance(event, CheckSummary):
        # restic's own count: what ours must be (0.18+ also prints a repair hint as an error)
        draft.problems = event.num_errors
    elif isinstance(
        event, CheckStart | CheckStep | CheckPassed | ItemError | Interrupted | Fatal | LockAge
    ):
        pass  # boundaries and errors: `folding` keeps them
    else:
        assert_never(event)


COMMAND = Command(
    name="check",
    record=CheckRun,
    candidate=CANDIDATE,
    parse_line=parse_line,
    new_draft=CheckDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    claims_shared=True,
    claims_fatal=(CHECK_FAILED,),
    json_messages=JSON_MESSAGES,
    parse_json=parse_message,
)
