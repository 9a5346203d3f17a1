"""The layers of src/faceprint (docs/architecture.md): every import goes down, never up, and no two parts import
each other. Parsed from the source (ast), so a lazy import inside a function counts like one at the top.

ALLOWED_UPWARD lists the upward imports that are left; it may only shrink: the test fails when a listed import is
gone too, so that the list is kept honest."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "faceprint"

# Lowest first. A part may import parts of a lower rank (or of its own rank, without a cycle); never a higher one.
RANKS: dict[str, int] = {
    "errors": 0, "types": 0, "_version": 0, "_cores": 0, "_extras": 0, "_files": 0, "output_paths": 0, "_heap": 0,
    "image": 1, "align": 1, "names": 1,
    "models": 2,
    "detect": 3, "sample_photos": 3,
    "pipeline": 4,
    "analyzer": 5,
    "recognize": 6, "cache": 6,
    "evaluate": 7, "gallery": 7,
    "viz": 8,
    "cluster": 9, "export": 9, "train": 9,
    "api": 10, "client": 10, "__init__": 10,
    "video": 11, "service": 12, "cli": 13,
}

# (importing part, imported part): upward imports still in the code. Shrink it; never add to it.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every faceprint module this file imports, absolute or relative, at any depth of the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "faceprint")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "faceprint":
                found.add(module)
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def part_graph() -> dict[str, set[str]]:
    """Which part imports which (parts: the top-level modules and subpackages of faceprint)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        src = _part(_module_name(path))
        for module in _imports(path):
            dst = _part(module)
            if dst != src:
                graph[src].add(dst)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def test_every_part_has_a_rank() -> None:
    parts = {_part(_module_name(p)) for p in SRC.rglob("*.py")}
    assert parts <= set(RANKS), f"give these parts a rank in RANKS and docs/architecture.md: {sorted(parts - set(RANKS))}"


def test_no_upward_imports_beyond_the_allowlist() -> None:
    graph = part_graph()
    upward = {(a, b) for a, bs in graph.items() for b in bs if RANKS[b] > RANKS[a]}
    assert upward - ALLOWED_UPWARD == set(), f"new upward imports: {sorted(upward - ALLOWED_UPWARD)}"
    assert ALLOWED_UPWARD - upward == set(), f"gone, remove from ALLOWED_UPWARD: {sorted(ALLOWED_UPWARD - upward)}"


def test_no_import_cycles_between_parts() -> None:
    graph = part_graph()
    allowed = {(a, b) for a, b in ALLOWED_UPWARD}
    pruned = {a: {b for b in bs if (a, b) not in allowed} for a, bs in graph.items()}
    assert _cycles(pruned) == []
