"""Finding files safely: whether two paths name one file, and a directory opened so that no one
else's symbolic link can redirect what is written into it.

A textfile directory is often shared (root's exporter, a backup user's hook, sometimes mode 1777).
`open_directory` walks a path one component at a time with ``O_NOFOLLOW`` and follows a symbolic
link only when root or this process's user owns it, so a link planted by another user refuses the
path instead of sending a root writer to ``/etc``.  Everything after that is done relative to the
returned descriptor (``dir_fd=``), so a directory swapped for a link a moment later changes
nothing: the writer still writes into the directory it opened.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from pathlib import Path

MAX_SYMLINKS = 40
"""As the kernel's limit: more links than this in one path is a loop."""

# O_PATH lets us pass through a directory we may search but not read (mode 0711); it does not
# exist outside Linux, where the walk opens each directory for reading instead.
_PASS_THROUGH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW


class UnsafePath(PermissionError):
    """A path goes through a symbolic link that neither root nor this process's user owns."""


def trusted_owners() -> frozenset[int]:
    """Whose files and links we trust: root's, and our own."""
    return frozenset({0, os.geteuid()})


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file: by device and inode when both exist, else by their
    absolute paths with ``..`` and the links that exist resolved (``tf/../tf/x`` is ``tf/x``)."""
    try:
        status_a, status_b = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)
    return (status_a.st_dev, status_a.st_ino) == (status_b.st_dev, status_b.st_ino)


def open_directory(path: Path) -> int:
    """A descriptor (``O_RDONLY | O_DIRECTORY``, close-on-exec) of the directory `path` names,
    reached without following any symbolic link that root or we do not own.  The caller closes
    it.  Raises UnsafePath for such a link, or the OSError of the component that failed."""
    text = os.fspath(path) or "."
    current = os.open("/" if text.startswith("/") else ".", _PASS_THROUGH)
    try:
        pending = deque(text.split("/"))
        links_followed = 0
        walked = [""] if text.startswith("/") else []  # for messages: the path so far
        while pending:
            component = pending.popleft()
            if component in ("", "."):
                continue
            try:
                following = os.open(component, _PASS_THROUGH | _NOFOLLOW, dir_fd=current)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _trusted_link_target(current, component, walked, error)
                links_followed += 1
                if links_followed > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, f"too many symbolic links in {text}") from None
                if target.startswith("/"):
                    os.close(current)
                    current = os.open("/", _PASS_THROUGH)
                pending.extendleft(reversed(target.split("/")))
                walked.append(component)
                continue
            os.close(current)
            current = following
            walked.append(component)
        readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=current)
    finally:
        os.close(current)
    return readable


def _trusted_link_target(directory: int, name: str, walked: list[str], error: OSError) -> str:
    """The target of the link `name` in `directory` if we may follow it; else raise."""
    try:
        status = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except OSError:
        raise error from None
    if not stat.S_ISLNK(status.st_mode):
        raise error  # a plain file where a directory was expected: ENOTDIR
    where = "/".join([*walked, name])
    if status.st_uid not in trusted_owners():
        raise UnsafePath(
            errno.EPERM,
            f"{where} is a symbolic link owned by uid {status.st_uid}, not by root or uid "
            f"{os.geteuid()}: not followed",
        )
    return os.readlink(name, dir_fd=directory)


def describe_os_error(error: OSError) -> str:
    """A short reason for a user: "no such file" rather than "[Errno 2] ...: '/x'"."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, UnsafePath):
        return error.strerror or str(error)
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


def read_own_file(path: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The bytes of `path` if it is a file this exporter could have written (a regular file,
    not a link, with one link, owned by root or us, reached through no other user's link, at
    most `max_bytes`), else None and why (no reason when it is missing: a first run)."""
    try:
        directory = open_directory(path.parent)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"cannot read {path}: {describe_os_error(error)}"
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path.name, flags, dir_fd=directory)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None, f"{path} is a symbolic link, not a file of ours"
        return None, f"cannot read {path}: {describe_os_error(error)}"
    finally:
        os.close(directory)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None, f"{path} is not a regular file"
        if status.st_uid not in trusted_owners():
            return None, (
                f"{path} is owned by uid {status.st_uid}, not by root or uid {os.geteuid()}: "
                "not a file of ours"
            )
        if status.st_nlink != 1:
            return None, f"{path} has {status.st_nlink} hard links, ours have one"
        data = _read_at_most(descriptor, max_bytes + 1)
    except OSError as error:
        return None, f"cannot read {path}: {describe_os_error(error)}"
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        return None, f"{path} is larger than {max_bytes} bytes"
    return data, None


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := os.read(descriptor, min(limit - size, 1024 * 1024))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
