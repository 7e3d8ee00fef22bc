"""What many tests need: the samples of a ``.prom`` text, one value of it, and waiting on a
condition with a deadline (never a fixed sleep standing in for "nothing happened")."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample with exactly these labels; None when there is none."""
    return samples(text).get((name, tuple(sorted(labels.items()))))


def metric(prom: Path, name: str, **labels: str) -> float | None:
    """`value` of a file that may not exist yet."""
    try:
        return value(prom.read_text(), name, **labels)
    except FileNotFoundError:
        return None


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the metrics file did not change in time")
        time.sleep(0.02)
