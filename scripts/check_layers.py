"""Import-direction check: each floor imports only what the layers below allow (an ast walk, no deps).

    parsers ◀─ server.core ◀─ server.backends.{local, remote} ◀─ server.backends (choice, fallback, fake)
                    ▲                                                    ▲
               server.http ◀─ server.{openai, anthropic, responses} ◀─ server.app, server.__main__
                    ▲
               server.standin                    server.bench (a client: imports none of the above)

A floor never imports a floor above it, and rooms on one floor never import each other: the two backend
wings, the wire formats.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names
WEB = ("fastapi", "starlette", "uvicorn")
# A wire registers itself: a package under server/ whose wire.py makes its WIRE (server/http/wire.py).
WIRES = tuple(
    sorted(
        f"server.{path.parent.name}"
        for path in (ROOT / "server").glob("*/wire.py")
        if "WIRE = Wire(" in path.read_text()
    )
)
ABOVE_BACKENDS = ("server.http", *WIRES, "server.standin", "server.app", "server.__main__", *WEB)
# What settings and presets may not import: every core room but the release table, and all above core.
_CORE_ROOMS = ("backend", "collect", "errors", "events", "request", "streams")
BELOW_SETTINGS_NOT = (*(f"server.core.{m}" for m in _CORE_ROOMS), "server.backends", *ABOVE_BACKENDS)


def _only(allowed: tuple[str, ...], what: str):  # type: ignore[no-untyped-def]
    """A floor that may import the standard library and `allowed` alone."""

    def rule(name: str) -> str | None:
        if name.split(".")[0] in STDLIB or any(name == a or name.startswith(a + ".") for a in allowed):
            return None
        return f"{what} may import only {', '.join(allowed)} and the standard library"

    return rule


def _never(forbidden: tuple[str, ...], what: str):  # type: ignore[no-untyped-def]
    def rule(name: str) -> str | None:
        hit = next((f for f in forbidden if name == f or name.startswith(f + ".")), None)
        return None if hit is None else f"{what} never imports {hit}"

    return rule


# (module prefix, rule); a module is checked against every rule whose prefix it falls under.
RULES = [
    ("parsers", _only(("parsers",), "parsers")),
    ("server.core", _only(("parsers", "server.core"), "server.core")),
    # Settings read the bundled presets, which are checked against the release table (plain data).
    *((room, _never(BELOW_SETTINGS_NOT, room)) for room in ("server.settings", "server.presets")),
    ("server.backends", _never(ABOVE_BACKENDS, "a backend")),
    ("server.backends.local", _never(("server.backends.remote",), "the local wing")),
    ("server.backends.remote", _never(("server.backends.local",), "the remote wing")),
    *(
        (wing, _never(tuple(f"server.backends.{m}" for m in ("choice", "fallback", "fake")), wing))
        for wing in ("server.backends.local", "server.backends.remote")
    ),
    ("server.http", _never(("server.backends", *WIRES, "server.standin", "server.app"), "server.http")),
    *(
        (
            wire,
            _never(
                (*(w for w in WIRES if w != wire), "server.backends", "server.standin", "server.app"), wire
            ),
        )
        for wire in WIRES
    ),
    ("server.standin", _never(("server.backends", *WIRES, "server.bench", "server.app"), "a stand-in")),
    # The bench is a client of any OpenAI-compatible server: it shares no code with the one it measures.
    (
        "server.bench",
        _never(
            (
                "server.core",
                "server.backends",
                "server.http",
                *WIRES,
                "server.standin",
                "server.app",
                "server.settings",
            ),
            "the bench (a client)",
        ),
    ),
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


def problems_of(module: str, name: str) -> list[str]:
    """What is wrong with `module` importing `name` (nothing when the import points the right way)."""
    return [
        msg
        for prefix, rule in RULES
        if (module == prefix or module.startswith(prefix + ".")) and (msg := rule(name)) is not None
    ]


def violations() -> list[str]:
    errors = []
    for top in ("parsers", "server"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            for line, name in _imports(path, module):
                errors += [
                    f"{path.relative_to(ROOT)}:{line}: imports {name}: {m}" for m in problems_of(module, name)
                ]
    return errors


if __name__ == "__main__":
    problems = violations()
    print("\n".join(problems) or "import directions ok")
    sys.exit(1 if problems else 0)
