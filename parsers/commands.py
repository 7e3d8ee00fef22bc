"""Every restic command this exporter reads: one list, as jc keeps its parsers (``jc/lib.py``).

Each entry is the ``COMMAND`` its module declares (``parsers.command.Command``).  The router
(``parsers.log``), the exporter's metric catalogue and families, and the fixture tests are built
from this list.  The order is the order restic's scripts run them (``backup; forget --prune;
check``): a line two commands would read is the earlier one's.  The first entry, backup, reads
the lines every command prints (``Fatal:``, ``error:``, the interruption) and keeps those that no
command at work claims.

To add a command, copy ``parsers/restic_template.py``: a module, a record in
``parsers/records.py``, a line here, its metric specs in ``exporter/catalogue.py`` and
``exporter/families.py``, and a fixture with its expected files in ``tests/fixtures/commands/``.
"""

from __future__ import annotations

from typing import Any

from parsers import backup_log, restic_check, restic_forget, restic_prune, restic_stats
from parsers.command import Command

COMMANDS: tuple[Command[Any, Any, Any], ...] = (
    backup_log.COMMAND,
    restic_forget.COMMAND,
    restic_prune.COMMAND,
    restic_check.COMMAND,
    restic_stats.COMMAND,
)

NAMES = tuple(command.name for command in COMMANDS)
