"""What travels on the daemon's queue: a job's log changed, or a word to the daemon itself.

Typed, so that no job (its key is a path a user chose) can ever be taken for a control word.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Control(enum.Enum):
    STOP = "stop"
    """SIGTERM or SIGINT: stop after the job at hand."""
    RELOAD = "reload"
    """SIGHUP: read the config again; a config that cannot be applied keeps the old one."""
    RESCAN = "rescan"
    """A watched directory appeared or went away: plan the watches again."""


@dataclass(frozen=True, slots=True)
class JobChanged:
    key: str


Message = JobChanged | Control
