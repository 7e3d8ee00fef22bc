from __future__ import annotations

import pytest

from parsers.units import UnitError, to_bytes, to_seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 B", 0),
        ("1023 B", 1023),
        ("1024 B", 1024),  # restic <= 0.14 prints exactly 1 KiB like this
        ("1.000 KiB", 1024),
        ("3.329 MiB", 3490710),
        ("120.962 MiB", 126837850),
        ("1024.000 MiB", 1073741824),
        ("4.010 GiB", 4305704714),
        ("2048.000 TiB", 2251799813685248),
        ("1.5 PiB", 1688849860263936),
        ("1 kB", 1000),
        ("2.5 MB", 2500000),
        ("1.5 GB", 1500000000),
        ("3 TB", 3000000000000),
        ("0 B   ", 0),  # restic pads with %-5s
        ("12.5MiB", 13107200),
    ],
)
def test_sizes_become_bytes(text: str, expected: int) -> None:
    assert to_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "1.2.3 MiB", "-1 B", "3 KB", "2 XiB", "5 s", "1 min"])
def test_non_sizes_are_refused(text: str) -> None:
    with pytest.raises(UnitError):
        to_bytes(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:00", 0.0),
        ("0:02", 2.0),
        ("12:34", 754.0),
        ("59:59", 3599.0),
        ("1:02:03", 3723.0),
        ("24:00:00", 86400.0),
        ("30:00:05", 108005.0),  # restic has no days: hours go on past 24
        ("123:59:59", 446399.0),
    ],
)
def test_durations_become_seconds(text: str, expected: float) -> None:
    assert to_seconds(text) == expected


@pytest.mark.parametrize("text", ["", "5", "0:5", "0:60", "1:60:00", "a:bc", "1:02:03:04"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(UnitError):
        to_seconds(text)
