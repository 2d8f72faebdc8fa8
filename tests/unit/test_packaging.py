"""What ships: the wheel holds service/ only, and nothing in it needs the development tools."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"newsbrief_dev", "respx", "pytest", "hypothesis", "schemathesis", "mypy", "jinja2"}


def test_the_wheel_packages_the_service_alone() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["service"]


def test_the_service_imports_no_development_tool() -> None:
    found = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in DEV_ONLY
            ]
    # cli.py reaches the eval suite and the fake LLM by name, at run time, with a clear message.
    assert found == []
