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
    mock = commands.add_parser(
        "mock-hosted",
        help="serve an offline stand-in of the hosted BigModel/Z.ai API",
        description="Answers like the hosted chat API, with selectable failures; base "
        "URL http://HOST:PORT/api/paas/v4 (or /api/coding/paas/v4).",
    )
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=8400)
    mock.add_argument("--api-key", default="test.key", help="the key clients must send as Bearer")
    mock.add_argument(
        "--scenario",
        default="ok",
        help="ok, rate_limit, balance, overload, server_error, "
        "slow_first_byte, drop_mid_stream, content_filter, network_error; NAME:N fails N times",
    )
    mock.add_argument("--slow-seconds", type=float, default=2.0, help="delay of slow_first_byte")
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = vars(parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(args)
    elif command == "mock-hosted":
        mock_hosted(**args)


def mock_hosted(host: str, port: int, api_key: str, scenario: str, slow_seconds: float) -> None:
    import uvicorn

    from .standin.hosted import SCENARIOS, create_standin

    if scenario.partition(":")[0] not in SCENARIOS:
        sys.exit(f"glm-serve: unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    uvicorn.run(create_standin(api_key, scenario, slow_seconds), host=host, port=port, log_level="info")


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
    try:
        app = create_app(settings)
    except ValueError as exc:  # a backend refusing its configuration (no --upstream-url, a socks proxy…)
        sys.exit(f"glm-serve: {exc}")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
