"""Which failures of a record's processing go away by themselves: a consumer retries
those for as long as it takes and dead-letters the rest, so no record is ever skipped."""

from __future__ import annotations

import random

from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    WriteConcernError,
    WTimeoutError,
)


class TransientError(RuntimeError):
    """A failure that goes away when a dependency returns: retry, never drop."""


# MongoDB codes of a server that is starting, stopping, stepping down or out of time.
TRANSIENT_CODES = frozenset({
    6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
})
# What SQLite says through FerretDB when another writer holds it or the disk is full.
TRANSIENT_WORDS = ("database is locked", "database table is locked", "sqlite_busy",
                   "database or disk is full", "disk is full", "no space left on device")
# Kafka refuses these for what the record made us produce: waiting changes nothing.
PERMANENT_KAFKA = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


def is_transient(exc: BaseException) -> bool:
    """True if the same processing may succeed later (the store, Kafka or the disk is
    away or busy); False if the record itself is the problem."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, KafkaError):
        return not isinstance(exc, PERMANENT_KAFKA)
    if isinstance(exc, DuplicateKeyError):
        return False
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError
                  | WriteConcernError):
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        if details.get("writeConcernErrors"):
            return True
        return any(_transient_code_or_words(e.get("code"), e.get("errmsg"))
                   for e in details.get("writeErrors", ()))
    if isinstance(exc, OperationFailure):
        if exc.has_error_label("RetryableWriteError") or exc.has_error_label(
                "TransientTransactionError"):
            return True
        return _transient_code_or_words(exc.code, str(exc))
    if isinstance(exc, OSError):
        # The network, a timeout or a full disk: the host's trouble, not the record's.
        return True
    return _transient_code_or_words(None, str(exc))


def _transient_code_or_words(code: object, message: object) -> bool:
    text = str(message or "").lower()
    return code in TRANSIENT_CODES or any(words in text for words in TRANSIENT_WORDS)


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds before retry `attempt` (1, 2, ...): exponential up to `cap`, with jitter,
    so consumers that failed together do not all come back at the same instant."""
    ceiling = min(cap, base * 2 ** min(attempt, 16))
    return random.uniform(ceiling / 2, ceiling)
