"""restic forget (with and without ``--prune``), text and ``--json``, 0.9 to 0.19.

The prune part of ``forget --prune`` is prune's own output: ``parsers.restic_prune`` reads it.

Observed with restic 0.14.0 (``forget --keep-last 2 --prune``, abridged)::

    Applying Policy: keep 2 latest snapshots
    keep 2 snapshots:
    ID        Time                 Host        Tags        Reasons        Paths
    ...
    2 snapshots

    remove 3 snapshots:
    ...
    [0:00] 100.00%  3 / 3 files deleted

    3 snapshots have been removed, running prune

Lines and events:

* ``Applying Policy: ...`` (all versions, once before the groups): PolicyApplied, a new run.
* ``keep N snapshots:`` / ``remove N snapshots:`` (one pair per group): SnapshotsListed; the counts
  of all groups add up.
* ``Would have removed the following snapshots:`` (0.12+, ``--dry-run``): dry run.
* ``unable to remove <handle> from the repository``: an error.
* ``no policy was specified, no snapshots will be removed`` (up to 0.16; 0.17+ makes it Fatal).
* ``--json``: one array of groups, each with ``keep`` and ``remove`` lists: ForgetJson.

A forget run has no closing line: it is complete once its policy line was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, assert_never

from parsers.command import Command, SharedEvent, freeze_into
from parsers.command_log import (
    BodyLine,
    CommandDraft,
    StartLine,
    WholeRun,
    folding,
    starts_new_run,
)
from parsers.lines import converted, load_json
from parsers.records import Fatal, ForgetRun, Interrupted, ItemError, LockAge
from parsers.units import to_count

# "Applying Policy: keep 2 latest snapshots"
POLICY = re.compile(r"^Applying Policy: (?P<policy>.+?)\s*$")
# "no policy was specified, no snapshots will be removed"
NO_POLICY = re.compile(r"^no policy was specified, no snapshots will be removed\s*$")
# "keep 2 snapshots:", "remove 3 snapshots:"
LISTED = re.compile(r"^(?P<action>keep|remove) (?P<count>\d+) snapshots:\s*$")
# "Would have removed the following snapshots:"
DRY_RUN = re.compile(r"^Would have removed the following snapshots:")
# "3 snapshots have been removed, running prune" (dry run: "3 snapshots would be removed, ...")
RUNNING_PRUNE = re.compile(r"^\d+ snapshots (?:have been|would be) removed, running prune")
# "unable to remove <snapshot/1a2b3c4d> from the repository"
REMOVE_FAILED = re.compile(r"^(?P<message>unable to remove .+ from the repository)\s*$")


# Every line this module reads starts like one of these: a quick test before the patterns.
CANDIDATE = re.compile(
    r"^(?:\[|Applying Policy|no policy|keep \d|remove \d|Would have removed|\d+ snapshots "
    r"|unable to remove)"
)


@dataclass(frozen=True)
class PolicyApplied(StartLine):
    policy: str


@dataclass(frozen=True)
class SnapshotsListed(BodyLine):
    action: Literal["keep", "remove"]
    count: int


@dataclass(frozen=True)
class ForgetNote(BodyLine):
    """A forget line that only says the run is there (dry run, prune following)."""

    dry_run: bool = False


@dataclass(frozen=True)
class ForgetJson(WholeRun):
    kept: int
    removed: int


ForgetEvent = PolicyApplied | SnapshotsListed | ForgetNote | ForgetJson | ItemError


def parse_line(line: str, line_number: int) -> tuple[ForgetEvent, ...]:
    return converted(_events, line, line_number)


def _events(line: str) -> tuple[ForgetEvent, ...]:
    if line.startswith("["):
        return _json(line)
    if match := POLICY.match(line):
        return (PolicyApplied(match["policy"]),)
    if NO_POLICY.match(line):
        return (PolicyApplied("none"),)
    if match := LISTED.match(line):
        action: Literal["keep", "remove"] = "keep" if match["action"] == "keep" else "remove"
        return (SnapshotsListed(action, to_count(match["count"])),)
    if DRY_RUN.match(line):
        return (ForgetNote(dry_run=True),)
    if RUNNING_PRUNE.match(line):
        return (ForgetNote(dry_run="would be" in line),)
    if match := REMOVE_FAILED.match(line):
        return (ItemError(match["message"]),)
    return ()


def _json(line: str) -> tuple[ForgetEvent, ...]:
    groups = load_json(line)
    if not isinstance(groups, list) or not all(_is_group(group) for group in groups):
        return ()
    return (
        ForgetJson(
            kept=sum(len(group.get("keep") or []) for group in groups),
            removed=sum(len(group.get("remove") or []) for group in groups),
        ),
    )


def _is_group(group: Any) -> bool:
    return (
        isinstance(group, dict)
        and "keep" in group
        and isinstance(group.get("keep") or [], list)
        and isinstance(group.get("remove") or [], list)
    )


@dataclass(slots=True)
class ForgetDraft(CommandDraft):
    kept_snapshots: int | None = None
    removed_snapshots: int | None = None
    dry_run: bool = False

    def freeze(self) -> ForgetRun:
        return freeze_into(ForgetRun, self)


@folding
def fold(draft: ForgetDraft, event: ForgetEvent | SharedEvent) -> None:
    draft.complete = True  # forget prints no closing line: its policy line is enough
    if isinstance(event, SnapshotsListed):
        if event.action == "keep":
            draft.kept_snapshots = (draft.kept_snapshots or 0) + event.count
        else:
            draft.removed_snapshots = (draft.removed_snapshots or 0) + event.count
    elif isinstance(event, ForgetNote):
        if event.dry_run:
            draft.dry_run = True
    elif isinstance(event, ForgetJson):
        draft.kept_snapshots = event.kept
        draft.removed_snapshots = event.removed
    elif isinstance(event, PolicyApplied | ItemError | Interrupted | Fatal | LockAge):
        pass  # the run is there (a Fatal never gets here: `folding` ends the run with it)
    else:
        assert_never(event)
    if isinstance(event, PolicyApplied | ForgetJson):
        if draft.kept_snapshots is None:
            draft.kept_snapshots = 0
        if draft.removed_snapshots is None:
            draft.removed_snapshots = 0


COMMAND = Command(
    name="forget",
    record=ForgetRun,
    candidate=CANDIDATE,
    parse_line=parse_line,
    new_draft=ForgetDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    # no closing line: a "Fatal:" after its tables is the next command's (a backup that fails
    # to open the repository)
    claims_shared=False,
)
