"""The production deployment description, checked without a Docker engine.

docker-compose.yml is validated against the Compose Specification's JSON Schema, as
shipped by the pinned dev dependency check-jsonschema (its vendored copy of the
compose-spec schema), and then against what this platform needs of it: a 3-broker
KRaft cluster with replication 3, one database per service, healthchecks and ordered
start-up, pinned images. The Dockerfiles, the Prometheus, Grafana and OpenTelemetry
files are parsed and cross-checked with the compose file; the healthcheck commands of
the services are run against a small HTTP server on loopback; Prometheus' files (and
the dashboard's PromQL) go through `promtool` when it is installed.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_FILES = ("prometheus.yml", "prometheus.local.yml")
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "emulation-overview.json"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
COLLECTOR = REPO / "deploy" / "otel" / "collector.yaml"

SERVICES = {"submissions": 8001, "scoring": 8002, "notifications": 8003, "reporting": 8004}
BROKERS = ("kafka-1", "kafka-2", "kafka-3")
KAFKA_IMAGE = "apache/kafka:4.1.1"
PYTHON_BASE = "python:3.11-slim"

# The Compose Specification schema comes from this package (a pinned dev dependency).
COMPOSE_SCHEMA_DIST = "check-jsonschema"
COMPOSE_SCHEMA_FILE = "check_jsonschema/builtin_schemas/vendor/compose-spec.json"

# Images that cannot probe themselves; compose must say so with `disable: true`.
UNPROBEABLE_IMAGES = {
    "otel/opentelemetry-collector-contrib": "built FROM scratch: no shell, curl or wget",
}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Registry hosts that image references could carry (images are named without one).
REGISTRY_HOSTS = re.compile(
    r"docker\.io|ghcr\.io|quay\.io|gcr\.io|\.ecr\.|mcr\.microsoft\.com|registry\.k8s\.io|"
    r"cr\.jaegertracing\.io|docker\.elastic\.co|registry-1\.docker"
)


# --- helpers -------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), "docker-compose.yml is missing at the repository root"
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _resolve_defaults(text: str) -> str:
    """`${VAR:-default}` and `${VAR-default}` replaced by their defaults, as when unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", text)


def _split_image(image: str) -> tuple[str, str]:
    name, _, tag = _resolve_defaults(image).partition("@")[0].rpartition(":")
    if "/" in tag or not name:  # a port in a registry host, not a tag
        return _resolve_defaults(image), ""
    return name, tag


def _one_shots(compose: dict[str, Any]) -> set[str]:
    return {n for n, s in _services(compose).items() if str(s.get("restart")) == "no"}


def _healthcheck_active(service: dict[str, Any]) -> bool:
    hc = service.get("healthcheck")
    return bool(hc) and not hc.get("disable") and bool(hc.get("test"))


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of the bind mounts (short syntax, sources starting with `.`)."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str) and volume.startswith("."):
            source, target = volume.split(":")[:2]
            mounts.append((source, target))
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            mounts.append((volume["source"], volume["target"]))
    return mounts


def _mount_target(compose: dict[str, Any], service: str, source: str) -> str:
    for src, target in _bind_mounts(_services(compose)[service]):
        if Path(src) == Path(source):
            return target
    raise AssertionError(f"{service} does not mount {source}")


DOCKERFILE = REPO / "services" / "Dockerfile"  # one for every service: a stage each


def _instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        found.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path}: a continuation line never ends"
    return found


def _stages(instructions: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Each named stage's instructions (from its FROM on)."""
    starts = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    assert starts, "no FROM"
    stages = {}
    for start, end in zip(starts, [*starts[1:], len(instructions)], strict=True):
        words = instructions[start][1].split()
        assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage {words}"
        stages[words[2]] = instructions[start:end]
    return stages


def _image(name: str) -> list[tuple[str, str]]:
    """The instructions that make the service's image: its stage (the build target named
    after it) after those of the stages it is built FROM."""
    stages = _stages(_instructions(DOCKERFILE))
    assert name in stages, f"{DOCKERFILE}: no stage {name}"
    chain = stages[name]
    while (parent := chain[0][1].split()[0]) in stages:
        chain = stages[parent] + chain
    return chain


def _healthcheck_cmd(args: str) -> list[str]:
    """The exec-form command of `HEALTHCHECK [options] CMD [...]`."""
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", args)
    assert match, f"HEALTHCHECK must use the exec form `CMD [...]`: {args}"
    return json.loads(match.group(1))


class _ProbeTarget:
    """An HTTP server on loopback answering /healthz and /readyz with a chosen status."""

    def __init__(self) -> None:
        self.status = 200
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                code = owner.status if self.path in ("/healthz", "/readyz") else 404
                body = b'{"status": "ok"}' if code == 200 else b'{"status": "down"}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def run(self, argv: list[str]) -> int:
        """Exit status of a `python -c ...` probe aimed at this server."""
        assert argv[0] == "python" and argv[1] == "-c", argv
        # The probes learn their port from EMULATION_HTTP_PORT, as in the containers.
        env = {"EMULATION_HTTP_PORT": str(self.port), "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            [sys.executable, "-c", argv[2]], env=env, capture_output=True, timeout=30
        ).returncode


@pytest.fixture
def probe_target() -> Iterator[_ProbeTarget]:
    target = _ProbeTarget()
    target.thread.start()
    try:
        yield target
    finally:
        target.server.shutdown()
        target.server.server_close()


# --- the Compose Specification -------------------------------------------------------


@pytest.fixture(scope="module")
def compose_spec() -> dict[str, Any]:
    try:
        dist = importlib.metadata.distribution(COMPOSE_SCHEMA_DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            f"{COMPOSE_SCHEMA_DIST} is not installed: it is the dev dependency that ships "
            "the Compose Specification JSON Schema (pip install -e '.[dev]')"
        )
    path = Path(str(dist.locate_file(COMPOSE_SCHEMA_FILE)))
    assert path.is_file(), f"{COMPOSE_SCHEMA_DIST} {dist.version} no longer ships {path}"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("title") == "Compose Specification", path
    return schema


def _spec_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in cls(schema).iter_errors(document)
    ]
    return sorted(errors)


def test_compose_file_follows_the_compose_specification(compose, compose_spec):
    errors = _spec_errors(compose_spec, compose)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(
        errors
    )


def test_the_compose_schema_rejects_broken_files(compose, compose_spec):
    # The validation above would be worthless if the schema let anything through.
    broken = copy.deepcopy(compose)
    broken["services"]["submissions"]["depends_on"]["mongo"]["condition"] = "service_ready"
    broken["services"]["scoring"]["helthcheck"] = {"test": ["CMD", "true"]}
    errors = _spec_errors(compose_spec, broken)
    assert any("submissions/depends_on" in e for e in errors), errors
    assert any("helthcheck" in e for e in errors), errors


# --- compose: start-up, health, images -------------------------------------------------


def test_every_service_has_a_healthcheck(compose):
    """Servers probe themselves; jobs, and images with nothing to probe with, say `disable`."""
    one_shots = _one_shots(compose)
    for name, service in _services(compose).items():
        hc = service.get("healthcheck")
        assert isinstance(hc, dict), f"{name} has no healthcheck"
        if name in one_shots:
            # A job run from a service image would otherwise inherit its /healthz probe.
            assert hc.get("disable") is True, f"{name} is a job: its healthcheck must be off"
            continue
        assert str(service.get("restart")).startswith(("always", "unless-stopped", "on-failure")), (
            f"{name} is neither a job (restart: \"no\") nor restarted when it fails"
        )
        if hc.get("disable"):
            repository = _split_image(service.get("image", ""))[0]
            assert repository in UNPROBEABLE_IMAGES, (
                f"{name} disables its healthcheck, yet its image can probe itself"
            )
            continue
        test = hc.get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (
            f"{name}: healthcheck test must be CMD or CMD-SHELL with a command, got {test!r}"
        )
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name}: healthcheck has no {key}"


def test_every_dependency_waits_on_a_condition(compose):
    services = _services(compose)
    one_shots = _one_shots(compose)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must be a map with conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on an unknown service {target}"
            condition = (spec or {}).get("condition")
            assert condition in DEPENDS_CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert _healthcheck_active(services[target]), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert target in one_shots, f"{target} is waited on to finish but restarts"


def test_services_start_after_topics_database_and_registry(compose):
    services = _services(compose)
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully", name
        assert depends["mongo"]["condition"] == "service_healthy", name
    assert services["submissions"]["depends_on"]["registry-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["notifications"]["depends_on"]["mailpit"]["condition"] == "service_healthy"
    registry = services["registry-init"]
    assert registry["command"] == ["python", "-m", "services.submissions", "load-registry"]
    assert registry["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    for broker in BROKERS:
        assert services["kafka-init"]["depends_on"][broker]["condition"] == "service_healthy"


def test_images_are_pinned_and_name_no_registry_host(compose):
    for name, service in _services(compose).items():
        image = service.get("image")
        assert image, f"{name} has no image (built services name theirs too, to pin a tag)"
        repository, tag = _split_image(image)
        assert tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), (
            f"{name}: image {image} is not pinned to a version"
        )
        first = repository.split("/")[0]
        assert "/" not in repository or not (
            "." in first or ":" in first or first == "localhost"
        ), f"{name}: image {image} names a registry host"
    texts = [COMPOSE_FILE.read_text(encoding="utf-8")]
    texts.append(DOCKERFILE.read_text(encoding="utf-8"))
    for text in texts:
        assert not REGISTRY_HOSTS.search(text), REGISTRY_HOSTS.search(text)


def test_named_volumes_are_declared_and_bind_mounts_exist(compose):
    declared = set(compose.get("volumes") or {})
    for name, service in _services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is missing"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    for stateful in (*BROKERS, "mongo", "prometheus", "grafana"):
        named = [
            v for v in _services(compose)[stateful].get("volumes", [])
            if isinstance(v, str) and not v.startswith((".", "/"))
        ]
        assert named, f"{stateful} keeps its data in no named volume"


# --- compose: Kafka -----------------------------------------------------------------------


def _listeners(value: str) -> dict[str, str]:
    """`NAME://host:port,...` as {NAME: 'host:port'}."""
    return dict(item.split("://", 1) for item in value.split(","))


def test_kafka_is_three_kraft_nodes_with_replication_3(compose):
    services = _services(compose)
    envs = {b: _env(services[b]) for b in BROKERS}
    assert {services[b]["image"] for b in BROKERS} == {KAFKA_IMAGE}
    assert {int(envs[b]["KAFKA_NODE_ID"]) for b in BROKERS} == {1, 2, 3}
    voters = {envs[b]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for b in BROKERS}
    assert len(voters) == 1, "the brokers disagree on the quorum voters"
    assert len({_resolve_defaults(envs[b]["CLUSTER_ID"]) for b in BROKERS}) == 1
    voter_map = dict(v.split("@") for v in voters.pop().split(","))
    for broker in BROKERS:
        env = envs[broker]
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        controller_port = _listeners(env["KAFKA_LISTENERS"])["CONTROLLER"].rsplit(":", 1)[1]
        assert voter_map[env["KAFKA_NODE_ID"]] == f"{broker}:{controller_port}"
        advertised = _listeners(_resolve_defaults(env["KAFKA_ADVERTISED_LISTENERS"]))
        assert advertised["INTERNAL"].split(":")[0] == broker
        protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        protocols = dict(p.split(":") for p in protocol_map.split(","))
        assert protocols == {"CONTROLLER": "SASL_PLAINTEXT", "INTERNAL": "SASL_PLAINTEXT",
                             "EXTERNAL": "SASL_SSL"}  # every listener authenticates
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == 2
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false"
        log_dir = env["KAFKA_LOG_DIRS"]
        assert any(
            isinstance(v, str) and v.split(":")[1] == log_dir and not v.startswith(".")
            for v in services[broker]["volumes"]
        ), f"{broker} keeps {log_dir} in no named volume"
    volumes = [tuple(services[b]["volumes"]) for b in BROKERS]
    assert len(set(volumes)) == 3, "the brokers share a volume"


def test_topics_are_created_with_replication_3(compose):
    init = _services(compose)["kafka-init"]
    command = init["command"]
    command = shlex.split(command) if isinstance(command, str) else command
    assert command[:3] == ["python", "-m", "services.common.topics"]
    args = dict(zip(command[3::2], command[4::2], strict=True))
    assert int(args["--replication"]) == 3
    assert sorted(h.split(":")[0] for h in args["--bootstrap"].split(",")) == list(BROKERS)
    assert _split_image(init["image"]) == _split_image(_services(compose)["submissions"]["image"])
    for name in SERVICES:
        assert int(_env(_services(compose)[name])["EMULATION_TOPIC_REPLICATION"]) == 3, name


# --- compose: the four services -----------------------------------------------------------


def test_each_service_has_its_own_database(compose):
    databases = {n: _env(_services(compose)[n]).get("EMULATION_MONGO_DB") for n in SERVICES}
    assert databases == {n: f"emulation_{n}" for n in SERVICES}
    assert len(set(databases.values())) == len(SERVICES)


def test_services_are_configured_for_the_cluster(compose):
    services = _services(compose)
    for name, port in SERVICES.items():
        service, env = services[name], _env(services[name])
        build = service.get("build") or {}
        assert build.get("context") == "." and build.get("dockerfile") == (
            "services/Dockerfile") and build.get("target") == name, (
            f"{name} is not built from its stage of the Dockerfile with the repository as "
            "context")
        assert int(env["EMULATION_HTTP_PORT"]) == port
        assert env["EMULATION_HTTP_HOST"] == "0.0.0.0"
        assert f"{port}:{port}" in service.get("ports", []), f"{name} does not publish {port}"
        bootstrap = env["EMULATION_KAFKA_BOOTSTRAP"].split(",")
        assert sorted(bootstrap) == [f"{b}:9092" for b in BROKERS], name
        assert env["EMULATION_MONGO_URL"].startswith("mongodb://mongo:"), name
        assert env["OTEL_TRACES_EXPORTER"] == "otlp" and env["OTEL_SERVICE_NAME"] == name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
    notify = _env(services["notifications"])
    assert notify["EMULATION_SMTP_HOST"] == "mailpit" and notify["EMULATION_SMTP_PORT"] == "1025"
    assert notify["EMULATION_SMPP_HOST"] and notify["EMULATION_SMPP_PORT"]


def test_credentials_are_a_compose_secret(compose):
    secrets = compose.get("secrets") or {}
    assert "file" in secrets.get("emulation_credentials", {}), "no emulation_credentials secret"
    for name in (*SERVICES, "registry-init"):
        service = _services(compose)[name]
        mounted = [s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])]
        assert "emulation_credentials" in mounted, f"{name} does not get the credentials"
        assert _env(service)["EMULATION_CREDENTIALS_FILE"] == "/run/secrets/emulation_credentials"


def test_compose_healthchecks_of_services_probe_readiness(compose, probe_target):
    for name in SERVICES:
        test = _services(compose)[name]["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: the probe needs no shell"
        probe_target.status, probe_target.paths = 200, []
        assert probe_target.run(test[1:]) == 0, f"{name}: probe fails against a ready service"
        assert probe_target.paths == ["/readyz"], probe_target.paths
        probe_target.status = 503
        assert probe_target.run(test[1:]) != 0, f"{name}: probe passes a service not ready"


# --- Dockerfiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dockerfile_builds_a_non_root_image_of_the_service(name):
    path = DOCKERFILE
    assert path.is_file(), f"{path} is missing"
    instructions = _instructions(path)
    stages = _stages(instructions)
    for keyword, args in instructions:
        if keyword == "FROM" and args.split()[0] not in stages:
            assert args.split()[0] == PYTHON_BASE, f"{path}: FROM {args}"
    assert any(
        kw == "RUN" and re.search(r"\bpip install (\S+ )*\.(\s|$)", args)
        for kw, args in instructions
    ), f"{path}: the project is never pip-installed"
    final = _image(name)
    keywords = [kw for kw, _ in final]
    users = [args for kw, args in final if kw == "USER"]
    assert users, f"{path}: the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{path}: USER {users[-1]}"
    assert keywords.index("USER") < keywords.index("CMD")
    assert ("EXPOSE", str(SERVICES[name])) in final, f"{path}: does not EXPOSE its port"
    cmds = [args for kw, args in final if kw == "CMD"]
    assert json.loads(cmds[-1]) == ["python", "-m", f"services.{name}"]
    assert any(kw == "COPY" and args.split()[0] == "schemas" for kw, args in final), (
        f"{path}: the runtime image lacks schemas/"
    )
    env_args = " ".join(args for kw, args in final if kw == "ENV")
    assert "EMULATION_HTTP_HOST=0.0.0.0" in shlex.split(env_args)
    assert f"EMULATION_HTTP_PORT={SERVICES[name]}" in shlex.split(env_args)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dockerfile_healthcheck_probes_healthz(name, probe_target):
    final = _image(name)
    checks = [args for kw, args in final if kw == "HEALTHCHECK"]
    assert checks, f"{name}: no HEALTHCHECK"
    argv = _healthcheck_cmd(checks[-1])
    assert "urllib" in argv[-1]
    assert probe_target.run(argv) == 0, f"{name}: HEALTHCHECK fails against a live service"
    assert probe_target.paths == ["/healthz"], probe_target.paths
    probe_target.status = 500
    assert probe_target.run(argv) != 0, f"{name}: HEALTHCHECK passes a failing service"


def test_images_can_export_otlp_traces():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    deps = pyproject["project"]["dependencies"]
    pins = {}
    for dep in deps:
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", dep)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    exporter = "opentelemetry-exporter-otlp-proto-http"
    # The exporter is a project dependency, or each image adds it at the SDK's version.
    expected = pins.get(exporter, pins["opentelemetry-sdk"])
    for name in SERVICES:
        text = " ".join(f"{kw} {args}" for kw, args in _image(name))
        found = re.findall(rf"{exporter}==([^\s\"']+)", text)
        if exporter in pins:
            assert set(found) <= {expected}, f"{name} installs {exporter} {found}, not {expected}"
        else:
            assert found == [expected], (
                f"{name}: OTEL_TRACES_EXPORTER=otlp needs {exporter}=={expected} in the image"
            )


def test_dockerignore_keeps_local_state_out_of_the_context():
    path = REPO / ".dockerignore"
    assert path.is_file()
    patterns = {
        line.strip() for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".local", ".venv", "**/__pycache__", ".pytest_cache",
                   ".mypy_cache", ".ruff_cache"):
        assert needed in patterns, f".dockerignore does not exclude {needed}"
    for kept in ("services", "schemas", "devstack", "pyproject.toml"):
        assert kept not in patterns, f".dockerignore drops {kept}, which the images copy"


# --- Prometheus -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "host_of"),
    [("prometheus.yml", lambda name: name), ("prometheus.local.yml", lambda name: "127.0.0.1")],
)
def test_prometheus_scrapes_every_service(filename, host_of):
    config = _load_yaml(PROMETHEUS_DIR / filename)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "prometheus" in jobs, "Prometheus does not scrape itself"
    for name, port in SERVICES.items():
        job = jobs.get(name)
        assert job, f"{filename}: no job for {name}"
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets == [f"{host_of(name)}:{port}"], f"{filename}: {name} -> {targets}"
        labels = {k: v for sc in job["static_configs"] for k, v in sc.get("labels", {}).items()}
        assert labels.get("service") == name, "the dashboards group by the `service` label"
    rule_files = [f for pattern in config["rule_files"] for f in PROMETHEUS_DIR.glob(pattern)]
    assert rule_files, f"{filename}: rule_files match nothing"


def test_prometheus_in_compose_reads_these_files(compose):
    prometheus = _services(compose)["prometheus"]
    config_target = _mount_target(compose, "prometheus", "./deploy/prometheus/prometheus.yml")
    assert f"--config.file={config_target}" in prometheus["command"]
    rules_target = _mount_target(compose, "prometheus", "./deploy/prometheus/rules")
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    in_container = [str(Path(config_target).parent / p) for p in config["rule_files"]]
    assert any(p.startswith(rules_target + "/") for p in in_container), in_container


def test_service_down_alert():
    groups = _load_yaml(PROMETHEUS_DIR / "rules" / "emulation.yml")["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert "ServiceDown" in rules
    assert re.sub(r"\s+", "", rules["ServiceDown"]["expr"]) == "up==0"
    assert rules["ServiceDown"]["for"] == "1m"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return path


@pytest.mark.parametrize("filename", PROMETHEUS_FILES)
def test_promtool_accepts_the_config(filename):
    promtool = _promtool()
    result = subprocess.run(
        [promtool, "check", "config", filename],
        cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules():
    promtool = _promtool()
    files = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert files
    result = subprocess.run(
        [promtool, "check", "rules", *files], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_parses_the_dashboard_queries(tmp_path):
    promtool = _promtool()
    exprs = [t["expr"] for p in _panels(_load_dashboard()) for t in p.get("targets", [])]
    rules = [
        {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")
         .replace("$service", ".*")}
        for i, e in enumerate(exprs)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ------------------------------------------------------------------------------------


def _load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def test_dashboard_shows_rate_latency_and_up_per_service():
    dashboard = _load_dashboard()
    assert dashboard.get("uid") and dashboard.get("title")
    panels = [p for p in _panels(dashboard) if p.get("type") != "row"]
    assert panels, "the dashboard has no panels"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    uids = {d["uid"] for d in _load_yaml(DATASOURCES)["datasources"]}
    for panel in panels:
        assert panel.get("title") and panel.get("gridPos"), panel.get("id")
        assert panel.get("targets"), f"panel {panel['title']!r} queries nothing"
        for target in panel["targets"]:
            assert target.get("expr"), panel["title"]
            source = target.get("datasource") or panel.get("datasource")
            assert source and source["uid"] in uids, f"{panel['title']}: unknown data source"
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable["datasource"]["uid"] in uids, f"${variable['name']}: data source"
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    assert re.search(r"rate\(http_requests_total", exprs), "no request rate"
    assert re.search(
        r"histogram_quantile\(0\.99,.*http_request_duration_seconds_bucket", exprs
    ), "no p99 latency"
    assert re.search(r"\bup\{", exprs), "no `up` per service"
    assert "by (service" in exprs, "the panels are not split by service"


def test_grafana_provisioning_matches_compose(compose):
    datasources = _load_yaml(DATASOURCES)["datasources"]
    prometheus = [d for d in datasources if d["type"] == "prometheus"]
    assert len(prometheus) == 1 and prometheus[0].get("isDefault")
    assert prometheus[0]["url"] == "http://prometheus:9090"
    assert "prometheus" in _services(compose)
    providers = _load_yaml(DASHBOARD_PROVIDERS)["providers"]
    paths = {p["options"]["path"] for p in providers if p["type"] == "file"}
    assert _mount_target(compose, "grafana", "./deploy/grafana/dashboards") in paths
    assert _mount_target(compose, "grafana", "./deploy/grafana/provisioning") == (
        "/etc/grafana/provisioning"
    )


# --- OpenTelemetry collector ----------------------------------------------------------------------


def test_collector_pipeline_is_complete_and_reaches_jaeger(compose):
    config = _load_yaml(COLLECTOR)
    pipelines = config["service"]["pipelines"]
    assert "traces" in pipelines
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in (config.get(kind) or {}), f"{component} is not defined"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"], f"{extension} is not defined"
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.endswith(":4318"), "the services send OTLP/HTTP to port 4318"
    exporters = [config["exporters"][e] for e in pipelines["traces"]["exporters"]]
    hosts = {e["endpoint"].split("://")[-1].split(":")[0] for e in exporters}
    assert "jaeger" in hosts and hosts <= set(_services(compose)), hosts
    collector = _services(compose)["otel-collector"]
    target = _mount_target(compose, "otel-collector", "./deploy/otel/collector.yaml")
    assert f"--config={target}" in collector["command"]
