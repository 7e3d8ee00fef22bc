"""Which directories the daemon watches, and which jobs an event on a path is about.  Pure: it
looks at the file system (does a directory exist, where does a link point) but watches nothing,
so it is tested without inotify.

* Each log's directory is watched (not the log: logrotate replaces it).  A symlinked log is also
  watched where its target lives.
* A directory that does not exist yet is waited for in its nearest existing ancestor; its
  appearance asks for a new plan (`Control.RESCAN`), one level closer.
* A watched directory that is deleted asks for a new plan too, so that a directory deleted and
  created again is watched again.
* A path that cannot be resolved (a symlink loop, a NUL byte) is watched as written, never
  followed: planning never fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from exporter.config import Job
from exporter.watch_messages import Control, JobChanged, Message


@dataclass(frozen=True)
class WatchPlan:
    directories: tuple[str, ...]
    """Directories to watch, non-recursively, sorted."""
    jobs_by_path: Mapping[str, tuple[str, ...]]
    """The jobs whose log a path is (as written, or its link's target)."""
    awaited: frozenset[str]
    """Missing directories on the way to a log's directory, each the child of a watched one:
    when one appears, plan again."""
    waiting: tuple[tuple[str, str], ...]
    """(missing directory, the ancestor watched for it): worth a warning."""

    def messages_for(self, event_type: str, paths: Iterable[str]) -> list[Message]:
        """What an event of `event_type` on `paths` (its source, and its destination if it
        moved) means for the daemon."""
        messages: list[Message] = []
        for path in paths:
            messages.extend(JobChanged(key) for key in self.jobs_by_path.get(path, ()))
            if path in self.awaited or (
                event_type in ("deleted", "moved") and path in self.directories
            ):
                messages.append(Control.RESCAN)
        return messages

    def jobs_in(self, directories: Iterable[str]) -> frozenset[str]:
        """The jobs whose log (as written, or its link's target) lies in one of `directories`
        (when those cannot be watched, these are the jobs to look at now and then)."""
        wanted = set(directories)
        return frozenset(
            key
            for path, keys in self.jobs_by_path.items()
            if str(Path(path).parent) in wanted
            for key in keys
        )


def plan_watches(jobs: Iterable[Job]) -> WatchPlan:
    jobs_by_path: dict[str, list[str]] = {}
    for job in jobs:
        for path in _spellings(job.log):
            keys = jobs_by_path.setdefault(str(path), [])
            if job.key not in keys:
                keys.append(job.key)
    watched: set[str] = set()
    awaited: set[str] = set()
    waiting: list[tuple[str, str]] = []
    for directory in sorted({Path(path).parent for path in jobs_by_path}):
        ancestor, missing_child = _nearest_existing(directory)
        watched.add(str(ancestor))
        if missing_child is not None:
            awaited.add(str(missing_child))
            waiting.append((str(directory), str(ancestor)))
    return WatchPlan(
        tuple(sorted(watched)),
        {path: tuple(keys) for path, keys in jobs_by_path.items()},
        frozenset(awaited),
        tuple(waiting),
    )


def _spellings(log: Path) -> set[Path]:
    """The log's absolute path, and its target's if it is a link that resolves."""
    spellings = {log.absolute()}
    # A symlink loop (RuntimeError) or a NUL byte (ValueError): watch it as written.
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        spellings.add(log.resolve())
    return spellings


def _nearest_existing(directory: Path) -> tuple[Path, Path | None]:
    """`directory` if it exists, else its nearest existing ancestor and the child of that
    ancestor on the way to `directory` (whose creation is worth waking up for)."""
    missing = None
    while not _is_directory(directory) and directory != directory.parent:
        missing, directory = directory, directory.parent
    return directory, missing


def _is_directory(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False
