"""No torn reads under load: the real node_exporter scraped in a tight loop while writers
replace the metrics file thousands of times.  Every scrape sees one whole file, old or new: the
collector never reports an error and the backup's metrics are always there, with one outcome."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from conftest import FIXTURES, require_program
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, running

from exporter.outputs import TextfileOutput
from exporter.pipeline import PublishOptions, publish
from exporter.reading import read_log

LOGS = [FIXTURES / "restic-0.14" / "backup1.log", FIXTURES / "restic-0.14" / "fatal_pw.log"]
WRITES = 600


def test_scrapes_never_see_a_torn_file(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    output = TextfileOutput(textfiles / "home.prom")
    readings = [read_log(str(log)) for log in LOGS]
    options = PublishOptions(labels={"backup": "home"})
    publish(readings[0], options, [output], time.time())
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    command = [
        require_program("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfiles}",
    ]
    done = threading.Event()
    written = [0]

    def write() -> None:
        for number in range(WRITES):
            publish(readings[number % 2], options, [output], time.time())
            written[0] += 1
        done.set()

    scrapes, outcomes = 0, set()
    with running(command, url, tmp_path / "node_exporter.log"):
        writer = threading.Thread(target=write)
        writer.start()
        try:
            while not done.is_set() or scrapes < 50:
                with urllib.request.urlopen(url, timeout=10) as response:
                    text = response.read().decode()
                samples = {
                    sample.name: sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name.startswith(("restic_backup_success", "node_textfile_scrape"))
                }
                assert samples["node_textfile_scrape_error"] == 0, text
                outcomes.add(samples["restic_backup_success"])
                scrapes += 1
        finally:
            writer.join()
    assert written[0] == WRITES
    assert outcomes == {0.0, 1.0}  # both versions were seen, and nothing else
    print(f"{scrapes} scrapes during {WRITES} replacements: none torn")
