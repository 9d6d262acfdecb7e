"""The Kubernetes manifests (deploy/k8s, Kustomize), checked without a cluster.

Every YAML file parses; every kustomization lists every file beside it; the objects
validate against the Kubernetes OpenAPI schemas shipped by the pinned dev dependency
kubernetes-validate (strict: an unknown field fails); and they hold what the platform
needs: probes on /healthz, /livez and /readyz, limits, non-root and read-only pods with a
writable faust data directory, pinned images without a registry host, the settings the
services read, and autoscalers on consumer lag capped at the topics' partitions.

When `kubectl` is installed (its built-in kustomize), the base and the production
overlay are also rendered and the rendered objects checked; otherwise those tests skip
and say how to get it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
ADAPTER_VALUES = K8S / "addons" / "prometheus-adapter" / "values.yaml"
SERVICES = ("submissions", "scoring", "notifications", "reporting")
# The Kubernetes version whose schemas the objects are validated against.
KUBERNETES_VERSION = "1.32.0"
LAG_METRIC = "kafka_consumer_lag_records"
FAUST_DATADIR = "/var/lib/emulation/faust"
KUSTOMIZE_FIELDS = ("resources", "components", "patchesStrategicMerge", "crds")


def yaml_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_all(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def objects(directory: Path = BASE) -> list[dict[str, Any]]:
    """The Kubernetes objects of a kustomization's resource files (not rendered)."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out: list[dict[str, Any]] = []
    for entry in kust.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            out += objects(target)
        else:
            out += [d for d in load_all(target) if isinstance(d, dict) and "kind" in d]
    return out


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def generated_config(directory: Path = BASE) -> dict[str, dict[str, str]]:
    """The configMapGenerator literals of a kustomization, by ConfigMap name."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out: dict[str, dict[str, str]] = {}
    for gen in kust.get("configMapGenerator", []):
        out[gen["name"]] = dict(item.split("=", 1) for item in gen.get("literals", []))
    return out


def containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


# -- files ---------------------------------------------------------------------------------

def test_every_yaml_file_parses() -> None:
    files = yaml_files()
    assert len(files) >= 10, files
    for path in files:
        assert load_all(path), f"{path} is empty"


def test_every_kustomization_lists_every_file_beside_it() -> None:
    """A manifest that no kustomization mentions would silently never be deployed."""
    found = kustomizations()
    assert {p.parent for p in found} >= {BASE, PRODUCTION}
    for kust_path in found:
        directory = kust_path.parent
        kust = yaml.safe_load(kust_path.read_text())
        referenced: set[Path] = set()
        for field in KUSTOMIZE_FIELDS:
            for entry in kust.get(field, []) or []:
                referenced.add((directory / entry).resolve())
        for patch in kust.get("patches", []) or []:
            if "path" in patch:
                referenced.add((directory / patch["path"]).resolve())
        for gen in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
            for entry in gen.get("files", []) + gen.get("envs", []):
                referenced.add((directory / entry.split("=")[-1]).resolve())
        for path in referenced:
            assert path.exists(), f"{kust_path} names {path}, which does not exist"
        # Files beside it (and below, down to the next kustomization) must be named.
        nested = {p.parent for p in found if p.parent != directory
                  and directory in p.parents}
        for path in directory.rglob("*.yaml"):
            if path == kust_path or any(n == path.parent or n in path.parents for n in nested):
                continue
            assert path.resolve() in referenced, f"{kust_path} does not list {path}"


def test_the_objects_validate_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objs = objects(BASE) + [o for o in objects(PRODUCTION) if o["kind"] == "Namespace"]
    assert len(objs) >= 20
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_schema_validation_would_catch_a_misspelt_field() -> None:
    """Proves the validation above is real: strict mode refuses an unknown field."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = of_kind(objects(BASE), "Deployment")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# -- what the services need ----------------------------------------------------------------

def dockerfile(service: str) -> str:
    """The text of the service's image in the one Dockerfile: the shared runtime stage
    and the service's own stage (`FROM runtime AS <service>`)."""
    text = (REPO / "services" / "Dockerfile").read_text()
    stages = {chunk.split("\n", 1)[0].split()[-1]: chunk
              for chunk in re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]}
    return stages["runtime"] + stages[service]


def test_a_deployment_for_each_service_with_its_port_and_config() -> None:
    objs = objects(BASE)
    deployments = {d["metadata"]["name"]: d for d in of_kind(objs, "Deployment")}
    assert set(deployments) == set(SERVICES)
    config = generated_config()
    databases = set()
    for name, dep in deployments.items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
        assert f"EXPOSE {port}" in dockerfile(name), f"{name} listens on {port}"
        own = config[f"emulation-{name}-config"]
        assert own["EMULATION_HTTP_PORT"] == str(port)
        databases.add(own["EMULATION_MONGO_DB"])
        refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
        assert refs == ["emulation-config", f"emulation-{name}-config"]
        assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    assert databases == {f"emulation_{s}" for s in SERVICES}, "one database per service"
    shared = config["emulation-config"]
    assert shared["EMULATION_TOPIC_REPLICATION"] == "3"
    assert shared["APP_DATADIR"] == FAUST_DATADIR
    assert f"APP_DATADIR={FAUST_DATADIR}" in dockerfile("scoring")


def test_every_deployment_has_probes_limits_and_a_locked_down_pod() -> None:
    for dep in of_kind(objects(BASE), "Deployment"):
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        for c in containers(dep):
            assert c["livenessProbe"]["httpGet"]["path"] == "/livez", name
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert c["startupProbe"]["httpGet"]["path"] == "/healthz", name
            # /readyz may take two 5 s checks: its probe must wait longer than that.
            assert c["readinessProbe"]["timeoutSeconds"] > 10, name
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert c[probe]["httpGet"]["port"] in ("http", c["ports"][0]["containerPort"])
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (name, kind)
            ctx = c["securityContext"]
            assert (ctx.get("runAsNonRoot") or pod["securityContext"].get("runAsNonRoot")) \
                is True, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            # faust writes its data directory: an emptyDir there, the rest read-only.
            volumes = {v["name"]: v for v in pod["volumes"]}
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts[FAUST_DATADIR]], name
            assert "emptyDir" in volumes[mounts["/tmp"]], name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name


def test_the_credentials_come_from_a_secret_mounted_where_the_settings_look() -> None:
    config = generated_config()["emulation-config"]
    path = Path(config["EMULATION_CREDENTIALS_FILE"])
    for dep in of_kind(objects(BASE), "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        mount = mounts[str(path.parent)]
        assert mount.get("readOnly") is True
        assert "subPath" not in mount, "a subPath mount never sees the Secret change"
        volume = {v["name"]: v for v in pod["volumes"]}[mount["name"]]
        assert volume["secret"]["secretName"] == "emulation-credentials"
        mongo = {e["name"]: e for e in c["env"]}["EMULATION_MONGO_URL"]
        assert mongo["valueFrom"]["secretKeyRef"]["name"] == "emulation-mongo"
        # Each service logs in to Kafka as itself, its password from its own Secret.
        env = {e["name"]: e for e in c["env"]}
        name = dep["metadata"]["name"]
        assert env["EMULATION_KAFKA_USERNAME"]["value"] == name
        assert env["EMULATION_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
            f"emulation-kafka-{name}")
    assert config["EMULATION_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def image_problems(image: str) -> list[str]:
    problems = []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        problems.append("no tag")
    elif tag == "latest":
        problems.append("the latest tag")
    first = image.split("/")[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        problems.append(f"a registry host ({first})")
    return problems


def test_images_are_pinned_and_name_no_registry_host() -> None:
    assert image_problems("emulation/scoring:0.1.0") == []
    assert image_problems("emulation/scoring") == ["no tag"]
    assert image_problems("emulation/scoring:latest") == ["the latest tag"]
    assert image_problems("ghcr.io/x/scoring:1") == ["a registry host (ghcr.io)"]
    objs = objects(BASE)
    workloads = of_kind(objs, "Deployment") + of_kind(objs, "Job")
    for obj in workloads:
        for c in containers(obj):
            assert image_problems(c["image"]) == [], (obj["metadata"]["name"], c["image"])
    kust = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())
    for entry in kust["images"]:
        assert entry["newTag"] != "latest" and "newName" not in entry


def test_jobs_create_the_topics_and_load_the_registry() -> None:
    jobs = {j["metadata"]["name"]: j for j in of_kind(objects(BASE), "Job")}
    topics = jobs["create-topics"]["spec"]["template"]["spec"]["containers"][0]
    argv = topics["command"] + topics["args"]
    assert argv[:3] == ["python", "-m", "services.common.topics"]
    assert argv[argv.index("--replication") + 1] == "$(EMULATION_TOPIC_REPLICATION)"
    assert argv[argv.index("--bootstrap") + 1] == "$(EMULATION_KAFKA_BOOTSTRAP)"
    acls = jobs["kafka-acls"]["spec"]["template"]["spec"]["containers"][0]
    assert acls["command"] == ["python", "-m", "services.common.kafka_acls"]
    for job in (topics, acls):  # the admin principal: only a super user creates these
        env = {e["name"]: e for e in job["env"]}
        assert env["EMULATION_KAFKA_USERNAME"]["value"] == "admin"
        assert env["EMULATION_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
            "emulation-kafka-admin")
    registry = jobs["load-registry"]["spec"]["template"]["spec"]["containers"][0]
    assert registry["command"] == ["python", "-m", "services.submissions", "load-registry"]
    for job in jobs.values():
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] in ("OnFailure", "Never")
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_services_and_disruption_budgets_select_their_pods() -> None:
    objs = objects(BASE)
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in of_kind(objs, "Deployment")}
    for svc in of_kind(objs, "Service"):
        matched = [n for n, labels in pods.items() if selects(svc["spec"]["selector"], labels)]
        assert matched == [svc["metadata"]["name"]]
        dep = {d["metadata"]["name"]: d for d in of_kind(objs, "Deployment")}[matched[0]]
        names = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert svc["spec"]["ports"][0]["targetPort"] in names
    budgets = of_kind(objs, "PodDisruptionBudget")
    assert len(budgets) == len(SERVICES)
    for pdb in budgets:
        matched = [n for n, labels in pods.items()
                   if selects(pdb["spec"]["selector"]["matchLabels"], labels)]
        assert matched == [pdb["metadata"]["name"]]


def test_an_autoscaler_per_consuming_service_on_lag_capped_at_the_partitions() -> None:
    from services.common.metrics import CONSUMER_LAG
    from services.common.topics import SUBMISSION_REQUESTS, SUBMISSIONS, TOPICS

    assert CONSUMER_LAG._name == LAG_METRIC  # the metric the services export
    partitions = {t.name: t.partitions for t in TOPICS}
    cap = min(partitions[SUBMISSIONS], partitions[SUBMISSION_REQUESTS])
    objs = objects(BASE)
    deployments = {d["metadata"]["name"] for d in of_kind(objs, "Deployment")}
    hpas = of_kind(objs, "HorizontalPodAutoscaler")
    targets = set()
    for hpa in hpas:
        spec = hpa["spec"]
        ref = spec["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        assert ref["name"] in deployments, f"{hpa['metadata']['name']} scales nothing"
        targets.add(ref["name"])
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] <= cap == 6
        lag = [m for m in spec["metrics"] if m["type"] == "Pods"
               and m["pods"]["metric"]["name"] == LAG_METRIC]
        assert lag, f"{ref['name']} does not scale on {LAG_METRIC}"
        assert float(lag[0]["pods"]["target"]["averageValue"]) > 0
    assert targets == set(SERVICES)
    # prometheus-adapter serves that metric per pod.
    values = yaml.safe_load(ADAPTER_VALUES.read_text())
    rule = next(r for r in values["rules"]["custom"] if LAG_METRIC in r["seriesQuery"])
    assert rule["name"]["as"] == LAG_METRIC
    assert rule["resources"]["overrides"]["pod"]["resource"] == "pod"
    assert "<<.Series>>" in rule["metricsQuery"]


def test_production_pins_two_pods_at_least() -> None:
    patch = yaml.safe_load((PRODUCTION / "patches" / "autoscaling.yaml").read_text())
    assert {"op": "replace", "path": "/spec/minReplicas", "value": 2} in patch


# -- rendered with kustomize ---------------------------------------------------------------

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl (with its built-in kustomize) is not installed: Debian/Ubuntu "
           "`apt-get install kubectl` from the Kubernetes or Google Cloud apt repository, "
           "or `go install sigs.k8s.io/kustomize/kustomize/v5@latest` and use "
           "`kustomize build`")


def render(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@needs_kubectl
def test_the_production_overlay_renders_and_validates() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objs = render(PRODUCTION)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds.count("Deployment") == 4 and kinds.count("HorizontalPodAutoscaler") == 4
    assert kinds.count("Job") == 3 and "Namespace" in kinds
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "emulation", obj["metadata"]["name"]
    configmaps = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"}
    assert all(re.fullmatch(r"emulation-([a-z]+-)?config-[a-z0-9]{10}", n) for n in configmaps)
    for obj in objs:
        if obj["kind"] in ("Deployment", "Job"):
            for c in containers(obj):
                assert image_problems(c["image"]) == []
                for ref in c.get("envFrom", []):
                    assert ref["configMapRef"]["name"] in configmaps  # hashed names resolved
        if obj["kind"] == "HorizontalPodAutoscaler":
            assert obj["spec"]["minReplicas"] == 2 and obj["spec"]["maxReplicas"] <= 6
    merged = next(o for o in objs if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("emulation-config-"))
    assert merged["data"]["EMULATION_TOPIC_REPLICATION"] == "3"
    base = generated_config()["emulation-config"]["EMULATION_KAFKA_BOOTSTRAP"]
    assert merged["data"]["EMULATION_KAFKA_BOOTSTRAP"] != base, "the overlay names its Kafka"


@needs_kubectl
def test_the_base_renders() -> None:
    objs = render(BASE)
    assert sum(o["kind"] == "Deployment" for o in objs) == 4


# -- least exposure on the network (issue 15) ----------------------------------------------

NETWORK_ADDON = K8S / "addons" / "network-policies"


def policies(directory: Path = BASE) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in of_kind(objects(directory), "NetworkPolicy")}


def selected(policy: dict[str, Any]) -> set[str] | None:
    """The app names a policy's podSelector picks (None: every pod)."""
    selector = policy["spec"]["podSelector"]
    if not selector:
        return None
    names = set()
    if "app.kubernetes.io/name" in selector.get("matchLabels", {}):
        names.add(selector["matchLabels"]["app.kubernetes.io/name"])
    for expr in selector.get("matchExpressions", []):
        assert expr["key"] == "app.kubernetes.io/name" and expr["operator"] == "In"
        names |= set(expr["values"])
    return names


def peers(rules: list[dict[str, Any]], way: str) -> list[dict[str, Any]]:
    return [peer for rule in rules for peer in rule.get(way, [])]


def test_everything_is_denied_unless_a_policy_allows_it() -> None:
    deny = policies()["default-deny"]
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_the_http_port_is_open_to_the_ingress_controller_and_prometheus_only() -> None:
    ingress_rules = {name: p for name, p in policies().items() if p["spec"].get("ingress")}
    assert set(ingress_rules) == {"services-http-ingress"}, "another policy lets traffic in"
    policy = ingress_rules["services-http-ingress"]
    assert selected(policy) == set(SERVICES)
    sources = peers(policy["spec"]["ingress"], "from")
    namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for p in sources}
    assert namespaces == {"ingress-nginx", "monitoring"}
    assert all("podSelector" in p and "ipBlock" not in p for p in sources)
    for rule in policy["spec"]["ingress"]:
        assert [p["port"] for p in rule["ports"]] == ["http"]


def test_the_databases_and_kafka_are_reached_only_by_who_needs_them() -> None:
    by_port: dict[int, set[str]] = {}
    for policy in policies().values():
        for rule in policy["spec"].get("egress", []):
            for port in rule.get("ports", []):
                names = selected(policy)
                by_port.setdefault(port["port"], set()).update(names or {"*"})
    assert by_port[27017] == set(SERVICES)
    assert by_port[9092] == set(SERVICES) | {"create-topics", "load-registry"}
    assert by_port[25] == by_port[2775] == by_port[443] == {"notifications"}
    assert by_port[53] == {"*"}  # DNS, for every pod
    assert set(by_port) == {27017, 9092, 25, 2775, 443, 53, 4318}


def test_the_ingress_routes_the_api_never_metrics_or_probes() -> None:
    [ingress] = of_kind(objects(), "Ingress")
    hosts = {rule["host"].split(".")[0]: rule for rule in ingress["spec"]["rules"]}
    assert set(hosts) == set(SERVICES)
    for name, rule in hosts.items():
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == name
            assert path["path"].startswith(("/v1/", "/openapi.json", "/docs", "/dashboard"))
            for hidden in ("/metrics", "/healthz", "/livez", "/readyz"):
                assert not hidden.startswith(path["path"].rstrip("/") + "/") \
                    and hidden != path["path"]


def test_kafka_and_mongodb_let_in_only_the_emulation_namespace() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    addon = policies(NETWORK_ADDON)
    for policy in addon.values():
        kubernetes_validate.validate(policy, KUBERNETES_VERSION, strict=True)
    for name, port in (("kafka-clients-from-emulation", 9092),
                       ("mongodb-from-emulation", 27017)):
        rules = addon[name]["spec"]["ingress"]
        to_port = [r for r in rules if any(p["port"] == port for p in r.get("ports", []))]
        sources = peers(to_port, "from")
        assert sources and all(
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "emulation"
            for p in sources)
        # The rest: only the namespace's own pods (a podSelector without a namespace).
        for rule in rules:
            if rule not in to_port:
                assert all(set(p) <= {"podSelector", "namespaceSelector"} for p in rule["from"])
                assert all("namespaceSelector" not in p or "ports" in rule
                           for p in rule["from"])
