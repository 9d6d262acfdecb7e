"""Issue 18: the four services have one shape. The same core modules mean the same thing
in each (docs/newcomers.md lists them); agents are declared only in `agents.py`; metrics
live in `metrics.py`; only the API layer knows HTTP."""

from __future__ import annotations

import ast
import pathlib

import pytest

SERVICES = pathlib.Path(__file__).resolve().parents[3] / "services"
NAMES = ("submissions", "scoring", "notifications", "reporting")
CORE = ("__main__", "settings", "bootstrap", "agents", "api", "domain", "service", "store",
        "schema", "metrics", "models")


def modules(service: str) -> set[str]:
    return {p.stem for p in (SERVICES / service).glob("*.py")}


@pytest.mark.parametrize("service", NAMES)
def test_every_service_has_the_core_modules(service: str) -> None:
    assert sorted(set(CORE) - modules(service)) == []


def calls_in(path: pathlib.Path, attribute: str) -> list[int]:
    tree = ast.parse(path.read_text())
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == attribute]


def test_agents_are_declared_only_in_agents_modules() -> None:
    """`grep faust_app.agent` finds every agent of the platform in an `agents.py`."""
    declared = {str(p.relative_to(SERVICES)) for p in SERVICES.rglob("*.py")
                if calls_in(p, "agent")}
    assert declared == {f"{name}/agents.py" for name in NAMES}


def test_prometheus_metrics_are_defined_in_metrics_modules() -> None:
    """Only a `metrics.py` imports prometheus_client (common/http.py serves /metrics)."""
    importing = set()
    for path in SERVICES.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "prometheus_client" for n in names):
                importing.add(str(path.relative_to(SERVICES)))
    assert importing == {f"{name}/metrics.py" for name in (*NAMES, "common")} | {
        "common/http.py"}


def test_only_the_api_layer_imports_the_web_framework() -> None:
    """Domain, service and store modules know no HTTP."""
    leaking = []
    for name in NAMES:
        for module in ("domain", "service", "store", "models"):
            path = SERVICES / name / f"{module}.py"
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                        "fastapi", "starlette"):
                    leaking.append(f"{name}/{module}.py imports {node.module}")
                if isinstance(node, ast.ImportFrom) and node.module == "services.common.problems":
                    leaking.append(f"{name}/{module}.py imports problems")
    assert leaking == []
