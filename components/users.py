"""The users file: who may sign in with a password, with which role, in which groups.

A JSON file written by `python app.py users ...` (add, remove, reset, set, list; unlock clears the
sign-in counts of a name or an address), read by the
server on every sign-in and every request (re-read when it changes: a removed user or a new
password signs out the sessions of that user at their next request). Passwords are kept as argon2id
hashes (argon2-cffi's defaults); the file is written whole (temporary file + rename) with mode 0600.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import secrets
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("viewer", "compute", "admin")  # each may do what the ones before it may
MIN_PASSWORD = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")  # fullmatch: "$" would let "alice\n" through
_hasher = PasswordHasher()


def default_users_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "personal-expression-explorer" / "users.json"


@dataclass(frozen=True)
class User:
    """A signed-in user: name, role and groups (from the users file or the identity provider)."""

    name: str
    role: str
    groups: frozenset[str] = field(default_factory=frozenset)

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"'{name[:80]}' is not a user name: letters, digits and . _ @ + - (64 at most)")
    return name


class UsersFile:
    """The users file at `path`: read when it changed (mtime and size), written whole."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._users: dict[str, dict] = {}
        self._dummy: str | None = None

    def users(self) -> dict[str, dict]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._seen != (stat.st_mtime_ns, stat.st_size):
                data = json.loads(self.path.read_text())
                self._users = dict(data.get("users") or {})
                self._seen = (stat.st_mtime_ns, stat.st_size)
            return self._users

    def user(self, name: str) -> User | None:
        entry = self.users().get(name)
        if entry is None or entry.get("role") not in ROLES:
            return None
        return User(name, entry["role"], frozenset(entry.get("groups") or ()))

    def token(self, name: str) -> str | None:
        """A random value renewed with the password: a session made before a reset or a removal
        carries the old one and is signed out."""
        entry = self.users().get(name)
        return None if entry is None else entry.get("token")

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is theirs, else None. An unknown name is checked against a
        dummy hash, so the answer takes as long as for a known one."""
        entry = self.users().get(name) if _NAME.fullmatch(name) else None
        if entry is None:
            if self._dummy is None:
                self._dummy = _hasher.hash(secrets.token_hex(16))
            try:
                _hasher.verify(self._dummy, password)
            except VerificationError:
                pass
            return None
        try:
            _hasher.verify(entry["hash"], password)
        except (VerificationError, InvalidHashError):
            return None
        return self.user(name)

    # the command line's changes: read, change, write whole
    def _write(self, users: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"format": 1, "users": users}, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def add(self, name: str, password: str, role: str, groups: Sequence[str] = ()) -> None:
        users = dict(self.users())
        if check_name(name) in users:
            raise ValueError(f"user '{name}' exists: use reset (password) or set (role, groups)")
        users[name] = {"role": check_role(role), "groups": sorted(set(groups))} | _secret(password)
        self._write(users)

    def remove(self, name: str) -> None:
        users = dict(self.users())
        if users.pop(name, None) is None:
            raise ValueError(f"no user '{name}'")
        self._write(users)

    def reset(self, name: str, password: str) -> None:
        users = dict(self.users())
        if name not in users:
            raise ValueError(f"no user '{name}'")
        users[name] = users[name] | _secret(password)
        self._write(users)

    def set(self, name: str, role: str | None, groups: Sequence[str] | None) -> None:
        users = dict(self.users())
        if name not in users:
            raise ValueError(f"no user '{name}'")
        entry = dict(users[name])
        if role is not None:
            entry["role"] = check_role(role)
        if groups is not None:
            entry["groups"] = sorted(set(groups))
        users[name] = entry
        self._write(users)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"no role '{role}': one of {', '.join(ROLES)}")
    return role


def _secret(password: str) -> dict:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return {"hash": _hasher.hash(password), "token": secrets.token_urlsafe(16)}


def read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input with --password-stdin (scripts), else typed
    twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(argv: Sequence[str], jobs_dir: Path | None = None) -> int:
    """`python app.py users add|remove|reset|set|list|unlock ...`; `jobs_dir`: the server's default
    jobs directory, where unlock finds the sign-in counts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--users", metavar="FILE", default=str(default_users_file()),
        help="the users file (default: ~/.config/personal-expression-explorer/users.json)",
    )  # fmt: skip
    parser = argparse.ArgumentParser(prog="app.py users", description="Manage who may sign in to the server.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", parents=[common], help="add a user (asks for the password)")
    reset = commands.add_parser("reset", parents=[common], help="a new password (signs the user out)")
    remove = commands.add_parser("remove", parents=[common], help="remove a user (signs the user out)")
    change = commands.add_parser("set", parents=[common], help="change a user's role or groups")
    commands.add_parser("list", parents=[common], help="the users, their roles and groups")
    unlock = commands.add_parser("unlock", help="let a user name or an address locked by failed sign-ins "
                                 "try again now")  # fmt: skip
    unlock.add_argument("name", help="a user name, or a client's address")
    unlock.add_argument("--jobs", metavar="DIR", default=str(jobs_dir) if jobs_dir else None,
                        required=jobs_dir is None, help=f"the server's jobs directory (default: {jobs_dir})")
    for sub in (add, reset, remove, change):
        sub.add_argument("name")
    for sub in (add, reset):
        sub.add_argument("--password-stdin", action="store_true", help="read the password from standard in")
    for sub, required in ((add, True), (change, False)):
        sub.add_argument("--role", choices=ROLES, required=required,
                         help="viewer: browse and export; compute: also start and stop jobs; admin: all")
        sub.add_argument("--group", action="append", metavar="GROUP",
                         help="a group the user is in (repeat), for stores open to a group")  # fmt: skip
    change.add_argument("--no-groups", action="store_true", help="take the user out of every group")
    args = parser.parse_args(argv)
    if args.command == "unlock":
        from components.auth import unlock as forget  # here: auth imports this module

        done = forget(args.jobs, args.name)
        print(f"unlock: {args.name} " + ("may sign in again" if done else "was not locked"))
        return 0
    if args.command == "set" and args.no_groups and args.group:
        parser.error("--group and --no-groups go separately")
    users = UsersFile(args.users)
    try:
        if args.command == "list":
            for name, entry in sorted(users.users().items()):
                print(f"{name}\t{entry.get('role')}\t{','.join(entry.get('groups') or [])}")
            return 0
        if args.command == "add":
            check_name(args.name)
            users.add(args.name, read_password(args.password_stdin), args.role, args.group or ())
        elif args.command == "reset":
            if users.user(args.name) is None:  # before asking for a password
                raise ValueError(f"no user '{args.name}'")
            users.reset(args.name, read_password(args.password_stdin))
        elif args.command == "remove":
            users.remove(args.name)
        else:
            users.set(args.name, args.role, [] if args.no_groups else args.group)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.command}: {args.name} ({users.path})")
    return 0
