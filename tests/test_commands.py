"""The command registry: what each command declares, and that the router keeps to it."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from parsers import restic_template
from parsers.backup_log import parse_line as parse_backup_line
from parsers.command import CommandReader
from parsers.commands import COMMANDS, NAMES
from parsers.log import parse_log
from parsers.records import CommandRun

RESTORE_STATUS = (
    '{"message_type":"status","seconds_elapsed":1,"percent_done":0.5,"total_files":5,'
    '"files_restored":2,"total_bytes":2048,"bytes_restored":1024}'
)
RESTORE_SUMMARY = (
    '{"message_type":"summary","seconds_elapsed":1,"total_files":5,"files_restored":5,'
    '"total_bytes":2048,"bytes_restored":2048}'
)


def test_names_are_unique_and_backup_comes_first() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert NAMES[0] == "backup"


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=NAMES)
def test_an_empty_draft_freezes_into_the_command_s_record(index: int) -> None:
    command = COMMANDS[index]
    run = command.new_draft(7).freeze()
    assert type(run) is command.record
    assert (run.first_line, run.last_line, run.complete) == (7, 7, False)


@pytest.mark.parametrize("line", [RESTORE_STATUS, RESTORE_SUMMARY])
def test_another_command_s_json_is_not_backup_s(line: str) -> None:
    assert parse_backup_line(line, 1) == ()
    assert not any(command.owns_json(json.loads(line)) for command in COMMANDS)


def test_a_restore_json_log_is_no_backup() -> None:
    parsed = parse_log([RESTORE_STATUS, RESTORE_SUMMARY])
    assert parsed.sections[0].commands == {}


def test_no_json_message_of_a_fixture_is_two_commands() -> None:
    for path in sorted(FIXTURES.glob("*/*.json")):
        if ".expected." in path.name:
            continue
        for line in path.read_text().splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "message_type" in message:
                owners = [command.name for command in COMMANDS if command.owns_json(message)]
                assert len(owners) <= 1, f"{path.name}: {line[:80]} is {owners}'s"


def test_the_template_reads_its_sample() -> None:
    reader = CommandReader(restic_template.COMMAND)
    sample = ["template: starting", "template: 3 things done", "template: finished"]
    for number, line in enumerate(sample, 1):
        assert restic_template.CANDIDATE.search(line)
        reader.feed(reader.parse_line(line, number), number)
    run = reader.latest()
    assert isinstance(run, CommandRun)
    assert (run.first_line, run.last_line, run.complete, run.failure_reason) == (1, 3, True, None)
    assert restic_template.COMMAND not in COMMANDS
