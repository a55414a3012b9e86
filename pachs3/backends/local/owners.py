"""Which process owns an open commit, and failing the commits of owners that died.

A commit is open while a job writes it; the process serving the job finishes it. When that
process is killed (SIGKILL, a power cut) nobody ever will, and the commit would show as open
forever. So the process records itself as the commit's owner (``claim``), and whoever opens the
store next finishes every open commit whose owner is gone with an error saying so
(``dead_owners`` finds them; ``LocalStore`` finishes them when it opens).

An owner is this machine's host name, its boot id, the pid and the process's start time (in
clock ticks since boot, field 22 of ``/proc/<pid>/stat``). A pid alone is not enough: after the
owner dies the kernel may give its pid to another process, whose start time differs. A
different boot id means the machine restarted since, so the owner is gone. An owner on another
host is never judged (this machine cannot see its processes). Without ``/proc`` (not Linux)
the start time is unknown and only the pid's existence is checked.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from typing import NamedTuple

from . import schema as sql

__all__ = ["Owner", "claim", "current_owner", "dead_owners", "ensure_table", "is_alive"]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Owner(NamedTuple):
    host: str
    boot_id: str
    pid: int
    start_ticks: int | None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), _boot_id(), pid, start_ticks(pid))


def ensure_table(con: sqlite3.Connection) -> None:
    """Add the owners table to a format 2 store made before it existed."""
    if con.execute(sql.HAS_OWNERS_TABLE).fetchone() is None:
        con.execute(sql.OWNERS_TABLE)


def claim(con: sqlite3.Connection, commit_id: str) -> None:
    """Record this process as the owner of the open commit ``commit_id`` (in ``con``'s write
    transaction), and forget the owners of commits finished since (the table stays small
    without a write each time the store is opened)."""
    con.execute(sql.FORGET_FINISHED_OWNERS)
    con.execute(sql.CLAIM_COMMIT, (commit_id, *current_owner()))


def is_alive(owner: Owner) -> bool | None:
    """Whether ``owner`` still runs: None when it cannot be known from here (another host)."""
    if owner.host != socket.gethostname():
        return None
    if owner.boot_id != _boot_id():
        return False  # the machine restarted: every process of the old boot is gone
    if owner.start_ticks is not None:
        return start_ticks(owner.pid) == owner.start_ticks
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def dead_owners(con: sqlite3.Connection) -> list[tuple[str, str, Owner]]:
    """``(repo, commit id, owner)`` of each open commit whose owner is known to be dead."""
    dead = []
    for repo, commit_id, *owner in con.execute(sql.SELECT_OPEN_OWNERS).fetchall():
        recorded = Owner(*owner)
        if is_alive(recorded) is False:
            dead.append((repo, commit_id, recorded))
    return dead


def start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` (ticks since boot), None if unknown or no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ')': the fields
    # after the last ')' are what we count from (state is field 3, starttime field 22).
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[22 - 3])


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""
