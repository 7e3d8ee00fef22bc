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

# A metrics file of ours is a few KiB; anything far larger is not ours and is not parsed.
MAX_PREVIOUS_FILE_BYTES = 4 * 1024 * 1024

_LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class PreviousMetrics:
    last_success: dict[_LabelSet, float] = field(default_factory=dict)
    backup_label_sets: tuple[dict[str, str], ...] = ()

    def last_success_for(self, labels: Mapping[str, str]) -> float | None:
        """The last-success timestamp written for exactly `labels`, if any."""
        return self.last_success.get(frozenset(labels.items()))


def read_previous(path: Path | None) -> PreviousMetrics:
    """What `path` held; nothing when it is missing, unreadable, too large or not ours."""
    if path is None:
        return PreviousMetrics()
    try:
        with path.open("rb") as previous:
            data = previous.read(MAX_PREVIOUS_FILE_BYTES + 1)
    except OSError:
        return PreviousMetrics()
    if len(data) > MAX_PREVIOUS_FILE_BYTES:
        return PreviousMetrics()
    last_success: dict[_LabelSet, float] = {}
    label_sets: list[dict[str, str]] = []
    try:
        for family in text_string_to_metric_families(data.decode("utf-8")):
            for sample in family.samples:
                if sample.name == BACKUP_LAST_SUCCESS.name:
                    value = float(sample.value)
                    if math.isfinite(value) and value > 0:
                        last_success[frozenset(sample.labels.items())] = value
                elif sample.name == BACKUP_SUCCESS.name:
                    label_sets.append(dict(sample.labels))
    except (ValueError, UnicodeDecodeError, IndexError, TypeError):
        return PreviousMetrics()
    return PreviousMetrics(last_success, tuple(label_sets))
