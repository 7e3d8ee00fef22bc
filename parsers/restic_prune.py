"""restic prune (also the prune part of ``forget --prune``), text only: prune has no JSON output.

Two implementations.  0.12 and later ("new prune") print a statistics block; observed with restic
0.14.0::

    loading indexes...
    loading all snapshots...
    finding data that is still in use for 2 snapshots
    [0:00] 100.00%  2 / 2 snapshots

    searching used packs...
    collecting packs for deletion and repacking
    [0:00] 100.00%  10 / 10 packs processed

    to repack:             0 blobs / 0 B
    this removes:          0 blobs / 0 B
    to delete:           949 blobs / 569.399 KiB
    total prune:         949 blobs / 569.399 KiB
    remaining:          5130 blobs / 83.004 MiB
    unused size after prune: 212.216 KiB (0.25% of remaining size)

    rebuilding index
    ...
    done

0.12.x writes ``this removes`` without the colon.  0.9 to 0.11 ("old prune") print instead
``counting files in repo`` ... ``found N of M data blobs still in use, removing K blobs`` ...
``will delete N packs and rewrite M packs, this frees X`` ... ``done``: from those, the removed
blobs and the freed bytes are read.

Events: PruneStep (start and progress lines), PruneStatistic (``action`` is repack, remove,
delete, total_prune or remaining; with blobs and bytes), UnusedAfterPrune, PruneDone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, assert_never

from parsers.command import Command, SharedEvent, freeze_into
from parsers.command_log import (
    BodyLine,
    CommandDraft,
    EndLine,
    StartLine,
    folding,
    starts_new_run,
)
from parsers.lines import converted
from parsers.records import Fatal, Interrupted, ItemError, LockAge, PruneRun
from parsers.units import SIZE_PATTERN, to_bytes, to_count

# "loading indexes..." (0.12+)
START = re.compile(r"^loading indexes\.\.\.\s*$")
# the lines in between, which only say that prune is at work.  Old prune's first line, "counting
# files in repo", comes again when it rebuilds the index: it cannot tell a new run.
STEP = re.compile(
    r"^(?:counting files in repo|finding old index files|saved new indexes as .+"
    r"|remove \d+ old index files|loading all snapshots\.\.\."
    r"|finding data that is still in use for \d+ snapshots"
    r"|searching used packs\.\.\.|collecting packs for deletion and repacking"
    r"|deleting unreferenced packs|repacking packs|rebuilding index|deleting obsolete index files"
    r"|deleting index files|removing \d+ old packs|building new index for repo"
    r"|repository contains \d+ packs .*|processed \d+ blobs: .*|load all snapshots"
    r"|find data that is still in use for \d+ snapshots|will remove \d+ invalid files"
    r"|Would have made the following changes:)\s*$"
)
# "to repack:             0 blobs / 0 B", "this removes          3 blobs / 813 B" (0.12)
STATISTIC = re.compile(
    rf"^(?P<action>to repack|this removes|to delete|total prune|remaining):?\s+"
    rf"(?P<blobs>\d+) blobs / (?P<size>{SIZE_PATTERN})\s*$"
)
# "unused size after prune: 212.216 KiB (0.25% of remaining size)"
UNUSED = re.compile(
    rf"^unused size after prune: (?P<size>{SIZE_PATTERN}) \(.*of remaining size\)\s*$"
)
# "found 5130 of 6079 data blobs still in use, removing 949 blobs" (0.9-0.11)
OLD_REMOVING = re.compile(
    r"^found (?P<used>\d+) of \d+ data blobs still in use, removing (?P<blobs>\d+) blobs\s*$"
)
# "will delete 3 packs and rewrite 1 packs, this frees 569.399 KiB" (0.9-0.11)
OLD_FREES = re.compile(
    rf"^will delete \d+ packs and rewrite \d+ packs, this frees (?P<size>{SIZE_PATTERN})\s*$"
)
DONE = re.compile(r"^done\s*$")

PruneAction = Literal["repack", "remove", "delete", "total_prune", "remaining"]
_ACTIONS: dict[str, PruneAction] = {
    "to repack": "repack",
    "this removes": "remove",
    "to delete": "delete",
    "total prune": "total_prune",
    "remaining": "remaining",
}


# Every line this module reads starts like one of these: a quick test before the patterns.
CANDIDATE = re.compile(
    r"^(?:loading |counting |finding |saved new |remove \d|searching |collecting |deleting "
    r"|repacking |rebuilding |removing |building |repository contains |processed \d+ blobs"
    r"|load all |find data |will |Would have made |to |this removes|total prune|remaining"
    r"|unused size |found \d|done)"
)


@dataclass(frozen=True)
class PruneStart(StartLine):
    pass


@dataclass(frozen=True)
class PruneStep(BodyLine):
    dry_run: bool = False


@dataclass(frozen=True)
class PruneStatistic(BodyLine):
    action: PruneAction
    blobs: int | None
    bytes: int | None


@dataclass(frozen=True)
class UnusedAfterPrune(BodyLine):
    bytes: int


@dataclass(frozen=True)
class PruneDone(EndLine):
    pass


PruneEvent = PruneStart | PruneStep | PruneStatistic | UnusedAfterPrune | PruneDone


def parse_line(line: str, line_number: int) -> tuple[PruneEvent, ...]:
    return converted(_events, line, line_number)


def _events(line: str) -> tuple[PruneEvent, ...]:
    if START.match(line):
        return (PruneStart(),)
    if match := STATISTIC.match(line):
        return (
            PruneStatistic(
                _ACTIONS[match["action"]], to_count(match["blobs"]), to_bytes(match["size"])
            ),
        )
    if match := UNUSED.match(line):
        return (UnusedAfterPrune(to_bytes(match["size"])),)
    if match := OLD_REMOVING.match(line):
        # the blobs still in use are the ones that remain: old prune prints no "remaining:"
        return (
            PruneStatistic("remove", to_count(match["blobs"]), None),
            PruneStatistic("remaining", to_count(match["used"]), None),
        )
    if match := OLD_FREES.match(line):
        return (PruneStatistic("remove", None, to_bytes(match["size"])),)
    if STEP.match(line):
        return (PruneStep(dry_run=line.startswith("Would have made")),)
    if DONE.match(line):
        return (PruneDone(),)
    return ()


@dataclass(slots=True)
class PruneDraft(CommandDraft):
    repack_blobs: int | None = None
    repack_bytes: int | None = None
    remove_blobs: int | None = None
    remove_bytes: int | None = None
    delete_blobs: int | None = None
    delete_bytes: int | None = None
    total_prune_blobs: int | None = None
    total_prune_bytes: int | None = None
    remaining_blobs: int | None = None
    remaining_bytes: int | None = None
    unused_bytes_after_prune: int | None = None
    dry_run: bool = False

    def set_statistic(self, action: PruneAction, blobs: int | None, size: int | None) -> None:
        """One line of the statistics; what the line does not say (old prune) stays."""
        if action == "repack":
            self.repack_blobs = _either(blobs, self.repack_blobs)
            self.repack_bytes = _either(size, self.repack_bytes)
        elif action == "remove":
            self.remove_blobs = _either(blobs, self.remove_blobs)
            self.remove_bytes = _either(size, self.remove_bytes)
        elif action == "delete":
            self.delete_blobs = _either(blobs, self.delete_blobs)
            self.delete_bytes = _either(size, self.delete_bytes)
        elif action == "total_prune":
            self.total_prune_blobs = _either(blobs, self.total_prune_blobs)
            self.total_prune_bytes = _either(size, self.total_prune_bytes)
        elif action == "remaining":
            self.remaining_blobs = _either(blobs, self.remaining_blobs)
            self.remaining_bytes = _either(size, self.remaining_bytes)
        else:
            assert_never(action)

    def freeze(self) -> PruneRun:
        return freeze_into(PruneRun, self)


@folding
def fold(draft: PruneDraft, event: PruneEvent | SharedEvent) -> None:
    if isinstance(event, PruneStatistic):
        draft.set_statistic(event.action, event.blobs, event.bytes)
    elif isinstance(event, UnusedAfterPrune):
        draft.unused_bytes_after_prune = event.bytes
    elif isinstance(event, PruneStep):
        if event.dry_run:
            draft.dry_run = True
    elif isinstance(event, PruneStart | PruneDone | ItemError | Interrupted | Fatal | LockAge):
        pass  # boundaries and errors: `folding` keeps them
    else:
        assert_never(event)


def _either(new: int | None, old: int | None) -> int | None:
    return old if new is None else new


COMMAND = Command(
    name="prune",
    record=PruneRun,
    candidate=CANDIDATE,
    parse_line=parse_line,
    new_draft=PruneDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    claims_shared=True,
)
