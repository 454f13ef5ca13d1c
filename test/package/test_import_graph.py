"""The package's import graph, read from the source with ``ast``: no import cycles, no private names used
across modules, no private internals of other packages, and a ROS-free core.

Every import counts: module level, inside functions and under ``if TYPE_CHECKING``. A cycle that only
works because one side imports inside a function is still a cycle (the two modules cannot be understood,
tested or moved apart); the fix is to move the shared piece to the module that owns it. A private name
(``_name``) used from another module is a public one in disguise: make it public with a docstring, or move
it to where it is used. The private-name checks read the benchmarks too (``benchmarks/*.py``).
"""
from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from helpers.paths import REPO

PACKAGE = "cosmos_reason_ros"
SOURCE = REPO / PACKAGE
#: Subpackages that colcon generates from msg/, srv/ and action/ (not in the source tree).
GENERATED = tuple(f"{PACKAGE}.{name}" for name in ("msg", "srv", "action"))
#: Internals of other packages that carry no underscore but are not their public API.
FOREIGN_INTERNALS = ("rclpy.impl",)
#: Underscore names that the standard library documents as public.
DOCUMENTED_PRIVATE = frozenset({"os._exit", "sys._getframe", "sys._current_frames"})
#: What the ROS-free core must not import: the ROS side of this package, and ROS itself.
CORE = f"{PACKAGE}.core"
NOT_IN_CORE = (f"{PACKAGE}.ros", f"{PACKAGE}.bt", f"{PACKAGE}.tools", *GENERATED, "rclpy", "rosidl_runtime_py",
               "builtin_interfaces", "std_msgs", "geometry_msgs", "sensor_msgs", "visualization_msgs",
               "action_msgs", "lifecycle_msgs", "diagnostic_msgs", "rcl_interfaces", "unique_identifier_msgs",
               "launch", "launch_ros", "py_trees_ros", "message_filters", "cv_bridge", "tf2_ros")


@dataclass(frozen=True)
class Import:
    """One imported thing: ``from module import name`` (``name`` None for ``import module``)."""

    line: int
    module: str
    name: str | None
    alias: str  # the local name the statement binds
    bound_as_alias: bool = False  # ``import a.b as x`` binds x to a.b; ``import a.b`` binds a to a


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def package_modules() -> dict[str, Path]:
    """Every module of the source package by dotted name; a package is its ``__init__``."""
    return {_module_name(p): p for p in sorted(SOURCE.rglob("*.py")) if "__pycache__" not in p.parts}


def benchmark_modules() -> dict[str, Path]:
    return {f"benchmarks.{p.stem}": p for p in sorted((REPO / "benchmarks").glob("*.py"))}


@functools.cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(module: str, path: Path) -> list[Import]:
    """Every import statement of the module, relative ones made absolute."""
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(node.lineno, alias.name, None, alias.asname or alias.name.split(".")[0],
                                    bound_as_alias=alias.asname is not None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.extend(Import(node.lineno, source, alias.name, alias.asname or alias.name)
                         for alias in node.names)
    return found


def resolve(imp: Import) -> str | None:
    """The package module an import loads (``pkg.mod.name`` → ``pkg.mod`` for a name defined in it), or None
    for anything outside the source package."""
    modules = package_modules()
    if not _under(imp.module, PACKAGE) or _under(imp.module, GENERATED):
        return None
    if imp.name is not None and f"{imp.module}.{imp.name}" in modules:
        return f"{imp.module}.{imp.name}"
    if imp.module in modules:
        return imp.module
    head = imp.module.rpartition(".")[0]
    if imp.name is None and head in modules:
        return head
    raise AssertionError(f"{imp.module} (line {imp.line}) is not a module of the source package")


@functools.cache
def graph() -> dict[str, dict[str, int]]:
    """module → {imported package module: first line importing it}."""
    edges: dict[str, dict[str, int]] = {}
    for module, path in package_modules().items():
        targets = edges.setdefault(module, {})
        for imp in imports(module, path):
            target = resolve(imp)
            if target is not None and target != module:
                targets.setdefault(target, imp.line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return [_cycle_through(component, edges) for component in components]


def _cycle_through(component: list[str], edges: dict[str, dict[str, int]]) -> list[str]:
    """The shortest path from the component's first module back to itself (breadth first, inside it)."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {component}")


def _describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {edges[a][b]})" for a, b in pairwise(cycle)]
    return " → ".join([*steps, cycle[-1]])


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _is_module(name: str) -> bool:
    """A package module, or anything outside the package (where the test cannot tell; treated as one)."""
    return name in package_modules() or not _under(name, PACKAGE) or _under(name, GENERATED)


@functools.cache
def private_definitions() -> dict[str, frozenset[str]]:
    """Private functions, methods and classes of the package: name → the modules that define one."""
    where: dict[str, set[str]] = {}
    for module, path in package_modules().items():
        for node in ast.walk(tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _is_private(node.name):
                where.setdefault(node.name, set()).add(module)
    return {name: frozenset(modules) for name, modules in where.items()}


@dataclass(frozen=True)
class PrivateUse:
    """A private name used outside its module: "file:line: what", and whether it is another package's."""

    where: str
    foreign: bool


def private_uses(module: str, path: Path, private: dict[str, frozenset[str]] | None = None) -> Iterator[PrivateUse]:
    """Private names of other modules of the package that this one uses, and other packages' internals."""
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
    private = private_definitions() if private is None else private
    bound: dict[str, str] = {}  # local name → the module it is bound to
    for imp in imports(module, path):
        internal = not _under(imp.module, PACKAGE) and (
            _under(imp.module, FOREIGN_INTERNALS) or any(_is_private(p) for p in imp.module.split(".")))
        if imp.name is None:
            bound[imp.alias] = imp.module if imp.bound_as_alias else imp.alias
            if internal:
                yield PrivateUse(f"{where}:{imp.line}: imports {imp.module}", foreign=True)
            continue
        full = f"{imp.module}.{imp.name}"
        if full in package_modules() or (not _under(imp.module, PACKAGE) and imp.name[:1].islower()):
            bound[imp.alias] = full
        if internal or (_is_private(imp.name) and imp.module != module):
            yield PrivateUse(f"{where}:{imp.line}: imports {imp.name} from {imp.module}",
                             foreign=not _under(imp.module, PACKAGE))
    for node in ast.walk(tree(path)):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        parts = _dotted(node)
        if parts is not None and parts[0] in bound:
            owner = bound[parts[0]]
            for part in parts[1:-1]:
                if not _is_module(f"{owner}.{part}"):
                    break
                owner = f"{owner}.{part}"
            else:
                if f"{owner}.{node.attr}" not in DOCUMENTED_PRIVATE and owner != module:
                    yield PrivateUse(f"{where}:{node.lineno}: uses {owner}.{node.attr}",
                                     foreign=not _under(owner, PACKAGE))
                continue
        # An object's private method or class from another module (``backend._preprocess(...)``); a module that
        # defines a private name of the same spelling itself is given the benefit of the doubt.
        receiver = node.value
        is_self = (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")) or (
            isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super")
        owners = private.get(node.attr, frozenset())
        if not is_self and owners and module not in owners:
            yield PrivateUse(f"{where}:{node.lineno}: uses {ast.unparse(node)}, private to "
                             f"{', '.join(sorted(owners))}", foreign=False)


def test_source_package_imports_resolve():
    """Every import of the package names a module or a name of one (else the graph below is incomplete)."""
    problems = []
    for module, path in package_modules().items():
        for imp in imports(module, path):
            try:
                resolve(imp)
            except AssertionError as e:
                problems.append(f"{path.relative_to(REPO)}: {e}")
    assert not problems, "imports of missing package modules:\n" + "\n".join(problems)


def test_no_import_cycles():
    """No two modules import each other, directly or through others, even from inside a function."""
    edges = graph()
    found = cycles(edges)
    assert not found, ("import cycles (move the shared piece to the module that owns it; an import inside a "
                       "function does not break a cycle):\n" + "\n".join(_describe(c, edges) for c in found))


def test_no_private_names_across_modules():
    """A leading underscore means "only this module": another module (or a benchmark) using it needs it public."""
    found = [use.where for module, path in {**package_modules(), **benchmark_modules()}.items()
             for use in private_uses(module, path) if not use.foreign]
    assert not found, ("private names used outside their module (make them public with a docstring, or move "
                       "them):\n" + "\n".join(found))


def test_no_private_internals_of_other_packages():
    """Other packages' internals (``rclpy.impl``, ``_``-prefixed modules and names) may change in any release."""
    found = [use.where for module, path in {**package_modules(), **benchmark_modules()}.items()
             for use in private_uses(module, path) if use.foreign]
    assert not found, "private internals of other packages used:\n" + "\n".join(found)


def test_core_imports_no_ros():
    """``cosmos_reason_ros.core`` is the ROS-free core (pip-installable alone): it imports no ROS and nothing
    from the ROS side of this package."""
    found = [f"{path.relative_to(REPO)}:{imp.line}: imports {imp.module}"
             + (f".{imp.name}" if imp.name else "")
             for module, path in package_modules().items() if _under(module, CORE)
             for imp in imports(module, path)
             if _under(imp.module, NOT_IN_CORE)
             or (imp.name is not None and _under(f"{imp.module}.{imp.name}", NOT_IN_CORE))
             or imp.module.split(".")[0].endswith("_msgs")]
    assert not found, "the core imports ROS:\n" + "\n".join(found)


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The cycle finder and the private-name reader on made-up input: a cycle, private imports, internals."""
    edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    (cycle,) = cycles(edges)
    assert cycle == ["a", "b", "c", "a"] and _describe(cycle, edges) == "a (line 1) → b (line 2) → c (line 3) → a"
    assert cycles({"a": {"b": 1}, "b": {}}) == []
    probe = tmp_path / "probe.py"
    probe.write_text("from cosmos_reason_ros.core.answers import json_repair as jr\n"
                     "import rclpy.impl.implementation_singleton\n"
                     "import cosmos_reason_ros.core.answers.fields\n"
                     "def f(backend):\n"
                     "    from cosmos_reason_ros.tools.replay import _Private\n"
                     "    from rclpy.impl.implementation_singleton import rclpy_implementation\n"
                     "    jr._helper(cosmos_reason_ros.core.answers.fields._private, os._exit)\n"
                     "    return backend._known(), self._known(), super()._known(), backend._unknown()\n")
    uses = [(use.where.split(": ", 1)[1], use.foreign)
            for use in private_uses("probe", probe, {"_known": frozenset({"elsewhere"})})]
    assert uses == [("imports rclpy.impl.implementation_singleton", True),
                    ("imports _Private from cosmos_reason_ros.tools.replay", False),
                    ("imports rclpy_implementation from rclpy.impl.implementation_singleton", True),
                    ("uses cosmos_reason_ros.core.answers.json_repair._helper", False),
                    ("uses cosmos_reason_ros.core.answers.fields._private", False),
                    ("uses backend._known, private to elsewhere", False)], uses
