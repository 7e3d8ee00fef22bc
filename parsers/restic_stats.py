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
from typing import Any

from parsers.command_log import BodyLine, EndLine, StartLine, TrailerLine, WholeRun
from parsers.lines import converted, load_json
from parsers.units import SIZE_PATTERN, to_bytes

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

_FIELDS = {
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
    field: str
    value: float


@dataclass(frozen=True)
class StatsCompression(TrailerLine):
    field: str
    value: float


@dataclass(frozen=True)
class StatsTotal(EndLine):
    bytes: int


@dataclass(frozen=True)
class StatsJson(WholeRun):
    values: tuple[tuple[str, float], ...]


def parse_line(line: str, line_number: int) -> tuple[object, ...]:
    return converted(_events, line, line_number)


def _events(line: str) -> tuple[object, ...]:
    if line.startswith("{"):
        return _json(line)
    if SCANNING.match(line):
        return (StatsStart(),)
    if match := MODE.match(line):
        return (StatsStart(match["mode"]),)
    if match := COUNT.match(line):
        return (StatsValue(_FIELDS[match["label"]], int(match["value"])),)
    if match := SIZE.match(line):
        if match["label"] == "Total Size":
            return (StatsTotal(to_bytes(match["value"])),)
        return (StatsValue(_FIELDS[match["label"]], to_bytes(match["value"])),)
    if match := COMPRESSION.match(line):
        value = float(match["value"])
        return (
            StatsCompression(
                _FIELDS[match["label"]], value if match["label"] == "Ratio" else value / 100
            ),
        )
    return ()


_JSON_FIELDS = {
    "total_size": ("total_size_bytes", 1.0),
    "total_uncompressed_size": ("total_uncompressed_size_bytes", 1.0),
    "total_file_count": ("files", 1.0),
    "total_blob_count": ("blobs", 1.0),
    "snapshots_count": ("snapshots", 1.0),
    "compression_ratio": ("compression_ratio", 1.0),
    "compression_progress": ("compression_progress_ratio", 0.01),
    "compression_space_saving": ("compression_space_saving_ratio", 0.01),
}


def _json(line: str) -> tuple[object, ...]:
    message = load_json(line)
    if not isinstance(message, dict) or "message_type" in message or "total_size" not in message:
        return ()
    values = []
    for key, (field, scale) in _JSON_FIELDS.items():
        value = message.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        ):
            values.append((field, value * scale))
    return (StatsJson(tuple(values)),)


_INTEGER_FIELDS = {
    "snapshots",
    "blobs",
    "files",
    "total_size_bytes",
    "total_uncompressed_size_bytes",
}


def fold(fields: dict[str, Any], event: object) -> None:
    if isinstance(event, StatsStart) and event.mode is not None:
        fields["mode"] = event.mode
    elif isinstance(event, StatsValue | StatsCompression):
        fields[event.field] = event.value
    elif isinstance(event, StatsTotal):
        fields["total_size_bytes"] = event.bytes
    elif isinstance(event, StatsJson):
        for field, value in event.values:
            fields[field] = round(value) if field in _INTEGER_FIELDS else value
