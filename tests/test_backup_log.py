"""How a log with several runs, or an unfinished one, is folded into its latest run."""

from __future__ import annotations

from parsers import BackupRun, parse_backup_log
from parsers.log import parse_log

SUCCESS = """\
using parent snapshot 31986dfd

Files:           1 new,     1 changed,  4837 unmodified
Dirs:            0 new,     2 changed,   943 unmodified
Added to the repository: 219.316 KiB (162.417 KiB stored)

processed 4839 files, 145.804 MiB in 0:00
snapshot 25acac52 saved
"""
PARTIAL = """\
using parent snapshot 25acac52
error: open data/a/f2: permission denied

Files:           0 new,     1 changed,  4837 unmodified
Dirs:            0 new,     0 changed,   945 unmodified
Added to the repository: 2.008 MiB (604.820 KiB stored)

processed 4838 files, 145.744 MiB in 0:00
snapshot a60ebea3 saved
Warning: at least one source file could not be read
"""
FATAL = "Fatal: wrong password or no key found\n"
JSON_SUCCESS = (
    '{"message_type":"summary","files_new":5,"files_changed":0,"files_unmodified":0,'
    '"dirs_new":1,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":5,"tree_blobs":1,'
    '"data_added":10,"total_files_processed":5,"total_bytes_processed":10,'
    '"total_duration":1.5,"snapshot_id":"abcdef12"}\n'
)


def _latest(text: str) -> tuple[BackupRun, int]:
    log = parse_backup_log(text.split("\n"))
    assert log.latest_run is not None
    return log.latest_run, log.runs


def test_the_latest_of_appended_runs_is_reported() -> None:
    run, runs = _latest(SUCCESS + PARTIAL)
    assert runs == 2
    assert run.snapshot_id == "a60ebea3"
    assert run.errors == 1 and run.exit_code == 3
    assert run.first_line == 9


def test_a_failure_after_a_success_is_the_latest() -> None:
    run, runs = _latest(SUCCESS + FATAL)
    assert runs == 2
    assert run.fatal_message == "wrong password or no key found"
    assert run.files is None and run.snapshot_id is None


def test_a_success_after_a_failure_is_the_latest() -> None:
    run, runs = _latest(FATAL + PARTIAL + SUCCESS)
    assert runs == 3
    assert run.failure_reason is None and run.snapshot_id == "25acac52"


def test_runs_without_startup_lines_are_told_apart_by_their_summary() -> None:
    quiet_start = "\n".join(line for line in SUCCESS.splitlines() if "parent" not in line)
    run, runs = _latest(quiet_start + "\n" + quiet_start.replace("25acac52", "0000ffff"))
    assert runs == 2
    assert run.snapshot_id == "0000ffff"


def test_text_and_json_runs_mix() -> None:
    run, runs = _latest(SUCCESS + JSON_SUCCESS + FATAL + JSON_SUCCESS)
    assert runs == 4
    assert run.snapshot_id == "abcdef12" and run.files is not None and run.files.new == 5


def test_a_run_cut_off_mid_summary_is_incomplete() -> None:
    cut = SUCCESS + "\n".join(PARTIAL.splitlines()[:4])
    run, runs = _latest(cut)
    assert runs == 2
    assert not run.complete
    assert run.exit_code is None
    assert run.failure_reason == "the log ends before the run finished"
    assert run.files is not None and run.dirs is None


def test_the_fatal_after_an_interruption_belongs_to_it() -> None:
    """0.17 and 0.18 (signal line after an erase code) exit 1 when the cancelled backup ends with
    ``Fatal: unable to save snapshot: context canceled``; 0.19 (carriage return) exits 130."""
    for signal_line, code in (
        ("\x1b[2Ksignal interrupt received, cleaning up", 1),
        ("\rsignal interrupt received, cleaning up ", 130),
    ):
        run, runs = _latest(
            SUCCESS
            + signal_line
            + "\n[0:00] 0 files 0 B, total 1 files 0 B, 0 errors\n/stream.bin\n"
            + "Fatal: unable to save snapshot: context canceled\n"
        )
        assert runs == 2
        assert run.interrupted and run.exit_code == code
        assert run.fatal_message == "unable to save snapshot: context canceled"


def test_an_interruption_alone_exits_130() -> None:
    run, _ = _latest("\x1b[2Ksignal interrupt received, cleaning up\n")
    assert run.interrupted and run.exit_code == 130


def test_the_warning_after_the_snapshot_line_belongs_to_its_run() -> None:
    run, runs = _latest(PARTIAL)
    assert runs == 1 and run.source_read_warning and run.snapshot_id == "a60ebea3"


def test_nothing_recognisable_gives_no_run() -> None:
    log = parse_backup_log(["hello", "", "\x00\x01binary"])
    assert log.latest_run is None and log.runs == 0 and log.lines == 3


def test_a_run_killed_without_a_word_does_not_merge_with_the_next() -> None:
    killed = (
        '{"message_type":"status","seconds_elapsed":30,"percent_done":0.5,"total_bytes":100,'
        '"bytes_done":50}\n'
        '{"message_type":"error","error":{"message":"x"},"during":"archival","item":"/x"}\n'
    )
    fresh = '{"message_type":"status","percent_done":0.1,"total_bytes":100,"bytes_done":10}\n'
    run, runs = _latest(killed + fresh + JSON_SUCCESS)
    assert runs == 2
    assert run.errors == 0 and run.failure_reason is None


def test_an_exit_error_code_is_never_overridden() -> None:
    interrupted = (
        "signal interrupt received, cleaning up\n"
        '{"message_type":"exit_error","code":1,"message":"Fatal: unable to save snapshot: '
        'context canceled"}\n'
    )
    run, _ = _latest(interrupted)
    assert run.interrupted and run.exit_code == 1


def test_check_json_after_a_backup_is_check_s() -> None:
    check = (
        '{"message_type":"summary","num_errors":0,"broken_packs":null,'
        '"suggest_repair_index":false,"suggest_prune":false}\n'
    )
    parsed = parse_log((SUCCESS + check).splitlines())
    section = parsed.sections[0]
    assert section.backup is not None and section.backup.failure_reason is None
    assert section.check is not None and section.check.failure_reason is None
    assert section.last_command == "check"


def test_a_fatal_while_prune_works_is_prune_s_and_after_it_backup_s() -> None:
    prune = "loading indexes...\nloading all snapshots...\nFatal: load snapshots: EOF\n"
    section = parse_log((SUCCESS + prune + FATAL).splitlines()).sections[0]
    assert section.prune is not None and section.prune.fatal_message == "load snapshots: EOF"
    assert section.backup is not None
    assert section.backup.fatal_message == "wrong password or no key found"


def test_a_fatal_after_forget_s_tables_is_the_next_backup_s() -> None:
    """forget prints no closing line: a failing backup appended after it must not hide."""
    forget = "Applying Policy: keep 1 latest snapshots\nkeep 1 snapshots:\n1 snapshots\n\n"
    broken = "Fatal: unable to open config file: stat /nope/config: no such file or directory\n"
    section = parse_log((SUCCESS + forget + broken).splitlines()).sections[0]
    assert section.forget is not None and section.forget.failure_reason is None
    assert section.backup is not None and section.backup.fatal_message is not None
    assert section.backup.fatal_message.startswith("unable to open config file")
