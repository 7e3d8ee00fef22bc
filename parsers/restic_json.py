"""restic backup ``--json`` output, every version from 0.9.5 (the first with ``--json``) to 0.19.

One JSON object a line.  ``status``, ``verbose_status`` and ``summary`` come on stdout; ``error``
and (0.18+) ``exit_error`` on stderr.  Plain text can be mixed in (fatal errors before 0.18, the
exit-3 warning before 0.18): the caller hands such lines to ``parsers.restic_text``.

Observed with restic 0.14.0::

    {"message_type":"status","percent_done":0.5420004859385256,"total_files":1745,
     "files_done":201,"total_bytes":63575943,"bytes_done":34458192}
    {"message_type":"summary","files_new":0,"files_changed":1,"files_unmodified":20,
     "dirs_new":0,"dirs_changed":2,"dirs_unmodified":1,"data_blobs":1,"tree_blobs":3,
     "data_added":74542,"total_files_processed":21,"total_bytes_processed":3482616,
     "total_duration":0.211037321,"snapshot_id":"fc336965"}

Messages and the events they give:

* ``status``: Progress (``percent_done`` is already a 0-1 fraction; every field but
  ``percent_done`` is omitted when zero).  Up to 0.15 the ``-v`` "scan finished" message also
  arrives as ``status`` with an ``action`` key: ScanFinished.
* ``verbose_status``: ``action: scan_finished`` gives ScanFinished, per-item messages nothing.
* ``summary``: BackupTimes (``backup_start``/``backup_end``, 0.18+), ItemCounts, BlobCounts,
  Added (``data_added``; ``data_added_packed`` from 0.17 is the stored size), Processed, then
  SnapshotSaved (``snapshot_id``; 8 hex characters up to 0.14, 64 from 0.15) or, from 0.17 when
  the ID is omitted, SnapshotSkipped.  ``dry_run: true`` (0.13+) gives neither.
* ``error``: ItemError.  ``error`` is ``{}`` or a Go PathError up to 0.17.0, ``{"message": ...}``
  from 0.17.1.
* ``exit_error`` (0.18+): code 3 gives SourceReadWarning, any other code Fatal with that code.
  Every command prints it; like a ``Fatal:`` line, it goes to the command at work.

Impossible values restic prints are dropped (None, named in the run's ``dropped_values``), not
exported: 0.18's ``--skip-if-unchanged`` summary has ``"total_duration":-9223372036.854776`` and
``"backup_end":"0001-01-01T00:00:00Z"``; a duration over ten years and a time before 1970 go the
same way.  A count beyond int64, a negative count, NaN or an infinity makes the line malformed.
``status`` without ``seconds_remaining`` gets its ETA from the elapsed time and the ratio.

Other commands print ``status``, ``summary`` and ``error`` messages too (``check``, ``restore``):
`JSON_MESSAGES` says by which keys backup's are told apart, and only those are read here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from parsers.command import JsonMessage
from parsers.lines import load_json
from parsers.records import (
    Added,
    BackupTimes,
    BlobCounts,
    Event,
    Fatal,
    ItemCounts,
    ItemError,
    LineError,
    Processed,
    Progress,
    ScanFinished,
    SnapshotSaved,
    SnapshotSkipped,
    SourceReadWarning,
)
from parsers.restic_text import progress
from parsers.units import MAX_COUNT, plausible_seconds


class _FieldError(ValueError):
    pass


# restore --json's (0.16+) progress counters: backup's status never has them.
_RESTORE_COUNTERS = frozenset(
    {"files_restored", "files_skipped", "files_deleted", "bytes_restored", "bytes_skipped"}
)
JSON_MESSAGES = (
    JsonMessage("status", lacking=_RESTORE_COUNTERS),
    JsonMessage("verbose_status", lacking=_RESTORE_COUNTERS),
    # "files_new" is in every backup summary (never omitted); check's has "num_errors"
    JsonMessage("summary", having=frozenset({"files_new"}), lacking=frozenset({"num_errors"})),
    # backup's errors carry an "error" object; check's only a "message"
    JsonMessage("error", having=frozenset({"error"})),
    JsonMessage("exit_error"),
)


def looks_like_json(line: str) -> bool:
    return line.lstrip().startswith("{")


def parse_line(line: str, line_number: int) -> tuple[Event, ...]:
    """The events one JSON line gives: none for an object that is not a restic backup message."""
    message = load_json(line)
    if not isinstance(message, dict) or not any(kind.matches(message) for kind in JSON_MESSAGES):
        return ()
    return parse_message(message, line, line_number)


def parse_message(message: dict[str, Any], line: str, line_number: int) -> tuple[Event, ...]:
    """The events of one decoded message that `JSON_MESSAGES` says is backup's."""
    try:
        return _events(message)
    except _FieldError as error:
        raise LineError(line_number, line, str(error)) from None


def _events(message: dict[str, Any]) -> tuple[Event, ...]:
    kind = message.get("message_type")
    if (kind == "status" and "action" in message) or kind == "verbose_status":
        return _verbose_status(message)
    if kind == "status":
        return (_progress(message),)
    if kind == "summary":
        return _summary(message)
    if kind == "error":
        item, during = message.get("item"), message.get("during")
        return (
            ItemError(
                _error_text(message),
                item=item if isinstance(item, str) else None,
                during=during if isinstance(during, str) else None,
            ),
        )
    if kind == "exit_error":
        code = _int(message, "code")
        if code > 255:
            raise _FieldError(f"'code' is not an exit code: {code}")
        text = _str(message, "message", "")
        if code == 3:
            return (SourceReadWarning(),)
        message_text = text.removeprefix("Fatal: ").strip() or f"exit code {code}"
        return (Fatal(message_text, code, exact_exit_code=True),)
    return ()


def _verbose_status(message: dict[str, Any]) -> tuple[Event, ...]:
    if message.get("action") != "scan_finished":
        return ()
    return (
        ScanFinished(
            files=_int(message, "total_files", 0),
            bytes=_int(message, "data_size", 0),
            duration_seconds=_float(message, "duration", 0.0),
        ),
    )


def _progress(message: dict[str, Any]) -> Progress:
    total_files = _int(message, "total_files", 0)
    total_bytes = _int(message, "total_bytes", 0)
    remaining = _int(message, "seconds_remaining", 0)
    elapsed = plausible_seconds(float(_int(message, "seconds_elapsed", 0)))
    if elapsed is None:
        raise _FieldError("'seconds_elapsed' is not an elapsed time")
    return progress(
        elapsed_seconds=elapsed,
        ratio_done=_float(message, "percent_done", 0.0) if total_bytes else None,
        files_done=_int(message, "files_done", 0),
        bytes_done=_int(message, "bytes_done", 0),
        total_files=total_files or None,
        total_bytes=total_bytes or None,
        errors=_int(message, "error_count", 0),
        eta_seconds=float(remaining) if remaining else None,
    )


def _summary(message: dict[str, Any]) -> tuple[Event, ...]:
    dry_run = message.get("dry_run") is True
    packed = message.get("data_added_packed")
    events: list[Event] = []
    dropped: list[str] = []
    if "backup_start" in message and "backup_end" in message:
        started = _timestamp(message, "backup_start")
        ended = _timestamp(message, "backup_end")
        for key, value in (("backup_start", started), ("backup_end", ended)):
            if value is None:
                dropped.append(f"{key} {str(message[key])[:40]}")
        events.append(BackupTimes(started, ended, tuple(dropped)))
    events += [
        ItemCounts(
            "files",
            _int(message, "files_new"),
            _int(message, "files_changed"),
            _int(message, "files_unmodified"),
        ),
        ItemCounts(
            "dirs",
            _int(message, "dirs_new"),
            _int(message, "dirs_changed"),
            _int(message, "dirs_unmodified"),
        ),
        BlobCounts("data", _int(message, "data_blobs")),
        BlobCounts("tree", _int(message, "tree_blobs")),
        Added(
            added_bytes=_int(message, "data_added"),
            stored_bytes=_int(message, "data_added_packed") if packed is not None else None,
            dry_run=dry_run,
        ),
        _processed(message),
    ]
    snapshot_id = _str(message, "snapshot_id", "")
    if not dry_run:
        events.append(SnapshotSaved(snapshot_id) if snapshot_id else SnapshotSkipped())
    return tuple(events)


def _error_text(message: dict[str, Any]) -> str:
    error = message.get("error")
    item = message.get("item")
    during = message.get("during")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        text: str = error["message"]
    elif isinstance(error, dict) and isinstance(error.get("Op"), str):
        text = f"{error['Op']} {error.get('Path', '')}: errno {error.get('Err', '?')}"
    else:
        text = "error"
    context = " ".join(str(part) for part in (during, item) if part)
    return f"{text} ({context})" if context else text


def _int(message: dict[str, Any], key: str, default: int | None = None) -> int:
    """`message[key]` as a count; `default` when absent (None: the key is required)."""
    value = message.get(key, default)
    if value is None:
        raise _FieldError(f"{message.get('message_type')} message has no {key!r}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _FieldError(f"{key!r} is not a non-negative integer (int64): {str(value)[:40]}")
    return value


def _processed(message: dict[str, Any]) -> Processed:
    """The summary's totals; ``total_duration`` None when restic printed an impossible one
    (0.18 ``--skip-if-unchanged``: negative)."""
    files = _int(message, "total_files_processed")
    size = _int(message, "total_bytes_processed")
    value = message.get("total_duration")
    if value is None:
        raise _FieldError("summary message has no 'total_duration'")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError(f"'total_duration' is not a number: {str(value)[:40]}")
    duration = plausible_seconds(float(value))
    dropped = () if duration is not None else (f"total_duration {str(value)[:40]}",)
    return Processed(files, size, duration, dropped)


def _float(message: dict[str, Any], key: str, default: float | None = None) -> float:
    value = message.get(key, default)
    if value is None:
        raise _FieldError(f"{message.get('message_type')} message has no {key!r}")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise _FieldError(f"{key!r} is not a non-negative number: {str(value)[:40]}")
    return float(value)


def _str(message: dict[str, Any], key: str, default: str) -> str:
    value = message.get(key, default)
    if not isinstance(value, str):
        raise _FieldError(f"{key!r} is not a string: {value!r}")
    return value


def _timestamp(message: dict[str, Any], key: str) -> float | None:
    """RFC 3339 with nanoseconds and a zone, as Go prints time.Time, to Unix seconds; None for a
    time before 1970 (Go's zero time, ``0001-01-01T00:00:00Z``, is what 0.18 prints for none)."""
    text = _str(message, key, "")
    try:
        moment = datetime.fromisoformat(text[:64])
    except ValueError:
        raise _FieldError(f"{key!r} is not an RFC 3339 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise _FieldError(f"{key!r} has no time zone: {text[:40]!r}")
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):
        return None
    return seconds if seconds > 0 else None
