"""Metric families to a prometheus_client registry, and a registry to exposition text.

The registry is built in this one place: the textfile writer renders it, and the push functions
of prometheus_client (``push_to_gateway`` and the like) take it as it is.  No sample carries a
timestamp (node_exporter rejects a ``.prom`` file that has one) and no ``_created`` series is
made: the families are plain gauges, collected as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from prometheus_client.core import CollectorRegistry, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector


class _StaticCollector(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def metrics_registry(families: Iterable[Metric]) -> CollectorRegistry:
    """A private registry that collects exactly `families`, less any sample whose value is not
    a finite number: a NaN or an infinity is never published (the families should never make
    one; this is the last line of defence, not the rule)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(_finite(family) for family in families))
    return registry


def _finite(family: Metric) -> Metric:
    if all(math.isfinite(sample.value) for sample in family.samples):
        return family
    kept = Metric(family.name, family.documentation, family.type, family.unit)
    kept.samples = [sample for sample in family.samples if math.isfinite(sample.value)]
    return kept


def exposition_text(registry: CollectorRegistry) -> bytes:
    """Prometheus text exposition (what node_exporter reads) of everything `registry` holds."""
    return generate_latest(registry)
