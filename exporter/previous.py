"""What must survive from one run of the exporter to the next, read back from the previous
``.prom`` file itself: the last successful backup's time per label set, and which autorestic
locations and backends it reported.  There is no state file to lose, and a failed backup does
not erase when the last good one happened."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue import BACKUP_LAST_SUCCESS, BACKUP_SUCCESS
from exporter.paths import read_own_file

# A metrics file of ours is a few KiB (a few hundred with many autorestic locations); anything
# far larger is not ours and is not parsed.
MAX_PREVIOUS_FILE_BYTES = 4 * 1024 * 1024

CLOCK_DRIFT_SECONDS = 3600.0

_LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class PreviousMetrics:
    last_success: dict[_LabelSet, float] = field(default_factory=dict)
    backup_label_sets: tuple[dict[str, str], ...] = ()
    warning: str | None = None
    """Why the file, or some of it, was not trusted: worth telling a user; None when all is well
    (also when there was no file: a first run)."""

    def last_success_for(self, labels: Mapping[str, str]) -> float | None:
        """The last-success timestamp written for exactly `labels`, if any."""
        return self.last_success.get(frozenset(labels.items()))


def read_previous(path: Path | None, now: float) -> PreviousMetrics:
    """What `path` held; nothing when it is missing, unreadable or too large, and nothing (with
    a warning) unless it is a file this exporter could have written: a regular file, not a
    symbolic link, with one link, owned by root or by us, reached through no other user's link.
    Times later than `now` (give or take a clock's drift), not finite or not positive are
    ignored: a garbled future value must not hold off a "backup too old" alert forever.  Never
    raises, whatever the file holds."""
    if path is None:
        return PreviousMetrics()
    data, reason = read_own_file(path, MAX_PREVIOUS_FILE_BYTES)
    warning = f"{reason}: {_LOST}" if reason else None
    if data is None:
        return PreviousMetrics(warning=warning)
    try:
        return _parse(data, now)
    except Exception as error:  # whatever the file holds must not stop a run
        # The parser's message quotes the file: hostile bytes are escaped and cut short.
        problem = ascii(str(error)[:120]) if str(error) else type(error).__name__
        return PreviousMetrics(warning=f"{path} is not a metrics file of ours: {problem}; {_LOST}")


_LOST = "no last success carried forward"


def _parse(data: bytes, now: float) -> PreviousMetrics:
    last_success: dict[_LabelSet, float] = {}
    label_sets: list[dict[str, str]] = []
    ignored = 0
    for family in text_string_to_metric_families(data.decode("utf-8")):
        for sample in family.samples:
            if sample.name == BACKUP_LAST_SUCCESS.name:
                value = _as_float(sample.value)
                if value is not None and 0 < value <= now + CLOCK_DRIFT_SECONDS:
                    last_success[frozenset(sample.labels.items())] = value
                else:
                    ignored += 1
            elif sample.name == BACKUP_SUCCESS.name:
                label_sets.append(dict(sample.labels))
    warning = None
    if ignored:
        warning = f"ignored {ignored} last-success time(s) that were not a time before now"
    return PreviousMetrics(last_success, tuple(label_sets), warning)


def _as_float(value: object) -> float | None:
    """A finite float, or None: the parser may hand back a 400-digit int."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
