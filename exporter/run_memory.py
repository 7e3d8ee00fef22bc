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
class RunMemory:
    runs: Mapping[str, SeenRun] = field(default_factory=dict)
    """By `memory_key(labels, command)`."""

    def get(self, labels: Mapping[str, str], command: str) -> SeenRun | None:
        return self.runs.get(memory_key(labels, command))

    def to_json(self) -> bytes:
        runs = {key: dataclasses.asdict(seen) for key, seen in sorted(self.runs.items())}
        return json.dumps({"version": 1, "runs": runs}, indent=1).encode()


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
        runs = {}
        for key, entry in document["runs"].items():
            seen = SeenRun(str(entry["run_id"]), float(entry["last_run_timestamp_seconds"]))
            if isinstance(key, str) and math.isfinite(seen.last_run_timestamp_seconds):
                runs[key] = seen
        return RunMemory(runs)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        return RunMemory()
