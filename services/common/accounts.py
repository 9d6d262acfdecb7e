"""Operator accounts and unit tokens: issue, list, revoke, rotate.

    python -m services.common.accounts issue --name "Nguyễn Văn A" --role operator --expires 90d
    python -m services.common.accounts issue-unit --unit police:phu-tho --expires 400d
    python -m services.common.accounts rotate-unit --unit police:phu-tho --overlap 72h
    python -m services.common.accounts list [--all] [--json]
    python -m services.common.accounts revoke --id tok-0123456789ab --reason "left the unit"

A new token is printed once and never stored: the file (`--file`, default
`EMULATION_CREDENTIALS_FILE` or `.local/credentials.hashed.json`) keeps only its
SHA-256. The four services reread the file when it changes. In production the file is the
`emulation-credentials` Secret: edit a copy with this command, then apply it (docs/adr/0007).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from services.common.auth import (
    DEFAULT_OPERATOR_TTL,
    DEFAULT_UNIT_TTL,
    OPERATOR,
    ROLES,
    AccountsFile,
    TokenEntry,
    hash_token,
    iso,
    load_file,
    new_token,
    operator_entry,
    parse_iso,
    refusal,
    save_file,
    unit_entry,
    utcnow,
)
from services.common.settings import REPO_ROOT

UNIT_ID = re.compile(r"^(ministry|province|front|organization|individual|police):"
                     r"[a-z0-9]+(-[a-z0-9]+)*$")
DURATION = re.compile(r"^([0-9]{1,5})([hd])$")
MAX_TTL = timedelta(days=800)


class AccountError(ValueError):
    """A request the CLI refuses, with the reason."""


def default_file() -> Path:
    return Path(os.environ.get("EMULATION_CREDENTIALS_FILE")
                or REPO_ROOT / ".local" / "credentials.hashed.json")


def expiry(text: str | None, default: timedelta, now: datetime) -> datetime:
    """`90d`, `12h` or an ISO date-time with its offset; in the future, at most 800 days."""
    if text is None:
        return now + default
    found = DURATION.match(text)
    if found:
        n, unit = int(found.group(1)), found.group(2)
        when = now + (timedelta(hours=n) if unit == "h" else timedelta(days=n))
    else:
        try:
            when = parse_iso(text)
        except ValueError as exc:
            raise AccountError(f"--expires {text!r}: give 90d, 12h or an ISO date-time "
                               "with its offset") from exc
    if when <= now:
        raise AccountError(f"--expires {text!r} is not in the future")
    if when - now > MAX_TTL:
        raise AccountError(f"--expires {text!r}: at most {MAX_TTL.days} days ahead")
    return when


@contextlib.contextmanager
def editing(path: Path) -> Iterator[AccountsFile]:
    """The file's content, written back atomically at the end; one editor at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = load_file(path)
        yield doc
        save_file(path, doc)


class TokenRow(TokenEntry):
    """A token as `list` shows it: its entry and whether it may be used now."""

    state: str


def issue(path: Path, name: str, role: str, expires_at: datetime,
          now: datetime | None = None) -> tuple[str, TokenEntry]:
    """A named operator account: (the token, shown once; its entry)."""
    try:
        entry = operator_entry(name, role, expires_at, now)
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    token = new_token()
    with editing(path) as doc:
        doc["tokens"][hash_token(token)] = entry
    return token, entry


def issue_unit(path: Path, unit_id: str, expires_at: datetime,
               now: datetime | None = None) -> tuple[str, TokenEntry]:
    if not UNIT_ID.match(unit_id):
        raise AccountError(f"--unit {unit_id!r} is not a unit id (e.g. police:phu-tho)")
    token = new_token()
    entry = unit_entry(unit_id, expires_at, now)
    with editing(path) as doc:
        doc["tokens"][hash_token(token)] = entry
    return token, entry


def rotate_unit(path: Path, unit_id: str, expires_at: datetime, overlap: timedelta,
                now: datetime | None = None) -> tuple[str, TokenEntry, list[str]]:
    """A new token for the unit; its other tokens expire `overlap` from now (the time the
    unit's system needs to switch). Returns the token, its entry and the shortened ids."""
    now = now or utcnow()
    token, entry = issue_unit(path, unit_id, expires_at, now)
    ends = iso(now + overlap)
    shortened = []
    with editing(path) as doc:
        for e in doc["tokens"].values():
            if (e.get("unit_id") == unit_id and e["id"] != entry["id"]
                    and refusal(e, now) is None and e["expires_at"] > ends):
                e["expires_at"] = ends
                shortened.append(e["id"])
    return token, entry, shortened


def revoke(path: Path, token_id: str, reason: str, now: datetime | None = None
           ) -> TokenEntry:
    if len(reason.strip()) < 3:
        raise AccountError("--reason: say why, in at least 3 characters")
    with editing(path) as doc:
        for e in doc["tokens"].values():
            if e.get("id") == token_id:
                if not e.get("revoked_at"):
                    e["revoked_at"] = iso(now or utcnow())
                    e["revoked_reason"] = reason.strip()
                return e.copy()
    raise AccountError(f"no token {token_id!r} in {path}")


def listing(path: Path, include_inactive: bool = False, now: datetime | None = None
            ) -> list[TokenRow]:
    now = now or utcnow()
    rows: list[TokenRow] = []
    for e in load_file(path)["tokens"].values():
        state = refusal(e, now) or "active"
        if state == "active" or include_inactive:
            rows.append({**e, "state": state})
    return sorted(rows, key=lambda r: (r["kind"] != OPERATOR, r.get("name") or "",
                                       r.get("unit_id") or "", r["issued_at"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.accounts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=None,
                        help="the hashed accounts file (default: EMULATION_CREDENTIALS_FILE "
                             "or .local/credentials.hashed.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("issue", help="a named operator account; prints its token once")
    p.add_argument("--name", required=True, help="the person, as the audit trail shows them")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--expires", help="90d, 12h or an ISO date-time (default 90d)")
    p = sub.add_parser("issue-unit", help="a token for a unit's system; prints it once")
    p.add_argument("--unit", required=True)
    p.add_argument("--expires", help="default 400d")
    p = sub.add_parser("rotate-unit", help="a new unit token; the old ones end after "
                                           "--overlap")
    p.add_argument("--unit", required=True)
    p.add_argument("--expires", help="of the new token (default 400d)")
    p.add_argument("--overlap", default="72h", help="how long the old tokens still work")
    p = sub.add_parser("list", help="the accounts and unit tokens (never a token)")
    p.add_argument("--all", action="store_true", help="also the expired and revoked")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("revoke", help="end a token now")
    p.add_argument("--id", required=True)
    p.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    path: Path = args.file or default_file()
    now = utcnow()
    try:
        if args.command == "issue":
            token, entry = issue(path, args.name, args.role,
                                 expiry(args.expires, DEFAULT_OPERATOR_TTL, now), now)
            _shown_once(token, entry)
        elif args.command == "issue-unit":
            token, entry = issue_unit(path, args.unit,
                                      expiry(args.expires, DEFAULT_UNIT_TTL, now), now)
            _shown_once(token, entry)
        elif args.command == "rotate-unit":
            found = DURATION.match(args.overlap)
            if not found:
                raise AccountError(f"--overlap {args.overlap!r}: give e.g. 72h or 3d")
            n = int(found.group(1))
            overlap = timedelta(hours=n) if found.group(2) == "h" else timedelta(days=n)
            token, entry, shortened = rotate_unit(
                path, args.unit, expiry(args.expires, DEFAULT_UNIT_TTL, now), overlap, now)
            _shown_once(token, entry)
            print(f"older tokens ending at {iso(now + overlap)}: {', '.join(shortened) or '-'}")
        elif args.command == "list":
            rows = listing(path, args.all, now)
            if args.json:
                print(json.dumps(rows, indent=1, ensure_ascii=False))
            for r in rows if not args.json else []:
                who = (f"{r['name']} ({r['role']})" if r["kind"] == OPERATOR
                       else r["unit_id"])
                print(f"{r['id']}  {r['state']:8}  expires {r['expires_at']}  {who}")
        elif args.command == "revoke":
            entry = revoke(path, args.id, args.reason, now)
            print(f"revoked {entry['id']} at {entry['revoked_at']}")
    except (AccountError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _shown_once(token: str, entry: TokenEntry) -> None:
    who = entry.get("name") or entry.get("unit_id")
    print(f"id:      {entry['id']}\nfor:     {who}"
          + (f" ({entry['role']})" if entry.get("role") else "")
          + f"\nexpires: {entry['expires_at']}\ntoken:   {token}\n"
          "The token is shown only now; only its hash is kept. Hand it over in person or "
          "by a protected channel.")


if __name__ == "__main__":
    sys.exit(main())
