"""Domain errors: what a rule refuses, said without HTTP.

A domain module raises a `Refused` subclass naming the kind of refusal and the rule
(`code`); the API layer alone turns it into a problem body with `problem_for`, so the
domain neither imports the web framework nor knows a status code. The kinds are few and
mean the same in every service."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Refusal(Enum):
    """Why a request is refused, in domain words; `services.common.problems` maps each kind
    to its HTTP status."""

    INVALID = "invalid"          # the request breaks a rule about its own content
    NOT_FOUND = "not-found"      # it names something that does not exist
    CONFLICT = "conflict"        # it clashes with the current state (deadline, lock, a run)


class Refused(Exception):
    """A request a rule refuses: `kind` says how, `code` names the rule, `detail` says why
    in a sentence for the person who sent it; `extra` is added to the problem body."""

    def __init__(self, kind: Refusal, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.kind, self.code, self.detail, self.extra = kind, code, detail, extra
