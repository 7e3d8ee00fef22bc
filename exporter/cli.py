"""The ``restic-textfile-exporter`` command.  Commands only gather options and call the library;
every ExporterError becomes its exit code here, as one line on stderr, never a traceback.

Start-up is most of what a one-shot ``parse`` costs, so this module imports only what every
command needs; each command imports the rest itself (``parse`` never loads the config, the push,
ping or watch modules).  No ``from __future__ import annotations`` here: typer would evaluate every
option's annotation from its text on each start-up (about 10 ms for these commands)."""

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from exporter.errors import ExporterError, OutputUnwritable

if TYPE_CHECKING:
    from exporter.outputs import Output
    from exporter.pipeline import Publication
    from exporter.push import PushgatewayOutput
    from exporter.report import BackupReport

PROG = "restic-textfile-exporter"

# exporter.config.DEFAULT_DEBOUNCE_SECONDS, which a test keeps equal: importing the config module
# here would load it (and tomllib) for every command.
DEFAULT_DEBOUNCE_SECONDS = 1.0

app = typer.Typer(
    name=PROG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"{PROG} {version(PROG)}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Turn restic's logs into Prometheus metrics for node_exporter's textfile collector.

    Exit codes: 0 metrics written from a complete run (whatever the backup's outcome);
    2 usage error; 3 log unreadable; 4 log empty, unrecognised or cut off (3 and 4 still write
    metrics that say so); 5 metrics file not writable (the previous one is left intact);
    6 metrics written, but a push to a gateway failed (5 and 6 win over 3 and 4).
    """


# Options every command that publishes metrics shares (parse, run), declared once.
PushOption = Annotated[
    list[str] | None,
    typer.Option(
        "--push",
        metavar="URL",
        help="Also push the metrics to this Pushgateway (or VictoriaMetrics "
        ".../api/v1/import/prometheus); repeatable, each is pushed to.",
    ),
]
PushJobOption = Annotated[
    str | None,
    typer.Option("--push-job", metavar="NAME", help="The push's job (default: restic)."),
]
GroupingOption = Annotated[
    list[str] | None,
    typer.Option(
        "--grouping",
        metavar="NAME=VALUE",
        help="A label for the grouping key besides the job and every --label "
        "(instance defaults to this host's name); repeatable.",
    ),
]
PushMethodOption = Annotated[
    str,
    typer.Option(
        "--push-method",
        metavar="put|post",
        help="put replaces the whole group (what a failed run did not print is gone); "
        "post replaces only the metrics pushed.",
    ),
]
PushUserOption = Annotated[
    str | None,
    typer.Option(
        "--push-user",
        metavar="NAME",
        envvar="RESTIC_EXPORTER_PUSH_USER",
        help="Basic auth user; the password comes from --push-password-file or "
        "$RESTIC_EXPORTER_PUSH_PASSWORD, never from the command line.",
    ),
]
PushPasswordFileOption = Annotated[
    Path | None,
    typer.Option("--push-password-file", metavar="FILE", help="Basic auth password file."),
]
PushCaFileOption = Annotated[
    Path | None,
    typer.Option("--push-ca-file", metavar="FILE", help="CA bundle to trust (https)."),
]
PushClientCertOption = Annotated[
    Path | None,
    typer.Option("--push-client-cert", metavar="FILE", help="Client certificate (PEM)."),
]
PushClientKeyOption = Annotated[
    Path | None,
    typer.Option("--push-client-key", metavar="FILE", help="Its key, if not in the cert."),
]
PushTimeoutOption = Annotated[
    float,
    typer.Option("--push-timeout", metavar="SECONDS", help="Per attempt, per gateway."),
]
PushRetriesOption = Annotated[
    int,
    typer.Option(
        "--push-retries",
        metavar="N",
        help="Retries of a push that got no answer or a 5xx, after 1, 2, 4... s.",
    ),
]
PingOption = Annotated[
    str | None,
    typer.Option(
        "--ping",
        metavar="URL",
        help="healthchecks.io-style URL: pinged on success, or URL/<exit code> on failure "
        "(run: also URL/start when the command starts).",
    ),
]


@app.command()
def parse(
    log: Annotated[
        str | None,
        typer.Argument(
            metavar="LOG",
            help="restic's output (text or --json; backup, forget, prune, check, stats) or "
            "autorestic's; - for stdin.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH.prom",
            help="Metrics file to replace atomically; - or nothing for stdout (with --push, "
            "nothing means no stdout).",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            metavar="NAME=VALUE",
            help="A label for every metric, e.g. --label backup=home; repeatable.",
        ),
    ] = None,
    exit_code: Annotated[
        str | None,
        typer.Option(
            "--exit-code",
            metavar="N",
            envvar="EXIT_STATUS",
            show_envvar=True,
            help="restic's exit code (or a signal name, as systemd gives it to ExecStopPost=), "
            "for the command that ran last in the log; without it, the exit code is inferred "
            "from the log.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary line on stderr.")
    ] = False,
    partial_ok: Annotated[
        bool,
        typer.Option(
            "--partial-ok",
            help="Count a snapshot saved although some files could not be read (restic's "
            "exit code 3) as a success.",
        ),
    ] = False,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal",
            help="Read the log from the journal: the output of this systemd service "
            "invocation ($INVOCATION_ID), for an ExecStopPost= hook.  LOG is then not given.",
        ),
    ] = False,
    push: PushOption = None,
    push_job: PushJobOption = None,
    grouping: GroupingOption = None,
    push_method: PushMethodOption = "put",
    push_delete: Annotated[
        bool,
        typer.Option(
            "--push-delete",
            help="Delete the group (--push-job, --label, --grouping) from each --push "
            "gateway instead of pushing; no LOG.",
        ),
    ] = False,
    push_user: PushUserOption = None,
    push_password_file: PushPasswordFileOption = None,
    push_ca_file: PushCaFileOption = None,
    push_client_cert: PushClientCertOption = None,
    push_client_key: PushClientKeyOption = None,
    push_timeout: PushTimeoutOption = 10.0,
    push_retries: PushRetriesOption = 2,
    ping: PingOption = None,
) -> None:
    """Read a restic (or autorestic) log and write its metrics as a .prom file (and push them)."""
    from exporter.errors import PushFailed

    ping = _checked_ping(ping)
    labels = parse_labels(label or [])
    if output not in (None, "-") or not push:
        _warn_about_target_labels(labels)
    if push_delete and not push:
        raise typer.BadParameter("needs --push", param_hint="--push-delete")
    pushes = _push_outputs(
        push or [],
        labels,
        read_back=output in (None, "-"),
        job=push_job,
        grouping=grouping or [],
        method=push_method,
        user=push_user,
        password_file=push_password_file,
        ca_file=push_ca_file,
        client_cert=push_client_cert,
        client_key=push_client_key,
        timeout_seconds=push_timeout,
        retries=push_retries,
    )
    if push_delete:
        if log is not None or journal or output is not None:
            raise typer.BadParameter("deletes only: no LOG, --journal or --output")
        deleted = 0
        for gateway in pushes:
            try:
                gateway.delete()
                deleted += 1
            except PushFailed as error:
                typer.echo(f"{PROG}: error: {error}", err=True)
        if not quiet:
            key = pushes[0].grouping_key(())
            job = pushes[0].settings.job
            typer.echo(f"{PROG}: deleted job {job} {key} from {deleted} gateway(s)", err=True)
        if deleted < len(pushes):
            raise typer.Exit(PushFailed.exit_code)
        return
    from exporter.logsource import JOURNAL_PREFIX

    code = parse_exit_code(exit_code)
    if journal:
        if log is not None:
            raise typer.BadParameter("give LOG or --journal, not both", param_hint="--journal")
        invocation = os.environ.get("INVOCATION_ID", "")
        if not invocation:
            raise typer.BadParameter(
                "needs $INVOCATION_ID, which systemd sets for the service's commands",
                param_hint="--journal",
            )
        if not re.fullmatch(r"[0-9a-f]{32}", invocation):
            raise typer.BadParameter(
                f"$INVOCATION_ID {invocation[:40]!r} is not a systemd invocation id "
                "(32 hexadecimal digits)",
                param_hint="--journal",
            )
        log = f"{JOURNAL_PREFIX}{invocation}"
    elif log is None:
        raise typer.BadParameter("give LOG (a file, or - for stdin) or --journal", param_hint="LOG")
    target = None if output in (None, "-") else Path(output)
    if target is not None and not log.startswith(JOURNAL_PREFIX) and log != "-":
        from exporter.paths import same_file

        if same_file(Path(log), target):
            raise typer.BadParameter(
                f"{output} is the log itself: writing metrics there would destroy it",
                param_hint="--output",
            )
    if target is not None and not target.name.endswith(".prom"):
        from exporter.advice import output_advice

        for advice in output_advice(target):
            _warn(advice)
    from exporter.outputs import StdoutOutput, TextfileOutput
    from exporter.pipeline import PublishOptions, publish
    from exporter.reading import read_log

    outputs: list[Output] = []
    if target is not None:
        outputs.append(TextfileOutput(target))
    elif output == "-" or not pushes:
        outputs.append(StdoutOutput())
    outputs.extend(pushes)
    options = PublishOptions(labels=labels, exit_code=code, partial_ok=partial_ok)
    # A regular file read into a .prom file: its run memory says where to start reading.
    result = publish(read_log(log, resume_for=target), options, outputs, time.time())
    for warning in result.warnings:
        _warn(warning)
    if ping and not result.kept_previous:
        _ping_outcome(ping, result)
    failed_pushes = [f for f in result.failed_outputs if isinstance(f, PushFailed)]
    for failure in result.failed_outputs:  # one line each: which output, and why
        typer.echo(f"{PROG}: error: {failure}", err=True)
    if len(failed_pushes) < len(result.failed_outputs):  # the textfile (or stdout): 5
        raise typer.Exit(OutputUnwritable.exit_code)
    if result.kept_previous:
        if not quiet:
            typer.echo(
                f"{PROG}: {log} holds no restic run (rotated, or only lines of no run): "
                f"{target} keeps reporting the run it reported before",
                err=True,
            )
    elif (target is not None or pushes) and not quiet and result.problem is None:
        failed = {failure.gateway for failure in failed_pushes}
        done = [f"wrote {target}"] if target is not None else []
        done += [f"pushed to {p.name}" for p in pushes if p.name not in failed]
        done += [f"push to {name} FAILED" for name in sorted(failed)]
        typer.echo(f"{PROG}: {_summary(result)}; {'; '.join(done)}", err=True)
    if failed_pushes:
        if result.problem is not None:
            typer.echo(f"{PROG}: error: {result.problem}", err=True)
        raise typer.Exit(PushFailed.exit_code)
    if result.problem is not None:
        _fail(result.problem)


@app.command()
def watch(
    log: Annotated[
        str | None,
        typer.Argument(metavar="LOG", help="One log to watch (instead of --config)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE.toml",
            envvar="RESTIC_TEXTFILE_EXPORTER_CONFIG",
            help="The jobs to watch: each a log, an output and labels.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="PATH.prom", help="With LOG: the metrics file."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", metavar="NAME=VALUE", help="With LOG: a label; repeatable."),
    ] = None,
    debounce: Annotated[
        float,
        typer.Option(
            "--debounce", metavar="SECONDS", min=0, max=3600, help="With LOG: wait this long."
        ),
    ] = DEFAULT_DEBOUNCE_SECONDS,
    state_file: Annotated[
        Path | None,
        typer.Option("--state-file", metavar="PATH", help="With LOG: keep read positions here."),
    ] = None,
    partial_ok: Annotated[
        bool,
        typer.Option("--partial-ok", help="With LOG: count exit-3 runs as a success, as parse."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Keep the metrics current: rewrite a job's .prom file whenever its log changes.

    SIGTERM/SIGINT stop it, SIGHUP reloads the config; under systemd it reports readiness
    (Type=notify) and logs with journald priorities.
    """
    from exporter.config import Config, Job, checked, load_config
    from exporter.daemon_log import setup_logging
    from exporter.watch import Daemon

    if (log is None) == (config is None):
        raise typer.BadParameter("give either LOG (with --output) or --config", param_hint="LOG")
    if log is not None and output is None:
        raise typer.BadParameter("LOG needs --output", param_hint="--output")
    setup_logging(verbose)
    if config is not None:
        config_path = config

        def load() -> Config:
            return load_config(config_path)
    else:
        assert log is not None and output is not None
        job = Job(Path(log), output, parse_labels(label or []), partial_ok)
        single = Config((job,), debounce, state_file)

        def load() -> Config:
            return checked(single)

    try:
        Daemon(load).run()
    except ExporterError as error:
        _fail(error)


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="-- COMMAND [ARGS]...",
            help="The command to run: restic backup ..., or a script that runs restic.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH.prom",
            help="Metrics file to replace atomically (also while the command runs); "
            "this or --push is needed.",
        ),
    ] = "-",
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", metavar="NAME=VALUE", help="A label for every metric; repeatable."
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", metavar="FILE", help="Also append the command's output to FILE."),
    ] = None,
    ping: PingOption = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress",
            help="Ask restic for a status line every few seconds (RESTIC_PROGRESS_FPS, "
            "unless already set), so that the metrics show progress; the lines go to the log.",
        ),
    ] = False,
    progress_interval: Annotated[
        float,
        typer.Option(
            "--progress-interval",
            metavar="SECONDS",
            min=0.5,
            max=3600,
            help="While the command runs, publish its progress at most this often.",
        ),
    ] = 5.0,
    partial_ok: Annotated[
        bool,
        typer.Option("--partial-ok", help="Count exit-3 runs (some files unreadable) as success."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary line on stderr.")
    ] = False,
    push: PushOption = None,
    push_job: PushJobOption = None,
    grouping: GroupingOption = None,
    push_method: PushMethodOption = "put",
    push_user: PushUserOption = None,
    push_password_file: PushPasswordFileOption = None,
    push_ca_file: PushCaFileOption = None,
    push_client_cert: PushClientCertOption = None,
    push_client_key: PushClientKeyOption = None,
    push_timeout: PushTimeoutOption = 10.0,
    push_retries: PushRetriesOption = 2,
) -> None:
    """Run restic (or a script that runs it), passing its output through, and write its metrics
    with the exact start, end and exit code.  Exits with the command's exit code."""
    from exporter.outputs import TextfileOutput
    from exporter.ping import Pinger
    from exporter.pipeline import PublishOptions
    from exporter.run_wrapper import run_wrapped

    if not command:
        raise typer.BadParameter("give the command to run after --", param_hint="COMMAND")
    if output == "-" and not push:
        raise typer.BadParameter(
            "give --output PATH.prom or --push URL: run writes its metrics nowhere else "
            "(its stdout is the command's)",
            param_hint="--output",
        )
    labels = parse_labels(label or [])
    _warn_about_target_labels(labels)
    ping = _checked_ping(ping)
    target = None if output == "-" else Path(output)
    if target is not None and log is not None:
        from exporter.paths import same_file

        if same_file(log, target):
            raise typer.BadParameter(f"{output} is the log itself", param_hint="--output")
    outputs: list[Output] = [] if target is None else [TextfileOutput(target)]
    outputs += _push_outputs(
        push or [],
        labels,
        read_back=target is None,
        job=push_job,
        grouping=grouping or [],
        method=push_method,
        user=push_user,
        password_file=push_password_file,
        ca_file=push_ca_file,
        client_cert=push_client_cert,
        client_key=push_client_key,
        timeout_seconds=push_timeout,
        retries=push_retries,
    )
    environment = None
    if progress and "RESTIC_PROGRESS_FPS" not in os.environ:
        environment = {**os.environ, "RESTIC_PROGRESS_FPS": str(1 / progress_interval)}
    result = run_wrapped(
        command,
        outputs,
        PublishOptions(labels=labels, partial_ok=partial_ok),
        log=log,
        pinger=Pinger(ping) if ping else None,
        progress_interval_seconds=progress_interval,
        environment=environment,
    )
    for message in result.messages:
        _warn(message)
    publication = result.publication
    if publication is not None and publication.sections and not quiet and outputs:
        typer.echo(f"{PROG}: {_summary(publication)}; {_done(outputs, publication)}", err=True)
    raise typer.Exit(result.exit_code)


ASSETS = {
    "rules": "restic-alerts.rules.yml",
    "dashboard": "grafana-dashboard.json",
}


@app.command()
def assets(
    name: Annotated[
        str,
        typer.Argument(
            metavar="rules|dashboard",
            help="rules: Prometheus alerting rules; dashboard: a Grafana dashboard (JSON).",
        ),
    ],
) -> None:
    """Print the alerting rules or the Grafana dashboard that come with this version."""
    from importlib.resources import files

    if name not in ASSETS:
        raise typer.BadParameter(f"{name!r} is not one of: rules, dashboard", param_hint="NAME")
    text = files("exporter").joinpath("assets", ASSETS[name]).read_text(encoding="utf-8")
    typer.echo(text, nl=False)


def _checked_ping(url: str | None) -> str | None:
    if url is None:
        return None
    from exporter.ping import check_ping_url

    try:
        check_ping_url(url)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--ping") from None
    return url


def _ping_outcome(url: str, result: "Publication") -> None:
    """parse --ping: the outcome only (the run started before we were called)."""
    from exporter.ping import Pinger, PingFailed

    codes = [s.backup.exit_code for s in result.sections if s.backup and s.backup.success is False]
    failed = (
        result.problem is not None
        or bool(codes)
        or any(c.success is False for s in result.sections for c in s.commands)
    )
    body = _summary(result).encode() if result.sections else b""
    try:
        if not failed:
            Pinger(url).finish(0, body)
        elif codes and codes[0]:
            Pinger(url).finish(codes[0], body)
        else:
            Pinger(url).fail(str(result.problem or _summary(result)).encode())
    except PingFailed as error:
        _warn(str(error))


def _done(outputs: "list[Output]", publication: "Publication") -> str:
    """What became of each output, for the summary line."""
    from exporter.errors import PushFailed
    from exporter.outputs import TextfileOutput

    failed_pushes = {f.gateway for f in publication.failed_outputs if isinstance(f, PushFailed)}
    textfile_failed = len(failed_pushes) < len(publication.failed_outputs)
    done = []
    for output in outputs:
        if isinstance(output, TextfileOutput):
            done.append(f"{output.name} NOT WRITTEN" if textfile_failed else f"wrote {output.name}")
        elif output.name in failed_pushes:
            done.append(f"push to {output.name} FAILED")
        else:
            done.append(f"pushed to {output.name}")
    return "; ".join(done)


def _push_outputs(
    urls: list[str], labels: dict[str, str], *, read_back: bool, **settings: Any
) -> "list[PushgatewayOutput]":
    """One output per --push URL, with the settings the options give.  Usage errors: exit 2."""
    if not urls:
        return []
    from exporter.push import PushgatewayOutput, push_settings

    try:
        checked = push_settings(labels=labels, **settings)
        return [PushgatewayOutput(url, checked, labels, read_back=read_back) for url in urls]
    except (ValueError, OSError) as error:  # OSError: a client certificate unreadable
        raise typer.BadParameter(str(error), param_hint="--push") from None


def parse_labels(values: list[str]) -> dict[str, str]:
    from exporter.catalogue import label_problem

    labels: dict[str, str] = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals:
            raise typer.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--label")
        if problem := label_problem(name, text):
            raise typer.BadParameter(problem, param_hint="--label")
        if name in labels:
            raise typer.BadParameter(f"{name!r} is given twice", param_hint="--label")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise typer.BadParameter(
                f"the value of {name!r} is not valid UTF-8", param_hint="--label"
            ) from None
        labels[name] = text
    return labels


def _warn_about_target_labels(labels: dict[str, str]) -> None:
    from exporter.advice import label_advice

    for advice in label_advice(labels):
        _warn(advice)


def parse_exit_code(value: str | None) -> int | None:
    """``3`` -> 3; a signal name as systemd's $EXIT_STATUS gives it (``TERM``, ``SIGKILL``,
    ``RTMIN+3``) -> 128 + its number, as a shell reports a death by that signal."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,3}", text) and int(text) <= 255:
        return int(text)
    name = text.upper().removeprefix("SIG")
    number: int | None = None
    if realtime := re.fullmatch(r"RT(MIN|MAX)(?:([+-])([0-9]{1,2}))?", name):
        base = signal.SIGRTMIN if realtime[1] == "MIN" else signal.SIGRTMAX
        offset = int(realtime[3] or 0) * (-1 if realtime[2] == "-" else 1)
        if signal.SIGRTMIN <= base + offset <= signal.SIGRTMAX:
            number = base + offset
    elif f"SIG{name}" in signal.Signals.__members__:
        number = signal.Signals[f"SIG{name}"].value
    if number is None:
        raise typer.BadParameter(
            f"{value!r} is neither an exit code (0-255) nor a signal name",
            param_hint="--exit-code / $EXIT_STATUS",
        )
    return 128 + number


def _summary(result: "Publication") -> str:
    """One line: each backup's and each other command's outcome."""
    parts = []
    for section in result.sections:
        where = "@".join(section.labels.values())
        prefix = f"{where}: " if where else ""
        backup = section.backup
        if backup is not None and backup.success is not None:
            if backup.success:
                snapshot = backup.run.snapshot_id if backup.run is not None else None
                parts.append(
                    f"{prefix}backup succeeded" + (f", snapshot {snapshot}" if snapshot else "")
                )
            else:
                parts.append(f"{prefix}{_backup_failure(backup)}")
        for command in section.commands:
            outcome = "succeeded" if command.success else f"failed ({command.failure_reason})"
            if command.success is None:
                outcome = "running"
            parts.append(f"{prefix}{command.command} {outcome}")
    return "; ".join(parts)


def _backup_failure(backup: "BackupReport") -> str:
    """``backup partial (snapshot 1a2b3c4d saved; 2 item(s) could not be read, exit code 3)``;
    the exit code is said once, not again where the reason already says it."""
    run = backup.run
    reason = backup.failure_reason or "no reason given"
    code = backup.exit_code
    if code is not None and str(code) not in reason:
        reason += f", exit code {code}"
    saved = run is not None and run.snapshot_id is not None and run.fatal_message is None
    if saved and run is not None and not run.dry_run and code in (None, 3):
        return f"backup partial (snapshot {run.snapshot_id} saved; {reason})"
    return f"backup failed ({reason})"


def _warn(message: str) -> None:
    typer.echo(f"{PROG}: warning: {message}", err=True)


def _fail(error: ExporterError) -> NoReturn:
    typer.echo(f"{PROG}: error: {error}", err=True)
    raise typer.Exit(error.exit_code) from None


def _terminate(signal_number: int, frame: object) -> None:
    # SIGTERM (systemd stopping us) becomes an exit that runs every `finally:`, so that no temp
    # file is left next to the metrics file.
    raise SystemExit(128 + signal_number)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(prog_name=PROG, standalone_mode=False)
    except typer.TyperException as error:  # a usage error: one line, and where help is
        if type(error).__name__ == "NoArgsIsHelpError":
            typer.echo(error.format_message(), err=True)
        else:
            context = getattr(error, "ctx", None)
            where = context.command_path if context is not None else PROG
            typer.echo(f"{PROG}: error: {error.format_message()} (see {where} --help)", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo(f"{PROG}: aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
