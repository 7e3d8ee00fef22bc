"""The fast path (``exporter.fast_scan``: blocks, bytes searches, skipped lines counted) gives what
the line-by-line path gives: the same records, line numbers, errors and rendered metrics, on every
fixture and on logs made to hit its edges (block boundaries, CRLF, long lines, odd bytes, --json
lines it must not skip), with each of its backends (the Hyperscan prefilter for every block,
and ``re`` alone); and its memory stays bounded on a big log."""

from __future__ import annotations

import io
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from exporter import fast_scan
from exporter.exposition import exposition_text, metrics_registry
from exporter.families import log_families
from exporter.logsource import MAX_LINE_BYTES, LogSource
from exporter.reading import LogReading, reading_of
from exporter.report import log_report
from parsers.log import LogParser

WRITTEN = 1_700_000_000.0
LOGS = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file() and ".expected." not in path.name and path.suffix in (".log", ".json")
)
BLOCK_SIZES = [1, 7, 64, 4096, fast_scan.BLOCK_BYTES]

VERY_VERBOSE = (FIXTURES / "real/0.14.0/very_verbose.log").read_bytes()
JSON_VERBOSE = (FIXTURES / "real/0.14.0/json_verbose.log").read_bytes()


BACKENDS = ["hyperscan", "re"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every block through the Hyperscan prefilter, or through ``re`` alone (a small log too,
    which is otherwise fed line by line)."""
    name: str = request.param
    monkeypatch.setattr(fast_scan, "SMALL_LOG_BYTES", 0)
    if name == "hyperscan":
        if fast_scan._prefilter() is None:
            # It is a dependency on x86_64: missing there is a failure, elsewhere a skip.
            assert platform.machine() != "x86_64", "the Hyperscan prefilter is not there"
            pytest.skip("no Hyperscan on this machine")
        monkeypatch.setattr(fast_scan, "PREFILTER_MIN_BYTES", 0)
    else:
        monkeypatch.setattr(fast_scan, "_prefilter", lambda: None)
    return name


def _slow(data: bytes) -> tuple[LogParser, LogSource]:
    source = LogSource("log", io.BytesIO(data))
    parser = LogParser()
    for line in source.lines():
        parser.feed(line)
    return parser, source


def _fast(data: bytes) -> tuple[LogParser, LogSource]:
    source = LogSource("log", io.BytesIO(data))
    parser = LogParser()
    fast_scan.scan(source, parser)
    return parser, source


def _prom(reading: LogReading) -> bytes:
    assert reading.parsed is not None
    sections = log_report(
        reading.parsed,
        exit_code=None,
        log_written_timestamp_seconds=WRITTEN,
        last_success=lambda labels: None,
        user_labels={},
        problem=str(reading.problem) if reading.problem else None,
    )
    return exposition_text(metrics_registry(log_families(sections, {})))


def assert_same(data: bytes) -> None:
    slow, slow_source = _slow(data)
    fast, fast_source = _fast(data)
    assert fast.lines == slow.lines
    assert fast_source.skipped_long_lines == slow_source.skipped_long_lines
    assert [(e.line_number, str(e)) for e in fast.line_errors] == [
        (e.line_number, str(e)) for e in slow.line_errors
    ]
    assert fast.result() == slow.result()
    assert fast.oldest_reported_line == slow.oldest_reported_line
    assert fast.oldest_kept_line == slow.oldest_kept_line
    assert fast.runs_started == slow.runs_started
    slow_reading = reading_of(slow, "log", slow_source.skipped_long_lines, WRITTEN)
    fast_reading = reading_of(fast, "log", fast_source.skipped_long_lines, WRITTEN)
    assert (str(fast_reading.problem), fast_reading.warnings, fast_reading.line_error) == (
        str(slow_reading.problem),
        slow_reading.warnings,
        slow_reading.line_error,
    )
    assert fast_reading.parsed == slow_reading.parsed
    assert _prom(fast_reading) == _prom(slow_reading)


@pytest.mark.parametrize("block", BLOCK_SIZES)
@pytest.mark.parametrize("log", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_reads_the_same(
    log: Path, block: int, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_scan, "BLOCK_BYTES", block)
    data = log.read_bytes()
    assert_same(data)
    assert_same(data.replace(b"\n", b"\r\n"))


def test_there_are_fixtures() -> None:
    assert len(LOGS) > 50


def _filler(count: int) -> bytes:
    return b"".join(b"unchanged /srv/data/file-%d.bin\n" % index for index in range(count))


def _json_filler(count: int) -> bytes:
    return b"".join(
        b'{"message_type":"verbose_status","action":"new","item":"/f/%d","duration":0,'
        b'"data_size":1,"total_files":0}\n' % index
        for index in range(count)
    )


EDGE_CASES = {
    "vv log inside filler": _filler(5000) + VERY_VERBOSE + _filler(5000),
    "two runs with filler": VERY_VERBOSE + _filler(30000) + VERY_VERBOSE + _filler(3),
    "no newline at the end": VERY_VERBOSE.rstrip(b"\n"),
    "CR at the end, no newline": VERY_VERBOSE.rstrip(b"\n") + b"\r",
    "CR CR LF": VERY_VERBOSE.replace(b"\n", b"\r\r\n"),
    "bare CRs": VERY_VERBOSE.replace(b"\n", b"\r"),
    # Taken out in one pass: a loop of replace() took a pass per CR (this one never ended).
    "a million CRs before a newline": VERY_VERBOSE + b"\r" * 1_000_000 + b"\n" + VERY_VERBOSE,
    "progress after CR": b"\r[0:01] 10.00%  1 files 1.000 MiB, total 2 files 2.000 MiB, 0 errors\n"
    + VERY_VERBOSE,
    "line of MAX bytes": b"x" * MAX_LINE_BYTES + b"\n" + VERY_VERBOSE,
    "line of MAX+1 bytes": b"x" * (MAX_LINE_BYTES + 1) + b"\n" + VERY_VERBOSE,
    "line of MAX bytes and CR": b"x" * (MAX_LINE_BYTES - 1) + b"\r\r\n" + VERY_VERBOSE,
    "3 MiB line in the middle": VERY_VERBOSE + b"y" * (3 * MAX_LINE_BYTES) + b"\n" + VERY_VERBOSE,
    "long line at the end": VERY_VERBOSE + b"z" * (MAX_LINE_BYTES + 1),
    "line of MAX bytes at the end": VERY_VERBOSE + b"z" * MAX_LINE_BYTES,
    "long Files: line": VERY_VERBOSE + b"Files: " + b"9" * MAX_LINE_BYTES + b"\n",
    "not UTF-8": VERY_VERBOSE.replace(b"unchanged", b"unch\xffnged\xc3")
    + b"Files:\xa0  1 new,     0 changed,     4 unmodified\n",
    "unicode spaces and digits": "Files:\u2003 1 new,\u00a0 0 changed, 4 unmodified\n"
    "\x1cFiles: 1 new, 0 changed, 4 unmodified\nkeep \u0663 snapshots:\n".encode()
    + VERY_VERBOSE,
    "ANSI codes": VERY_VERBOSE.replace(b"Files:", b"\x1b[32mFiles:\x1b[0m"),
    "suffix line": _filler(100) + b"/srv/gone does not exist, skipping\n" + VERY_VERBOSE,
    "JSON after spaces": b"  " + JSON_VERBOSE.replace(b"\n", b"\n  "),
    "json verbose with filler": _json_filler(3000) + JSON_VERBOSE + _json_filler(3000),
    "json duplicate message_type": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"new","message_type":"summary","files_new":1}\n'
    + JSON_VERBOSE,
    "json escaped key": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"new","message\\u005ftype":"exit_error",'
    b'"code":1,"message":"Fatal: x"}\n' + JSON_VERBOSE,
    "json duplicate action": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"new","action":"scan_finished",'
    b'"total_files":3,"data_size":9,"duration":1.5}\n' + JSON_VERBOSE,
    "json escaped action": b'{"message_type":"verbose_status","action":"scan_finishe\\u0064",'
    b'"total_files":3,"data_size":9,"duration":1.5}\n' + JSON_VERBOSE,
    "json undeclared type then text": b'{"message_type":"restore_thing","x":1}\n'
    + b'{"message_type":"nothing" does not exist, skipping\n'
    + JSON_VERBOSE,
    "json with ANSI": JSON_VERBOSE.replace(b'"action":"new"', b'"action":"\x1b[0mnew"'),
    "autorestic after filler": _filler(2000)
    + (FIXTURES / "autorestic/autorestic-1.8.3-colour-failed-backend.log").read_bytes()
    + b"\n\n"
    + _filler(2000),
    "empty": b"",
    "one newline": b"\n",
    # Aimed at the Hyperscan prefilter: a candidate at a block's first byte, across a block's
    # boundary, in a block's last line; lines it hits that the exact search does not take.
    "summary line at a 4096 boundary": b"x" * 4095 + b"\n" + VERY_VERBOSE,
    "summary prefix across a 4096 boundary": b"x" * 4092 + b"\n" + VERY_VERBOSE,
    "summary line ending at a 4096 boundary": b"x" * (4096 - 33)
    + b"\n"
    + b"Files:           1 new,     0 ch\n"
    + VERY_VERBOSE,
    "blank and space lines before Total": _filler(50)
    + b"\n \t\n\x0b\n  Total File Count:   3\n\nTotal\n \n \rTotal Size:  1 KiB\n"
    + VERY_VERBOSE,
    "prefixes that are not the summary": _filler(50)
    + b"Files:\nDirs\nprocessed\nsnapshot\n  {\n{\n\t{x\n"
    + VERY_VERBOSE,
    "non-ASCII byte only": _filler(100) + b"unchanged /srv/caf\xc3\xa9.bin\n" + VERY_VERBOSE,
    "control byte only": _filler(100) + b"unchanged /srv/\x1cx.bin\n" + VERY_VERBOSE,
    "json scan_finished first": b'{"message_type":"verbose_status","action":"scan_finished",'
    b'"duration":1.5,"data_size":9,"total_files":3}\n' + JSON_VERBOSE,
    "json scan_finished after filler": _json_filler(3000)
    + b'{"message_type":"verbose_status","action":"scan_finished",'
    b'"duration":1.5,"data_size":9,"total_files":3}\n' + JSON_VERBOSE,
    "json undeclared type among items": _json_filler(2000)
    + b'{"message_type":"restore_thing","x":1}\n{"message_type":"a\\"b","x":1}\n'
    + b'{"message_type":"no end\n{"message_type":"verbose_status"}\n'
    + JSON_VERBOSE,
    "json action as a value": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"action","message":"x"}\n'
    + JSON_VERBOSE,
    "json key as a value": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"new","item":"message_type"}\n'
    + JSON_VERBOSE,
    "json key without its quote": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"new","message_types":1}\n'
    + JSON_VERBOSE,
    "json key at a line start without its quote": _json_filler(500)
    + b'{"message_types":"summary","files_new":1}\n'
    + JSON_VERBOSE,
    "json NUL byte": _json_filler(500) + b'\x00"scan_finished"\n' + JSON_VERBOSE,
    "json mark-like line": _json_filler(500)
    + b'{"message_type":"verbose_status","action":"\x00"scan_finished"}\n'
    + JSON_VERBOSE,
}


# Blocks of 1 and 5 bytes only for the cases small enough to read that way in good time.
EDGE_READS = [
    (case, block)
    for case in sorted(EDGE_CASES)
    for block in (1, 5, 4096, fast_scan.BLOCK_BYTES)
    if block >= 4096 or len(EDGE_CASES[case]) <= 300_000
]


@pytest.mark.parametrize(("case", "block"), EDGE_READS)
def test_edge_cases_read_the_same(
    case: str, block: int, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_scan, "BLOCK_BYTES", block)
    assert_same(EDGE_CASES[case])


def test_the_selection_skips_most_lines_of_a_verbose_log(backend: str) -> None:
    for data in (_filler(10000) + VERY_VERBOSE, _json_filler(10000) + JSON_VERBOSE):
        spans = fast_scan.selected_spans(data)
        selected = sum(data.count(b"\n", start, end) for start, end in spans)
        assert selected < 100


def test_alternatives_split_at_the_top_level_only() -> None:
    assert fast_scan.split_alternatives(r"^(?:a|b)|c[|\]]d|\|e$") == [
        r"^(?:a|b)",
        r"c[|\]]d",
        r"\|e$",
    ]


def test_memory_stays_bounded_on_a_big_log(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with log.open("wb") as out:
        out.write(VERY_VERBOSE)
        filler = _filler(20000)
        for _ in range(200):  # about 150 MB
            out.write(filler)
        out.write(VERY_VERBOSE)
    # VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts at its parent's (pytest's).
    probe = (
        "import sys; from exporter.reading import read_log; "
        "r = read_log(sys.argv[1]); assert r.problem is None, r.problem; "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(log)], capture_output=True, text=True, check=True
    )
    peak_kib = int(result.stdout)
    assert peak_kib < 64 * 1024, f"peak RSS {peak_kib} KiB"
    assert log.stat().st_size > 100 * 1024 * 1024


def test_json_fixture_lines_are_json() -> None:
    for line in JSON_VERBOSE.splitlines():
        assert isinstance(json.loads(line), dict)
