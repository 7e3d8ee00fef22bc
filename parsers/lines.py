"""What every line parser shares: turning a conversion failure into an error that names the
line, and reading a JSON line without trusting it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from parsers.records import LineError

EventT = TypeVar("EventT")


def converted(
    parse: Callable[[str], tuple[EventT, ...]], line: str, line_number: int
) -> tuple[EventT, ...]:
    """`parse(line)`, with a value that matched but cannot be converted (a unit pint does not
    know, a number too large for Python's int()) raised as a LineError naming the line."""
    try:
        return parse(line)
    except (ValueError, OverflowError) as error:
        raise LineError(line_number, line, str(error)) from None


def load_json(line: str) -> Any:
    """The JSON value of `line`, or None when it is not JSON (or nested or sized beyond reason)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None
