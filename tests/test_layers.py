"""The layer rules of ../shared/DESIGN.md, enforced on the import graph.

Every .py file of the code trees is parsed with `ast` (nothing is imported) and each import
statement, wherever it is (module level, inside a function, under `if TYPE_CHECKING:`), is
resolved to the repo module it loads. The rules:
- only `include/orchestration/`, `dags/` and `plugins/` import `airflow`;
- the domains (`include/<domain>/`) never import each other;
- `include/` (other than `include/demo/`) never imports `sandbox`, `tools`, `bench` or
  `include/demo`;
- repo modules form no import cycle. An import of one of the importer's own ancestor packages
  (`include.social.media.process` -> `include.social.media`) is not counted: Python runs that
  `__init__` before the module anyway.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_TREES = ("dags", "include", "sandbox", "tools", "bench", "plugins")
DOMAINS = ("videos", "social", "platform", "music", "ads", "fitness")
AIRFLOW_AWARE = ("include.orchestration", "dags", "plugins")  # plugins: Airflow extension points only
# What production code under include/ must not reach: dev stand-ins, tooling and demo data.
NOT_FOR_INCLUDE = ("sandbox", "tools", "bench", "include.demo")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    path: str  # its file, relative to the root
    line: int
    statement: str  # the import as written
    target: str  # what it imports, dotted (a repo module when `internal`)
    internal: bool

    def where(self) -> str:
        return f"{self.path}:{self.line} `{self.statement}`"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def collect_modules(root: Path, trees: tuple[str, ...] = CODE_TREES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the given top-level folders."""
    modules: dict[str, Path] = {}
    for tree in trees:
        for path in sorted((root / tree).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The repo module `name` loads: itself, or the longest repo module it is inside of."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _base_package(module: str, path: Path, level: int) -> str:
    """The package a relative import of `level` dots starts from."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def module_imports(module: str, path: Path, root: Path, modules: dict[str, Path]) -> list[Import]:
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    rel = str(path.relative_to(root))
    found: list[Import] = []

    def add(node: ast.stmt, target: str) -> None:
        statement = ast.get_source_segment(text, node) or ast.unparse(node)
        resolved = _resolve(target, modules)
        found.append(Import(module, rel, node.lineno, " ".join(statement.split()),
                            resolved or target, resolved is not None))

    for node in ast.walk(tree):  # every statement, however nested: TYPE_CHECKING and local imports too
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base_package(module, path, node.level)
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            for alias in node.names:
                # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself.
                candidate = f"{origin}.{alias.name}"
                add(node, candidate if alias.name != "*" and candidate in modules else origin)
    return found


def import_graph(root: Path, trees: tuple[str, ...] = CODE_TREES) -> list[Import]:
    modules = collect_modules(root, trees)
    return [imp for name, path in modules.items() for imp in module_imports(name, path, root, modules)]


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "include" and parts[1] in DOMAINS else None


def airflow_violations(imports: list[Import]) -> list[str]:
    return [f"{imp.where()}: only include/orchestration/ and dags/ may import airflow"
            for imp in imports
            if not imp.internal and _within(imp.target, "airflow")
            and not any(_within(imp.source, allowed) for allowed in AIRFLOW_AWARE)]


def domain_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        mine, theirs = _domain(imp.source), _domain(imp.target) if imp.internal else None
        if mine and theirs and mine != theirs:
            out.append(f"{imp.where()}: domain {mine} imports domain {theirs} ({imp.target})")
    return out


def include_violations(imports: list[Import]) -> list[str]:
    return [f"{imp.where()}: include/ must not import {imp.target}"
            for imp in imports
            if imp.internal and _within(imp.source, "include") and not _within(imp.source, "include.demo")
            and any(_within(imp.target, banned) for banned in NOT_FOR_INCLUDE)]


def find_cycles(imports: list[Import]) -> list[list[Import]]:
    """One cycle (as its chain of imports) per strongly connected group of modules."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.internal and imp.target != imp.source and not _within(imp.source, imp.target):
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    # Tarjan's strongly connected components, iterative (no recursion limit on deep trees).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    cycles = []
    for group in groups:
        members = set(group)
        # Shortest way back to the group's first module, breadth first inside the group.
        first = group[0]
        came_from: dict[str, Import] = {}
        frontier = [first]
        while frontier and first not in came_from:
            nxt = []
            for node in frontier:
                for child, imp in sorted(edges.get(node, {}).items()):
                    if child in members and child not in came_from:
                        came_from[child] = imp
                        nxt.append(child)
            frontier = nxt
        chain, node = [], first
        while True:
            imp = came_from[node]
            chain.append(imp)
            node = imp.source
            if node == first:
                break
        cycles.append(chain[::-1])
    return cycles


def cycle_violations(imports: list[Import]) -> list[str]:
    return ["import cycle " + " -> ".join([chain[0].source] + [imp.target for imp in chain]) + ":\n    "
            + "\n    ".join(imp.where() for imp in chain)
            for chain in find_cycles(imports)]


def _report(violations: list[str]) -> str:
    return f"{len(violations)} layer violation(s):\n" + "\n".join(violations)


@pytest.fixture(scope="module")
def repo_imports() -> list[Import]:
    return import_graph(ROOT)


def test_the_graph_sees_the_repo(repo_imports):
    sources = {imp.source for imp in repo_imports}
    assert {"include.common.db", "dags.videos.analytics_sync", "sandbox.app"} <= sources
    assert any(imp.internal and imp.target.startswith("include.orchestration") for imp in repo_imports)


def test_only_orchestration_and_dags_import_airflow(repo_imports):
    violations = airflow_violations(repo_imports)
    assert not violations, _report(violations)


def test_domains_never_import_each_other(repo_imports):
    violations = domain_violations(repo_imports)
    assert not violations, _report(violations)


def test_include_never_imports_sandbox_tools_bench_or_demo(repo_imports):
    violations = include_violations(repo_imports)
    assert not violations, _report(violations)


def test_no_import_cycles(repo_imports):
    violations = cycle_violations(repo_imports)
    assert not violations, _report(violations)


# The checker itself, on a synthetic tree with one planted violation of each rule.


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


CLEAN = {
    "include/__init__.py": "",
    "include/common/__init__.py": "",
    "include/common/db.py": "import psycopg\n",
    "include/common/outbox.py": "from .db import *\nfrom include.common import db\n",
    "include/videos/__init__.py": "",
    "include/videos/media/__init__.py": "from .process import run\n",
    # Importing its own package's __init__ is no cycle.
    "include/videos/media/process.py": "from include.videos.media import helper\nfrom . import errors\n",
    "include/videos/media/errors.py": "",
    "include/orchestration/__init__.py": "",
    "include/orchestration/clients.py": "from airflow.sdk import Connection\nfrom include.common.db import x\n",
    "include/demo/__init__.py": "",
    "include/demo/seed.py": "from sandbox import errors\nfrom include.videos import media\n",
    "sandbox/errors.py": "",
    "dags/__init__.py": "",
    "dags/videos/job.py": "from airflow.sdk import dag\nfrom include.orchestration import clients\n",
    "sandbox/__init__.py": "",
    "sandbox/app.py": "from include.demo import seed\n",
    "tools/seed.py": "from include.demo import seed\nfrom sandbox import app\n",
}


def test_checker_passes_a_clean_tree(tmp_path):
    _tree(tmp_path, CLEAN)
    imports = import_graph(tmp_path)
    assert not (airflow_violations(imports) + domain_violations(imports) + include_violations(imports)
                + cycle_violations(imports))
    by_statement = {(imp.source, imp.statement): imp.target for imp in imports}
    assert by_statement["include.videos.media.process", "from . import errors"] == "include.videos.media.errors"
    assert by_statement["include.common.outbox", "from .db import *"] == "include.common.db"


def test_checker_catches_planted_violations(tmp_path):
    _tree(tmp_path, CLEAN | {
        "include/social/__init__.py": "",
        # Function-local airflow import outside orchestration.
        "include/social/digest.py": "def run():\n    from airflow.models import Variable\n",
        # Cross-domain, relative.
        "include/social/feed.py": "from ..videos.media import errors\n",
        # Production code reaching into demo data and the sandbox.
        "include/common/email.py": "from include.demo.seed import x\nimport sandbox.app\n",
        # A cycle closed only by a TYPE_CHECKING import.
        "include/common/push.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from include.common.queue import Row\n"),
        "include/common/queue.py": "from include.common import push\n",
    })
    imports = import_graph(tmp_path)

    assert airflow_violations(imports) == [
        "include/social/digest.py:2 `from airflow.models import Variable`: "
        "only include/orchestration/ and dags/ may import airflow"]
    assert domain_violations(imports) == [
        "include/social/feed.py:1 `from ..videos.media import errors`: "
        "domain social imports domain videos (include.videos.media.errors)"]
    include = include_violations(imports)
    assert len(include) == 2
    assert "include/common/email.py:1 `from include.demo.seed import x`" in include[0]
    assert "include/common/email.py:2 `import sandbox.app`" in include[1]
    cycles = cycle_violations(imports)
    assert len(cycles) == 1
    assert cycles[0].startswith("import cycle include.common.push -> include.common.queue -> include.common.push")
    assert "include/common/push.py:3 `from include.common.queue import Row`" in cycles[0]
    assert "include/common/queue.py:1 `from include.common import push`" in cycles[0]
