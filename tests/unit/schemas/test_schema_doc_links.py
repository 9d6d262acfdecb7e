"""The pages the contracts point readers to exist, down to the section."""

from __future__ import annotations

import re

from services.common.settings import REPO_ROOT


def anchors(page: str) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    out = set()
    for line in page.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_every_docs_link_in_the_schemas_resolves() -> None:
    found = 0
    for path in sorted((REPO_ROOT / "schemas").rglob("*.json")):
        for target, anchor in re.findall(r"(docs/[\w./-]+\.md)(?:#([\w-]+))?",
                                         path.read_text(encoding="utf-8")):
            found += 1
            page = REPO_ROOT / target
            assert page.is_file(), f"{path.name} links {target}, which does not exist"
            if anchor:
                assert anchor in anchors(page.read_text(encoding="utf-8")), (
                    f"{path.name} links {target}#{anchor}, which has no such section")
    assert found


def test_the_submissions_page_explains_each_content() -> None:
    page = (REPO_ROOT / "docs" / "submissions.md").read_text(encoding="utf-8")
    section = page.split("## The six contents", 1)[1].split("\n## ", 1)[0]
    for key in ("implement_directives", "local_government", "movement_quality",
                "science_technology", "security_forces", "propaganda"):
        assert f"| `{key}` |" in section, key
