"""Channel adapters behind one interface: e-mail over SMTP (aiosmtplib), SMS over an
HTTP gateway (JSON POST); SMPP is in smpp.py. Each send ends in a SendResult or one of
three errors, and the difference matters:

- TransientSendError: nothing reached the provider (refused connection, 4xx, throttled):
  retrying, or trying the next provider, cannot duplicate.
- PermanentSendError: the provider refused this message for good (5xx, bad address):
  retrying the same provider is pointless; another provider may accept it.
- UnknownOutcome: the message may have been accepted (connection lost or timed out after
  the content was sent): never resent, the ledger marks it `unknown`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib
import httpx


@dataclass(frozen=True)
class Email:
    key: str
    to: str
    subject: str
    body: str
    message_id: str
    date: datetime
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sms:
    key: str
    to: str
    text: str
    reference: int  # the concatenation reference, the same on every try


Message = Email | Sms


@dataclass(frozen=True)
class SendResult:
    provider: str
    message_ids: tuple[str, ...] = ()
    detail: str = ""


class SendError(Exception):
    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider, self.detail = provider, detail


class TransientSendError(SendError):
    """Not sent; safe to retry or to try another provider."""


class PermanentSendError(SendError):
    """Refused for good by this provider."""


class UnknownOutcome(SendError):
    """Maybe sent: must not be sent again."""


class Provider(Protocol):
    name: str
    channel: str

    async def send(self, message: Message) -> SendResult: ...


# How long one provider try may take at most, when a provider does not say
# (`worst_attempt_seconds`): only test doubles lack it.
DEFAULT_WORST_ATTEMPT_SECONDS = 30.0
# SMTP steps each bounded by the timeout: connect, greeting, EHLO, MAIL, RCPT, DATA and
# the end of the message.
SMTP_STEPS = 7


def worst_attempt_seconds(provider: Provider) -> float:
    """The longest one try of `provider` can take (its timeouts, step by step)."""
    return float(getattr(provider, "worst_attempt_seconds", DEFAULT_WORST_ATTEMPT_SECONDS))


def build_email(msg: Email, sender: str) -> EmailMessage:
    em = EmailMessage()
    em["From"] = sender
    em["To"] = msg.to
    em["Subject"] = msg.subject
    em["Message-ID"] = msg.message_id
    em["Date"] = format_datetime(msg.date)
    em.set_content(msg.body, charset="utf-8")
    for name, value in msg.headers.items():  # after set_content, which resets Content-*
        em[name] = value
    return em


class SmtpProvider:
    """One SMTP session per message, step by step, so a failure before DATA (nothing
    sent) is told apart from one after it (maybe sent)."""

    name, channel = "smtp", "email"

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        # Our EHLO name: the sender's domain (spares a getfqdn() per message).
        self.local_hostname = sender.rpartition("@")[2] or "localhost"

    @property
    def worst_attempt_seconds(self) -> float:
        return SMTP_STEPS * self.timeout

    async def send(self, message: Message) -> SendResult:
        assert isinstance(message, Email)
        em = build_email(message, self.sender)
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout,
                                 start_tls=False, use_tls=False,
                                 local_hostname=self.local_hostname)
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(self.name, f"cannot connect: {exc!r}") from exc
        try:
            try:
                await client.mail(self.sender)
                await client.rcpt(message.to)
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(self.name, exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise TransientSendError(self.name, f"before DATA: {exc!r}") from exc
            try:
                response = await client.data(em.as_bytes())
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(self.name, exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise UnknownOutcome(self.name, f"during DATA: {exc!r}") from exc
        finally:
            client.close()
        return SendResult(self.name, (message.message_id,), response.message[:200])


def _by_code(provider: str, code: int, text: str) -> SendError:
    if 400 <= code < 500:
        return TransientSendError(provider, f"{code} {text}"[:300])
    return PermanentSendError(provider, f"{code} {text}"[:300])


class HttpSmsProvider:
    """A generic HTTP SMS gateway: POST {to, text, sender, reference} as JSON, answered
    with {message_id}. The gateway splits long texts itself."""

    name, channel = "http-sms", "sms"

    def __init__(self, url: str, sender: str, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url, self.sender, self.timeout = url, sender, timeout
        self.client = client or httpx.AsyncClient(timeout=timeout)

    @property
    def worst_attempt_seconds(self) -> float:
        # httpx bounds each phase (pool, connect, write, read); the whole request is
        # bounded as well, so a gateway answering byte by byte cannot hold it longer.
        return 3 * self.timeout

    async def send(self, message: Message) -> SendResult:
        assert isinstance(message, Sms)
        body = {"to": message.to, "text": message.text, "sender": self.sender,
                "reference": message.key}
        try:
            response = await asyncio.wait_for(self.client.post(self.url, json=body),
                                              self.worst_attempt_seconds)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientSendError(self.name, f"cannot connect: {exc!r}") from exc
        except (httpx.HTTPError, TimeoutError) as exc:
            raise UnknownOutcome(self.name, f"no answer: {exc!r}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(self.name, f"{response.status_code} {response.text[:200]}")
        if response.status_code >= 400:
            raise PermanentSendError(self.name, f"{response.status_code} {response.text[:200]}")
        try:
            message_id = str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            # Accepted (2xx) but unreadable: it was sent; we only lack the id.
            return SendResult(self.name, (), f"accepted without a message id: {exc!r}")
        return SendResult(self.name, (message_id,))

    async def close(self) -> None:
        await self.client.aclose()
