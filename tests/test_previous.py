"""read_previous trusts only a file this exporter could have written, and no content at all, from
a 400-digit number to 4 MiB of binary, makes it raise or carry an impossible time forward."""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.previous import CLOCK_DRIFT_SECONDS, MAX_PREVIOUS_FILE_BYTES, read_previous

NOW = 1_700_000_000.0
NAME = "restic_backup_last_success_timestamp_seconds"
HEADER = f"# HELP {NAME} x\n# TYPE {NAME} gauge\n"


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """Outside tmp_path: hostile .prom files must not meet the promtool check of every test."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def _carried(scratch: Path, data: bytes) -> dict[frozenset[tuple[str, str]], float]:
    path = scratch / "hostile.prom"
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    return read_previous(path, NOW).last_success


@pytest.mark.parametrize(
    ("value", "carried"),
    [
        ("1699999999", 1699999999.0),
        ("9" * 400, None),  # used to raise OverflowError in every later run
        ("-" + "9" * 400, None),
        ("1e400", None),
        ("NaN", None),
        ("+Inf", None),
        ("-Inf", None),
        ("-5", None),
        ("0", None),
        (str(NOW + CLOCK_DRIFT_SECONDS + 1), None),
        ("0x10", None),
    ],
)
def test_only_a_finite_positive_past_time_is_carried(
    scratch: Path, value: str, carried: float | None
) -> None:
    got = _carried(scratch, f'{HEADER}{NAME}{{backup="home"}} {value}\n'.encode())
    assert got.get(frozenset({("backup", "home")})) == carried


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff" * 1000,
        b"garbage\n",
        HEADER.encode() + b"restic_backup_last_success_timestamp_seconds{\n",
        HEADER.encode() + b'restic_backup_last_success_timestamp_seconds{a="\xff"} 1\n',
        b"{" * 100_000,
        HEADER.encode() + b"x" * (MAX_PREVIOUS_FILE_BYTES + 1),
    ],
    ids=["binary", "garbage", "cut", "not utf-8", "deep", "5 MB"],
)
def test_hostile_content_carries_nothing_and_says_so(scratch: Path, data: bytes) -> None:
    path = scratch / "hostile.prom"
    path.write_bytes(data)
    previous = read_previous(path, NOW)
    assert previous.last_success == {} and previous.backup_label_sets == ()
    assert previous.warning is not None and str(path) in previous.warning
    assert previous.warning.isprintable()  # hostile bytes are escaped before a terminal sees them


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**500), max_value=10**500).map(str),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e999", "0x1p3", "", "1_0", "٣"]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_values, min_size=1, max_size=5), scratch_name=st.just("p"))
def test_any_value_is_carried_only_if_it_is_a_plausible_time(
    values: list[str], scratch_name: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{scratch_name}.prom"
        lines = "".join(f'{NAME}{{n="{i}"}} {value}\n' for i, value in enumerate(values))
        path.write_text(HEADER + lines, encoding="utf-8", errors="surrogateescape")
        carried = read_previous(path, NOW).last_success
    for value in carried.values():
        assert math.isfinite(value) and 0 < value <= NOW + CLOCK_DRIFT_SECONDS


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4096) | st.text(max_size=2000).map(str.encode))
def test_any_bytes_at_all_never_raise(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "p.prom"
        path.write_bytes(HEADER.encode() + data)
        previous = read_previous(path, NOW)
    for value in previous.last_success.values():
        assert math.isfinite(value) and 0 < value <= NOW + CLOCK_DRIFT_SECONDS


def test_a_symlink_fifo_or_hard_linked_file_is_not_trusted(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text(f"{HEADER}{NAME} 1699999999\n")
    assert read_previous(good, NOW).last_success  # the control: our own file is carried
    (tmp_path / "link.prom").symlink_to(good)
    os.mkfifo(tmp_path / "fifo.prom")
    os.link(good, tmp_path / "hard.txt")
    started = time.monotonic()
    for name, complaint in [
        ("link.prom", "is a symbolic link"),
        ("fifo.prom", "is not a regular file"),
        ("hard.txt", "has 2 hard links"),
    ]:
        previous = read_previous(tmp_path / name, NOW)
        assert previous.last_success == {}
        assert previous.warning is not None and complaint in previous.warning
    assert time.monotonic() - started < 5  # the FIFO was not waited on
    (tmp_path / "link.prom").unlink()
    (tmp_path / "fifo.prom").unlink()


def test_a_missing_file_is_a_first_run_without_a_warning(tmp_path: Path) -> None:
    assert read_previous(tmp_path / "none.prom", NOW).warning is None
    assert read_previous(tmp_path / "no-dir" / "none.prom", NOW).warning is None
    assert read_previous(None, NOW).warning is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user owns")
def test_another_users_file_is_not_trusted(tmp_path: Path) -> None:
    forged = tmp_path / "forged.txt"
    forged.write_text(f"{HEADER}{NAME} 1699999999\n")
    os.chown(forged, 65534, 65534)
    previous = read_previous(forged, NOW)
    assert previous.last_success == {}
    assert previous.warning is not None and "owned by uid 65534" in previous.warning
