"""Who may do what on the platform's Kafka (CONTRACT.md's topic table): one principal per
service, writing only the topics it owns and reading only those it consumes, plus the
outside producers, which may only write submission requests. Everything else is denied
(`allow.everyone.if.no.acl.found=false`); the brokers and `admin` are super users.

    python -m services.common.kafka_acls --bootstrap HOST:PORT [--passwords FILE]
        [--users-from-env submissions,scoring,...]

runs as the admin principal (EMULATION_KAFKA_USERNAME / EMULATION_KAFKA_PASSWORD), creates
the SCRAM-SHA-512 users that are missing (FILE: a JSON object name -> password; or each
name's password from the variable KAFKA_<NAME>_PASSWORD) and the ACLs below. Safe to run
again: Kafka keeps one copy of an ACL."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from services.common.kafka_auth import KafkaAuth
from services.common.topics import (
    DEAD_LETTERS,
    NOTIFICATIONS,
    SCORES,
    SUBMISSION_REQUESTS,
    SUBMISSION_REQUESTS_DLQ,
    SUBMISSIONS,
    UNITS,
)

ADMIN = "admin"
# The principal of systems outside the platform that produce submission requests. A
# deployment may add one per system with the same grant (OUTSIDE_PRODUCER_GRANT).
MINISTRY = "ministry"


@dataclass(frozen=True)
class Grant:
    """What one principal may do: WRITE on `writes`, READ on `reads` (both imply
    DESCRIBE), READ on its consumer `groups`. No cluster ACL: since Kafka 3.0 (KIP-679)
    an idempotent producer needs WRITE on a topic, not IDEMPOTENT_WRITE on the cluster."""

    principal: str
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


def group_of(service: str) -> str:
    """The consumer group of a service (services.common.runtime.build_runtime)."""
    return f"emulation-{service}"


GRANTS: tuple[Grant, ...] = (
    Grant("submissions", writes=(UNITS, SUBMISSIONS, SUBMISSION_REQUESTS_DLQ),
          reads=(SUBMISSION_REQUESTS,), groups=(group_of("submissions"),)),
    Grant("scoring", writes=(SCORES, DEAD_LETTERS), reads=(SUBMISSIONS, UNITS),
          groups=(group_of("scoring"),)),
    Grant("notifications", writes=(NOTIFICATIONS, DEAD_LETTERS), reads=(SUBMISSIONS, UNITS),
          groups=(group_of("notifications"),)),
    Grant("reporting", writes=(DEAD_LETTERS,),
          reads=(SUBMISSIONS, SCORES, NOTIFICATIONS, UNITS),
          groups=(group_of("reporting"),)),
    Grant(MINISTRY, writes=(SUBMISSION_REQUESTS,)),
)
SERVICE_PRINCIPALS = ("submissions", "scoring", "notifications", "reporting")


def outside_producer_grant(principal: str) -> Grant:
    return Grant(principal, writes=(SUBMISSION_REQUESTS,))


def acl_rows(grants: tuple[Grant, ...] = GRANTS) -> list[tuple[str, str, str, str]]:
    """(principal, operation, resource type, resource name), all ALLOW, literal names."""
    rows = []
    for g in grants:
        rows += [(g.principal, "WRITE", "TOPIC", t) for t in g.writes]
        rows += [(g.principal, "READ", "TOPIC", t) for t in g.reads]
        rows += [(g.principal, "READ", "GROUP", name) for name in g.groups]
    return rows


def apply_acls(bootstrap: str, auth: KafkaAuth, passwords: dict[str, str] | None = None,
               grants: tuple[Grant, ...] = GRANTS) -> dict[str, int]:
    """As a super user: create the missing SCRAM users of `passwords`, then the grants'
    ACLs. Returns counts of users created and ACLs asked for."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        KafkaAdminClient,
        ResourcePattern,
        ResourceType,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="acls",
                             **auth.kafka_python())
    try:
        created = 0
        if passwords:
            known = admin.describe_user_scram_credentials()
            missing = {name: pw for name, pw in passwords.items()
                       if not (known.get(name) or {}).get("credential_infos")}
            if missing:
                failed = {user: error for user, error in admin.alter_user_scram_credentials([
                    UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, pw)
                    for name, pw in missing.items()]).items() if error}
                if failed:
                    raise RuntimeError(f"cannot create the Kafka users: {failed}")
                created = len(missing)
        acls = [ACL(principal=f"User:{who}", host="*", operation=ACLOperation[op],
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=ResourcePattern(ResourceType[kind], name))
                for who, op, kind, name in acl_rows(grants)]
        result = admin.create_acls(acls)
        if result["failed"]:
            raise RuntimeError(f"cannot create the Kafka ACLs: {result['failed']}")
        return {"users": created, "acls": len(acls)}
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    from services.common.settings import ServiceSettings

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--passwords", type=Path, default=None,
                        help="JSON object of SCRAM users to create: name -> password")
    parser.add_argument("--users-from-env", default="",
                        help="comma-separated users whose passwords are in KAFKA_<NAME>_PASSWORD")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    passwords = json.loads(args.passwords.read_text()) if args.passwords else {}
    for name in filter(None, args.users_from_env.split(",")):
        variable = f"KAFKA_{name.upper()}_PASSWORD"
        if not os.environ.get(variable):
            parser.error(f"{variable} is not set")
        passwords[name] = os.environ[variable]
    done = apply_acls(args.bootstrap or settings.kafka_bootstrap, settings.kafka_auth(),
                      passwords)
    print(f"Kafka users created: {done['users']}; ACLs applied: {done['acls']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
