"""The one registry every output publishes: exactly the families given, never a non-finite
value, never a sample timestamp."""

from __future__ import annotations

import math

import pytest
from conftest import promtool_check
from prometheus_client.core import GaugeMetricFamily

from exporter.exposition import exposition_text, metrics_registry


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_value_that_is_not_finite_is_never_published(bad: float) -> None:
    family = GaugeMetricFamily("restic_backup_added_bytes", "Bytes added.", labels=["backup"])
    family.add_metric(["good"], 1024)
    family.add_metric(["bad"], bad)
    text = exposition_text(metrics_registry([family]))
    promtool_check(text)
    assert b'restic_backup_added_bytes{backup="good"} 1024.0' in text
    assert b'backup="bad"' not in text


def test_the_registry_collects_exactly_the_families_and_no_timestamps() -> None:
    family = GaugeMetricFamily("restic_backup_success", "1 if it worked.", value=1)
    text = exposition_text(metrics_registry([family]))
    assert text == (
        b"# HELP restic_backup_success 1 if it worked.\n"
        b"# TYPE restic_backup_success gauge\n"
        b"restic_backup_success 1.0\n"
    )
