"""The real node_exporter reads what we write: several jobs' files in one textfile directory,
hostile label values included, without a scrape error."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES, require_program
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, http_get, running
from typer.testing import CliRunner

from exporter.cli import app


def test_node_exporter_serves_every_jobs_metrics(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    jobs = {
        "home": FIXTURES / "restic-0.14" / "backup1.log",
        "etc": FIXTURES / "restic-0.14" / "fatal_pw.log",
        'we"ird\\job\nname': FIXTURES / "versions" / "v0.18.0-partial.json",
    }
    for index, (job, log) in enumerate(jobs.items()):
        result = CliRunner().invoke(
            app, ["parse", str(log), "-o", str(textfiles / f"job{index}.prom"), "-l", f"job={job}"]
        )
        assert result.exit_code == 0, result.output

    port = free_port()
    command = [
        require_program("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfiles}",
    ]
    url = f"http://127.0.0.1:{port}/metrics"
    with running(command, url, tmp_path / "node_exporter.log"):
        scraped = http_get(url)

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    success = {
        dict(labels)["job"]: value
        for (name, labels), value in samples.items()
        if name == "restic_backup_success"
    }
    assert success == {"home": 1.0, "etc": 0.0, 'we"ird\\job\nname': 0.0}
    # All three files were read, and none of them made the collector report an error.
    mtimes = {
        dict(labels)["file"]
        for (name, labels), _ in samples.items()
        if name == "node_textfile_mtime_seconds"
    }
    assert {Path(f).name for f in mtimes} == {"job0.prom", "job1.prom", "job2.prom"}
    assert samples[("node_textfile_scrape_error", ())] == 0.0
