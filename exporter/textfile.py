"""Metric families to exposition bytes, and those bytes atomically and durably to a ``.prom`` file.

node_exporter's textfile collector may read the directory at any moment, so the file is never
written in place: a temp file in the same directory (whose name does not end in ``.prom``, so the
collector ignores it) is created exclusively, filled, fsynced and renamed over the target, then
the directory is fsynced so the rename survives a crash.  On any failure the temp file is removed
and the previous file stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.core import CollectorRegistry, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

FILE_MODE = 0o644


class NotDurable(OSError):
    """The file was replaced, but its directory could not be synced: a crash may undo it."""


class _StaticCollector(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def render(families: Iterable[Metric]) -> bytes:
    """Prometheus text exposition (what node_exporter reads) of `families`; no timestamps."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(families))
    return generate_latest(registry)


def write_textfile(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; mode 0644 whatever the umask.  Raises OSError."""
    directory = path.absolute().parent
    # The temp name stays short (a long target name would exceed NAME_MAX) and never ends in .prom.
    prefix = f".{path.name[:64]}."
    descriptor, temp_name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as temp:
            os.fchmod(temp.fileno(), FILE_MODE)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        if error.errno in (errno.EINVAL, errno.ENOTSUP):
            return  # the file system cannot sync a directory (some network file systems)
        raise NotDurable(error.errno, error.strerror) from error
