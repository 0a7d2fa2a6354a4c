"""The shape of the code, kept by tests: functions a reader can follow, and a top level that names
the architecture (the import layers are checked by `lint-imports`, run by `make check`)."""

from __future__ import annotations

import ast
from pathlib import Path

import textfit

PACKAGE = Path(textfit.__file__).parent


def test_no_function_in_the_package_is_longer_than_100_lines():
    long = [
        f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 100
    ]
    assert long == []


def test_the_top_level_holds_the_interfaces_and_the_core_and_folders_hold_the_rest():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 10, modules
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert folders == ["data", "export", "labeling", "model", "predict", "server", "training"]
