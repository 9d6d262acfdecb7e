"""kcat (librdkafka's command-line client), the producer many outside systems script
with, for the tests of the Kafka way in. The one on PATH (CI installs Debian's `kcat`,
.ci/run); otherwise Debian's packages (kcat, librdkafka1, libyajl2) are downloaded once
with `apt-get download` and unpacked under .local/kcat (never committed).

Debian 12's librdkafka (2.0.2) fails SCRAM against Kafka 4 brokers (fixed in 2.6.1;
measured here: "invalid credentials" where every Java and Python client passes). kcat
then runs on the librdkafka that the confluent-kafka wheel bundles (a shared library
with no other dependency, downloaded once with pip into the same cache), by soname."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from services.common.kafka_auth import KafkaAuth

PACKAGES = ("kcat", "librdkafka1", "libyajl2")
WHEEL = "confluent-kafka==2.16.1"  # bundles librdkafka 2.16
SCRAM_WITH_KAFKA_4 = (2, 6, 1)  # the first librdkafka whose SCRAM passes on Kafka 4


@dataclass(frozen=True)
class Kcat:
    binary: str
    env: dict[str, str]

    def produce(self, bootstrap: str, auth: KafkaAuth, topic: str, key: bytes, value: bytes,
                headers: list[tuple[str, bytes]], workdir: Path) -> None:
        """One record, its value from a file (any bytes, no delimiter), acks=all; the
        credentials in a properties file (`-F`), not on the command line."""
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "kcat.properties"
        lines = [f"bootstrap.servers={bootstrap}", "acks=all"]
        if auth.sasl:
            lines += [f"security.protocol={auth.protocol.lower()}",
                      f"sasl.mechanisms={auth.mechanism}",
                      f"sasl.username={auth.username}", f"sasl.password={auth.password}"]
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        record = workdir / "value.bin"
        record.write_bytes(value)
        args = [self.binary, "-F", str(config), "-P", "-t", topic, "-k", key.decode()]
        for name, raw in headers:
            args += ["-H", f"{name}={raw.decode()}"]
        done = subprocess.run([*args, str(record)], env=self.env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"kcat failed: {done.stderr[-2000:]}"


def find_kcat(cache: Path) -> Kcat | str:
    """kcat ready to run against the stack's Kafka 4, or why there is none."""
    env = dict(os.environ)
    binary = shutil.which("kcat") or shutil.which("kafkacat")
    root = cache / "root"
    if binary is None:
        binary = str(root / "usr/bin/kcat")
        if not Path(binary).exists():
            why = _unpack(cache, root)
            if why:
                return why
        _library_path(env, root / "usr/lib/x86_64-linux-gnu")
    version = _librdkafka(binary, env)
    if version is None or version < SCRAM_WITH_KAFKA_4:
        why = _bundled_librdkafka(cache / "librdkafka")
        if why:
            return why
        _library_path(env, cache / "librdkafka")
        version = _librdkafka(binary, env)
    if version is None or version < SCRAM_WITH_KAFKA_4:
        return f"kcat runs on librdkafka {version}, which cannot SCRAM with Kafka 4"
    return Kcat(binary, env)


def _library_path(env: dict[str, str], directory: Path) -> None:
    env["LD_LIBRARY_PATH"] = ":".join(
        p for p in (str(directory), env.get("LD_LIBRARY_PATH", "")) if p)


def _librdkafka(binary: str, env: dict[str, str]) -> tuple[int, ...] | None:
    done = subprocess.run([binary, "-V"], env=env, capture_output=True, text=True,
                          timeout=30)
    found = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", done.stdout + done.stderr)
    return tuple(int(n) for n in found.groups()) if found else None


def _bundled_librdkafka(directory: Path) -> str | None:
    """librdkafka.so.1 from the confluent-kafka wheel (auditwheel names it
    librdkafka-<hash>.so.1): linked by its soname, which kcat asks for."""
    link = directory / "librdkafka.so.1"
    if link.exists():
        return None
    directory.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                              "--only-binary=:all:", WHEEL, "-d", str(directory)],
                             capture_output=True, text=True, timeout=300)
    wheels = sorted(directory.glob("confluent_kafka-*.whl"))
    if fetched.returncode != 0 or not wheels:
        return f"pip download {WHEEL} failed: {fetched.stderr[-500:]}"
    with zipfile.ZipFile(wheels[-1]) as wheel:
        [member] = [n for n in wheel.namelist()
                    if re.fullmatch(r"confluent_kafka\.libs/librdkafka-[0-9a-f]+\.so\.1", n)]
        (directory / "librdkafka.so.1").write_bytes(wheel.read(member))
    return None


def _unpack(cache: Path, root: Path) -> str | None:
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        return "no kcat on PATH and no apt-get/dpkg to fetch it (apt-get install kcat)"
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs,
                             capture_output=True, text=True, timeout=300)
    if fetched.returncode != 0:
        return f"apt-get download {' '.join(PACKAGES)} failed: {fetched.stderr[-500:]}"
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, timeout=120)
    return None
