"""The daemon's decisions, without threads or inotify: the watch plan, the debouncer, the read
positions.  (The daemon itself, with real files and inotify, is tested in test_watch.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.config import Job
from exporter.debounce import Debouncer
from exporter.positions import Position, SavedPosition, load_positions, save_positions
from exporter.watch_messages import Control, JobChanged
from exporter.watch_plan import plan_watches


def _job(log: Path, name: str = "a") -> Job:
    return Job(log, log.parent / f"{name}.prom", {"backup": name})


def test_the_plan_watches_each_log_directory_once(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    a, b = _job(tmp_path / "logs" / "a.log", "a"), _job(tmp_path / "logs" / "b.log", "b")
    plan = plan_watches([a, b])
    assert plan.directories == (str(tmp_path / "logs"),)
    assert plan.messages_for("modified", [str(a.log)]) == [JobChanged(a.key)]
    assert plan.messages_for("moved", [str(tmp_path / "logs" / "x"), str(b.log)]) == [
        JobChanged(b.key)
    ]
    assert plan.messages_for("modified", [str(tmp_path / "logs" / "other.log")]) == []
    assert plan.waiting == ()


def test_the_jobs_of_directories_that_cannot_be_watched(tmp_path: Path) -> None:
    for name in ("one", "two", "target"):
        (tmp_path / name).mkdir()
    (tmp_path / "target" / "c.log").touch()
    (tmp_path / "two" / "c.log").symlink_to(tmp_path / "target" / "c.log")
    a, b = _job(tmp_path / "one" / "a.log", "a"), _job(tmp_path / "two" / "b.log", "b")
    c = _job(tmp_path / "two" / "c.log", "c")
    plan = plan_watches([a, b, c])
    assert plan.jobs_in([str(tmp_path / "one")]) == {a.key}
    assert plan.jobs_in([str(tmp_path / "two")]) == {b.key, c.key}
    assert plan.jobs_in([str(tmp_path / "target")]) == {c.key}
    assert plan.jobs_in([]) == set()


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [("deleted", [Control.RESCAN]), ("moved", [Control.RESCAN]), ("modified", [])],
)
def test_a_watched_directory_that_goes_away_asks_for_a_new_plan(
    tmp_path: Path, event_type: str, expected: list[Control]
) -> None:
    plan = plan_watches([_job(tmp_path / "a.log")])
    assert plan.messages_for(event_type, [str(tmp_path)]) == expected


def test_a_missing_directory_is_awaited_in_its_nearest_ancestor(tmp_path: Path) -> None:
    job = _job(tmp_path / "not" / "yet" / "a.log")
    plan = plan_watches([job])
    assert plan.directories == (str(tmp_path),)
    assert plan.messages_for("created", [str(tmp_path / "not")]) == [Control.RESCAN]
    assert plan.waiting == ((str(tmp_path / "not" / "yet"), str(tmp_path)),)
    (tmp_path / "not").mkdir()
    assert plan_watches([job]).directories == (str(tmp_path / "not"),)


def test_a_symlinked_log_is_also_watched_where_its_target_lives(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "a.log"
    target.write_text("")
    (tmp_path / "links" / "a.log").symlink_to(target)
    job = _job(tmp_path / "links" / "a.log")
    plan = plan_watches([job])
    assert plan.directories == (str(tmp_path / "links"), str(tmp_path / "real"))
    assert plan.messages_for("modified", [str(target)]) == [JobChanged(job.key)]


@pytest.mark.parametrize("spelling", ["loop", "nul"])
def test_a_path_that_cannot_be_resolved_never_fails_the_plan(tmp_path: Path, spelling: str) -> None:
    if spelling == "loop":
        (tmp_path / "x").symlink_to(tmp_path / "y")
        (tmp_path / "y").symlink_to(tmp_path / "x")
        log = tmp_path / "x"
    else:
        log = tmp_path / "a\0b.log"
    plan = plan_watches([_job(log)])
    assert plan.directories == (str(tmp_path),)
    assert plan.messages_for("modified", [str(log)]) == [JobChanged(_job(log).key)]


def test_the_first_change_after_quiet_is_due_at_once_and_a_burst_is_coalesced() -> None:
    debouncer = Debouncer(1.0)
    assert debouncer.seconds_until_due(100.0) is None
    debouncer.add("a", 100.0)
    assert debouncer.seconds_until_due(100.0) == 0.0
    assert debouncer.take_due(100.0) == {"a"}
    debouncer.add("a", 100.2)  # a burst: waits for the end of the window
    debouncer.add("b", 100.5)
    assert debouncer.seconds_until_due(100.5) == pytest.approx(0.5)
    assert debouncer.take_due(100.9) == set()
    assert debouncer.take_due(101.0) == {"a", "b"}
    debouncer.add("c", 105.0)  # quiet again
    assert debouncer.take_due(105.0) == {"c"}


def test_the_trailing_events_of_one_write_do_not_delay_the_next_write() -> None:
    debouncer = Debouncer(1.0)
    debouncer.add("a", 100.0)  # modify
    assert debouncer.take_due(100.0) == {"a"}
    debouncer.add("a", 100.005)  # close_write of the same write: coalesced
    assert debouncer.take_due(101.0) == {"a"}
    debouncer.add("a", 101.2)  # the next write, 1.2 s after the last change: at once
    assert debouncer.take_due(101.2) == {"a"}


def test_without_a_delay_every_change_is_due_at_once() -> None:
    debouncer = Debouncer(0.0)
    for moment in (1.0, 1.0, 1.1):
        debouncer.add("a", moment)
        assert debouncer.take_due(moment) == {"a"}


def test_positions_survive_a_restart_only_for_the_same_log(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    position = Position(device=1, inode=2, offset=300, run_start_offset=100)
    save_positions(state, {"a": SavedPosition(tmp_path / "a.log", position)})
    assert load_positions(state, {"a": tmp_path / "a.log"}) == {"a": position}
    assert load_positions(state, {"a": tmp_path / "moved.log"}) == {}
    assert load_positions(state, {"b": tmp_path / "a.log"}) == {}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b'{"jobs": []}',
        b'{"jobs": {"a": {"log": "LOG", "position": {"device": "x"}}}}',
        b'{"jobs": {"a": {"log": "LOG", "position": {"device": 1, "inode": 2, "offset": 3,'
        b' "run_start_offset": "4"}}}}',
        b"[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_a_garbled_state_file_means_reading_from_the_start(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state.json"
    log = tmp_path / "a.log"
    state.write_bytes(content.replace(b"LOG", os.fsencode(log)))
    assert load_positions(state, {"a": log}) == {}
