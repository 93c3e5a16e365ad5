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
    mock.add_argument("--ttft-ms", type=float, default=0.0, help="mean wait before the first chunk")
    mock.add_argument("--itl-ms", type=float, default=0.0, help="mean wait between chunks")
    mock.add_argument(
        "--latency-spread", type=float, default=0.3, help="standard deviation / mean of the waits"
    )
    mock.add_argument(
        "--tool-error-rate",
        type=float,
        default=0.2,
        help="share of bench tools-workload requests answered wrong",
    )
    mock.add_argument(
        "--answer-tokens", type=int, help="answer this many tokens of text (default: one sentence)"
    )
    mock.add_argument("--seed", type=int, help="seed of the waits")
    from .bench.command import add_arguments as bench_arguments

    bench = commands.add_parser(
        "bench",
        help="measure this box against the hosted API (or any OpenAI-compatible server), side by side",
        description="Latency, throughput, tool-call quality and cost of each --target, under the same load; "
        "writes result.json, report.md and PNG figures.",
    )
    bench_arguments(bench)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = vars(parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(args)
    elif command == "mock-hosted":
        mock_hosted(**args)
    elif command == "bench":
        from .bench.command import main as bench

        sys.exit(bench(argparse.Namespace(**args)))


def mock_hosted(
    host: str,
    port: int,
    api_key: str,
    scenario: str,
    slow_seconds: float,
    ttft_ms: float,
    itl_ms: float,
    latency_spread: float,
    tool_error_rate: float,
    answer_tokens: int | None,
    seed: int | None,
) -> None:
    import uvicorn

    from .standin.hosted import SCENARIOS, create_standin
    from .standin.latency import Latency

    if scenario.partition(":")[0] not in SCENARIOS:
        sys.exit(f"glm-serve: unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    try:
        latency = Latency(ttft_ms, itl_ms, latency_spread, seed)
    except ValueError as exc:
        sys.exit(f"glm-serve: {exc}")
    app = create_standin(
        api_key,
        scenario,
        slow_seconds,
        latency=latency,
        tool_error_rate=tool_error_rate,
        answer_tokens=answer_tokens,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


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
