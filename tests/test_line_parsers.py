"""Each line shape of restic's output, verbatim from the reference, and the event it gives."""

from __future__ import annotations

import pytest

from parsers import restic_json, restic_text
from parsers.backup_log import parse_line
from parsers.records import (
    Added,
    BlobCounts,
    Event,
    Fatal,
    Interrupted,
    ItemCounts,
    ItemError,
    LineError,
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

_RATIO = 261640684 / 315172585
TEXT_LINES: list[tuple[str, Event | None]] = [
    ("Files:        4838 new,     0 changed,     0 unmodified", ItemCounts("files", 4838, 0, 0)),
    ("Dirs:            0 new,     2 changed,   943 unmodified", ItemCounts("dirs", 0, 2, 943)),
    ("Files:       123456 new,     0 changed,     0 unmodified", ItemCounts("files", 123456, 0, 0)),
    ("Data Blobs:      1 new", BlobCounts("data", 1)),
    ("Tree Blobs:      3 new", BlobCounts("tree", 3)),
    ("Added:      12.500 MiB", Added(13107200, None, dry_run=False)),
    ("Added to the repo: 1.234 MiB", Added(1293943, None, dry_run=False)),
    ("Would add to the repo: 0 B  ", Added(0, None, dry_run=True)),
    ("Added to the repository: 3.329 MiB (3.325 MiB stored)", Added(3490710, 3486515, False)),
    ("Added to the repository: 0 B   (0 B   stored)", Added(0, 0, dry_run=False)),
    ("Would add to the repository: 0 B   (0 B   stored)", Added(0, 0, dry_run=True)),
    ("processed 4838 files, 145.804 MiB in 0:01", Processed(4838, 152886575, 1.0)),
    ("processed 1000 files, 4.010 GiB in 1:02:03", Processed(1000, 4305704714, 3723.0)),
    ("snapshot 31986dfd saved", SnapshotSaved("31986dfd")),
    ("skipped creating snapshot", SnapshotSkipped()),
    (
        "[0:01] 54.73%  2 files 187.884 MiB, total 6 files 343.323 MiB, 0 errors ETA 0:01",
        Progress(1.0, 0.5473, 2, 197010653, 6, 360000258, 0, 1.0),
    ),
    (
        "[0:00] 0 files 0 B, total 1 files 57.220 MiB, 0 errors",
        Progress(0.0, 0.0, 0, 0, 1, 59999519, 0, None),
    ),
    (  # restic 0.14, RESTIC_PROGRESS_FPS on a pipe: no percentage, the totals tell it
        "[0:04] 6 files 249.520 MiB, total 7 files 300.572 MiB, 0 errors",
        Progress(4.0, _RATIO, 6, 261640684, 7, 315172585, 0, 4.0 * (1 - _RATIO) / _RATIO),
    ),
    ("[0:03] 12 files, 1.000 MiB, 2 errors", Progress(3.0, None, 12, 1048576, None, None, 2, None)),
    (
        "scan finished in 0.291s: 4839 files, 145.804 MiB",
        ScanFinished(4839, 152886575, 0.291),
    ),
    ("using parent snapshot 31986dfd", Preamble("using parent snapshot 31986dfd")),
    (
        "no parent snapshot found, will read all files",
        Preamble("no parent snapshot found, will read all files"),
    ),
    ("load index files", Preamble("load index files")),
    ("start scan on [/home /etc]", Preamble("start scan on [/home /etc]")),
    # printed by every command: they say nothing about a backup
    ("open repository", None),
    ("repo already locked, waiting up to 5m0s for the lock", None),
    ("error: open data/a/f2: permission denied", ItemError("open data/a/f2: permission denied")),
    ("/srv/gone does not exist, skipping", SourceMissing("/srv/gone")),
    ("Warning: at least one source file could not be read", SourceReadWarning()),
    ("Warning: failed to read all source data during backup", SourceReadWarning()),
    # 1 up to 0.17.0, 12 from 0.17.1: the text does not tell which, so no code is inferred
    ("Fatal: wrong password or no key found", Fatal("wrong password or no key found", None)),
    (
        "Fatal: unable to save snapshot: context canceled",
        Fatal("unable to save snapshot: context canceled", 1),
    ),
    (
        "Fatal: repository does not exist: unable to open config file: stat /r/config: x",
        Fatal("repository does not exist: unable to open config file: stat /r/config: x", 10),
    ),
    (
        "unable to create lock in backend: repository is already locked by PID 7 on vm by u (UID 1, GID 1)",
        Fatal(
            "unable to create lock in backend: repository is already locked by PID 7 on vm by u (UID 1, GID 1)",
            None,  # 1 before 0.17, 11 from 0.17
            lock=RepositoryLock(pid=7, host="vm", user="u", exclusive=False),
        ),
    ),
    (
        "unable to create lock in backend: repository is already locked exclusively by PID 16230 on vm by root (UID 0, GID 0)",
        Fatal(
            "unable to create lock in backend: repository is already locked exclusively by PID 16230 on vm by root (UID 0, GID 0)",
            None,
            lock=RepositoryLock(pid=16230, host="vm", user="root", exclusive=True),
        ),
    ),
    ("lock was created at 2026-12-04 15:00:22 (378.157569ms ago)", LockAge(0.378157569)),
    ("lock was created at 2026-11-22 02:10:41 (6h2m48.2s ago)", LockAge(21768.2)),
    (
        "config file has zero size, invalid repository?",
        Fatal("config file has zero size, invalid repository?", 1),
    ),
    (  # restic 0.11 and 0.14, RESTIC_PASSWORD_FILE missing: exit 1 (seen with the real binaries)
        "Resolving password failed: Fatal: /nonexistent does not exist",
        Fatal("Resolving password failed: Fatal: /nonexistent does not exist", 1),
    ),
    (  # RESTIC_PASSWORD_COMMAND=false
        "Resolving password failed: exit status 1",
        Fatal("Resolving password failed: exit status 1", 1),
    ),
    (  # a Go panic: restic crashed, and Go exits 2
        "panic: runtime error: invalid memory address or nil pointer dereference",
        Fatal("panic: runtime error: invalid memory address or nil pointer dereference", 2),
    ),
    (  # restic 0.18 and 0.19 put it after "Fatal: "
        "Fatal: Resolving password failed: Fatal: /nonexistent does not exist",
        Fatal("Resolving password failed: Fatal: /nonexistent does not exist", 1),
    ),
    (
        "\x1b[2Ksignal interrupt received, cleaning up",
        Interrupted("interrupt"),
    ),
    ("\rsignal terminated received, cleaning up ", Interrupted("terminated", carriage_return=True)),
    ("\x1b[2Ksignal interrupt received, cleaning up", Interrupted("interrupt")),
    # Lines that are not the backup's own: no event.
    ("unchanged /src/a/1.bin", None),
    ("new       /src/a/5.bin, saved in 0.002s (512 B added)", None),
    ("/big/f1", None),
    ("[0:00] 100.00%  3 / 3 files deleted", None),
    ("[0:00] 100.00%  2 / 2 snapshots", None),
    ("Is there a repository at the following location?", None),
    ("", None),
    ("Files: many", None),
]


@pytest.mark.parametrize(("line", "expected"), TEXT_LINES)
def test_text_line(line: str, expected: Event | None) -> None:
    assert restic_text.parse_line(line, 1) == ((expected,) if expected else ())


def test_signal_name_is_kept() -> None:
    assert restic_text.parse_line("signal interrupt received, cleaning up", 1) == (
        Interrupted("interrupt"),
    )


@pytest.mark.parametrize(
    "line",
    [
        '{"message_type":"summary","files_new":"3"}',
        '{"message_type":"summary","files_new":-1}',
        '{"message_type":"status","percent_done":true,"total_bytes":10}',
        '{"message_type":"exit_error","code":"x"}',
        '{"message_type":"summary","files_new":1,"files_changed":0,"files_unmodified":0,'
        '"dirs_new":0,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":0,"tree_blobs":0,'
        '"data_added":0,"total_files_processed":1,"total_bytes_processed":1,"total_duration":1,'
        '"backup_start":"yesterday","backup_end":"today"}',
    ],
)
def test_json_message_with_wrong_field_types_names_its_line(line: str) -> None:
    with pytest.raises(LineError) as raised:
        restic_json.parse_line(line, 42)
    assert "line 42" in str(raised.value)


@pytest.mark.parametrize(
    "line",
    ['{"total_size":1098965230,"total_file_count":69}', "[1, 2]", "{not json", '{"a": [[[[]]]]}'],
)
def test_json_that_is_not_a_backup_message_gives_nothing(line: str) -> None:
    assert parse_line(line, 1) == ()


def test_json_error_message_of_each_era() -> None:
    old = '{"message_type":"error","error":{"Op":"open","Path":"src/s.txt","Err":13},"during":"archival","item":"/srv/src/s.txt"}'
    empty = '{"message_type":"error","error":{},"during":"scan","item":"/srv/src/locked"}'
    new = '{"message_type":"error","error":{"message":"open /x: permission denied"},"during":"archival","item":"/x"}'
    assert parse_line(old, 1) == (
        ItemError(
            "open src/s.txt: errno 13 (archival /srv/src/s.txt)", "/srv/src/s.txt", "archival"
        ),
    )
    assert parse_line(empty, 1) == (
        ItemError("error (scan /srv/src/locked)", "/srv/src/locked", "scan"),
    )
    assert parse_line(new, 1) == (
        ItemError("open /x: permission denied (archival /x)", "/x", "archival"),
    )


def test_json_scan_finished_arrives_as_status_before_0_16() -> None:
    line = '{"message_type":"status","action":"scan_finished","item":"","duration":0.2,"data_size":3482616,"data_size_in_repo":0,"metadata_size":0,"metadata_size_in_repo":0,"total_files":21}'
    assert parse_line(line, 1) == (ScanFinished(21, 3482616, 0.2),)
    assert parse_line(line.replace('"status"', '"verbose_status"'), 1) == (
        ScanFinished(21, 3482616, 0.2),
    )


def test_json_status_with_omitted_zero_fields() -> None:
    assert parse_line('{"message_type":"status","percent_done":0,"files_done":1}', 1) == (
        Progress(0.0, None, 1, 0, None, None, 0, None),
    )
