"""The layers point down: services speak the domain (no HTTP), lower layers never reach up
into services, and imports sit at the top of their module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_MODULES = ("flask", "werkzeug", "flask_smorest", "webargs", "app.errors", "app.http")
LOWER_LAYERS = ["auth.py", "pagination.py", "batch.py", "parsing.py", "models.py", "domain.py"]


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at top level) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_level = list(tree.body)
    for node in tree.body:  # `if TYPE_CHECKING:` and `try: ... except ImportError:` blocks
        if isinstance(node, ast.If | ast.Try):
            module_level += [*node.body, *node.orelse]
    top = {id(node) for node in module_level}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
    return found


def test_services_import_no_http_concern():
    offending = [
        f"{path.name}:{line} imports {module}"
        for path in sorted((ROOT / "app" / "services").glob("*.py"))
        for module, line, _ in imports(path)
        if module.startswith(HTTP_MODULES)
    ]
    assert offending == []


def test_lower_layers_do_not_import_services():
    offending = [
        f"{name}:{line} imports {module}"
        for name in LOWER_LAYERS
        for module, line, _ in imports(ROOT / "app" / name)
        if module.startswith("app.services")
    ]
    assert offending == []


def test_imports_sit_at_the_top_of_their_module():
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module} inside a function"
        for package in ("app", "mturk")
        for path in sorted((ROOT / package).rglob("*.py"))
        for module, line, at_top in imports(path)
        if not at_top
    ]
    assert offending == []


def test_only_the_command_that_starts_it_imports_the_mturk_service():
    importers = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "app").rglob("*.py"))
        for module, _, _ in imports(path)
        if module.startswith("mturk.service")
    }
    assert importers == {"app/cli.py"}
