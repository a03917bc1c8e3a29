"""The vault's one front door, and a vault that knows nothing of HTTP (issue 15, point 2).

Walks every module under backend/ with `ast`, so an import hidden in a function or under
TYPE_CHECKING counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[2] / "backend"
VAULT = BACKEND / "vault"
SUBMODULES = {p.stem for p in VAULT.glob("*.py") if p.stem != "__init__"}
HTTP_PACKAGES = ("fastapi", "starlette")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) for every import in `path`; `from a import b` yields a and a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _modules(inside_vault: bool) -> list[Path]:
    paths = sorted(BACKEND.rglob("*.py"))
    return [p for p in paths if (VAULT in p.parents) == inside_vault]


def _is_vault_internal(name: str) -> bool:
    parts = name.split(".")
    return parts[:2] == ["backend", "vault"] and len(parts) > 2 and parts[2] in SUBMODULES


def outside_imports_of_vault_internals() -> list[str]:
    return [
        f"{path.relative_to(BACKEND.parent)}:{line} imports {name}"
        for path in _modules(inside_vault=False)
        for line, name in _imports(path)
        if _is_vault_internal(name)
    ]


def vault_imports_of_http() -> list[str]:
    found = []
    for path in _modules(inside_vault=True):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if (
                top in HTTP_PACKAGES
                or name == "backend.errors"
                or name.startswith("backend.errors.")
            ):
                found.append(f"{path.relative_to(BACKEND.parent)}:{line} imports {name}")
    return found


def test_the_walk_sees_the_vault_and_the_rest() -> None:
    # Guards the two checks below against passing because they looked at nothing.
    assert {"crypto", "tokens", "refresh", "service", "errors"} <= SUBMODULES
    assert len(_modules(inside_vault=False)) > 50
    assert any(
        name == "backend.vault.Vault"
        for path in _modules(inside_vault=False)
        for _, name in _imports(path)
    )


def test_nothing_outside_the_vault_imports_its_submodules() -> None:
    assert outside_imports_of_vault_internals() == []


def test_the_vault_imports_no_http_and_no_problem_types() -> None:
    assert vault_imports_of_http() == []


def test_the_checks_catch_a_forbidden_import(tmp_path: Path) -> None:
    # The same rules applied to source written to break them.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "from backend.vault import tokens\n"
        "if TYPE_CHECKING:\n"
        "    from backend.vault.crypto import KeyRing\n"
        "def f():\n"
        "    import fastapi\n"
        "    from backend.errors import NotFound\n",
        encoding="utf-8",
    )
    names = [name for _, name in _imports(bad)]
    assert [n for n in names if _is_vault_internal(n)] == [
        "backend.vault.tokens",
        "backend.vault.crypto",
        "backend.vault.crypto.KeyRing",
    ]
    assert "fastapi" in names
    assert "backend.errors" in names
    assert not _is_vault_internal("backend.vault.Vault")
