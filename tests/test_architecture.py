"""The package's shape (docs/architecture.md): no import cycle, wings that import only downstream,
short modules, each wing saying what it owns, no private name imported across wings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "melodygru"
# what each wing may import (besides itself); the flow of docs/architecture.md
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "tokens": {"core"},
    "analysis": {"core", "io"},
    "corpus": {"core", "io", "tokens"},
    "model": {"core", "tokens"},
    "training": {"core", "tokens", "model"},
    "generation": {"core", "io", "tokens", "analysis", "model"},
    "evaluation": {"core", "io", "tokens", "analysis", "corpus", "model", "generation"},
    "studio": {"core", "io", "tokens", "analysis", "model", "generation"},
    "cli": {"core", "io", "tokens", "analysis", "corpus", "model", "training", "generation", "evaluation", "studio"},
}
MAX_LINES = 460


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG).with_suffix("").parts
        name = ".".join(("melodygru",) + parts)
        out[name.removesuffix(".__init__")] = p
    return out


def imports_of(name: str, path: Path, known) -> list[tuple[str, list[str], int]]:
    """(module imported, names, line) for every import in the file, inside functions too."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [a.name for a in node.names]
            if not mod.startswith("melodygru"):
                continue
            # `from melodygru.x import y` where y is itself a module
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]
            out += [(s, [], node.lineno) for s in subs]
            rest = [n for n in names if f"{mod}.{n}" not in known]
            if rest or not subs:
                out.append((mod, rest, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("melodygru")]
    return out


def graph():
    mods = modules()
    return mods, {m: imports_of(m, p, mods) for m, p in mods.items()}


def wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycle():
    mods, g = graph()
    edges = {m: {t for t, _, _ in imps if t in mods and t != m} for m, imps in g.items()}
    # a package imports its __init__ chain implicitly; the edges above are the explicit ones
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_wings_import_only_downstream():
    mods, g = graph()
    bad = []
    for m, imps in g.items():
        w = wing(m)
        if w is None:
            continue
        for t, _, line in imps:
            tw = wing(t)
            if tw and tw != w and tw not in ALLOWED[w]:
                bad.append(f"{m}:{line} imports {t}")
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_wing():
    mods, g = graph()
    bad = [f"{m}:{line} imports {t}.{n}" for m, imps in g.items() for t, names, line in imps
           for n in names if n.startswith("_") and not n.startswith("__") and wing(t) != wing(m)]
    assert not bad, "\n".join(bad)


def test_every_wing_says_what_it_owns_and_may_import():
    for w in ALLOWED:
        init = PKG / w / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init} needs a docstring: what the wing owns"
        assert "import" in doc, f"{init}: say what the wing may import"
    assert {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(ALLOWED)
    assert sorted(p.name for p in PKG.glob("*.py")) == ["__init__.py"]


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_stay_short(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PKG)} has {n} lines: split it by responsibility"


def test_the_architecture_document_names_every_wing():
    doc = (PKG.parent / "docs" / "architecture.md").read_text()
    for w in ALLOWED:
        assert f"{w}/" in doc, f"docs/architecture.md does not describe {w}/"
