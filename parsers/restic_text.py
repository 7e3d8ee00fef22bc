"""restic backup's human-readable output, every version from 0.9.0 to 0.19.

Reads one line at a time (stdout and stderr interleaved, as ``restic backup >>log 2>&1`` writes
them) at any verbosity: ``--quiet``, default, ``-v`` and ``-vv``.  Lines it does not know (per-item
``-vv`` lines, the file names under a status line, a forget table) yield nothing.

Observed with restic 0.14.0, stdout redirected::

    no parent snapshot found, will read all files

    Files:        4838 new,     0 changed,     0 unmodified
    Dirs:          945 new,     0 changed,     0 unmodified
    Added to the repository: 120.962 MiB (83.048 MiB stored)

    processed 4838 files, 145.804 MiB in 0:01
    snapshot 31986dfd saved

What changed across versions, and the events each line gives (fields in base units):

=========================================================  =========  ============================
line                                                        versions   event
=========================================================  =========  ============================
``Files:  N new,  N changed,  N unmodified`` (and Dirs)    all        ItemCounts
``Data Blobs:  N new`` / ``Tree Blobs:  N new`` (``-v``)   all        BlobCounts
``Added:      X``                                          0.9.0-1    Added
``Added to the repo: X``                                   0.9.2-0.13 Added
``Would add to the repo: X`` (dry run)                     0.13       Added(dry_run)
``Added to the repository: X (Y stored)``, ``Would add``  0.14+      Added(stored_bytes)
``processed N files, X in M:SS``                           all        Processed
``snapshot 1a2b3c4d saved``                                all        SnapshotSaved
``skipped creating snapshot``                              0.17+      SnapshotSkipped
``[0:01] 54.73%  2 files 187.884 MiB, total 6 files ...``  all        Progress
``scan finished in 0.203s: 21 files, 3.321 MiB`` (``-v``)  all        ScanFinished
``error: open x: permission denied``                       all        ItemError
``/x does not exist, skipping``                            all        SourceMissing
``Warning: at least one source file could not be read``    0.12.1+    SourceReadWarning
``Warning: failed to read all source data during backup``  0.10-0.12  SourceReadWarning
``Fatal: ...``                                             all        Fatal
``unable to create lock in backend: repository is ...``    0.10+      Fatal(lock) (no "Fatal:")
``Resolving password failed: Fatal: /pw does not exist``   0.9-0.16   Fatal (no "Fatal:")
``panic: runtime error: ...`` (restic crashed, exit 2)     all        Fatal
``lock was created at 2026-12-04 15:00:22 (1.02s ago)``    all        LockAge
``signal interrupt received, cleaning up``                 all        Interrupted
=========================================================  =========  ============================

Byte sizes are ``%.3f`` with a binary unit (``B``, ``KiB`` .. ``TiB``); decimal units that other
tools print are accepted as well.  Durations are ``M:SS`` or ``H:MM:SS`` with hours past 24.
ANSI colour and erase-line codes (restic's signal message, autorestic's colours) are ignored.

Exit codes are inferred only where every version agrees: ``Fatal: ...`` is 1, ``Fatal: repository
does not exist`` (0.17+ only) 10; a wrong password (1 up to 0.17.0, 12 from 0.17.1) and a lock held
by another (1 before 0.17, 11 from 0.17) give None.  An interruption is 130, and stays 130 when a
``Fatal:`` follows it only on 0.19's signal line (``\\r`` first); 0.17-0.18 exit 1 then.

Values restic cannot mean are not exported: a duration over ten years (0.18's
``--skip-if-unchanged`` prints ``processed 8 files, 13.965 KiB in 5124095573468383:13:00``)
becomes None, named in the run's ``dropped_values``.  A count beyond int64, a size beyond 8 EiB,
or a percentage over 100 makes the line malformed (LineError).  Where a status line has no
percentage (0.14 before the scan's totals are known, or with ``RESTIC_PROGRESS_FPS`` on a pipe)
the ratio is bytes done over total bytes, and the ETA follows from the elapsed time.
"""

from __future__ import annotations

import re

from parsers.lines import converted
from parsers.records import (
    Added,
    BlobCounts,
    Event,
    Fatal,
    Interrupted,
    ItemCounts,
    ItemError,
    LockAge,
    Preamble,
    Processed,
    Progress,
    RepositoryLock,
    ScanFinished,
    SnapshotSaved,
    SnapshotSkipped,
    SourceMissing,
    SourceReadWarning,
)
from parsers.units import (
    SIZE_PATTERN,
    UnitError,
    plausible_seconds,
    to_bytes,
    to_count,
    to_go_seconds,
    to_seconds,
)

_DURATION = r"(?:\d+:)?\d+:\d{2}"

# "\x1b[2Ksignal interrupt received, cleaning up", "\x1b[1;36mBackend: local\x1b[0m"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# "Files:        4838 new,     0 changed,     0 unmodified"
ITEM_COUNTS = re.compile(
    r"^(?P<kind>Files|Dirs):\s+(?P<new>\d+) new,\s+(?P<changed>\d+) changed,"
    r"\s+(?P<unmodified>\d+) unmodified\s*$"
)
# "Data Blobs:      1 new"
BLOB_COUNTS = re.compile(r"^(?P<kind>Data|Tree) Blobs:\s+(?P<new>\d+) new\s*$")
# "Added to the repository: 3.329 MiB (3.325 MiB stored)", "Would add to the repo: 0 B   ",
# "Added:      12.000 KiB" (0.9.0, 0.9.1)
ADDED = re.compile(
    rf"^(?:(?P<verb>Added|Would add) to the repo(?:sitory)?|Added):\s+(?P<added>{SIZE_PATTERN})"
    rf"(?:\s*\(\s*(?P<stored>{SIZE_PATTERN})\s+stored\))?\s*$"
)
# "processed 4838 files, 145.804 MiB in 0:01"
PROCESSED = re.compile(
    rf"^processed (?P<files>\d+) files, (?P<bytes>{SIZE_PATTERN}) in (?P<duration>{_DURATION})\s*$"
)
# "snapshot 31986dfd saved"
SNAPSHOT_SAVED = re.compile(r"^snapshot (?P<snapshot_id>[0-9a-f]{8,64}) saved\s*$")
# "skipped creating snapshot"
SNAPSHOT_SKIPPED = re.compile(r"^skipped creating snapshot\s*$")
# "[0:01] 54.73%  2 files 187.884 MiB, total 6 files 343.323 MiB, 0 errors ETA 0:01",
# "[0:03] 12 files, 1.000 MiB, 0 errors" (before the scanner reported totals)
PROGRESS = re.compile(
    rf"^\[(?P<elapsed>{_DURATION})\] (?:(?P<percent>\d+(?:\.\d+)?)%\s+)?"
    rf"(?P<files>\d+) files,? (?P<bytes>{SIZE_PATTERN})"
    rf"(?:, total (?P<total_files>\d+) files (?P<total_bytes>{SIZE_PATTERN}))?"
    rf", (?P<errors>\d+) errors(?: ETA (?P<eta>{_DURATION}))?\s*$"
)
# "scan finished in 0.291s: 4839 files, 145.804 MiB"
SCAN_FINISHED = re.compile(
    rf"^scan finished in (?P<seconds>\d+(?:\.\d+)?)s: (?P<files>\d+) files, "
    rf"(?P<bytes>{SIZE_PATTERN})\s*$"
)
# "using parent snapshot 31986dfd", "start scan on [data]", ...
# (Lines every command prints, such as "open repository", are left out: they tell no backup.)
PREAMBLE = re.compile(
    r"^(?:load index files|read data from stdin|no parent snapshot found, will read all files"
    r"|using parent snapshot [0-9a-f]{8,64}|start (?:scan|backup) on \[.*\])\s*$"
)
# "error: open data/a/f2: permission denied"
ITEM_ERROR = re.compile(r"^error: (?P<message>.+?)\s*$")
# "/srv/gone does not exist, skipping"
SOURCE_MISSING = re.compile(r"^(?P<path>.+) does not exist, skipping\s*$")
# "Warning: at least one source file could not be read"
SOURCE_READ_WARNING = re.compile(
    r"^Warning: (?:at least one source file could not be read"
    r"|failed to read all source data during backup)\s*$"
)
# "Fatal: wrong password or no key found"
FATAL = re.compile(r"^Fatal: (?P<message>.+?)\s*$")
# "unable to create lock in backend: repository is already locked exclusively by PID 7 on vm ..."
LOCKED = re.compile(
    r"^(?P<message>unable to create lock in backend: repository is already locked.*?)\s*$"
)
# "... repository is already locked exclusively by PID 16230 on vm by root (UID 0, GID 0)"
LOCK_HOLDER = re.compile(
    r"already locked (?P<exclusive>exclusively )?by PID (?P<pid>\d{1,19}) on (?P<host>.+?) "
    r"by (?P<user>.+?)(?: \(UID \d+, GID \d+\))?\s*$"
)
# "lock was created at 2026-12-04 15:00:22 (378.157569ms ago)"
LOCK_AGE = re.compile(r"^lock was created at [^()]+ \((?P<age>[0-9.hmsuµμn]+) ago\)\s*$")
# "Resolving password failed: Fatal: /etc/restic/pw does not exist" (0.9-0.16; 0.17+ print it
# after "Fatal: "), "Resolving password failed: exit status 1" (a failing password command)
PASSWORD_FAILED = re.compile(r"^(?P<message>Resolving password failed: .+?)\s*$")
# "panic: runtime error: invalid memory address or nil pointer dereference": restic crashed (a Go
# panic exits 2), whatever it printed before
PANIC = re.compile(r"^(?P<message>panic: .+?)\s*$")
# "config file has zero size, invalid repository?"
ZERO_SIZE_CONFIG = re.compile(r"^(?P<message>config file has zero size, invalid repository\?)\s*$")
# "signal interrupt received, cleaning up" (0.19: "\rsignal terminated received, cleaning up ")
INTERRUPTED = re.compile(r"^signal (?P<signal>\w+) received, cleaning up\s*$")

# Every line shape above starts with one of these (or ends "does not exist, skipping"): most
# lines of a long log (the file names under each status line, -vv item lines) fail this one test
# instead of every pattern.
CANDIDATE = re.compile(
    r"^(?:\[|Files:|Dirs:|Data Blobs:|Tree Blobs:|Added|Would add|processed |snapshot |skipped "
    r"|scan finished|load index|read data|no parent|using parent|start "
    r"|error: |Warning: |Fatal: |unable to create lock"
    r"|config file has|signal |lock was created |Resolving password failed: |panic: )"
    r"|does not exist, skipping\s*$"
)

# restic 0.17+ exits 10 when the repository does not exist, and says so in the message.
_REPOSITORY_MISSING = "repository does not exist"
# 1 up to 0.17.0, 12 from 0.17.1: the text does not tell which.
_WRONG_PASSWORD = "wrong password or no key found"
_LABEL_MAX = 64
"""Longer host or user names in a lock message are cut: they become label values."""
_MAX_PERCENT = 100.0


# The same test before the carriage returns are stripped: the router's (parsers.log), which then
# calls `parse_candidate`.
ROUTER_CANDIDATE = re.compile(rf"^\r|{CANDIDATE.pattern}")


def parse_line(line: str, line_number: int) -> tuple[Event, ...]:
    """The events one line of restic's text output gives: none for a line it does not know."""
    text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
    if not CANDIDATE.search(text.lstrip("\r")):
        return ()
    return parse_candidate(text, line_number)


def parse_candidate(line: str, line_number: int) -> tuple[Event, ...]:
    """`parse_line` for a line that passed `ROUTER_CANDIDATE` (every pattern below is stricter
    than the candidate test, so a line that fails it still gives nothing)."""
    text = ANSI_ESCAPE.sub("", line) if "\x1b" in line else line
    if text.startswith("\r") and (match := INTERRUPTED.match(text.lstrip("\r"))):
        return (Interrupted(match["signal"], carriage_return=True),)
    return converted(_events, text.lstrip("\r"), line_number)


def progress(
    *,
    elapsed_seconds: float,
    ratio_done: float | None,
    files_done: int,
    bytes_done: int,
    total_files: int | None,
    total_bytes: int | None,
    errors: int,
    eta_seconds: float | None,
) -> Progress:
    """A status line's Progress, with what restic left out derived where the line allows: the
    ratio from bytes done over total bytes, the ETA from the elapsed time and the ratio."""
    if ratio_done is None and total_bytes:
        ratio_done = bytes_done / total_bytes
    if ratio_done is not None:
        ratio_done = min(max(ratio_done, 0.0), 1.0)
    if eta_seconds is None and ratio_done is not None and 0 < ratio_done < 1 and elapsed_seconds:
        eta_seconds = elapsed_seconds * (1 - ratio_done) / ratio_done
    return Progress(
        elapsed_seconds=elapsed_seconds,
        ratio_done=ratio_done,
        files_done=files_done,
        bytes_done=bytes_done,
        total_files=total_files,
        total_bytes=total_bytes,
        errors=errors,
        eta_seconds=plausible_seconds(eta_seconds),
    )


def _events(text: str) -> tuple[Event, ...]:
    if match := PROGRESS.match(text):
        percent = match["percent"]
        if percent is not None and (len(percent) > 10 or float(percent) > _MAX_PERCENT):
            raise UnitError(f"not a percentage: {percent[:20]}%")
        elapsed = plausible_seconds(to_seconds(match["elapsed"]))
        if elapsed is None:
            raise UnitError(f"not an elapsed time: {match['elapsed'][:40]}")
        return (
            progress(
                elapsed_seconds=elapsed,
                ratio_done=float(percent) / 100 if percent is not None else None,
                files_done=to_count(match["files"]),
                bytes_done=to_bytes(match["bytes"]),
                total_files=_optional_int(match["total_files"]),
                total_bytes=to_bytes(match["total_bytes"]) if match["total_bytes"] else None,
                errors=to_count(match["errors"]),
                eta_seconds=to_seconds(match["eta"]) if match["eta"] else None,
            ),
        )
    if match := ITEM_COUNTS.match(text):
        return (
            ItemCounts(
                kind="files" if match["kind"] == "Files" else "dirs",
                new=to_count(match["new"]),
                changed=to_count(match["changed"]),
                unmodified=to_count(match["unmodified"]),
            ),
        )
    if match := BLOB_COUNTS.match(text):
        return (
            BlobCounts(
                kind="data" if match["kind"] == "Data" else "tree", new=to_count(match["new"])
            ),
        )
    if match := ADDED.match(text):
        return (
            Added(
                added_bytes=to_bytes(match["added"]),
                stored_bytes=to_bytes(match["stored"]) if match["stored"] else None,
                dry_run=match["verb"] == "Would add",
            ),
        )
    if match := PROCESSED.match(text):
        duration = plausible_seconds(to_seconds(match["duration"]))
        return (
            Processed(
                files=to_count(match["files"]),
                bytes=to_bytes(match["bytes"]),
                duration_seconds=duration,
                dropped=() if duration is not None else (f"duration {match['duration'][:40]}",),
            ),
        )
    if match := SNAPSHOT_SAVED.match(text):
        return (SnapshotSaved(match["snapshot_id"]),)
    if SNAPSHOT_SKIPPED.match(text):
        return (SnapshotSkipped(),)
    if match := SCAN_FINISHED.match(text):
        return (
            ScanFinished(
                files=to_count(match["files"]),
                bytes=to_bytes(match["bytes"]),
                duration_seconds=plausible_seconds(float(match["seconds"][:40])) or 0.0,
            ),
        )
    if PREAMBLE.match(text):
        return (Preamble(text.strip()),)
    if match := ITEM_ERROR.match(text):
        return (ItemError(match["message"]),)
    if SOURCE_READ_WARNING.match(text):
        return (SourceReadWarning(),)
    if match := FATAL.match(text):
        return (_fatal(match["message"]),)
    if match := LOCKED.match(text):
        return (Fatal(match["message"], exit_code=None, lock=_lock_holder(match["message"])),)
    if match := ZERO_SIZE_CONFIG.match(text) or PASSWORD_FAILED.match(text):
        return (Fatal(match["message"], exit_code=1),)
    if match := PANIC.match(text):
        return (Fatal(match["message"], exit_code=2),)
    if match := LOCK_AGE.match(text):
        return (LockAge(to_go_seconds(match["age"])),)
    if match := INTERRUPTED.match(text):
        return (Interrupted(match["signal"]),)
    if match := SOURCE_MISSING.match(text):
        return (SourceMissing(match["path"]),)
    return ()


def _fatal(message: str) -> Fatal:
    """A ``Fatal:`` message with the exit code every version agrees on, or None."""
    if message.startswith(_REPOSITORY_MISSING):
        return Fatal(message, exit_code=10)
    if message.startswith(_WRONG_PASSWORD):
        return Fatal(message, exit_code=None)
    if match := LOCKED.match(message):  # 0.9's form, with the "Fatal: " prefix
        return Fatal(message, exit_code=None, lock=_lock_holder(match["message"]))
    return Fatal(message, exit_code=1)


def _lock_holder(message: str) -> RepositoryLock | None:
    match = LOCK_HOLDER.search(message)
    if match is None:
        return None
    return RepositoryLock(
        pid=to_count(match["pid"]),
        host=_label_safe(match["host"]),
        user=_label_safe(match["user"]),
        exclusive=match["exclusive"] is not None,
    )


def _label_safe(text: str) -> str:
    """A host or user name fit for a label value: printable, at most 64 characters."""
    return "".join(char if char.isprintable() else "?" for char in text[:_LABEL_MAX])


def _optional_int(text: str | None) -> int | None:
    return to_count(text) if text is not None else None
