"""The package's imports run one way: each layer imports only from the layers below it.

io <- config <- data <- models <- inference <- stages (simulate, train, evaluate, predict,
classes) <- variants <- report <- cli. Stages of one layer do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genomics"

LAYERS = {
    "io": 0,
    "config": 1,
    "data": 2,
    "models": 3,
    "inference": 4,
    "simulate": 5,
    "train": 5,
    "evaluate": 5,
    "predict": 5,
    "classes": 5,
    "variants": 6,
    "report": 7,
    "cli": 8,
    "__main__": 9,
    "stage_inputs": 8,  # what the workflow's rules need from a config: beside the CLI
}


def _room(module: str) -> str:
    """``genomics.data.store`` -> ``data``; ``genomics`` (its __init__) -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``genomics...`` import in ``path``, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m == "genomics" or m.startswith("genomics.")]


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        yield path, module


def test_every_room_has_a_layer():
    rooms = {_room(m) for _, m in _sources()} - {""}
    assert rooms <= set(LAYERS), f"give these a layer in LAYERS: {rooms - set(LAYERS)}"


@pytest.mark.parametrize("path,module", list(_sources()), ids=lambda v: str(v))
def test_imports_run_downwards(path, module):
    room = _room(module)
    if not room:
        return
    bad = []
    for line, target in _imports(path):
        other = _room(target)
        if other in ("", room):  # __version__, or the module's own subpackage
            continue
        if LAYERS[other] >= LAYERS[room]:
            bad.append(f"{path.name}:{line} imports {target} ({other} is not below {room})")
    assert not bad, "\n".join(bad)


def test_the_check_catches_an_upward_import(tmp_path):
    """The checker itself: an upward import is found."""
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from genomics.train.fit import fit\n")
    assert _imports(path) == [(2, "genomics.train.fit")]
    assert LAYERS[_room("genomics.train.fit")] > LAYERS[_room("genomics.data.x")]
