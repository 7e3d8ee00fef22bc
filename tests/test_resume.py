"""A one-shot ``parse`` of a log that grows reads on from where the previous parse into the same
``.prom`` file left off, and gives exactly what reading the whole log gives: on every fixture
split anywhere and appended to itself, after logrotate's ways of rotating, a log rewritten in
place, a resume point that is garbage, hostile, a link or another user's; malformed lines before
and after it, autorestic, stats in two modes, a weekly check runs back (exporter/reading.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from test_cli import invoke

from exporter.reading import LogReading, read_log
from exporter.run_memory import ResumePoint, RunMemory, memory_path, read_memory
from exporter.textfile import write_textfile
from parsers.records import StatsRun

LOGS = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file() and ".expected." not in path.name and path.suffix in (".log", ".json")
)
REAL = FIXTURES / "real" / "0.14.0"
DEFAULT = (REAL / "default.log").read_bytes()
HUGE = "9" * 400


def _read_into(log: Path, prom: Path) -> LogReading:
    """What ``parse LOG -o PROM`` reads, and the resume point it leaves beside PROM."""
    reading = read_log(str(log), resume_for=prom)
    write_textfile(memory_path(prom), RunMemory(resume=reading.resume).to_json())
    return reading


def _same_as_whole(reading: LogReading, log: Path, tmp_path: Path) -> None:
    whole = read_log(str(log), resume_for=tmp_path / "whole" / "x.prom")
    assert whole.read_from == 0
    assert reading.parsed == whole.parsed
    assert str(reading.problem) == str(whole.problem)
    assert reading.line_error == whole.line_error
    assert reading.written_timestamp_seconds == whole.written_timestamp_seconds
    if reading.read_from == 0:
        assert reading.warnings == whole.warnings
    else:  # only malformed lines before the resume point are not warned about again
        ignored = [w for w in whole.warnings if "(in an earlier run: ignored)" in w]
        assert set(reading.warnings) - set(whole.warnings) == set()
        assert set(whole.warnings) - set(reading.warnings) <= set(ignored)
    # and the next parse starts from the same place either way
    assert reading.resume == whole.resume


def _line_ends(data: bytes) -> list[int]:
    return [index + 1 for index, byte in enumerate(data) if byte == ord("\n")]


@pytest.mark.parametrize("log", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_split_anywhere_and_appended_reads_as_a_whole(
    log: Path, tmp_path: Path
) -> None:
    data = log.read_bytes()
    doubled = data + data
    ends = _line_ends(data)
    splits = {ends[len(ends) // 4], ends[len(ends) // 2], len(data), len(data) + ends[0]}
    splits.add(len(data) + 3)  # in the middle of a line being written
    for split in sorted(splits):
        directory = tmp_path / str(split)
        directory.mkdir()
        target, prom = directory / "restic.log", directory / "restic.prom"
        target.write_bytes(doubled[:split])
        _same_as_whole(_read_into(target, prom), target, directory)
        with target.open("ab") as out:
            out.write(doubled[split:])
        _same_as_whole(_read_into(target, prom), target, directory)
        with target.open("ab") as out:
            out.write(data)
        third = _read_into(target, prom)
        _same_as_whole(third, target, directory)


def test_most_fixtures_resume_past_their_first_copy(tmp_path: Path) -> None:
    """The equivalence above is not only of whole reads: nearly every fixture written three
    times, then once more, is read on from a run after the first copy (the two latest copies
    are kept: the latest backup, and the complete one before it)."""
    resumed = 0
    for number, log in enumerate(LOGS):
        target, prom = tmp_path / f"{number}.log", tmp_path / f"{number}.prom"
        data = log.read_bytes()
        target.write_bytes(data * 3)
        _read_into(target, prom)
        with target.open("ab") as out:
            out.write(data)
        reading = _read_into(target, prom)
        _same_as_whole(reading, target, tmp_path / str(number))
        resumed += reading.read_from >= len(data)
    assert resumed >= 0.95 * len(LOGS), (resumed, len(LOGS))


def test_a_nightly_append_reads_only_the_latest_runs(tmp_path: Path) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 1000)
    first = _read_into(log, prom)
    assert first.read_from == 0 and first.resume is not None
    assert first.resume.line_offset == 998 * len(DEFAULT)  # the backup before the latest
    with log.open("ab") as out:
        out.write(DEFAULT)
    nightly = _read_into(log, prom)
    assert nightly.read_from == 998 * len(DEFAULT)
    assert nightly.resume is not None
    assert nightly.resume.line_offset == 999 * len(DEFAULT)
    _same_as_whole(nightly, log, tmp_path)


def test_a_big_append_is_read_on_past_the_old_end_in_big_blocks(tmp_path: Path) -> None:
    """What was appended is read in blocks big enough for the prefilter, which searches the
    next block while the parser reads the last: the check at the old end does not depend on
    how far the search got ahead."""
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 1000)
    _read_into(log, prom)
    with log.open("ab") as out:
        out.write(DEFAULT * 6000)  # two blocks after the old end
    appended = _read_into(log, prom)
    assert appended.read_from == 998 * len(DEFAULT)
    assert appended.resume is not None
    assert appended.resume.line_offset == 6998 * len(DEFAULT)
    _same_as_whole(appended, log, tmp_path)


def _cli(log: Path, prom: Path, *args: str) -> tuple[int, str]:
    result = invoke(str(log), "-o", str(prom), *args)
    return result.exit_code, result.stderr


def _forget_resume_point(prom: Path) -> None:
    memory = read_memory(memory_path(prom))
    write_textfile(memory_path(prom), dataclasses.replace(memory, resume=None).to_json())


def test_the_cli_resumes_with_labels_and_writes_what_a_whole_read_writes(tmp_path: Path) -> None:
    """The same parses into two files, one of which forgets its resume point each time."""
    log = tmp_path / "restic.log"
    resumed, whole = tmp_path / "resumed.prom", tmp_path / "whole.prom"
    failed = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_bytes()
    for night, appended in enumerate((DEFAULT * 50, failed, DEFAULT, failed * 2)):
        with log.open("ab") as out:
            out.write(appended)
        moment = 1_700_000_000 + 86_400 * night
        os.utime(log, (moment, moment))
        code, _ = _cli(log, resumed, "--label", "host=a")
        assert code == _cli(log, whole, "--label", "host=a")[0]
        _forget_resume_point(whole)
        assert resumed.read_text() == whole.read_text()
        point = read_memory(memory_path(resumed)).resume
        assert point is not None and point.line_offset > 0
    assert 'restic_backup_success{host="a"} 0.0' in resumed.read_text()


def test_not_for_stdout_or_stdin(tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    log.write_bytes(DEFAULT * 3)
    assert read_log(str(log)).resume is None
    result = invoke("-", "-o", str(tmp_path / "x.prom"), stdin=DEFAULT * 3)
    assert result.exit_code == 0
    assert read_memory(memory_path(tmp_path / "x.prom")).resume is None


@pytest.mark.parametrize(
    ("how", "after"),
    [
        ("rename", DEFAULT),
        ("copytruncate", DEFAULT),
        ("copytruncate", DEFAULT * 40),  # written past the old length before the next parse
        ("rewrite", DEFAULT * 40),
        ("same-length", None),
    ],
)
def test_a_rotated_or_rewritten_log_is_read_from_its_start(
    how: str, after: bytes | None, tmp_path: Path
) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    failed = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_bytes()
    old = DEFAULT * 20 + failed
    log.write_bytes(old)
    assert _read_into(log, prom).resume is not None
    if how == "rename":
        log.rename(tmp_path / "restic.log.1")
        log.write_bytes(after or b"")
    elif how == "copytruncate":
        (tmp_path / "restic.log.1").write_bytes(log.read_bytes())
        with log.open("r+b") as out:
            out.truncate(0)
            out.write(after or b"")
    elif how == "rewrite":
        with log.open("r+b") as out:  # ">log", then more than there was
            out.truncate(0)
            out.write((after or b"") + failed)
    else:  # the same length, another content: a failed run first, the good ones after
        with log.open("r+b") as out:
            out.write(failed + DEFAULT * 20)
        assert log.stat().st_size == len(old)
    reading = _read_into(log, prom)
    assert reading.read_from == 0
    _same_as_whole(reading, log, tmp_path)


def _point(prom: Path) -> ResumePoint:
    point = read_memory(memory_path(prom)).resume
    assert point is not None
    return point


def _set_resume(prom: Path, entry: object) -> None:
    document = json.loads(memory_path(prom).read_bytes())
    document["resume"] = entry
    memory_path(prom).write_text(json.dumps(document))


def _hostile(point: ResumePoint) -> list[object]:
    good = dataclasses.asdict(point)
    return [
        "garbage",
        [1, 2],
        {},
        {**good, "line_offset": point.line_offset + 1},  # the middle of a line
        {**good, "line_offset": point.line_offset - len(DEFAULT)},  # one run early: wrong numbers
        {**good, "line": point.line + 1},
        {**good, "line": 0},
        {**good, "line_offset": -1},
        {**good, "line_offset": 2**70},
        {**good, "size": point.size * 1000},
        {**good, "size": True},
        {**good, "state": "0" * 32},
        {**good, "skipped_long_lines": 5},
        {**good, "code": "another version"},
        {**good, "log": "/elsewhere.log"},
        {**good, "extra": 1},
    ]


def test_a_resume_point_that_lies_changes_nothing(tmp_path: Path) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 10)
    point = _read_into(log, prom).resume
    assert point is not None
    with log.open("ab") as out:
        out.write((FIXTURES / "restic-0.14" / "fatal_pw.log").read_bytes())
    for number, entry in enumerate(_hostile(point)):
        _set_resume(prom, entry)
        reading = read_log(str(log), resume_for=prom)
        _same_as_whole(reading, log, tmp_path / str(number))
        assert reading.read_from in (0, point.line_offset), entry
        assert reading.read_from == 0 or entry == dataclasses.asdict(point)


def test_a_garbage_memory_file_is_read_as_none(tmp_path: Path) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 10)
    for garbage in (b"\xff\xfe", b"[" * 100_000, b'{"runs": 1, "resume": {"log": 1}}', b"null"):
        memory_path(prom).write_bytes(garbage)
        reading = read_log(str(log), resume_for=prom)
        assert reading.read_from == 0
        _same_as_whole(reading, log, tmp_path)


def test_a_resume_point_behind_a_link_is_not_trusted(tmp_path: Path) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 10)
    _read_into(log, prom)
    real = tmp_path / "elsewhere.json"
    memory_path(prom).rename(real)
    memory_path(prom).symlink_to(real)
    assert read_log(str(log), resume_for=prom).read_from == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user owns")
def test_another_users_resume_point_is_not_trusted(tmp_path: Path) -> None:
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_bytes(DEFAULT * 10)
    _read_into(log, prom)
    assert read_log(str(log), resume_for=prom).read_from > 0
    os.chown(memory_path(prom), 65534, 65534)
    assert read_log(str(log), resume_for=prom).read_from == 0


GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
BAD = GOOD.replace("Files:        4838", f"Files:        {HUGE}")


def test_malformed_lines_before_and_after_the_resume_point(tmp_path: Path) -> None:
    assert BAD != GOOD
    log, prom = tmp_path / "restic.log", tmp_path / "restic.prom"
    log.write_text(BAD + GOOD * 3)
    first = _read_into(log, prom)
    assert first.problem is None
    assert any("(in an earlier run: ignored)" in warning for warning in first.warnings)
    with log.open("a") as out:
        out.write(GOOD)
    second = _read_into(log, prom)  # the malformed line was warned about once
    assert second.read_from > 0 and second.problem is None and not second.warnings
    _same_as_whole(second, log, tmp_path / "a")
    with log.open("a") as out:
        out.write(BAD)
    third = _read_into(log, prom)  # in the latest run: the log is not understood
    assert third.read_from > 0 and third.line_error
    _same_as_whole(third, log, tmp_path / "b")


def test_a_malformed_latest_run_counts_however_many_came_before(tmp_path: Path) -> None:
    """Only the first ten malformed lines are listed; one in the latest run is never lost."""
    log = tmp_path / "restic.log"
    log.write_text(BAD * 12 + BAD)
    reading = read_log(str(log))
    assert reading.line_error and str(reading.problem).count("line ") == 1
    assert len(reading.warnings) == 10


def test_autorestic_logs_resume(tmp_path: Path) -> None:
    for number, fixture in enumerate(sorted((FIXTURES / "autorestic").glob("*.log"))):
        log, prom = tmp_path / f"{number}.log", tmp_path / f"{number}.prom"
        data = fixture.read_bytes()
        log.write_bytes(data * 3)
        _read_into(log, prom)
        with log.open("ab") as out:
            out.write(data)
        reading = _read_into(log, prom)
        # from the latest autorestic run; a log cut in a line is read whole
        assert reading.read_from == (2 * len(data) if data.endswith(b"\n") else 0), fixture
        _same_as_whole(reading, log, tmp_path / str(number))


def test_stats_in_two_modes_keep_both(tmp_path: Path) -> None:
    restore_size = (REAL / "stats.log").read_bytes()
    raw = (REAL / "stats_raw.log").read_bytes()
    log, prom = tmp_path / "stats.log", tmp_path / "stats.prom"
    log.write_bytes(restore_size * 5 + raw + DEFAULT)
    _read_into(log, prom)
    for number, more in enumerate((DEFAULT, raw, DEFAULT, restore_size, DEFAULT * 3)):
        with log.open("ab") as out:
            out.write(more)
        reading = _read_into(log, prom)
        assert reading.read_from > 0
        _same_as_whole(reading, log, tmp_path / str(number))
        assert reading.parsed is not None
        section = reading.parsed.sections[0]
        assert section.stats is not None
        earlier = section.earlier_variants["stats"]
        modes = {section.stats.mode, *(run.mode for run in earlier if isinstance(run, StatsRun))}
        assert len(modes) == 2


def test_a_weekly_check_runs_back_is_kept(tmp_path: Path) -> None:
    check = (REAL / "check.log").read_bytes()
    log, prom = tmp_path / "script.log", tmp_path / "script.prom"
    log.write_bytes(DEFAULT * 30 + check)
    _read_into(log, prom)
    for night in range(8):
        with log.open("ab") as out:
            out.write(DEFAULT)
        reading = _read_into(log, prom)
        assert reading.read_from >= 28 * len(DEFAULT)
        _same_as_whole(reading, log, tmp_path / str(night))
        assert reading.parsed is not None and reading.parsed.sections[0].check is not None


def test_the_state_digest_is_the_same_in_every_process() -> None:
    """Sets and hashing differ between processes (PYTHONHASHSEED): the digest must not."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from parsers.log import parse_log, LogParser\n"
        "for name in sys.argv[1:]:\n"
        "    parser = LogParser()\n"
        "    for line in Path(name).read_text(errors='replace').splitlines():\n"
        "        parser.feed(line)\n"
        "    print(parser.state_digest())\n"
    )
    digests = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", script, *map(str, LOGS)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        digests.append(result.stdout.split())
    assert len(digests[0]) == len(LOGS)
    assert digests[0] == digests[1]
