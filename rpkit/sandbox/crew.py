"""The one crew store behind OIDC, SAML and SCIM: SQLite in the data directory."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .models import CrewMember, Group, Ship, hash_password, is_valid_imo

__all__ = ["CrewStore", "DuplicateError", "load_seed"]

_RELATIVE = re.compile(r"^(?:today|([+-]\d+)d)$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ships (imo TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE COLLATE NOCASE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups_ (
    id TEXT PRIMARY KEY, display_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT NOT NULL, last_modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    user_id TEXT NOT NULL, group_id TEXT NOT NULL, PRIMARY KEY (user_id, group_id));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class DuplicateError(Exception):
    """A unique field (``userName``, group ``displayName``) is already taken."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _seed_date(value: Any, today: date, name: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"seed {name} must be a string")
    match = _RELATIVE.match(value)
    if match:
        return today + timedelta(days=int(match.group(1) or 0))
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise ConfigurationError(f"seed {name} {value!r} is not yyyy-MM-dd or '+Nd'") from err


def load_seed(path: Path) -> dict[str, Any]:
    """Read and minimally check a seed file (JSON)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigurationError(f"seed file {str(path)!r} is not readable JSON") from err
    if not isinstance(data, dict):
        raise ConfigurationError("seed file must hold an object")
    for key in ("ships", "groups", "users"):
        if not isinstance(data.get(key, []), list):
            raise ConfigurationError(f'seed "{key}" must be a list')
    for ship in data.get("ships", []):
        if not is_valid_imo(str(ship.get("imo", ""))):
            raise ConfigurationError(f"seed ship IMO {ship.get('imo')!r} has a bad check digit")
    return data


def _member_to_json(member: CrewMember) -> str:
    data = asdict(member)
    data.pop("groups")
    for key in ("created", "last_modified", "contract_start", "contract_end"):
        value = data[key]
        data[key] = value.isoformat() if value is not None else None
    return json.dumps(data)


def _member_from_row(row: str, groups: tuple[str, ...]) -> CrewMember:
    data = json.loads(row)
    for key in ("created", "last_modified"):
        data[key] = datetime.fromisoformat(data[key])
    for key in ("contract_start", "contract_end"):
        data[key] = date.fromisoformat(data[key]) if data[key] else None
    data["emails"] = tuple(data["emails"])
    # Rows written before phoneNumbers were stored have no such key.
    data["phone_numbers"] = tuple(data.get("phone_numbers") or ())
    data["user_fields"] = tuple(data["user_fields"])
    return CrewMember(**data, groups=groups)


class CrewStore:
    """Ships, groups and crew members in one SQLite file; every read sees the latest write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def is_empty(self) -> bool:
        """Return whether nothing was ever seeded."""
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM ships").fetchone()
            return bool(row[0] == 0)

    def reset(self, seed: Mapping[str, Any], now: datetime) -> None:
        """Replace everything with the contents of ``seed``; relative dates count from ``now``."""
        today = now.date()
        default_password = str(seed.get("default_password", ""))
        with self._tx() as cur:
            for table in ("ships", "users", "groups_", "members", "counters"):
                cur.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            for ship in seed.get("ships", []):
                cur.execute(
                    "INSERT INTO ships VALUES (?, ?)", (str(ship["imo"]), str(ship["name"]))
                )
            for group in seed.get("groups", []):
                stamp = now.isoformat()
                cur.execute(
                    "INSERT INTO groups_ VALUES (?, ?, ?, ?)",
                    (str(group["id"]), str(group["displayName"]), stamp, stamp),
                )
            ships = {str(s["imo"]): str(s["name"]) for s in seed.get("ships", [])}
            for user in seed.get("users", []):
                imo = user.get("shipImo")
                member = CrewMember(
                    id=str(user["id"]),
                    user_name=str(user["userName"]),
                    external_id=user.get("externalId"),
                    given_name=str(user["givenName"]),
                    family_name=str(user["familyName"]),
                    display_name=user.get("displayName"),
                    active=bool(user.get("active", True)),
                    emails=({"value": user["userName"], "type": "work", "primary": True},),
                    phone_numbers=tuple(dict(p) for p in user.get("phoneNumbers", [])),
                    rank=user.get("rank"),
                    department=user.get("department"),
                    ship_imo=imo,
                    ship_name=ships.get(imo) if imo else None,
                    contract_start=_seed_date(user.get("contractStartDate"), today, "date"),
                    contract_end=_seed_date(user.get("contractEndDate"), today, "date"),
                    password_hash=hash_password(str(user.get("password", default_password))),
                    created=now,
                    last_modified=now,
                )
                self._write_member(cur, member, tuple(str(g) for g in user.get("groups", [])))

    # -- ships ---------------------------------------------------------------------------

    def get_ship(self, imo: str) -> Ship | None:
        """Return the ship with IMO number ``imo``, if known."""
        with self._lock:
            row = self._conn.execute("SELECT imo, name FROM ships WHERE imo = ?", (imo,)).fetchone()
        return Ship(imo=row[0], name=row[1]) if row else None

    def list_ships(self) -> list[Ship]:
        """Return every known ship."""
        with self._lock:
            rows = self._conn.execute("SELECT imo, name FROM ships ORDER BY name").fetchall()
        return [Ship(imo=r[0], name=r[1]) for r in rows]

    # -- users ---------------------------------------------------------------------------

    def next_id(self, kind: str) -> str:
        """Allocate a new numeric id for a ``"user"`` or ``"group"`` (Dualog ids are numbers)."""
        table, start = ("users", 90000) if kind == "user" else ("groups_", 7000)
        with self._tx() as cur:
            row = cur.execute("SELECT value FROM counters WHERE name = ?", (kind,)).fetchone()
            if row is None:
                ids = [int(r[0]) for r in cur.execute(f"SELECT id FROM {table}") if r[0].isdigit()]  # noqa: S608
                value = max([start, *ids]) + 1
            else:
                value = int(row[0]) + 1
            cur.execute("INSERT OR REPLACE INTO counters VALUES (?, ?)", (kind, value))
        return str(value)

    def _groups_of(self, user_id: str) -> tuple[str, ...]:
        rows = self._conn.execute(
            "SELECT group_id FROM members WHERE user_id = ? ORDER BY group_id", (user_id,)
        ).fetchall()
        return tuple(r[0] for r in rows)

    def list_users(self) -> list[CrewMember]:
        """Return every user, ordered by id."""
        with self._lock:
            rows = self._conn.execute("SELECT id, data FROM users").fetchall()
            users = [_member_from_row(r[1], self._groups_of(r[0])) for r in rows]
        return sorted(users, key=lambda m: (len(m.id), m.id))

    def get_user(self, user_id: str) -> CrewMember | None:
        """Return the user with ``id``, if any."""
        with self._lock:
            row = self._conn.execute("SELECT data FROM users WHERE id = ?", (user_id,)).fetchone()
            return _member_from_row(row[0], self._groups_of(user_id)) if row else None

    def find_user(self, user_name: str) -> CrewMember | None:
        """Return the user whose ``userName`` is ``user_name`` (case-insensitive)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, data FROM users WHERE user_name = ?", (user_name,)
            ).fetchone()
            return _member_from_row(row[1], self._groups_of(row[0])) if row else None

    def _write_member(
        self, cur: sqlite3.Cursor, member: CrewMember, groups: tuple[str, ...]
    ) -> None:
        try:
            cur.execute(
                "INSERT OR REPLACE INTO users VALUES (?, ?, ?)",
                (member.id, member.user_name, _member_to_json(member)),
            )
        except sqlite3.IntegrityError as err:
            raise DuplicateError("userName", f'userName "{member.user_name}" is taken') from err
        cur.execute("DELETE FROM members WHERE user_id = ?", (member.id,))
        for group_id in groups:
            cur.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (member.id, group_id))

    def save_user(self, member: CrewMember) -> CrewMember:
        """Insert or replace ``member`` (with its group memberships) and return it."""
        with self._tx() as cur:
            clash = cur.execute(
                "SELECT id FROM users WHERE user_name = ? AND id != ?",
                (member.user_name, member.id),
            ).fetchone()
            if clash:
                raise DuplicateError("userName", f'userName "{member.user_name}" is taken')
            self._write_member(cur, member, member.groups)
        return member

    def delete_user(self, user_id: str) -> bool:
        """Delete a user; return whether it existed."""
        with self._tx() as cur:
            cur.execute("DELETE FROM members WHERE user_id = ?", (user_id,))
            return cur.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

    def set_password(self, user_id: str, password: str) -> None:
        """Set a user's password."""
        member = self.get_user(user_id)
        if member is not None:
            self.save_user(replace(member, password_hash=hash_password(password)))

    # -- groups --------------------------------------------------------------------------

    def _group_from_row(self, row: tuple[str, str, str, str]) -> Group:
        members = self._conn.execute(
            "SELECT user_id FROM members WHERE group_id = ? ORDER BY user_id", (row[0],)
        ).fetchall()
        return Group(
            id=row[0],
            display_name=row[1],
            members=tuple(m[0] for m in members),
            created=datetime.fromisoformat(row[2]),
            last_modified=datetime.fromisoformat(row[3]),
        )

    def list_groups(self) -> list[Group]:
        """Return every group, ordered by id."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM groups_ ORDER BY id").fetchall()
            return [self._group_from_row(r) for r in rows]

    def get_group(self, group_id: str) -> Group | None:
        """Return the group with ``id``, if any."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM groups_ WHERE id = ?", (group_id,)).fetchone()
            return self._group_from_row(row) if row else None

    def save_group(self, group: Group) -> Group:
        """Insert or replace ``group`` and its member list."""
        with self._tx() as cur:
            clash = cur.execute(
                "SELECT id FROM groups_ WHERE display_name = ? AND id != ?",
                (group.display_name, group.id),
            ).fetchone()
            if clash:
                raise DuplicateError("displayName", f'group "{group.display_name}" exists')
            cur.execute(
                "INSERT OR REPLACE INTO groups_ VALUES (?, ?, ?, ?)",
                (
                    group.id,
                    group.display_name,
                    group.created.isoformat(),
                    group.last_modified.isoformat(),
                ),
            )
            cur.execute("DELETE FROM members WHERE group_id = ?", (group.id,))
            for user_id in group.members:
                cur.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (user_id, group.id))
        return group

    def delete_group(self, group_id: str) -> bool:
        """Delete a group; return whether it existed."""
        with self._tx() as cur:
            cur.execute("DELETE FROM members WHERE group_id = ?", (group_id,))
            return cur.execute("DELETE FROM groups_ WHERE id = ?", (group_id,)).rowcount > 0

    def set_membership(
        self, user_id: str, group_id: str, *, member: bool, now: datetime | None = None
    ) -> None:
        """Add or remove one user-group membership; ``now`` becomes the user's lastModified."""
        with self._tx() as cur:
            if member:
                cur.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (user_id, group_id))
            else:
                cur.execute(
                    "DELETE FROM members WHERE user_id = ? AND group_id = ?", (user_id, group_id)
                )
            row = cur.execute("SELECT data FROM users WHERE id = ?", (user_id,)).fetchone()
            if now is not None and row is not None:
                data = json.loads(row[0])
                data["last_modified"] = now.isoformat()
                cur.execute("UPDATE users SET data = ? WHERE id = ?", (json.dumps(data), user_id))
