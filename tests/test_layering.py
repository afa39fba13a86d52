"""Imports go one way (docs/architecture.md): a layer never imports one it must not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT

# layer -> prefixes it must not import. `app.estimator` is pure: no framework, DB, JAX or app.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "app/estimator": (
        "fastapi", "starlette", "sqlalchemy", "jax", "probes",
        "app.api", "app.web", "app.services", "app.repositories", "app.models", "app.db",
    ),
    "app/models": ("fastapi", "app.api", "app.web", "app.services", "app.repositories", "jax"),
    "app/repositories": ("fastapi", "app.api", "app.web", "app.services", "jax"),
    "app/services": ("fastapi", "app.api", "app.web", "jax", "probes"),
    "app/api": ("sqlalchemy", "app.repositories", "app.models", "app.estimator", "jax", "probes"),
    "app/web": ("sqlalchemy", "app.repositories", "app.models", "app.estimator", "jax", "probes"),
    "app/schemas": ("fastapi", "sqlalchemy", "app.api", "app.web", "app.services",
                    "app.repositories", "app.models", "jax"),
    "probes": ("app", "fastapi", "sqlalchemy", "pydantic"),
    "gpu_identity": ("app", "probes", "jax", "numpy", "fastapi", "sqlalchemy", "pydantic", "yaml"),
}  # fmt: skip
# The API may name a Session in a type annotation (deps.SessionDep); it never queries with it.
ALLOWED: dict[str, tuple[str, ...]] = {"app/api/deps.py": ("sqlalchemy.orm",)}


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations() -> list[str]:
    problems = []
    for layer, banned in FORBIDDEN.items():
        for path in sorted((PROJECT_ROOT / layer).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            allowed = ALLOWED.get(relative, ())
            for line, module in _imports(path):
                if module.startswith(allowed) and allowed:
                    continue
                for prefix in banned:
                    if module == prefix or module.startswith(prefix + "."):
                        problems.append(f"{relative}:{line} imports {module} ({layer} must not)")
    return problems


def test_no_layer_imports_a_layer_it_must_not() -> None:
    assert _violations() == []


def test_the_scan_catches_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = tmp_path / "app" / "estimator"
    layer.mkdir(parents=True)
    (layer / "bad.py").write_text("import sqlalchemy\nfrom app.services import x\n")
    monkeypatch.setattr("tests.test_layering.PROJECT_ROOT", tmp_path)
    assert len(_violations()) == 2
