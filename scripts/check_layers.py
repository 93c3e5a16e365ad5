"""Import-direction check: each layer imports only what ../shared/DESIGN.md allows (an ast walk, no deps)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names
WEB = {"fastapi", "starlette", "uvicorn", "pydantic", "pydantic_settings"}


# (package prefix, predicate on an imported top-level/absolute name → error message or None)
def _parsers(name: str) -> str | None:
    top = name.split(".")[0]
    return None if top in STDLIB or top == "parsers" else "parsers may import only the standard library"


def _core(name: str) -> str | None:
    top = name.split(".")[0]
    if top in STDLIB or top == "parsers" or name.startswith("server.core"):
        return None
    return "server.core may import only parsers and the standard library"


def _backends(name: str) -> str | None:
    top = name.split(".")[0]
    if top in WEB - {"pydantic", "pydantic_settings"} or name.startswith(
        ("server.openai", "server.anthropic", "server.app", "server.deps")
    ):
        return "backends never import the web framework, a wire format or the app"
    return None


def _wire(own: str, other: str):  # type: ignore[no-untyped-def]
    def rule(name: str) -> str | None:
        if name.startswith((other, "server.backends", "server.app")):
            return f"{own} never imports {other}, a concrete backend or the app"
        return None

    return rule


RULES = [
    ("parsers", _parsers),
    ("server.core", _core),
    ("server.backends", _backends),
    ("server.openai", _wire("server.openai", "server.anthropic")),
    ("server.anthropic", _wire("server.anthropic", "server.openai")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def violations() -> list[str]:
    errors = []
    for top in ("parsers", "server"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            for prefix, rule in RULES:
                if module == prefix or module.startswith(prefix + "."):
                    for line, name in _imports(path, module):
                        if (msg := rule(name)) is not None:
                            errors.append(f"{path.relative_to(ROOT)}:{line}: imports {name}: {msg}")
    return errors


if __name__ == "__main__":
    problems = violations()
    print("\n".join(problems) or "import directions ok")
    sys.exit(1 if problems else 0)
