"""Where the daemon is in each job's log, kept in its state file across restarts.

A position is trusted only for the log it was taken of (the same path, and at open time the
same device and inode): anything else, or a state file that is missing or garbled, means
reading that log from its start, which gives the right metrics, only later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from exporter.textfile import write_textfile

MAX_STATE_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Position:
    """Where a follower is in its log."""

    device: int
    inode: int
    offset: int
    run_start_offset: int
    """Byte offset of the first line of the oldest run still reported: reading from here after
    a restart rebuilds the same runs."""
    run_start_line: int = 1
    """That line's number in the log: runs read again after a restart keep their line numbers,
    and so their identity (`exporter.run_memory`)."""
    before_offset: str = ""
    """A digest of the bytes just before `offset`: a log rewritten in place while the daemon
    was stopped (same inode) is read again from its start, not from the middle."""


@dataclass(frozen=True)
class SavedPosition:
    log: Path
    position: Position


def load_positions(state_file: Path, logs: Mapping[str, Path]) -> dict[str, Position]:
    """The positions saved for the jobs in `logs` (job key -> its log) whose log is the same."""
    try:
        with state_file.open("rb") as stream:
            data = json.loads(stream.read(MAX_STATE_FILE_BYTES + 1)[:MAX_STATE_FILE_BYTES])
        entries = data.get("jobs", {})
        positions = {}
        for key, entry in entries.items():
            if key in logs and isinstance(entry, dict) and entry.get("log") == str(logs[key]):
                position = Position(**entry["position"])
                values = asdict(position)
                digest = values.pop("before_offset")
                if isinstance(digest, str) and all(isinstance(v, int) for v in values.values()):
                    positions[key] = position
        return positions
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}


def save_positions(state_file: Path, saved: Mapping[str, SavedPosition]) -> None:
    """Replace the state file atomically.  Raises OSError."""
    jobs = {
        key: {"log": str(entry.log), "position": asdict(entry.position)}
        for key, entry in saved.items()
    }
    write_textfile(state_file, json.dumps({"jobs": jobs}, indent=1).encode())
