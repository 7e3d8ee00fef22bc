"""Which run each published metric set describes, and the times first written for it.

A run's times never move once written: reading the same run again (after ``touch``, a
logrotate, a script's header line, a restart of the daemon, the next one-shot ``parse``) gives
the same timestamps, whatever happened to the log's metadata.  So an output remembers, per label
set and command, the identity of the run it reported and the time it gave it.

A run's identity is its snapshot id when it saved one (restic's own, unique).  Otherwise it is a
fingerprint of what the log says about it: the line it starts on and every value read from it
(counts, sizes, durations, the error, the last status line).  Two runs with equal fingerprints
are the same run, unless the log was rewritten with identical output starting on the same line
(``restic forget >log`` printing exactly what it printed the night before): that one keeps its
first time.

The memory also keeps where the next one-shot ``parse`` of the same log may start reading
(`ResumePoint`, made and checked by `exporter.reading`).

The memory lives beside the metrics file, in a file whose name does not end in ``.prom`` (so
node_exporter never reads it), written and trusted by the same rules as the metrics file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.paths import read_own_file
from parsers import BackupRun
from parsers.records import CommandRun

MAX_MEMORY_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SeenRun:
    run_id: str
    last_run_timestamp_seconds: float


@dataclass(frozen=True)
class ResumePoint:
    """Where a parse of a log stopped, and where the next parse of it may start reading: the
    first line of the oldest run the parser still held.  Trusted only for the same file
    (`log`, `device`, `inode`) that is at least `size` bytes long and whose first `size` bytes
    are the bytes read then (`prefix_crc32`), and only if a parser that starts at `line_offset`
    is, at `size`, in the state the whole read was in (`state`, `LogParser.state_digest`)."""

    log: str
    """The log's absolute path."""
    device: int
    inode: int
    size: int
    """The bytes read (the log ended with a newline there)."""
    prefix_crc32: int
    """CRC-32 of those bytes."""
    line_offset: int
    """The byte offset of the first line of the oldest run the parser held ..."""
    line: int
    """... and its line number."""
    skipped_long_lines: int
    """Lines longer than 1 MiB skipped in the first `size` bytes."""
    state: str
    """`LogParser.state_digest()` after reading `size` bytes."""
    code: str
    """Which parser code made it (a parser that reads differently starts from the top)."""

    @classmethod
    def from_json(cls, entry: object) -> ResumePoint | None:
        """The point `entry` spells out; None for anything that is not one."""
        if not isinstance(entry, dict) or set(entry) != {f.name for f in dataclasses.fields(cls)}:
            return None
        numbers = ("device", "inode", "size", "prefix_crc32", "line_offset", "line")
        texts = ("log", "state", "code")
        if not all(_natural(entry[name]) for name in (*numbers, "skipped_long_lines")):
            return None
        if not all(isinstance(entry[name], str) for name in texts):
            return None
        point = cls(**entry)
        if point.line < 1 or point.line_offset > point.size or point.prefix_crc32 >= 2**32:
            return None
        return point


def _natural(value: object) -> bool:
    """A whole number that fits a file offset."""
    return type(value) is int and 0 <= value < 2**63


@dataclass(frozen=True)
class RunMemory:
    runs: Mapping[str, SeenRun] = field(default_factory=dict)
    """By `memory_key(labels, command)`."""
    resume: ResumePoint | None = None
    """Where the next ``parse`` of the log may start reading."""

    def get(self, labels: Mapping[str, str], command: str) -> SeenRun | None:
        return self.runs.get(memory_key(labels, command))

    def to_json(self) -> bytes:
        runs = {key: dataclasses.asdict(seen) for key, seen in sorted(self.runs.items())}
        document: dict[str, object] = {"version": 1, "runs": runs}
        if self.resume is not None:
            document["resume"] = dataclasses.asdict(self.resume)
        return json.dumps(document, indent=1).encode()


def memory_key(labels: Mapping[str, str], command: str) -> str:
    return json.dumps([command, sorted(labels.items())], ensure_ascii=True)


def run_id(run: BackupRun | CommandRun) -> str:
    """The identity of a run, stable however often and from wherever the log is read."""
    if isinstance(run, BackupRun) and run.snapshot_id is not None:
        return f"snapshot:{run.snapshot_id}"
    values = dataclasses.replace(run, last_line=0)
    digest = hashlib.blake2b(repr(values).encode(), digest_size=12).hexdigest()
    return f"fingerprint:{digest}"


def memory_path(output: Path) -> Path:
    """Where the memory of `output` is kept: beside it, hidden, never ending in ``.prom``."""
    return output.with_name(f".{output.name}.runs.json")


def read_memory(path: Path) -> RunMemory:
    """The memory at `path`; empty when it is missing, not a file of ours (by the rules the
    previous metrics file is trusted by), too large or garbled (then the runs are simply new to
    us: their times come from the best clock)."""
    data, _ = read_own_file(path, MAX_MEMORY_FILE_BYTES)
    if data is None:
        return RunMemory()
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return RunMemory()
    try:
        runs = {}
        for key, entry in document["runs"].items():
            seen = SeenRun(str(entry["run_id"]), float(entry["last_run_timestamp_seconds"]))
            if isinstance(key, str) and math.isfinite(seen.last_run_timestamp_seconds):
                runs[key] = seen
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        runs = {}
    resume = ResumePoint.from_json(document.get("resume")) if isinstance(document, dict) else None
    return RunMemory(runs, resume)


def read_resume_point(output: Path) -> ResumePoint | None:
    """The resume point kept beside `output`, if its memory is a file of ours."""
    return read_memory(memory_path(output)).resume
