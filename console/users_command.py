"""`ucwatch users add|list|remove`: the console's users, from the command line.

`add` asks for the password twice on a terminal; otherwise it reads one line from stdin
(scripts, tests), so the password never appears in the process list or shell history.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from ucwatch.console.roles import Role
from ucwatch.console.users import UserStore, users_path
from ucwatch.core.errors import UsageError
from ucwatch.core.settings import Settings


def users_command(settings: Settings, action: str, name: str | None, role: str | None, *,
                  stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    store = UserStore(users_path(settings))
    if action == "list":
        for user in sorted(store.load().values(), key=lambda u: u.name):
            print(f"{user.name:<24} {user.role.value:<11} created {user.created_at}", file=out)
        return 0
    if not name:
        raise UsageError(f"`ucwatch users {action}` needs a user name")
    if action == "remove":
        store.remove(name)
        print(f"removed {name}; a running console ends their sessions at their next request", file=out)
        return 0
    user = store.add(name, Role(role or "operator"), _password(stdin))
    print(f"added {user.name} ({user.role.value}) to {store.path}", file=out)
    return 0


def _password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")
