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


def to_bytes(text: str) -> int:
    """Convert a printed size such as ``"3.329 MiB"`` into a whole number of bytes."""
    match = SIZE.match(text)
    if match is None:
        raise UnitError(f"not a size: {text!r}")
    value = float(match["number"]) * _bytes_per(match["unit"])
    if not math.isfinite(value):
        raise UnitError(f"not a size: {text[:40]!r}...")
    return round(value)


def to_seconds(text: str) -> float:
    """Convert restic's ``M:SS`` or ``H:MM:SS`` into seconds."""
    match = DURATION.match(text)
    if match is None:
        raise UnitError(f"not a duration: {text!r}")
    if int(match["seconds"]) >= 60 or (match["hours"] is not None and int(match["minutes"]) >= 60):
        raise UnitError(f"not a duration: {text!r}")
    return (
        int(match["hours"] or 0) * _seconds_per("hour")
        + int(match["minutes"]) * _seconds_per("minute")
        + int(match["seconds"]) * _seconds_per("second")
    )
