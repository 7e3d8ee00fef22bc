"""Property-based tests (hypothesis): whatever a log holds, no line parser and no ``parse`` run
ends in a traceback, every exit code is a documented one, and every value written is finite and
in its range.

The inputs are restic's and autorestic's own line shapes with hostile numbers in them (30, 310
and 5,000 digits, negative, NaN, infinite), hostile names, and real captured logs
(tests/fixtures/real/) with lines cut, duplicated, reordered, NUL bytes, bytes that are not
UTF-8 and ANSI codes put in.  Each property runs a bounded number of examples.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from exporter.cli import app
from parsers import autorestic, backup_log
from parsers.commands import COMMANDS
from parsers.records import LineError

REAL_LOGS = sorted((FIXTURES / "real").glob("*/*.log"))
EXIT_CODES = {0, 3, 4}
"""parse's documented exit codes for a log it could open (README, "Exit codes")."""

NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(
        [
            "9" * 30,
            "9" * 310,
            "1" * 5000,
            "-1",
            "-9223372036.854776",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e309",
            "0.000",
            "100.01",
            "5124095573468383",
        ]
    ),
)
NAMES = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["db@prod", "s3:eu", "a@b@c", 'quo"te', "back\\slash", "new\nline", "é"]),
)
TEMPLATES = [
    "Files:        {0} new,     {1} changed,     {2} unmodified",
    "Dirs:          {0} new,     {1} changed,     {2} unmodified",
    "Data Blobs:      {0} new",
    "Added to the repository: {0}.{1} MiB ({2} KiB stored)",
    "processed {0} files, {1} MiB in {2}:{3}",
    "processed {0} files, {1} B in {2}:13:00",
    "[{0}:{1}] {2}.00%  {0} files {1} MiB, total {2} files {0} GiB, {1} errors ETA {2}:00",
    "[{0}:04] {1} files {2} MiB, total {0} files {1} MiB, {2} errors",
    "scan finished in {0}s: {1} files, {2} MiB",
    "found {0} of {1} data blobs still in use, removing {2} blobs",
    "remaining:          {0} blobs / {1} MiB",
    "keep {0} snapshots:",
    "remove {0} snapshots:",
    "Snapshots processed:   {0}",
    "   Total File Count:   {0}",
    "         Total Size:   {0} MiB",
    "Compression Progress: {0}%",
    "Compression Ratio: {0}x",
    "Compression Space Saving: {0}%",
    "exit status {0}",
    "lock was created at 2026-12-04 15:00:22 ({0}.{1}ms ago)",
    "unable to create lock in backend: repository is already locked by PID {0} on h by u",
    '{{"message_type":"status","percent_done":{0},"total_bytes":{1},"bytes_done":{2},'
    '"seconds_elapsed":{0},"seconds_remaining":{1}}}',
    '{{"message_type":"summary","files_new":{0},"files_changed":{1},"files_unmodified":{2},'
    '"dirs_new":0,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":{0},"tree_blobs":{1},'
    '"data_added":{2},"total_files_processed":{0},"total_bytes_processed":{1},'
    '"total_duration":{2},"snapshot_id":"ab12cd34"}}',
    '{{"message_type":"summary","num_errors":{0}}}',
    '{{"message_type":"exit_error","code":{0},"message":"Fatal: x"}}',
    '{{"total_size":{0},"total_file_count":{1},"compression_progress":{2}}}',
]
HOSTILE_LINES = st.one_of(
    st.builds(
        lambda template, a, b, c, d: template.format(a, b, c, d),
        st.sampled_from(TEMPLATES),
        NUMBERS,
        NUMBERS,
        NUMBERS,
        NUMBERS,
    ),
    st.builds(lambda name: f'    Backing up location "{name}"    ', NAMES),
    st.builds(lambda name: f"Backend: {name}", NAMES),
    st.builds(lambda a, b: f"{a}@{b}:", NAMES, NAMES),
    st.text(max_size=80),
)


def _check_values(value: object, path: str = "event") -> None:
    """Every number in an event is finite and non-negative, every ratio at most 1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        assert math.isfinite(value) and value >= 0, f"{path} = {value!r}"
        name = path.rsplit(".", 1)[-1]
        if (name == "ratio_done" or name.endswith("_ratio")) and name != "compression_ratio":
            assert value <= 1, f"{path} = {value!r}"
        return
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        _check_values(value[1], f"{path}.{value[0]}")  # stats' (field, value) pairs
        return
    if isinstance(value, tuple | list):
        for index, item in enumerate(value):
            _check_values(item, f"{path}[{index}]")
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _check_values(getattr(value, field.name), f"{path}.{field.name}")


LINE_PARSERS = [
    pytest.param(backup_log.parse_line, id="backup"),
    *(pytest.param(command.parse_line, id=command.name) for command in COMMANDS),
]


@pytest.mark.parametrize("parse_line", LINE_PARSERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=HOSTILE_LINES)
def test_a_line_parser_gives_sane_events_or_a_line_error(parse_line: object, line: str) -> None:
    assert callable(parse_line)
    try:
        events = parse_line(line, 1)
    except LineError:
        return
    _check_values(events)


@settings(max_examples=150, deadline=None)
@given(line=HOSTILE_LINES)
def test_autorestic_lines_never_raise(line: str) -> None:
    event = autorestic.parse_line(line)
    if isinstance(event, autorestic.ExitStatus) and event.code is not None:
        assert 0 <= event.code <= 255


def _mutate(data: st.DataObject) -> bytes:
    """A real log with lines cut, duplicated, reordered, and hostile bytes or lines put in."""
    log = data.draw(st.sampled_from(REAL_LOGS), label="log")
    lines = log.read_bytes().split(b"\n")
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        if not lines:
            break
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(
            st.sampled_from(["cut", "dup", "swap", "nul", "latin1", "ansi", "hostile", "trunc"])
        )
        if action == "cut":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "swap":
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == "nul":
            lines[index] = lines[index][:3] + b"\x00" + lines[index][3:]
        elif action == "latin1":
            lines[index] = lines[index] + b"\xe9\xff\xfe"
        elif action == "ansi":
            lines[index] = b"\x1b[2K\x1b[1;36m" + lines[index] + b"\x1b[0m"
        elif action == "hostile":
            lines.insert(index, data.draw(HOSTILE_LINES).encode("utf-8", "surrogatepass"))
        else:
            lines = lines[: index + 1]
    return b"\n".join(lines)


def _check_prom(text: str) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = sample.value
            assert math.isfinite(value), f"{sample}"
            assert value >= 0, f"{sample}"
            if sample.name.endswith(("_ratio", "_success")) and "compression_ratio" not in (
                sample.name
            ):
                assert value <= 1, f"{sample}"
            if sample.name.endswith("_timestamp_seconds"):
                assert value > 0, f"{sample}"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_parse_of_a_mutated_real_log_never_crashes(data: st.DataObject, tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    prom = tmp_path / "restic.prom"
    log.write_bytes(_mutate(data))
    options = data.draw(
        st.sampled_from([[], ["--exit-code", "0"], ["--exit-code", "3"], ["--exit-code", "130"]])
    )
    result = CliRunner().invoke(
        app, ["parse", str(log), "-o", str(prom), *options], env={"EXIT_STATUS": None}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in EXIT_CODES, result.output
    _check_prom(prom.read_text())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(HOSTILE_LINES, max_size=12))
def test_parse_of_hostile_lines_never_crashes(lines: list[str], tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    prom = tmp_path / "restic.prom"
    log.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    result = CliRunner().invoke(
        app, ["parse", str(log), "-o", str(prom)], env={"EXIT_STATUS": None}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in EXIT_CODES, result.output
    _check_prom(prom.read_text())
