"""The watch daemon's follower reads only the lines `exporter.fast_scan` selects, and ends exactly
where feeding it every line would: the same records, line numbers, line errors, skipped long
lines and read position (the byte offset of the run a restart reads on from), however the log
is appended (in pieces of any size, with CRLF endings, a line waiting for its newline).

The reference is the old follower's behaviour, written out here: every complete line so far,
``\\r`` stripped, fed one by one, and the file offset of each line that began a run."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES

from exporter import follow
from exporter.follow import LogFollower
from exporter.logsource import MAX_LINE_BYTES
from exporter.positions import Position
from parsers.log import LogParser

LOGS = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file() and ".expected." not in path.name and path.suffix in (".log", ".json")
)
VERY_VERBOSE = (FIXTURES / "real/0.14.0/very_verbose.log").read_bytes()
APPENDED = (FIXTURES / "real/0.14.0/appended_failure_last.log").read_bytes()
AUTORESTIC = (FIXTURES / "autorestic/autorestic-1.8.3-colour-failed-backend.log").read_bytes()
AUTORESTIC_QUIET = (FIXTURES / "autorestic/autorestic-1.6.0-quiet-two-failed.log").read_bytes()


@dataclass
class Expected:
    parser: LogParser
    skipped_long_lines: int
    run_start_offset: int
    run_start_line: int


def line_by_line(data: bytes) -> Expected:
    """What feeding every complete line of `data` gives, and where a restart would read on."""
    parser = LogParser()
    run_starts: dict[int, int] = {}
    skipped = 0
    offset = 0
    while (end := data.find(b"\n", offset)) != -1:
        raw = data[offset:end]
        if len(raw) > MAX_LINE_BYTES:
            skipped += 1
        else:
            runs_before = parser.runs_started
            parser.feed(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
            if parser.runs_started != runs_before:
                run_starts[parser.lines] = offset
        offset = end + 1
    if len(data) - offset > MAX_LINE_BYTES:  # a long line being written is skipped already
        skipped += 1
        offset = len(data)
    line = parser.oldest_kept_line
    if line in run_starts:
        return Expected(parser, skipped, run_starts[line], line)
    return Expected(parser, skipped, offset, parser.lines + 1)


def assert_follows(follower: LogFollower, data: bytes) -> None:
    expected = line_by_line(data)
    parser = follower.parser
    assert parser.lines == expected.parser.lines
    assert follower.skipped_long_lines == expected.skipped_long_lines
    assert [(e.line_number, str(e)) for e in parser.line_errors] == [
        (e.line_number, str(e)) for e in expected.parser.line_errors
    ]
    assert parser.result() == expected.parser.result()
    assert parser.runs_started == expected.parser.runs_started
    assert parser.oldest_kept_line == expected.parser.oldest_kept_line
    position = follower.position()
    assert position is not None
    assert (position.offset, position.run_start_offset, position.run_start_line) == (
        len(data),
        expected.run_start_offset,
        expected.run_start_line,
    )


def follow_in_pieces(log: Path, data: bytes, seed: int, pieces: int = 12) -> Position | None:
    """Append `data` to `log` in random-sized pieces, checking the follower after each; the
    position half-way through."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(pieces, len(data) - 1))) if data else []
    log.write_bytes(b"")
    follower = LogFollower(log)
    halfway = None
    try:
        for end in [*cuts, len(data)]:
            with log.open("ab") as out:
                out.write(data[log.stat().st_size : end])
            follower.read_appended()
            assert_follows(follower, data[:end])
            if halfway is None and end >= len(data) // 2:
                halfway = follower.position()
    finally:
        follower.close()
    return halfway


def assert_a_restart_reads_on_the_same(log: Path, data: bytes, resume: Position | None) -> None:
    """A daemon restarted from a saved position ends where one that never stopped ends."""
    restarted = LogFollower(log, resume)
    try:
        restarted.read_appended()
        expected = line_by_line(data).parser
        assert restarted.parser.lines == expected.lines
        assert restarted.parser.result() == expected.result()
    finally:
        restarted.close()


@pytest.mark.parametrize("crlf", [False, True], ids=["LF", "CRLF"])
@pytest.mark.parametrize("log", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_appended_in_pieces_is_followed_as_line_by_line(
    tmp_path: Path, log: Path, crlf: bool
) -> None:
    data = log.read_bytes()
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    target = tmp_path / "followed.log"
    halfway = follow_in_pieces(target, data, seed=len(data))
    assert_a_restart_reads_on_the_same(target, data, halfway)


def test_there_are_fixtures() -> None:
    assert len(LOGS) > 50


def _filler(count: int) -> bytes:
    return b"".join(b"unchanged /srv/data/file-%d.bin\n" % index for index in range(count))


EDGE_CASES = {
    "vv runs among filler": _filler(3000) + VERY_VERBOSE + _filler(3000) + VERY_VERBOSE,
    "appended runs, CRLF": (APPENDED * 3).replace(b"\n", b"\r\n"),
    "appended runs, CR CR LF": (APPENDED * 3).replace(b"\n", b"\r\r\n"),
    "appended runs, some lines CRLF": b"".join(
        line + (b"\r\n" if index % 3 else b"\n")
        for index, line in enumerate((APPENDED * 3).split(b"\n"))
    ),
    "bare CRs": VERY_VERBOSE.replace(b"\n", b"\r") + b"\n" + APPENDED,
    "no newline at the end": APPENDED + VERY_VERBOSE.rstrip(b"\n"),
    "CR at the end, no newline": APPENDED + VERY_VERBOSE.rstrip(b"\n") + b"\r",
    "not UTF-8": VERY_VERBOSE.replace(b"unchanged", b"unch\xffnged\xc3") + APPENDED,
    "ANSI codes": VERY_VERBOSE.replace(b"Files:", b"\x1b[32mFiles:\x1b[0m"),
    "autorestic after filler": _filler(2000) + AUTORESTIC + b"\n\n" + _filler(2000) + APPENDED,
    # Only a blank line, which no search selects, ends the first error block: the line after
    # it is then a section's.
    "autorestic, a blank line ends an error block": AUTORESTIC_QUIET.replace(
        b"exit status 3\n\n", b"exit status 3\n\nFatal: unable to create lock in backend\n"
    ),
    "autorestic, CRLF": (_filler(300) + AUTORESTIC + _filler(300)).replace(b"\n", b"\r\n"),
    "line of MAX bytes": APPENDED + b"x" * MAX_LINE_BYTES + b"\n" + APPENDED,
    "line of MAX+1 bytes": APPENDED + b"x" * (MAX_LINE_BYTES + 1) + b"\n" + APPENDED,
    "line of MAX bytes and CR": b"x" * (MAX_LINE_BYTES - 1) + b"\r\r\n" + APPENDED,
    "3 MiB line in the middle": APPENDED + b"y" * (3 * MAX_LINE_BYTES) + b"\n" + APPENDED,
    "long line at the end": APPENDED + b"z" * (MAX_LINE_BYTES + 1),
    "many CRs on a line": APPENDED + b"a" + b"\r" * 100_000 + b"\n" + APPENDED,
    "empty lines": b"\n\n\r\n" + APPENDED + b"\n\n",
}


# Chunks of 1 and 7 bytes only for the cases small enough to read that way in good time.
EDGE_READS = [
    (case, chunk)
    for case in sorted(EDGE_CASES)
    for chunk in (1, 7, 4096, 1024 * 1024)
    if chunk >= 4096 or len(EDGE_CASES[case]) <= 300_000
]


@pytest.mark.parametrize(("case", "chunk"), EDGE_READS)
def test_edge_cases_are_followed_as_line_by_line(
    tmp_path: Path, case: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = EDGE_CASES[case]
    monkeypatch.setattr(follow, "_CHUNK", chunk)
    target = tmp_path / "followed.log"
    halfway = follow_in_pieces(target, data, seed=chunk, pieces=8)
    assert_a_restart_reads_on_the_same(target, data, halfway)


def test_a_log_appended_a_line_at_a_time_is_followed_as_line_by_line(tmp_path: Path) -> None:
    data = (_filler(50) + APPENDED).replace(b"\n", b"\r\n")
    target = tmp_path / "followed.log"
    target.write_bytes(b"")
    follower = LogFollower(target)
    try:
        for line in data.splitlines(keepends=True):
            with target.open("ab") as out:
                out.write(line)
            follower.read_appended()
        assert_follows(follower, data)
    finally:
        follower.close()


def test_most_lines_of_a_verbose_log_are_only_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = 0
    feed = LogParser.feed

    def counting_feed(self: LogParser, line: str) -> None:
        nonlocal fed
        fed += 1
        feed(self, line)

    monkeypatch.setattr(LogParser, "feed", counting_feed)
    data = _filler(20000) + VERY_VERBOSE
    target = tmp_path / "followed.log"
    target.write_bytes(data)
    follower = LogFollower(target)
    try:
        follower.read_appended()
        assert follower.parser.lines == data.count(b"\n")
    finally:
        follower.close()
    assert fed < 200
