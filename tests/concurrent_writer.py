"""One writer of a shared output, as `exporter.outputs.TextfileOutput` will be: for `rounds`
rounds, under `output_lock`, read the previous last success, wait a random moment, and write
max(previous, its own time) if its "backup" succeeded, else the previous value again.  Each round
appends ``read written`` to a journal while still holding the lock, so the journal is the order
in which the lock was held.

Usage: python concurrent_writer.py OUTPUT JOURNAL ROUNDS SEED
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily

from exporter.catalogue import BACKUP_LAST_SUCCESS
from exporter.exposition import exposition_text, metrics_registry
from exporter.previous import read_previous
from exporter.textfile import output_lock, write_textfile

PADDING = 300  # label sets, so that a torn file would show


def metrics(last_success: float) -> bytes:
    family = GaugeMetricFamily(BACKUP_LAST_SUCCESS.name, "help", labels=["backup"])
    family.add_metric(["home"], last_success)
    padding = GaugeMetricFamily("padding", "help", labels=["n"])
    for index in range(PADDING):
        padding.add_metric([str(index)], last_success)
    return exposition_text(metrics_registry([family, padding]))


def main() -> None:
    output, journal, rounds, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    chance = random.Random(seed)
    for _ in range(rounds):
        own = time.time()  # when this run's backup "ended", taken before the lock as a real run
        with output_lock(output):
            previous = read_previous(output, time.time()).last_success_for({"backup": "home"})
            read = previous or 0.0
            time.sleep(chance.uniform(0, 0.003))
            written = max(read, own) if chance.random() < 0.5 else read
            write_textfile(output, metrics(written))
            with open(journal, "a") as out:
                out.write(f"{os.getpid()} {read!r} {written!r}\n")


if __name__ == "__main__":
    main()
