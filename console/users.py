"""The console's users: names, roles and argon2id password hashes in one private file.

The file (`console.users_file`, default ``<data_dir>/console-users.json``) is JSON, mode
0600, written atomically; a file readable by others is refused rather than used, like the
query service's endpoint. Passwords are hashed with argon2id (argon2-cffi's defaults);
the plain password is never stored or logged.

`ucwatch users add NAME --role ROLE` (password asked twice on a terminal, or one line on
stdin), `ucwatch users list`, `ucwatch users remove NAME`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ucwatch.console.roles import Role
from ucwatch.core.errors import SettingsError, UsageError
from ucwatch.core.settings import Settings

USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,39}\Z")
MIN_PASSWORD_CHARS = 12
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone: evens out the time of unknown names")


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    created_at: str


def users_path(settings: Settings) -> Path:
    configured = settings.console.users_file
    return Path(configured) if configured else settings.data_dir / "console-users.json"


class UserStore:
    """The users file; reads it on every lookup (a few users, and `users add` takes effect at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int, int], dict[str, User]] | None = None

    def load(self) -> dict[str, User]:
        """The users, read again whenever the file changed (checked on each call)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if self._cache is not None and self._cache[0] == stamp:
            return dict(self._cache[1])
        text = self.path.read_text()
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise SettingsError(f"the users file {self.path} is readable by others (mode "
                                f"{stat.S_IMODE(info.st_mode):o}); `chmod 600 {self.path}` and start again")
        try:
            data = json.loads(text)
            users = {name: User(name, Role(entry["role"]), entry["hash"], entry.get("created_at", ""))
                     for name, entry in data["users"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(f"the users file {self.path} is malformed ({type(exc).__name__}: {exc})") from None
        self._cache = (stamp, users)
        return dict(users)

    def add(self, name: str, role: Role, password: str, *, now: datetime | None = None) -> User:
        check_name(name)
        if len(password) < MIN_PASSWORD_CHARS:
            raise UsageError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        users = self.load()
        if name in users:
            raise UsageError(f"user {name!r} exists already; `ucwatch users remove {name}` first")
        created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        users[name] = User(name, role, _HASHER.hash(password), created)
        self._write(users)
        return users[name]

    def remove(self, name: str) -> None:
        users = self.load()
        if users.pop(name, None) is None:
            raise UsageError(f"there is no user {name!r}")
        self._write(users)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (in about the same time either way)."""
        user = self.load().get(name)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def _write(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"users": {u.name: {"role": u.role.value, "hash": u.password_hash, "created_at": u.created_at}
                          for u in users.values()}}
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(temporary, self.path)


def check_name(name: str) -> None:
    if not USER_NAME.match(name):
        raise UsageError(f"{name!r} is not a user name: lower-case letters, digits, '.', '_' or '-', "
                         "starting with a letter, at most 40 characters")
