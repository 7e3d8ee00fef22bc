"""Pushing: the real Debian Pushgateway (plain, and behind TLS, a client certificate and basic
auth through its --web.config.file) and the real VictoriaMetrics, on loopback ports chosen here.
What was pushed is read back from the server itself."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, require_program
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, http_get, running
from typer.testing import CliRunner, Result

from exporter.cli import app
from exporter.errors import PushFailed
from exporter.exposition import metrics_registry
from exporter.push import PushgatewayOutput, PushSettings
from exporter.run_memory import RunMemory

GOOD_LOG = FIXTURES / "restic-0.14" / "backup1.log"
FAILED_LOG = FIXTURES / "restic-0.14" / "fatal_pw.log"
AUTORESTIC_LOG = FIXTURES / "autorestic" / "autorestic-1.8.3-ci.log"

PASSWORD = "correct horse battery"
# bcrypt of PASSWORD (4 rounds: the test's gateway checks it fast); the Pushgateway wants bcrypt.
PASSWORD_HASH = "$2b$04$MZIJtTBB4GQFfyy19tBQBODL1k4f5021Z4TvGkUWT7H40.vi7LmrS"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, ["parse", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": error: " in line]


@contextlib.contextmanager
def pushgateway(
    directory: Path, web_config: Path | None = None, context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """A real Pushgateway on a free loopback port; yields its URL."""
    port = free_port()
    command = [
        require_program("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    scheme = "http"
    headers = None
    if web_config is not None:
        command.append(f"--web.config.file={web_config}")
        scheme = "https"
        headers = {
            "Authorization": "Basic " + base64.b64encode(f"backup:{PASSWORD}".encode()).decode()
        }
    url = f"{scheme}://127.0.0.1:{port}"
    log = directory / f"pushgateway-{port}.log"
    with running(command, f"{url}/-/ready", log, context=context, headers=headers):
        yield url


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One plain Pushgateway for the module: each test pushes its own grouping key."""
    with pushgateway(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


def test_push_reaches_the_gateway_under_the_grouping_key(gateway: str) -> None:
    result = invoke(
        str(GOOD_LOG), "--push", gateway, "--label", "backup=first", "--grouping", "instance=nas"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "", "with --push and no --output nothing goes to stdout"
    assert f"pushed to {gateway}" in result.stderr
    found = samples(http_get(f"{gateway}/metrics"))
    key = {"job": "restic", "instance": "nas", "backup": "first"}
    assert value(found, "restic_backup_success", **key) == 1
    assert value(found, "restic_backup_added_bytes", **key) == 126837850
    assert value(found, "restic_backup_files", state="new", **key) == 4838
    assert value(found, "push_time_seconds", **key) is not None
    # The group's own URL is the grouping key asked for.
    group = http_get(f"{gateway}/api/v1/metrics")
    assert '"backup":"first","instance":"nas","job":"restic"' in group.replace(" ", "")


def test_two_backups_and_each_autorestic_location_are_groups_of_their_own(gateway: str) -> None:
    for backup in ("home", "media"):
        result = invoke(
            str(GOOD_LOG),
            "--push",
            gateway,
            "--label",
            f"backup={backup}",
            "--grouping",
            "instance=two",
        )
        assert result.exit_code == 0, result.output
    result = invoke(str(AUTORESTIC_LOG), "--push", gateway, "--grouping", "instance=two")
    assert result.exit_code == 0, result.output
    found = samples(http_get(f"{gateway}/metrics"))
    for backup in ("home", "media"):
        assert value(found, "push_time_seconds", job="restic", instance="two", backup=backup)
        assert value(found, "restic_backup_success", job="restic", instance="two", backup=backup)
    for location, backend in (("etc", "local"), ("home", "local"), ("home", "remote")):
        key = {"job": "restic", "instance": "two", "location": location, "backend": backend}
        assert value(found, "push_time_seconds", **key), "one group per location and backend"
        assert value(found, "restic_backup_success", **key) == 1


def test_a_failed_run_replaces_the_group_and_keeps_the_last_success(gateway: str) -> None:
    """PUT: the failed run's absent values are gone; the last success, read back from the
    gateway (no textfile), survives."""
    key = {"job": "restic", "instance": "nas", "backup": "failing"}
    args = ("--push", gateway, "--label", "backup=failing", "--grouping", "instance=nas")
    assert invoke(str(GOOD_LOG), *args).exit_code == 0
    good = value(
        samples(http_get(f"{gateway}/metrics")),
        "restic_backup_last_success_timestamp_seconds",
        **key,
    )
    assert good is not None
    result = invoke(str(FAILED_LOG), *args)
    assert result.exit_code == 0, result.output
    assert "backup failed" in result.stderr
    found = samples(http_get(f"{gateway}/metrics"))
    assert value(found, "restic_backup_success", **key) == 0
    assert value(found, "restic_backup_added_bytes", **key) is None
    assert value(found, "restic_backup_files", state="new", **key) is None
    assert value(found, "restic_backup_last_success_timestamp_seconds", **key) == good


def test_post_merges_what_put_replaces(gateway: str) -> None:
    key = {"job": "restic", "instance": "nas", "backup": "posted"}
    args = ("--push", gateway, "--label", "backup=posted", "--grouping", "instance=nas")
    assert invoke(str(GOOD_LOG), *args).exit_code == 0
    assert invoke(str(FAILED_LOG), *args, "--push-method", "post").exit_code == 0
    found = samples(http_get(f"{gateway}/metrics"))
    assert value(found, "restic_backup_success", **key) == 0, "the metrics pushed replace"
    assert value(found, "restic_backup_added_bytes", **key) == 126837850, "the others stay"


def test_delete_removes_only_its_group(gateway: str) -> None:
    for backup in ("doomed", "kept"):
        args = ("--push", gateway, "--label", f"backup={backup}", "--grouping", "instance=del")
        assert invoke(str(GOOD_LOG), *args).exit_code == 0
    result = invoke(
        "--push", gateway, "--push-delete", "--label", "backup=doomed", "--grouping", "instance=del"
    )
    assert result.exit_code == 0, result.output
    found = samples(http_get(f"{gateway}/metrics"))
    assert value(found, "push_time_seconds", job="restic", instance="del", backup="doomed") is None
    assert value(found, "push_time_seconds", job="restic", instance="del", backup="kept")


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: Path
    server_key: Path
    client: Path
    client_key: Path


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, by openssl."""
    openssl = require_program("openssl")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True, timeout=30)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run(
        "req",
        "-x509",
        *key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
    )
    for name, extensions in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        (directory / f"{name}.ext").write_text(extensions)
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        )  # fmt: skip
    return Certificates(
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
        directory / "client.crt",
        directory / "client.key",
    )


def test_https_with_a_client_certificate_and_basic_auth(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    web_config = tmp_path / "web.yml"
    web_config.write_text(
        json.dumps(
            {
                "tls_server_config": {
                    "cert_file": str(certificates.server),
                    "key_file": str(certificates.server_key),
                    "client_auth_type": "RequireAndVerifyClientCert",
                    "client_ca_file": str(certificates.ca),
                },
                "basic_auth_users": {"backup": PASSWORD_HASH},
            }
        )
    )
    context = ssl.create_default_context(cafile=str(certificates.ca))
    context.load_cert_chain(str(certificates.client), str(certificates.client_key))
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    with pushgateway(tmp_path, web_config, context) as url:
        tls = (
            "--push", url, "--push-user", "backup", "--push-ca-file", str(certificates.ca),
            "--push-client-cert", str(certificates.client),
            "--push-client-key", str(certificates.client_key), "--grouping", "instance=tls",
        )  # fmt: skip
        result = invoke(
            str(GOOD_LOG),
            *tls,
            "--label",
            "backup=file",
            "--push-password-file",
            str(password_file),
        )
        assert result.exit_code == 0, result.output
        result = invoke(
            str(FAILED_LOG), *tls, "--label", "backup=env",
            env={"RESTIC_EXPORTER_PUSH_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        headers = {
            "Authorization": "Basic " + base64.b64encode(f"backup:{PASSWORD}".encode()).decode()
        }
        found = samples(http_get(f"{url}/metrics", context=context, headers=headers))
        assert (
            value(found, "restic_backup_success", job="restic", instance="tls", backup="file") == 1
        )
        assert (
            value(found, "restic_backup_success", job="restic", instance="tls", backup="env") == 0
        )

        wrong = invoke(
            str(GOOD_LOG),
            *tls,
            "--label",
            "backup=wrong",
            env={"RESTIC_EXPORTER_PUSH_PASSWORD": "nope"},
        )
        assert wrong.exit_code == PushFailed.exit_code == 6
        assert len(error_lines(wrong)) == 1, wrong.stderr
        assert "HTTP 401" in wrong.stderr and "wrong --push-user or password" in wrong.stderr
        assert PASSWORD not in wrong.stderr and "nope" not in wrong.stderr

        untrusted = invoke(
            str(GOOD_LOG), "--push", url, "--push-user", "backup",
            "--push-password-file", str(password_file), "--label", "backup=untrusted",
        )  # fmt: skip
        assert untrusted.exit_code == 6
        assert len(error_lines(untrusted)) == 1, untrusted.stderr
        assert f"{url}" in untrusted.stderr and "certificate is not trusted" in untrusted.stderr

        # A watch job pushes the same way, from its push_* keys.
        from exporter.config import load_config
        from exporter.watch_job import JobRunner

        config = tmp_path / "exporter.toml"
        config.write_text(
            f'[[job]]\nlog = "{GOOD_LOG}"\noutput = "{tmp_path / "w.prom"}"\n'
            f'labels = {{ backup = "watched" }}\npush = ["{url}"]\npush_user = "backup"\n'
            f'push_password_file = "{password_file}"\npush_ca_file = "{certificates.ca}"\n'
            f'push_client_cert = "{certificates.client}"\n'
            f'push_client_key = "{certificates.client_key}"\npush_timeout_seconds = 5\n'
        )
        (job,) = load_config(config).jobs
        runner = JobRunner(job, None)
        try:
            runner.refresh(time.time(), lambda: False)
        finally:
            runner.close()
        found = samples(http_get(f"{url}/metrics", context=context, headers=headers))
        key = {"job": "restic", "instance": socket.gethostname(), "backup": "watched"}
        assert value(found, "restic_backup_success", **key) == 1
        assert "--push-ca-file" in untrusted.stderr


def test_a_stopped_gateway_does_not_stop_the_other_one_or_the_textfile(
    gateway: str, tmp_path: Path
) -> None:
    stopped = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    output = tmp_path / "restic.prom"
    result = invoke(
        str(GOOD_LOG), "--output", str(output), "--push", stopped, "--push", gateway,
        "--push-retries", "0", "--label", "backup=redundant", "--grouping", "instance=nas",
    )  # fmt: skip
    assert result.exit_code == 6, result.output
    assert error_lines(result) == [
        f"restic-textfile-exporter: error: cannot push to {stopped}: connection refused "
        "(is the gateway running?)"
    ]
    assert f"wrote {output}; pushed to {gateway}; push to {stopped} FAILED" in result.stderr
    written = samples(output.read_text())
    assert value(written, "restic_backup_success", backup="redundant") == 1
    pushed = samples(http_get(f"{gateway}/metrics"))
    assert (
        value(pushed, "restic_backup_success", job="restic", instance="nas", backup="redundant")
        == 1
    )


def test_a_gateway_that_never_answers_is_bounded_by_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the connection; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = invoke(
            str(GOOD_LOG), "--push", url, "--push-timeout", "0.5", "--push-retries", "0",
            "--label", "backup=silent",
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.exit_code == 6, result.output
    assert error_lines(result) == [
        f"restic-textfile-exporter: error: cannot read the last success back from {url}: "
        "no answer within 0.5 s"
    ], "not pushed either: a PUT without the last success would erase it"
    assert elapsed < 5


def test_retries_are_bounded_and_back_off() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = PushSettings(grouping={"instance": "x"}, retries=2, backoff_seconds=0.1)
    output = PushgatewayOutput(url, settings, {}, read_back=False)
    started = time.monotonic()
    with pytest.raises(PushFailed, match=r"\(after 3 attempts\): connection refused") as raised:
        output.publish(metrics_registry(()), RunMemory())
    assert 0.3 <= time.monotonic() - started < 5, "waited 0.1 s, then 0.2 s"
    assert raised.value.gateway == url


def test_victoria_metrics_receives_the_push_and_serves_it_back(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        require_program("victoria-metrics"),
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={tmp_path / 'vm-data'}",
        "-search.latencyOffset=0s",
        "-search.disableCache",
    ]
    with running(command, f"{base}/health", tmp_path / "victoria-metrics.log"):
        result = invoke(
            str(GOOD_LOG), "--push", f"{base}/api/v1/import/prometheus",
            "--label", "backup=home", "--grouping", "instance=laptop",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "VictoriaMetrics cannot give the last success back" in result.stderr
        query = urllib.parse.urlencode({"query": 'restic_backup_added_bytes{job="restic"}'})
        deadline = time.monotonic() + 20
        while not (
            series := json.loads(http_get(f"{base}/api/v1/query?{query}"))["data"]["result"]
        ):
            assert time.monotonic() < deadline, "VictoriaMetrics never served the pushed series"
            time.sleep(0.1)
    assert series == [
        {
            "metric": {
                "__name__": "restic_backup_added_bytes",
                "job": "restic",
                "instance": "laptop",
                "backup": "home",
            },
            "value": [series[0]["value"][0], "126837850"],
        }
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--grouping", "job=x"), "the job is --push-job"),
        (("--grouping", "location=x"), "taken from the log"),
        (("--grouping", "backup=other", "--label", "backup=home"), "differs from --label"),
        (("--push-job", "a", "--label", "job=b"), "differs from --label job"),
        (("--push-user", "backup"), "needs both --push-user and a password"),
        (("--push-method", "patch"), "give put"),
        (("--push-timeout", "0"), "--push-timeout"),
    ],
)
def test_push_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = invoke(str(GOOD_LOG), "--push", "http://127.0.0.1:9", *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://backup:secret@127.0.0.1:9091", "no credentials in the URL"),
        ("ftp://127.0.0.1", "give an http:// or https:// URL"),
    ],
)
def test_push_urls_refused(url: str, message: str) -> None:
    result = invoke(str(GOOD_LOG), "--push", url)
    assert result.exit_code == 2 and message in result.stderr
    assert "secret" not in result.stderr


def test_push_delete_needs_a_push_and_no_log() -> None:
    assert invoke("--push-delete").exit_code == 2
    assert invoke(str(GOOD_LOG), "--push", "http://127.0.0.1:9", "--push-delete").exit_code == 2


def test_a_watch_job_pushes_beside_its_textfile(gateway: str, tmp_path: Path) -> None:
    from exporter.config import load_config
    from exporter.watch_job import JobRunner

    log = tmp_path / "home.log"
    log.write_bytes(GOOD_LOG.read_bytes())
    config = tmp_path / "exporter.toml"
    config.write_text(
        f'[[job]]\nlog = "{log}"\noutput = "{tmp_path / "home.prom"}"\n'
        f'labels = {{ backup = "watched" }}\npush = ["{gateway}"]\n'
    )
    (job,) = load_config(config).jobs
    runner = JobRunner(job, None)
    try:
        runner.refresh(time.time(), lambda: False)
    finally:
        runner.close()
    found = samples(http_get(f"{gateway}/metrics"))
    key = {"job": "restic", "instance": socket.gethostname(), "backup": "watched"}
    assert value(found, "restic_backup_success", **key) == 1
    assert (
        value(
            samples((tmp_path / "home.prom").read_text()), "restic_backup_success", backup="watched"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("keys", "complaint"),
    [
        ("push_timeout_seconds = 0\n", r"push_timeout_seconds: must be a number of seconds"),
        ('push_user = ""\n', r"push_user: must be a non-empty string"),
        ('push_password_file = "/no/such/file"\n', r"push: .*/no/such/file"),
    ],
)
def test_a_watch_jobs_push_keys_are_checked(tmp_path: Path, keys: str, complaint: str) -> None:
    from exporter.config import ConfigError, load_config

    config = tmp_path / "exporter.toml"
    config.write_text(
        f'[[job]]\nlog = "a.log"\noutput = "{tmp_path / "a.prom"}"\n'
        f'push = ["http://127.0.0.1:9"]\npush_user = "u"\n{keys}'.replace(
            'push_user = "u"\npush_user', "push_user"
        )
    )
    with pytest.raises(ConfigError, match=complaint):
        load_config(config)


def test_a_watch_job_push_url_is_checked(tmp_path: Path) -> None:
    from exporter.config import ConfigError, load_config

    config = tmp_path / "exporter.toml"
    config.write_text('[[job]]\nlog = "a.log"\noutput = "a.prom"\npush = ["ftp://gw"]\n')
    with pytest.raises(ConfigError, match=r":4: job #1: push: .*http:// or https://"):
        load_config(config)
