"""The code stays within Python 3.10 (Humble on Ubuntu 22.04): the linter is what checks it. ruff with
``target-version = "py310"`` reports syntax newer than 3.10 as invalid; scripts/lint.sh (in scripts/test.sh)
runs it over the package, tests, benchmarks and scripts. This pins that configuration."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from helpers.paths import REPO

#: One construct per Python release after 3.10, each a syntax error for 3.10.
NEWER_SYNTAX = {
    "except*": "try:\n    pass\nexcept* ValueError:\n    pass\n",  # 3.11
    "star annotation": "def f(*args: *tuple[int, ...]) -> None: ...\n",  # 3.11
    "type alias statement": "type Alias = int\n",  # 3.12
    "type parameter list": "def g[T](x: T) -> T:\n    return x\n",  # 3.12
    "f-string quote reuse": 'names = {"a": 1}\nprint(f"{names["a"]}")\n',  # 3.12
}


def test_python_version_is_the_same_for_ruff_mypy_and_setup():
    settings = (REPO / "pyproject.toml").read_text()  # read as text: tomllib is 3.11+
    assert re.search(r'^target-version = "py310"$', settings, re.M)
    assert re.search(r'^python_version = "3\.10"$', settings, re.M)
    assert 'python_requires=">=3.10"' in (REPO / "setup.py").read_text()


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (requirements-test.txt has it)")
@pytest.mark.parametrize("feature", sorted(NEWER_SYNTAX))
def test_lint_rejects_syntax_newer_than_python_3_10(feature, tmp_path):
    source = tmp_path / "newer.py"
    source.write_text(NEWER_SYNTAX[feature])
    done = subprocess.run(["ruff", "check", "--no-cache", "--output-format", "concise", "--config",
                           str(REPO / "pyproject.toml"), str(source)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"invalid-syntax: .* on Python 3\.10 \(syntax was added in Python 3\.1[12]\)", done.stdout), \
        done.stdout
