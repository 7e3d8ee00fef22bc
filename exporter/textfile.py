"""Exposition bytes atomically and durably to a ``.prom`` file (the bytes come from
`exporter.exposition`, the one place the registry is built).

node_exporter's textfile collector may read the directory at any moment, so the file is never
written in place: a temp file in the same directory (``.NAME.<16 hex>.tmp``, which the collector
ignores) is created exclusively, filled, fsynced and renamed over the target, then the directory
is fsynced so the rename survives a crash.  On any failure the temp file is removed and the
previous file stays as it was.

Three more rules, because the directory may be shared with other writers and other users:

- The directory is opened once (`exporter.paths.open_directory`: no symbolic link that another
  user owns is followed) and every name is used relative to that descriptor, so nothing is ever
  written outside it, whatever is swapped in meanwhile.
- Writers of one output take turns: `output_lock` holds ``flock`` on ``.NAME.lock`` beside it,
  so a run that read the previous file cannot rename its result over a newer one.  The kernel
  drops the lock when its holder dies; the lock file itself stays (removing it would let two
  writers lock two different files).
- A writer killed mid-write leaves its temp file behind.  Each temp file is ``flock``-ed by its
  writer while it is written; the next write of the same output removes the temp files of that
  output that are ours and no longer locked (at once under `output_lock`, whose holders are never
  between creating a temp file and locking it; else once they are `STALE_TEMP_SECONDS` old).
  Listing a directory of a thousand outputs costs more than the write itself, so a process that
  found an output's temp files all gone lists the directory again for it only once the directory
  has changed since this process's own last write in it (its mtime), or `CLEAN_AGAIN_SECONDS`
  later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from exporter.paths import open_directory, trusted_owners

FILE_MODE = 0o644
LOCK_TIMEOUT_SECONDS = 30.0
"""How long `output_lock` waits for another writer of the same output (one write takes ms)."""
STALE_TEMP_SECONDS = 300.0
"""A temp file no one holds is removed without the output lock only once it is this old."""
CLEAN_AGAIN_SECONDS = 60.0
"""How long a process that found no temp file of an output left trusts an unchanged directory."""

_MAX_STEM = 200  # ".STEM.<16 hex>.tmp" must stay within NAME_MAX (255)
_TEMP_ATTEMPTS = 10
_NEW_FILE = os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW


class OutputBusy(OSError):
    """Another writer of the same output held its lock for longer than we would wait."""


# Which output locks this process holds, and in which thread: (dev, inode of the directory,
# lock name) -> thread id.  A thread that already holds a lock may take it again (re-entrant);
# write_textfile uses it to know that no other writer of the output is running.
_held_locks: dict[tuple[int, int, str], int] = {}
_held_locks_guard = threading.Lock()


@dataclass
class _CleanDirectory:
    """What this process knows of a directory it writes in."""

    mtime_ns: int
    """The directory's mtime after this process's last write in it."""
    clean: dict[str, float] = field(default_factory=dict)
    """The outputs found without temp files left since, and when (time.monotonic())."""


_found_clean: dict[tuple[int, int], _CleanDirectory] = {}  # by (dev, inode) of the directory
_found_clean_guard = threading.Lock()


@contextlib.contextmanager
def output_lock(path: Path, *, timeout_seconds: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock of the output `path` (``flock`` on ``.NAME.lock`` in its directory).

    Re-entrant within a thread.  Raises OutputBusy after `timeout_seconds`, UnsafePath if the
    directory is reached through another user's link, and OSError (with a reason a user can act
    on) if the lock file cannot be opened or is not ours: a link, a FIFO, another user's file.
    """
    name = _output_name(path)
    lock_name = f".{_stem(name)}.lock"
    directory = open_directory(path.parent)
    try:
        directory_status = os.fstat(directory)
        key = (directory_status.st_dev, directory_status.st_ino, lock_name)
        with _held_locks_guard:
            already_mine = _held_locks.get(key) == threading.get_ident()
        if already_mine:
            yield
            return
        descriptor = _open_lock_file(directory, lock_name, path.parent)
        try:
            _wait_for_lock(descriptor, path.parent / lock_name, timeout_seconds)
            with _held_locks_guard:
                _held_locks[key] = threading.get_ident()
            try:
                yield
            finally:
                with _held_locks_guard:
                    del _held_locks[key]
        finally:
            os.close(descriptor)  # releases the flock
    finally:
        os.close(directory)


def _open_lock_file(directory: int, lock_name: str, where: Path) -> int:
    shown = where / lock_name
    flags = os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK | _NEW_FILE
    try:
        descriptor = os.open(lock_name, flags, FILE_MODE, dir_fd=directory)
    except OSError as error:
        # Say what is in the way (the kernel may say EACCES for another user's link or file).
        try:
            problem = _not_ours(os.stat(lock_name, dir_fd=directory, follow_symlinks=False))
        except OSError:
            problem = None
        if problem is None:
            raise OSError(error.errno, f"cannot open {shown}: {error.strerror}") from None
        raise OSError(error.errno, f"{shown} is {problem}: remove it") from None
    try:
        problem = _not_ours(os.fstat(descriptor))
        if problem:
            raise OSError(errno.EPERM, f"{shown} is {problem}: remove it")
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _wait_for_lock(descriptor: int, shown: Path, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    pause = 0.001
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OutputBusy(
                    errno.ETIMEDOUT,
                    f"another writer has held {shown} for more than {timeout_seconds:g} s",
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def write_textfile(path: Path, data: bytes) -> tuple[str, ...]:
    """Replace `path` with `data` atomically; mode 0644 whatever the umask.

    Returns warnings: that the directory could not be synced (the file was replaced, but a crash
    may undo it), or that temp files of killed writers were removed.  Raises OSError (UnsafePath
    for another user's link on the way) when the file could not be replaced; it is then as it was.
    """
    name = _output_name(path)
    directory = open_directory(path.parent)
    try:
        if kind := _not_a_regular_file(directory, name):
            raise OSError(errno.EEXIST, f"it is {kind}, not replaced with metrics")
        status = os.fstat(directory)
        key = (status.st_dev, status.st_ino)
        found_clean = _clean_since(key, name, status.st_mtime_ns)
        warnings: list[str] = []
        left = 0
        if found_clean is None:  # else nobody has made a file here since our last write
            warnings, left = _remove_stale_temp_files(directory, name, path.parent)
        _replace(directory, name, data)
        try:
            os.fsync(directory)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.ENOTSUP):  # some network file systems
                warnings.append(
                    f"wrote {path}, but could not sync its directory ({error.strerror}): "
                    "a crash may undo the write"
                )
        _wrote(key, name, os.fstat(directory).st_mtime_ns, found_clean, clean=not left)
    finally:
        os.close(directory)
    return tuple(warnings)


def _clean_since(key: tuple[int, int], name: str, mtime_ns: int) -> float | None:
    """When `name` was found without temp files left, if the directory is as this process
    left it since and that is less than `CLEAN_AGAIN_SECONDS` ago; else None."""
    with _found_clean_guard:
        known = _found_clean.get(key)
        if known is None:
            return None
        if known.mtime_ns != mtime_ns:  # someone else made or removed a file here
            known.clean.clear()
            return None
        since = known.clean.get(name)
        if since is None or time.monotonic() - since >= CLEAN_AGAIN_SECONDS:
            return None
        return since


def _wrote(
    key: tuple[int, int], name: str, mtime_ns: int, found_clean: float | None, clean: bool
) -> None:
    """After a write of `name` in the directory `key`: its mtime now, and whether (and since
    when) `name` has no temp files left."""
    with _found_clean_guard:
        known = _found_clean.setdefault(key, _CleanDirectory(mtime_ns))
        known.mtime_ns = mtime_ns
        if found_clean is not None:
            known.clean[name] = found_clean
        elif clean:
            known.clean[name] = time.monotonic()
        else:
            known.clean.pop(name, None)


def replaceable_problem(path: Path) -> str | None:
    """Why `path` must not be replaced by a metrics file: something other than a regular file is
    there (``-o /dev/null`` as root would replace the device; ``-o /dev/stdout`` the link)."""
    try:
        kind = _kind_of(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return None  # nothing there yet, or nothing we can see: the writer will tell
    return f"it is {kind}, not replaced with metrics" if kind else None


def _not_a_regular_file(directory: int, name: str) -> str | None:
    try:
        status = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return _kind_of(status.st_mode)


def _kind_of(mode: int) -> str | None:
    """What a file that is not a regular one is, in a few words; None for a regular file."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), None)


def _replace(directory: int, name: str, data: bytes) -> None:
    temp_name, descriptor = _create_temp_file(directory, name)
    try:
        # Locked while written: a cleaner that can lock it knows its writer is gone.
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(descriptor, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
        os.replace(temp_name, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name, dir_fd=directory)
        raise
    finally:
        os.close(descriptor)


def _create_temp_file(directory: int, name: str) -> tuple[str, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NEW_FILE
    for _ in range(_TEMP_ATTEMPTS):
        temp_name = f".{_stem(name)}.{secrets.token_hex(8)}.tmp"
        try:
            return temp_name, os.open(temp_name, flags, 0o600, dir_fd=directory)
        except FileExistsError:
            continue  # someone put something at a random name: take another
    raise OSError(errno.EEXIST, f"no free temp file name for {name}")


def _remove_stale_temp_files(directory: int, name: str, where: Path) -> tuple[list[str], int]:
    """Remove the temp files that killed writers of `name` left; returns what it did, and how
    many temp files of `name` it left (a writer's that is alive, or too young to judge)."""
    status = os.fstat(directory)
    with _held_locks_guard:
        locked = (status.st_dev, status.st_ino, f".{_stem(name)}.lock") in _held_locks
    current = re.compile(re.escape(f".{_stem(name)}.") + r"[0-9a-f]{16}\.tmp")
    # Earlier versions used tempfile.mkstemp(prefix=f".{name[:64]}."): unambiguous only for
    # short names, and their writers never locked, so those files go by age alone.
    legacy = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}\.tmp") if len(name) <= 64 else None
    removed = left = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return [], 1
    for candidate in names:
        if current.fullmatch(candidate):
            by_age_only = False
        elif legacy is not None and legacy.fullmatch(candidate):
            by_age_only = True
        else:
            continue
        left += 1
        with contextlib.suppress(OSError):
            if _remove_if_abandoned(directory, candidate, locked and not by_age_only):
                removed += 1
                left -= 1
    if removed:
        return [f"removed {removed} temp file(s) that a killed writer left in {where}"], left
    return [], left


def _remove_if_abandoned(directory: int, candidate: str, writers_excluded: bool) -> bool:
    status = os.stat(candidate, dir_fd=directory, follow_symlinks=False)
    if _not_ours(status, owners=frozenset({os.geteuid()})):
        return False
    if not writers_excluded and time.time() - status.st_mtime < STALE_TEMP_SECONDS:
        return False
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    descriptor = os.open(candidate, flags, dir_fd=directory)
    try:
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (status.st_dev, status.st_ino):
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is still at work
        os.unlink(candidate, dir_fd=directory)
        return True
    finally:
        os.close(descriptor)


def _not_ours(status: os.stat_result, owners: frozenset[int] | None = None) -> str | None:
    """Why a file with `status` cannot be one this exporter made, or None."""
    if stat.S_ISLNK(status.st_mode):
        return f"a symbolic link (owned by uid {status.st_uid})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if status.st_uid not in (owners if owners is not None else trusted_owners()):
        return f"owned by uid {status.st_uid}, not by root or uid {os.geteuid()}"
    if status.st_nlink != 1:
        return f"a file with {status.st_nlink} hard links"
    return None


def _output_name(path: Path) -> str:
    name = path.name
    if not name or name in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, f"{path} names a directory, not a metrics file")
    return name


def _stem(name: str) -> str:
    """`name`, or for a very long one a prefix and a hash, so that the temp and lock names
    fit NAME_MAX and still belong to one output only."""
    if len(name) <= _MAX_STEM:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{name[:160]}~{digest}"
