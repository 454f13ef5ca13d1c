"""Docs that state facts the code defines: they are checked against it, so they cannot drift."""
from __future__ import annotations

import re
import subprocess

from cosmos_reason_ros.ros.node.parameters import PARAMETERS
from helpers.paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _default_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_remote_serving_table_gives_the_nodes_defaults():
    text = (REPO / "docs" / "remote-serving.md").read_text()
    defaults = {spec.name: spec.default for spec in PARAMETERS}
    rows = re.findall(r"^\| `\w+` \(`([\w.]+)`\) \| ([^|]+) \|", text, re.M)
    assert len(rows) >= 10
    for name, shown in rows:
        expected = _default_text(defaults[name])
        assert shown.strip().strip("`").removesuffix(" s") == expected, f"{name}: doc says {shown!r}, node {expected}"


def test_docs_refer_only_to_files_in_the_repository():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links to missing {target}"
        assert "COSMOS-REASON.md" not in doc.read_text(), f"{doc.relative_to(REPO)} names a file outside the repository"


def test_tiny_model_time_is_stated_the_same_in_help_and_readme(tmp_path):
    from helpers.tools import installed

    help_text = subprocess.run([str(installed("make_tiny_model")), "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert "10-15 s on an idle 2-core CPU" in " ".join(help_text.split())
    assert "seconds on a CPU" not in help_text
    assert "# 10-15 s on an idle 2-core CPU" in (REPO / "README.md").read_text()


def test_readme_layout_names_every_folder_and_only_modules_that_exist():
    """The README's layout is the tree: every package folder is shown, and every module it names exists
    in the folder it is shown under."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    package = REPO / "cosmos_reason_ros"
    folders = {p.parent.relative_to(package).as_posix() for p in package.rglob("__init__.py")} - {"."}
    shown: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent, folder path relative to the package)
    for line in block.splitlines()[1:]:
        indent = len(line) - len(line.lstrip())
        if indent < 2:  # the package line and the repository-level lines below it
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        first = line.split()[0]
        if first.endswith("/"):
            folder = f"{parent}/{first[:-1]}".lstrip("/")
            shown.add(folder)
            stack.append((indent, folder))
        names = re.findall(r"\b(\w+\.py)\b", line.split("  ", 1)[0] if first.endswith("/") else line)
        for name in names:
            assert (package / parent / name).is_file(), f"README layout names {parent}/{name}, which does not exist"
    assert folders <= shown, f"folders missing from the README layout: {sorted(folders - shown)}"


def test_readme_model_table_is_written_from_the_family_table() -> None:
    """The supported models are written once (core.models.families.MODELS); the README shows that table."""
    from cosmos_reason_ros.core.models.families import DEFAULT_MODEL, models_table

    readme = (REPO / "README.md").read_text()
    for line in models_table().splitlines():
        assert f"  {line}\n" in readme, f"README's model table differs from families.MODELS at: {line}"
    assert f"**The default is `{DEFAULT_MODEL}`**" in readme


def test_fast_dds_profile_variable_is_named_for_both_major_versions():
    """Fast DDS 2.x (Humble, Jazzy) reads FASTRTPS_DEFAULT_PROFILES_FILE, 3.x (Kilted) FASTDDS_DEFAULT_PROFILES_FILE:
    a document that tells users to set one names the other too, or a camera driver set up as documented misses
    the large-image profile on the other major version."""
    variables = {"FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"}
    files = [*DOCS, REPO / "benchmarks" / "README.md", REPO / "config" / "fastdds_large_images.xml"]
    naming = {path.relative_to(REPO).as_posix(): {v for v in variables if v in path.read_text()} for path in files}
    assert {name for name, named in naming.items() if named} >= {"README.md", "config/fastdds_large_images.xml"}
    assert {name: named for name, named in naming.items() if named and named != variables} == {}
