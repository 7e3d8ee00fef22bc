"""Where the metrics go.  Each output says what it carries forward from its previous publication
(the last success of each backup, the autorestic pairs it reported) and publishes a registry.

A new destination (a Pushgateway, an HTTP endpoint) is one class here and one option in the CLI;
`exporter.pipeline.publish` drives them all the same way.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prometheus_client.core import CollectorRegistry

from exporter.errors import OutputUnwritable
from exporter.exposition import exposition_text
from exporter.previous import PreviousMetrics, read_previous
from exporter.run_memory import RunMemory, memory_path, read_memory
from exporter.textfile import output_lock, replaceable_problem, write_textfile


class Output(Protocol):
    @property
    def name(self) -> str:
        """How messages name this output: its path, its URL."""
        ...

    def claim(self) -> AbstractContextManager[object]:
        """Taken when called, released when the returned context ends; raises
        OutputUnwritable when it cannot be taken.  Held from reading what is carried forward
        until the publication is done, so that two writers of one output cannot interleave."""
        ...

    def carried_forward(self, now: float) -> Carried:
        """What the previous publication said that must survive this one."""
        ...

    def publish(self, registry: CollectorRegistry, memory: RunMemory) -> tuple[str, ...]:
        """Publish everything `registry` holds, and remember `memory` for the next time.
        Returns warnings; raises OutputUnwritable."""
        ...


@dataclass(frozen=True)
class Carried:
    """What an output carries forward from its previous publication."""

    previous: PreviousMetrics = field(default_factory=PreviousMetrics)
    memory: RunMemory = field(default_factory=RunMemory)


class TextfileOutput:
    """A ``.prom`` file for node_exporter's textfile collector, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return str(self.path)

    def claim(self) -> AbstractContextManager[object]:
        """The output's lock (`exporter.textfile.output_lock`), taken now."""
        if problem := replaceable_problem(self.path):  # before a lock file is made beside it
            raise OutputUnwritable(
                f"cannot write {self.path}: {problem}; the previous file is untouched"
            )
        held = contextlib.ExitStack()
        try:
            held.enter_context(output_lock(self.path))
        except OSError as error:
            raise OutputUnwritable(
                f"cannot write {self.path}: {error.strerror or error}; "
                "the previous file is untouched"
            ) from None
        return held

    def carried_forward(self, now: float) -> Carried:
        return Carried(read_previous(self.path, now), read_memory(memory_path(self.path)))

    def publish(self, registry: CollectorRegistry, memory: RunMemory) -> tuple[str, ...]:
        """The metrics, then the memory of the runs they report: a memory that lags behind
        (killed between the two) only means a run is new once more."""
        try:
            warnings = write_textfile(self.path, exposition_text(registry))
        except OSError as error:
            raise OutputUnwritable(
                f"cannot write {self.path}: {error.strerror or error}; "
                "the previous file is untouched"
            ) from None
        try:
            write_textfile(memory_path(self.path), memory.to_json())
        except OSError as error:
            warnings += (
                f"cannot write {memory_path(self.path)} ({error.strerror or error}): the next "
                "run will not know which run this file reports",
            )
        return warnings


class StdoutOutput:
    """Exposition text on standard output; nothing is carried forward."""

    name = "standard output"

    def claim(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def carried_forward(self, now: float) -> Carried:
        return Carried()

    def publish(self, registry: CollectorRegistry, memory: RunMemory) -> tuple[str, ...]:
        stream = sys.stdout
        if stream is None:
            raise OutputUnwritable("cannot write the metrics: standard output is closed")
        try:
            stream.buffer.write(exposition_text(registry))
            stream.buffer.flush()
        except OSError as error:
            raise OutputUnwritable(
                f"cannot write the metrics to standard output: {error.strerror or error}"
            ) from None
        return ()


@contextlib.contextmanager
def claimed(
    outputs: tuple[Output, ...],
) -> Iterator[tuple[tuple[Output, ...], tuple[OutputUnwritable, ...]]]:
    """Claim every output, in order (released in reverse order).  Yields the outputs held and
    why the others could not be: one output that cannot be claimed does not stop the rest."""
    with contextlib.ExitStack() as stack:
        held: list[Output] = []
        failed: list[OutputUnwritable] = []
        for output in outputs:
            try:
                stack.enter_context(output.claim())
            except OutputUnwritable as error:
                failed.append(error)
            else:
                held.append(output)
        yield tuple(held), tuple(failed)
