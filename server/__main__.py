"""The glm-serve command line: `glm-serve serve [flags]`, flags generated from the settings model."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    from .settings import add_flags

    top = argparse.ArgumentParser(prog="glm-serve", description="An OpenAI-compatible server for GLM models.")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP",
        description="Flags override GLM_SERVE_* variables, which override --config.",
    )
    add_flags(serve)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = vars(parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(args)


def serve(flags: dict[str, object]) -> None:
    import uvicorn

    from .app import create_app
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(flags)
    except SettingsError as exc:
        sys.exit(f"glm-serve: {exc}")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
