"""The glm-serve command line: `glm-serve serve [flags]`, flags generated from the settings model."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


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
    download = commands.add_parser(
        "download",
        help="fetch weights for an air-gapped box, with a manifest of sizes and sha256 sums",
        description="Resumable; run it again after an interruption. Writes glm-serve-manifest.json.",
    )
    download.add_argument(
        "source", metavar="PRESET_OR_REPO", help="a preset name from configs/, or a hub repo id"
    )
    download.add_argument("--to", type=Path, required=True, help="the directory to fill")
    download.add_argument("--revision", help="a branch, tag or commit (default: the repo's main)")
    plan = commands.add_parser(
        "plan",
        help="which presets fit this box's GPUs (or --gpus), with how much context, and the line to run",
        description="Memory arithmetic from each preset's config.json and safetensors index (or the "
        "release's published sizes): weights per GPU, KV cache per token, context and sessions.",
    )
    plan.add_argument("--gpus", help="plan for these GPUs instead of this box's, e.g. 2x24GB or 8x141GB")
    plan.add_argument("--model", help="one preset name or weights directory (default: every preset)")
    from .doctor.command import add_arguments as doctor_arguments

    doctor = commands.add_parser(
        "doctor",
        help="check this box and the model's answers on every wire; write a report to attach to a bug",
        description="Box checks (GPUs, versions, weights, disk, offline switches), then a fixed set of "
        "requests judged on structure against a server it starts (--model) or a running one (--url).",
    )
    doctor_arguments(doctor)
    verify = commands.add_parser("verify", help="check a copied weights directory against its manifest")
    verify.add_argument("directory", type=Path)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = vars(parser().parse_args(argv))
    command = args.pop("command")
    if command == "serve":
        serve(args)
    elif command == "mock-hosted":
        mock_hosted(**args)
    elif command == "download":
        fetch(**args)
    elif command == "verify":
        check(**args)
    elif command == "plan":
        from .plan import run

        sys.exit(run(args["gpus"], args["model"]))
    elif command == "doctor":
        from .doctor.command import main as doctor

        sys.exit(doctor(argparse.Namespace(**args)))
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


def fetch(source: str, to: Path, revision: str | None) -> None:
    from . import presets
    from .backends.local import manifest
    from .settings import SettingsError, load_settings

    repo = source
    if presets.path(source) is not None:
        try:
            repo = str(load_settings({"model": source}, environ={}).engine.model)
        except SettingsError as exc:
            sys.exit(f"glm-serve: {exc}")
    try:
        written = manifest.download(repo, to, revision)
    except Exception as exc:  # the hub's errors: unknown repo, no network, no token for a gated repo
        sys.exit(f"glm-serve: cannot download {repo}: {type(exc).__name__}: {exc}")
    print(f"{repo} is in {to}; manifest: {written}")


def check(directory: Path) -> None:
    from .backends.local import manifest

    try:
        problems = manifest.verify(directory)
    except ValueError as exc:
        sys.exit(f"glm-serve: {exc}")
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f"glm-serve: {directory} does not match its manifest ({len(problems)} problems)")
    print(f"{directory}: every file matches its manifest")


def serve(flags: dict[str, object]) -> None:
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(flags)
    except SettingsError as exc:
        sys.exit(f"glm-serve: {exc}")
    server_settings = settings.server
    logging.basicConfig(
        level=server_settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.engine.offline_mode:
        from . import offline

        offline.apply()  # before the app imports vLLM or transformers: they read the switches once
    import uvicorn

    from .app import create_app
    from .http.deps import Serving
    from .http.shutdown import DrainingServer
    from .http.transport import ResettableHttpTools

    failures: list[BaseException] = []

    def stop(failure: BaseException) -> None:
        failures.append(failure)
        server.should_exit = True

    try:
        app = create_app(settings, on_start_failure=stop)
    except ValueError as exc:  # a backend refusing its configuration (no --upstream-url, missing weights…)
        sys.exit(f"glm-serve: {exc}")
    grace = settings.limits.shutdown_grace
    config = uvicorn.Config(
        app,
        host=server_settings.host,
        port=server_settings.port,
        log_level=server_settings.log_level.lower(),
        # Our drain ends every stream at the grace period; uvicorn's own cut is the backstop behind it.
        timeout_graceful_shutdown=int(grace) + 3,
        http=ResettableHttpTools,  # a stream may reset a connection whose client stopped reading
    )
    serving: Serving = app.state.serving
    server = DrainingServer(config, serving.gate, grace)
    server.run()
    if failures:
        failure = failures[0]
        sys.exit(f"glm-serve: the engine failed to start: {type(failure).__name__}: {failure}")


if __name__ == "__main__":
    main()
