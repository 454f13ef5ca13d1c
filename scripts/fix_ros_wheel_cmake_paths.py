#!/usr/bin/env python3
"""Repair the build-machine paths baked into the ROS 2 wheels' exported CMake files.

The registry's ros-* wheels export CMake configs that name the wheel builder's Python include directory
and NumPy include directory (/opt/python/cp3XX-cp3XX/...). CMake's generate step then fails with
"includes non-existent path". This rewrites them to this interpreter's directories. Idempotent: a file
that no longer names a builder path is left untouched.
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+m?/include/python3\.\d+m?")
BUILDER_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+m?/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include"
)


def fix_file(path: Path, python_include: str, numpy_include: str) -> bool:
    """Rewrite one CMake file in place; return whether it changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    # The NumPy pattern is the longer match, so it goes first.
    fixed = BUILDER_NUMPY_INCLUDE.sub(numpy_include, text)
    fixed = BUILDER_PYTHON_INCLUDE.sub(python_include, fixed)
    if fixed == text:
        return False
    path.write_text(fixed, encoding="utf-8")
    return True


def main() -> int:
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = [
        p for p in sorted((prefix / "share").glob("*/cmake/*.cmake")) if fix_file(p, python_include, numpy_include)
    ]
    for p in changed:
        print(f"fixed builder paths in {p.relative_to(prefix)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
