"""Bearer tokens: each unit has its own, the operator has one. Only hashes are stored."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPERATOR = "operator"
UNIT = "unit"


@dataclass(frozen=True)
class Principal:
    kind: str  # OPERATOR or UNIT
    unit_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR

    def may_access(self, unit_id: str) -> bool:
        return self.is_operator or self.unit_id == unit_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def issue_credentials(unit_ids: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh tokens: (plain, for the developer; hashed, for the services)."""
    operator = new_token()
    units = {u: new_token() for u in unit_ids}
    plain = {"operator": operator, "units": units}
    hashed: dict[str, Any] = {hash_token(operator): {"kind": OPERATOR}}
    hashed.update({hash_token(t): {"kind": UNIT, "unit_id": u} for u, t in units.items()})
    return plain, {"version": 1, "tokens": hashed}


class TokenStore:
    """Reads the hashed-token file, again whenever it changes (no restart needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._tokens: dict[str, Principal] = {}

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._tokens, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        self._tokens = {
            digest: Principal(kind=p["kind"], unit_id=p.get("unit_id"))
            for digest, p in doc.get("tokens", {}).items()
        }
        self._mtime = mtime

    def authenticate(self, token: str) -> Principal | None:
        self._refresh()
        return self._tokens.get(hash_token(token))
