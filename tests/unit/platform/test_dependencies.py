"""Reproducible installs: requirements.lock pins every package pyproject.toml asks for (at
a version it allows, with hashes), and pyproject.toml declares every package the code
imports: the services' in the runtime dependencies, the tools' and tests' at least in the
dev extras. When this fails after a dependency change: `make lock`."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
OWN = {"services", "devstack", "tests", "bench"}
# Used without an import of its own: the OTLP exporter is chosen by OTEL_* variables.
NOT_IMPORTED = {"opentelemetry-exporter-otlp-proto-http"}


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of requirements.lock."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", block)
        if head:
            name = canonicalize_name(head.group(1).split("[")[0])
            found[name] = (head.group(2), block.count("--hash=sha256:"))
    return found


@cache
def imports_of(folder: str) -> dict[str, str]:
    """top-level module -> one file importing it, third-party modules only."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@cache
def _distributions() -> dict[str, list[str]]:
    return dict(packages_distributions())


def distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in _distributions().get(module, [])}


def test_the_lock_pins_every_declared_package_at_an_allowed_version_with_hashes() -> None:
    lock = locked()
    assert len(lock) > 50
    for req in RUNTIME + DEV:
        name = canonicalize_name(req.name)
        assert name in lock, f"{req} is not in requirements.lock: make lock"
        version = lock[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"pyproject.toml asks {req}, requirements.lock has {version}: make lock")
    unhashed = [name for name, (_, hashes) in lock.items() if hashes == 0]
    assert unhashed == [], f"no hashes for {unhashed}"


def test_the_installed_packages_are_the_locked_ones() -> None:
    """The environment the tests run in was installed from the lock."""
    from importlib.metadata import version

    lock = locked()
    for req in RUNTIME + DEV:
        assert version(req.name) == lock[canonicalize_name(req.name)][0], req.name


@pytest.mark.parametrize(("folder", "allowed"), [
    ("services", "runtime"), ("devstack", "dev"), ("tests", "dev"), ("bench", "dev")])
def test_every_imported_package_is_declared(folder: str, allowed: str) -> None:
    declared = {canonicalize_name(r.name) for r in RUNTIME}
    if allowed == "dev":
        declared |= {canonicalize_name(r.name) for r in DEV}
    missing = {module: where for module, where in imports_of(folder).items()
               if not distributions(module) & declared}
    assert missing == {}, f"imported but not declared ({allowed}): {missing}"


def test_every_runtime_dependency_is_used_by_the_services() -> None:
    """A package only the local stack or the tests use belongs in the dev extras (the
    service images install the runtime dependencies only)."""
    used = set().union(*(distributions(m) for m in imports_of("services")))
    unused = {canonicalize_name(r.name) for r in RUNTIME} - used - NOT_IMPORTED
    assert unused == set(), f"runtime dependencies the services never import: {unused}"
