"""Bearer tokens: one per unit system and one per named operator account, each with an
expiry and revocable. Only SHA-256 hashes of the tokens are ever stored.

The accounts file (`EMULATION_CREDENTIALS_FILE`, JSON, version 2) is shared by the four
services and reread whenever it changes, so an issue or a revocation takes effect without
a restart (docs/adr/0007-named-operators-and-audit.md):

    {"version": 2, "tokens": {"<sha256 of the token>": {
        "id": "tok-…", "kind": "operator" | "unit", "name": "…", "role": "viewer" | …,
        "unit_id": "…", "issued_at": "…Z", "expires_at": "…Z", "revoked_at": null}}}

A plain SHA-256 is enough: the tokens are 256 random bits (`secrets.token_urlsafe(32)`),
so nobody can search them however fast the hash is; a slow hash (bcrypt, argon2) guards
guessable passwords, and would cost every request tens of milliseconds of CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from services.common import individuals

OPERATOR = "operator"  # a person's account: viewer, operator or admin
UNIT = "unit"  # a reporting unit's system
ROLES = ("viewer", "operator", "admin")  # each may do what the ones before it may
VERSION = 2
# The bootstrap admin `make up` creates, and the unit tokens of the local stack.
BOOTSTRAP_ADMIN = "bootstrap-admin"
DEFAULT_UNIT_TTL = timedelta(days=400)  # one reporting season and its amendments
DEFAULT_OPERATOR_TTL = timedelta(days=90)
BOOTSTRAP_TTL = timedelta(days=30)


@dataclass(frozen=True)
class Principal:
    kind: str  # OPERATOR or UNIT
    unit_id: str | None = None
    name: str | None = None
    role: str | None = None
    token_id: str | None = None

    @property
    def is_operator(self) -> bool:
        """Any named account (viewer, operator or admin): reads every unit's data."""
        return self.kind == OPERATOR

    def has_role(self, role: str) -> bool:
        return (self.is_operator and self.role in ROLES
                and ROLES.index(self.role) >= ROLES.index(role))

    def may_access(self, unit_id: str) -> bool:
        """Operators: every unit; a unit: itself and the people it reports
        (services.common.individuals), nobody else."""
        return (self.is_operator or self.unit_id == unit_id
                or (self.unit_id is not None and individuals.answers_for(self.unit_id, unit_id)))

    def describe(self) -> PrincipalInfo:
        """Who, for the audit trail and the logs (never the token)."""
        return {"token_id": self.token_id, "kind": self.kind, "name": self.name,
                "role": self.role, "unit_id": self.unit_id}


class TokenEntry(TypedDict):
    """One token of the accounts file, by its hash: an operator's (`name`, `role`) or a
    unit's (`unit_id`)."""

    id: str
    kind: str
    name: NotRequired[str]
    role: NotRequired[str]
    unit_id: NotRequired[str]
    issued_at: str
    expires_at: str
    revoked_at: str | None
    revoked_reason: NotRequired[str]


class AccountsFile(TypedDict):
    """The accounts file: hashed token -> its entry."""

    version: int
    tokens: dict[str, TokenEntry]


class Credentials(TypedDict):
    """A local stack's fresh tokens, for the developer (shown once)."""

    admin: str
    admin_expires_at: str
    units: dict[str, str]


class PrincipalInfo(TypedDict):
    """Who, for the audit trail and the logs (never the token)."""

    token_id: str | None
    kind: str
    name: str | None
    role: str | None
    unit_id: str | None


class TokenRefused(Exception):
    """The token is known but may not be used any more: `why` is expired or revoked."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_token_id() -> str:
    return "tok-" + secrets.token_hex(6)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return when


def operator_entry(name: str, role: str, expires_at: datetime,
                   now: datetime | None = None) -> TokenEntry:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not 2 <= len(name.strip()) <= 100 or not name.isprintable():
        raise ValueError("name: 2 to 100 printable characters")
    return {"id": new_token_id(), "kind": OPERATOR, "name": name.strip(), "role": role,
            "issued_at": iso(now or utcnow()), "expires_at": iso(expires_at),
            "revoked_at": None}


def unit_entry(unit_id: str, expires_at: datetime, now: datetime | None = None
               ) -> TokenEntry:
    return {"id": new_token_id(), "kind": UNIT, "unit_id": unit_id,
            "issued_at": iso(now or utcnow()), "expires_at": iso(expires_at),
            "revoked_at": None}


def issue_credentials(unit_ids: list[str], now: datetime | None = None
                      ) -> tuple[Credentials, AccountsFile]:
    """Fresh tokens for a local stack: a bootstrap admin account and one token per unit.
    (plain, for the developer, shown once; hashed, for the services)."""
    now = now or utcnow()
    admin = new_token()
    units = {u: new_token() for u in unit_ids}
    plain: Credentials = {"admin": admin, "admin_expires_at": iso(now + BOOTSTRAP_TTL),
                          "units": units}
    hashed: dict[str, TokenEntry] = {
        hash_token(admin): operator_entry(BOOTSTRAP_ADMIN, "admin", now + BOOTSTRAP_TTL, now)}
    hashed.update({hash_token(t): unit_entry(u, now + DEFAULT_UNIT_TTL, now)
                   for u, t in units.items()})
    return plain, {"version": VERSION, "tokens": hashed}


def principal_of(entry: TokenEntry) -> Principal:
    return Principal(kind=entry["kind"], unit_id=entry.get("unit_id"),
                     name=entry.get("name"), role=entry.get("role"),
                     token_id=entry.get("id"))


def refusal(entry: TokenEntry, now: datetime) -> str | None:
    """Why the entry's token may not be used at `now` (None: it may)."""
    if entry.get("revoked_at"):
        return "revoked"
    expires = entry.get("expires_at")
    if not expires or parse_iso(expires) <= now:
        return "expired"  # an entry without an expiry (version 1) is not honoured
    return None


def _expiry_of(entry: TokenEntry) -> datetime | None:
    """The entry's expiry; None (never valid) if it has none or not a readable one."""
    try:
        return parse_iso(str(entry["expires_at"]))
    except (KeyError, ValueError):
        return None


class TokenStore:
    """Reads the hashed-token file, again whenever it changes (no restart needed).
    Expiry is judged on the real clock, never on the operator-settable service clock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, TokenEntry] = {}
        self._principals: dict[str, Principal] = {}
        self._expiries: dict[str, datetime] = {}

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._entries, self._principals, self._expiries = {}, {}, {}
            self._stamp = None
            return
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp == self._stamp:
            return
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        tokens = doc.get("tokens", {}) if doc.get("version") == VERSION else {}
        self._entries = {digest: e for digest, e in tokens.items()
                         if e.get("kind") in (OPERATOR, UNIT)}
        # Parsed once per change of the file, not once per request.
        self._principals = {digest: principal_of(e) for digest, e in self._entries.items()}
        self._expiries = {digest: when for digest, e in self._entries.items()
                          if (when := _expiry_of(e)) is not None}
        self._stamp = stamp

    def check(self, token: str, now: datetime | None = None) -> Principal | None:
        """The token's principal; None if unknown; TokenRefused if expired or revoked."""
        self._refresh()
        digest = hash_token(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.get("revoked_at"):
            raise TokenRefused("revoked")
        expires = self._expiries.get(digest)
        if expires is None or expires <= (now or utcnow()):
            raise TokenRefused("expired")  # no expiry (a version 1 entry): not honoured
        return self._principals[digest]

    def authenticate(self, token: str, now: datetime | None = None) -> Principal | None:
        try:
            return self.check(token, now)
        except TokenRefused:
            return None


# -- the accounts file, edited by the CLI (services/common/accounts.py) ---------------

def load_file(path: Path) -> AccountsFile:
    if not path.exists():
        return {"version": VERSION, "tokens": {}}
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("version") != VERSION:
        raise ValueError(f"{path} is not a version {VERSION} accounts file; `make up` "
                         "writes a new one")
    return {"version": VERSION, "tokens": doc["tokens"]}


def save_file(path: Path, doc: AccountsFile) -> None:
    """Atomically (a reader sees the old file or the new one), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
