"""How a process authenticates to Kafka (SASL/SCRAM-SHA-512, optionally over TLS), in the
shape each client library wants: aiokafka, kafka-python, faust and Kafka's own Java tools.
Plumbing only: which principal may do what is docs/kafka-security.md and devstack's ACLs."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Any, TypedDict

MECHANISM = "SCRAM-SHA-512"
PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")


class AiokafkaAuth(TypedDict, total=False):
    """aiokafka's authentication keyword arguments (none without SASL)."""

    security_protocol: str
    sasl_mechanism: str
    sasl_plain_username: str | None
    sasl_plain_password: str | None
    ssl_context: ssl.SSLContext | None


class KafkaPythonAuth(TypedDict, total=False):
    """kafka-python's authentication keyword arguments (none without SASL)."""

    security_protocol: str
    sasl_mechanism: str
    sasl_plain_username: str | None
    sasl_plain_password: str | None
    ssl_cafile: str


@dataclass(frozen=True)
class KafkaAuth:
    """One principal's credentials; no username means an unauthenticated PLAINTEXT client
    (only for a broker that has no SASL listener: every stack of this project has one)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "PLAINTEXT"
    mechanism: str = MECHANISM
    # CA bundle that signed the brokers' certificates (SASL_SSL); None: the system's.
    cafile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Kafka security protocol {self.protocol!r} is not one of "
                             f"{', '.join(PROTOCOLS)}")
        if self.protocol != "PLAINTEXT" and not (self.username and self.password):
            raise ValueError(f"Kafka security protocol {self.protocol} needs a username "
                             "and a password (EMULATION_KAFKA_USERNAME, "
                             "EMULATION_KAFKA_PASSWORD)")

    @classmethod
    def scram(cls, username: str, password: str, *, tls: bool = False,
              cafile: str | None = None) -> KafkaAuth:
        return cls(username=username, password=password,
                   protocol="SASL_SSL" if tls else "SASL_PLAINTEXT", cafile=cafile)

    @property
    def sasl(self) -> bool:
        return self.protocol != "PLAINTEXT"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.protocol != "SASL_SSL":
            return None
        return ssl.create_default_context(cafile=self.cafile)

    def aiokafka(self) -> AiokafkaAuth:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient."""
        if not self.sasl:
            return {}
        return {"security_protocol": self.protocol, "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username, "sasl_plain_password": self.password,
                "ssl_context": self.ssl_context()}

    def kafka_python(self) -> KafkaPythonAuth:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer, admin."""
        if not self.sasl:
            return {}
        kwargs: KafkaPythonAuth = {
            "security_protocol": self.protocol, "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username, "sasl_plain_password": self.password}
        if self.protocol == "SASL_SSL" and self.cafile:
            kwargs["ssl_cafile"] = self.cafile
        return kwargs

    def faust(self) -> Any:
        """faust's `broker_credentials` (None: no authentication)."""
        if not self.sasl:
            return None
        import faust

        return faust.SASLCredentials(username=self.username, password=self.password,
                                     mechanism=self.mechanism,
                                     ssl_context=self.ssl_context())

    def java_properties(self) -> str:
        """A client.properties for Kafka's own tools (--command-config and the like)."""
        if not self.sasl:
            return "security.protocol=PLAINTEXT\n"
        module = ("plain.PlainLoginModule" if self.mechanism == "PLAIN"
                  else "scram.ScramLoginModule")
        lines = [f"security.protocol={self.protocol}", f"sasl.mechanism={self.mechanism}",
                 f"sasl.jaas.config=org.apache.kafka.common.security.{module} "
                 f'required username="{self.username}" password="{self.password}";']
        if self.protocol == "SASL_SSL" and self.cafile:
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.cafile}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_java_properties(cls, text: str) -> tuple[KafkaAuth, str | None]:
        """The credentials (and `bootstrap.servers`, if set) of a client.properties as
        `java_properties` writes it: devstack's admin.properties for the admin tools."""
        props = dict(line.split("=", 1) for line in (raw.strip() for raw in text.splitlines())
                     if line and not line.startswith("#") and "=" in line)
        jaas = dict(re.findall(r'(\w+)="([^"]*)"', props.get("sasl.jaas.config", "")))
        auth = cls(username=jaas.get("username"), password=jaas.get("password"),
                   protocol=props.get("security.protocol", "PLAINTEXT"),
                   mechanism=props.get("sasl.mechanism", MECHANISM),
                   cafile=props.get("ssl.truststore.location"))
        return auth, props.get("bootstrap.servers")
