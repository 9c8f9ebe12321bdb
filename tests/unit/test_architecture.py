"""The dependency rule (style.md §1-2): the domain is pure; only adapters name aiokafka or httpx."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"
THIRD_PARTY_IO = {"aiokafka", "httpx"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names imported by one module (relative imports count as 'service')."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("service" if node.level else (node.module or "").split(".")[0])
    return roots


def test_domain_imports_only_the_standard_library() -> None:
    """Every module under service/domain imports stdlib modules or other domain modules only."""
    offenders: dict[str, set[str]] = {}
    for path in sorted((SERVICE / "domain").rglob("*.py")):
        bad = {
            r for r in imported_roots(path) if r not in sys.stdlib_module_names and r != "service"
        }
        bad |= _non_domain_service_imports(path)
        if bad:
            offenders[str(path.relative_to(SERVICE))] = bad
    assert offenders == {}


def _non_domain_service_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("service") and not node.module.startswith("service.domain"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {
                a.name
                for a in node.names
                if a.name.startswith("service") and not a.name.startswith("service.domain")
            }
    return found


def test_only_adapters_and_devkit_name_aiokafka_or_httpx() -> None:
    """aiokafka and httpx appear in service/adapters (and the dev-only launcher), nowhere else."""
    allowed = {SERVICE / "adapters", SERVICE / "devkit"}
    offenders = [
        str(path.relative_to(SERVICE))
        for path in sorted(SERVICE.rglob("*.py"))
        if not any(parent in allowed for parent in path.parents)
        and imported_roots(path) & THIRD_PARTY_IO
    ]
    assert offenders == []


def test_the_architecture_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself reports a third-party import (so the rule can fail)."""
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom aiokafka import AIOKafkaConsumer\nfrom . import x\n")
    assert imported_roots(module) == {"json", "aiokafka", "service"}
