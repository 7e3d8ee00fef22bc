"""Byte sizes and durations as restic (and tools around it) print them, converted to base units.

Every conversion goes through one small pint registry that knows only what logs contain:
bytes with binary prefixes (``B``, ``KiB`` .. ``PiB``, as restic prints them) and decimal ones
(``kB`` .. ``PB``, as other tools print them), and seconds, minutes, hours.  The registry is built
on first use, not at import, and holds a dozen definitions instead of pint's thousand.

Samples::

    to_bytes("3.329 MiB")  -> 3490710
    to_bytes("0 B")        -> 0
    to_bytes("1.5 GB")     -> 1500000000
    to_seconds("0:02")     -> 2.0       restic's M:SS
    to_seconds("1:02:03")  -> 3723.0    H:MM:SS
    to_seconds("30:00:00") -> 108000.0  hours go past 24; restic never prints days
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

_DEFINITIONS = (
    "byte = [information] = B",
    "second = [time] = s",
    "minute = 60 * second = min",
    "hour = 60 * minute = h",
    "kibi- = 1024 = Ki-",
    "mebi- = 1024**2 = Mi-",
    "gibi- = 1024**3 = Gi-",
    "tebi- = 1024**4 = Ti-",
    "pebi- = 1024**5 = Pi-",
    "kilo- = 1000 = k-",
    "mega- = 1000**2 = M-",
    "giga- = 1000**3 = G-",
    "tera- = 1000**4 = T-",
    "peta- = 1000**5 = P-",
)

# A size as the line patterns embed it: "3.329 MiB", "0 B", "1.5 GB" (binary or decimal units).
SIZE_PATTERN = r"\d+(?:\.\d+)?\s?(?:[KMGTP]i|[kMGTP])?B"

# "3.329 MiB", "0 B", "1.5GB": a non-negative number, optional blanks, a unit made of letters.
SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]+)\s*$")

# "0:02", "12:34", "1:02:03", "30:00:00"
DURATION = re.compile(r"^\s*(?:(?P<hours>\d+):)?(?P<minutes>\d+):(?P<seconds>\d{2})\s*$")


# Go's time.Duration.String(): "378.157569ms", "1.025516805s", "1h2m3.5s", "2m0s", "5µs"
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|μs|ns))+$")
_GO_DURATION_PART = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>h|ms|m|s|us|µs|μs|ns)")
_GO_UNIT_SECONDS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
}

MAX_COUNT = 2**63 - 1
"""No count restic prints exceeds Go's int64; a larger one is not restic's."""
MAX_BYTES = 2**63 - 1
"""Sizes too: restic's are int64 (8 EiB)."""
MAX_DURATION_SECONDS = 10 * 365.25 * 86400
"""No restic run takes ten years: a longer duration is restic's arithmetic gone wrong (0.18's
``--skip-if-unchanged`` prints ``5124095573468383:13:00``) and is dropped, not exported."""


class UnitError(ValueError):
    """A size or duration that looks like one but cannot be converted."""


@functools.cache
def _registry() -> Any:
    import pint  # imported on first use: the CLI's start-up should not pay for it

    registry: Any = pint.UnitRegistry(None)
    for definition in _DEFINITIONS:
        registry.define(definition)
    return registry


@functools.cache
def _bytes_per(unit: str) -> float:
    """How many bytes one `unit` is, asked of pint once per unit spelling."""
    import pint

    registry = _registry()
    try:
        return float(registry.Quantity(1, unit).to("byte").magnitude)
    except (pint.errors.UndefinedUnitError, pint.errors.DimensionalityError) as error:
        raise UnitError(f"not a byte unit: {unit!r}") from error


@functools.cache
def _seconds_per(unit: str) -> float:
    return float(_registry().Quantity(1, unit).to("second").magnitude)


def to_count(text: str) -> int:
    """A printed count (digits only) that fits restic's int64; UnitError beyond it (without
    converting thousands of digits: Python refuses ints of more than 4300 digits)."""
    digits = text.strip().lstrip("0") or "0"
    if not digits.isdigit() or len(digits) > 19 or int(digits) > MAX_COUNT:
        raise UnitError(f"not a count restic prints: {text[:40]!r}")
    return int(digits)


def to_bytes(text: str) -> int:
    """Convert a printed size such as ``"3.329 MiB"`` into a whole number of bytes."""
    match = SIZE.match(text)
    if match is None:
        raise UnitError(f"not a size: {text[:40]!r}")
    number = match["number"]
    if len(number) > 40:
        raise UnitError(f"not a size restic prints: {text[:40]!r}...")
    value = float(number) * _bytes_per(match["unit"])
    if not math.isfinite(value) or value > MAX_BYTES:
        raise UnitError(f"not a size restic prints: {text[:40]!r}...")
    return round(value)


def to_go_seconds(text: str) -> float:
    """Convert Go's ``time.Duration`` text (``"378.157569ms"``, ``"1h2m3.5s"``) into seconds."""
    if len(text) > 80 or not GO_DURATION.match(text):
        raise UnitError(f"not a Go duration: {text[:40]!r}")
    seconds = sum(
        float(part["number"]) * _GO_UNIT_SECONDS[part["unit"]]
        for part in _GO_DURATION_PART.finditer(text)
    )
    if not math.isfinite(seconds):
        raise UnitError(f"not a Go duration: {text[:40]!r}")
    return seconds


def plausible_seconds(seconds: float | None) -> float | None:
    """`seconds` if a run could have taken that long (finite, 0 to ten years), else None."""
    if seconds is None or not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION_SECONDS:
        return None
    return seconds


def to_seconds(text: str) -> float:
    """Convert restic's ``M:SS`` or ``H:MM:SS`` into seconds."""
    match = DURATION.match(text) if len(text) <= 60 else None
    if match is None:
        raise UnitError(f"not a duration: {text[:40]!r}")
    if int(match["seconds"]) >= 60 or (match["hours"] is not None and int(match["minutes"]) >= 60):
        raise UnitError(f"not a duration: {text!r}")
    return (
        int(match["hours"] or 0) * _seconds_per("hour")
        + int(match["minutes"]) * _seconds_per("minute")
        + int(match["seconds"]) * _seconds_per("second")
    )
