"""schemas/asyncapi.yaml through the official AsyncAPI parser (@asyncapi/parser, the one
AsyncAPI's CLI and Studio use), at the version tests/asyncapi/package-lock.json pins with
its hashes. `npm ci` installs it once into a cache outside the checkout
(`$XDG_CACHE_HOME/emulation-platform/asyncapi-<lock digest>`); without Node the test is
skipped, with Node it must pass."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHECK = ROOT / "tests" / "asyncapi"
DOCUMENT = ROOT / "schemas" / "asyncapi.yaml"


def parser_modules() -> Path:
    lock = (CHECK / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = cache / "emulation-platform" / f"asyncapi-{hashlib.sha256(lock).hexdigest()[:16]}"
    modules = home / "node_modules"
    if not (modules / "@asyncapi" / "parser" / "package.json").exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(CHECK / name, home / name)
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                              cwd=home, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return modules


def validate(document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(CHECK / "validate.cjs"), str(document),
                           str(parser_modules())],
                          capture_output=True, text=True, timeout=300)


pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="Node.js (node, npm) is not installed")


def test_the_asyncapi_document_is_valid() -> None:
    done = validate(DOCUMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    channels, messages = len(doc["channels"]), len(doc["components"]["messages"])
    assert f"valid: {channels} channels, {messages} messages, AsyncAPI 3.0.0" in done.stdout


def test_the_validator_refuses_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: a channel without its address and a reference to a schema
    that does not exist are both reported."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    broken = tmp_path / "schemas" / "asyncapi.yaml"
    text = DOCUMENT.read_text(encoding="utf-8")
    text = text.replace("./events/notification.v1.json", "./events/no-such.v1.json")
    broken.write_text(text.replace("asyncapi: 3.0.0", "asyncapi: 3.0.0\nnot-a-field: 1"),
                      encoding="utf-8")
    done = validate(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no-such.v1.json" in done.stdout and "not-a-field" in done.stdout
