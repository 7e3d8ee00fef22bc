"""restic stats, text and ``--json``, 0.9 to 0.19.

Text, 0.15 and later (the compression lines only for compressed repositories)::

    scanning...
    Stats in restore-size mode:
         Snapshots processed:  5
            Total File Count:  69
     Total Uncompressed Size:  1.024 GiB
                  Total Size:  1.023 GiB
        Compression Progress:  100.00%
           Compression Ratio:  1.00x
    Compression Space Saving:  0.10%

0.10 to 0.14 print the same labels with other padding and no compression lines; 0.9 starts with
``Stats for all snapshots in restore-size mode:`` and has no ``Snapshots processed``.
``--json`` (observed 0.14.0): ``{"total_size":1098965230,"total_file_count":69,
"snapshots_count":5}``; 0.15 adds ``total_uncompressed_size``, ``compression_ratio``,
``compression_progress`` and ``compression_space_saving`` (the last two in percent).

Events: StatsStart (``scanning...``, the mode line), StatsValue (one labelled value; converted to
bytes, or a ratio from 0 to 1 for percentages), StatsTotal (``Total Size``, which every version
prints: the run is complete), StatsJson.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, assert_never

from parsers.command import Command, SharedEvent, freeze_into
from parsers.command_log import (
    BodyLine,
    CommandDraft,
    EndLine,
    StartLine,
    TrailerLine,
    WholeRun,
    folding,
    starts_new_run,
)
from parsers.lines import converted, load_json
from parsers.records import Fatal, Interrupted, ItemError, LockAge, StatsRun
from parsers.units import MAX_COUNT, SIZE_PATTERN, UnitError, to_bytes, to_count

_MAX_PERCENT = 100.0

SCANNING = re.compile(r"^scanning\.\.\.\s*$")
# "Stats in restore-size mode:", "Stats for all snapshots in raw-data mode:"
MODE = re.compile(r"^Stats (?:for .+ )?in (?P<mode>[a-z-]+) mode:\s*$")
# "     Snapshots processed:  5", "   Total Blob Count:   511"
COUNT = re.compile(
    r"^\s*(?P<label>Snapshots processed|Total Blob Count|Total File Count):\s+(?P<value>\d+)\s*$"
)
# " Total Uncompressed Size:  1.024 GiB", "         Total Size:   1.023 GiB"
SIZE = re.compile(
    rf"^\s*(?P<label>Total Uncompressed Size|Total Size):\s+(?P<value>{SIZE_PATTERN})\s*$"
)
# "    Compression Progress:  100.00%", "       Compression Ratio:  1.00x"
COMPRESSION = re.compile(
    r"^\s*Compression (?P<label>Progress|Ratio|Space Saving):\s+(?P<value>\d+(?:\.\d+)?)[%x]\s*$"
)

StatsField = Literal[
    "snapshots",
    "blobs",
    "files",
    "total_uncompressed_size_bytes",
    "total_size_bytes",
    "compression_progress_ratio",
    "compression_ratio",
    "compression_space_saving_ratio",
]
_FIELDS: dict[str, StatsField] = {
    "Snapshots processed": "snapshots",
    "Total Blob Count": "blobs",
    "Total File Count": "files",
    "Total Uncompressed Size": "total_uncompressed_size_bytes",
    "Total Size": "total_size_bytes",
    "Progress": "compression_progress_ratio",
    "Ratio": "compression_ratio",
    "Space Saving": "compression_space_saving_ratio",
}


# Every line this module reads starts like one of these: a quick test before the patterns.
CANDIDATE = re.compile(r"^(?:\{|scanning|Stats |\s*(?:Snapshots processed|Total |Compression ))")


@dataclass(frozen=True)
class StatsStart(StartLine):
    mode: str | None = None


@dataclass(frozen=True)
class StatsValue(BodyLine):
    field: StatsField
    value: float


@dataclass(frozen=True)
class StatsCompression(TrailerLine):
    field: StatsField
    value: float


@dataclass(frozen=True)
class StatsTotal(EndLine):
    bytes: int


@dataclass(frozen=True)
class StatsJson(WholeRun):
    values: tuple[tuple[StatsField, float], ...]


StatsEvent = StatsStart | StatsValue | StatsCompression | StatsTotal | StatsJson


def parse_line(line: str, line_number: int) -> tuple[StatsEvent, ...]:
    return converted(_events, line, line_number)


def _events(line: str) -> tuple[StatsEvent, ...]:
    if line.startswith("{"):
        return _json(line)
    if SCANNING.match(line):
        return (StatsStart(),)
    if match := MODE.match(line):
        return (StatsStart(match["mode"]),)
    if match := COUNT.match(line):
        return (StatsValue(_FIELDS[match["label"]], to_count(match["value"])),)
    if match := SIZE.match(line):
        if match["label"] == "Total Size":
            return (StatsTotal(to_bytes(match["value"])),)
        return (StatsValue(_FIELDS[match["label"]], to_bytes(match["value"])),)
    if match := COMPRESSION.match(line):
        value = float(match["value"][:40])
        ratio = match["label"] == "Ratio"
        if not math.isfinite(value) or (not ratio and value > _MAX_PERCENT):
            raise UnitError(f"not a {'ratio' if ratio else 'percentage'}: {match['value'][:40]}")
        return (
            StatsCompression(
                _FIELDS[match["label"]], value if match["label"] == "Ratio" else value / 100
            ),
        )
    return ()


_JSON_FIELDS: dict[str, tuple[StatsField, float]] = {
    "total_size": ("total_size_bytes", 1.0),
    "total_uncompressed_size": ("total_uncompressed_size_bytes", 1.0),
    "total_file_count": ("files", 1.0),
    "total_blob_count": ("blobs", 1.0),
    "snapshots_count": ("snapshots", 1.0),
    "compression_ratio": ("compression_ratio", 1.0),
    "compression_progress": ("compression_progress_ratio", 0.01),
    "compression_space_saving": ("compression_space_saving_ratio", 0.01),
}


def _json(line: str) -> tuple[StatsEvent, ...]:
    message = load_json(line)
    if not isinstance(message, dict) or "message_type" in message or "total_size" not in message:
        return ()
    values: list[tuple[StatsField, float]] = []
    for key, (field, scale) in _JSON_FIELDS.items():
        value = message.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= MAX_COUNT
            and (scale == 1.0 or value <= _MAX_PERCENT)
        ):
            values.append((field, value * scale))
    return (StatsJson(tuple(values)),)


@dataclass(slots=True)
class StatsDraft(CommandDraft):
    mode: str | None = None
    snapshots: int | None = None
    files: int | None = None
    blobs: int | None = None
    total_size_bytes: int | None = None
    total_uncompressed_size_bytes: int | None = None
    compression_ratio: float | None = None
    compression_progress_ratio: float | None = None
    compression_space_saving_ratio: float | None = None

    def set(self, field: StatsField, value: float) -> None:
        """Counts and sizes are whole numbers (``--json`` may give them as floats)."""
        if field == "snapshots":
            self.snapshots = round(value)
        elif field == "files":
            self.files = round(value)
        elif field == "blobs":
            self.blobs = round(value)
        elif field == "total_size_bytes":
            self.total_size_bytes = round(value)
        elif field == "total_uncompressed_size_bytes":
            self.total_uncompressed_size_bytes = round(value)
        elif field == "compression_ratio":
            self.compression_ratio = value
        elif field == "compression_progress_ratio":
            self.compression_progress_ratio = value
        elif field == "compression_space_saving_ratio":
            self.compression_space_saving_ratio = value
        else:
            assert_never(field)

    def freeze(self) -> StatsRun:
        return freeze_into(StatsRun, self)


@folding
def fold(draft: StatsDraft, event: StatsEvent | SharedEvent) -> None:
    if isinstance(event, StatsStart):
        if event.mode is not None:
            draft.mode = event.mode
    elif isinstance(event, StatsValue | StatsCompression):
        draft.set(event.field, event.value)
    elif isinstance(event, StatsTotal):
        draft.total_size_bytes = event.bytes
    elif isinstance(event, StatsJson):
        for field, value in event.values:
            draft.set(field, value)
    elif isinstance(event, ItemError | Interrupted | Fatal | LockAge):
        pass  # `folding` keeps them
    else:
        assert_never(event)


COMMAND = Command(
    name="stats",
    record=StatsRun,
    candidate=CANDIDATE,
    parse_line=parse_line,
    new_draft=StatsDraft.starting_at,
    fold=fold,
    starts_new_run=starts_new_run,
    claims_shared=True,
    variant=lambda run: run.mode or "unknown",
)
