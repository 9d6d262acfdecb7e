"""The FerretDB build's patching (devstack/install.py): the committed patches apply to
a copy of the module, never to Go's module cache, and a patch that does not apply stops
the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import install
from devstack.procs import StackError

PATCH = """--- a/internal/meta.go
+++ b/internal/meta.go
@@ -1,3 +1,3 @@
 package meta

-const IDColumn = "a->'$._id'"
+const IDColumn = `a->"_id"`
"""


def module(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "cache" / "mod@v1"
    (src / "internal").mkdir(parents=True)
    (src / "internal" / "meta.go").write_text(text)
    (src / "go.mod").write_text("module example.org/mod\n")
    (src / "internal" / "meta.go").chmod(0o444)  # the module cache is read-only
    return src


def test_patches_apply_to_a_copy(tmp_path: Path) -> None:
    src = module(tmp_path, "package meta\n\nconst IDColumn = \"a->'$._id'\"\n")
    patch = tmp_path / "0001-id.patch"
    patch.write_text(PATCH)
    copy = install.patched_module(src, [patch], tmp_path / "build")
    assert (copy / "internal" / "meta.go").read_text().endswith('`a->"_id"`\n')
    assert "'$._id'" in (src / "internal" / "meta.go").read_text()  # cache untouched
    assert (copy / "go.mod").exists()


def test_a_patch_that_does_not_apply_stops_the_build(tmp_path: Path) -> None:
    src = module(tmp_path, "package meta\n\nconst IDColumn = \"something else\"\n")
    patch = tmp_path / "0001-id.patch"
    patch.write_text(PATCH)
    with pytest.raises(StackError, match=r"0001-id\.patch"):
        install.patched_module(src, [patch], tmp_path / "build")


def test_the_committed_patches_are_inputs_of_the_build() -> None:
    names = [p.name for p in install.ferretdb_inputs()]
    assert names[:3] == ["main.go", "go.mod", "go.sum"]
    assert names[3:] == sorted(names[3:]) and len(names) >= 6
    for patch in install.ferretdb_inputs()[3:]:
        text = patch.read_text()
        assert text.startswith("--- a/") and "\n+++ b/" in text, patch.name


def test_the_patches_are_numbered_in_order_without_gaps() -> None:
    # install.py applies them in name order, each on top of the ones before (0004
    # rewrites the `_id` condition that 0003 widened)
    names = [p.name for p in install.ferretdb_inputs()[3:]]
    assert [n[:5] for n in names] == [f"{i:04d}-" for i in range(1, len(names) + 1)], names
    assert "0004-push-down-id-in.patch" in names
