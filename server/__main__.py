"""The glm-serve command line: `glm-serve serve [flags]`, flags generated from the settings model."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn


class _Help(argparse.RawDescriptionHelpFormatter):
    """Examples keep their lines; the flag column is wide enough for the long flag names."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=min(shutil.get_terminal_size().columns, 110))


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    from .settings import add_flags

    top = argparse.ArgumentParser(
        prog="glm-serve",
        description="Serve GLM models (local vLLM, or the hosted BigModel/Z.ai API) over the OpenAI, "
        "Anthropic and Responses APIs.",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve serve                     # the tiny CPU demo on http://127.0.0.1:8000",
            "glm-serve plan --gpus 2x80GB        # which GLM fits a box, with what context",
            "glm-serve serve glm-4.7-flash       # a preset (see `plan`), a weights directory or a repo id",
            "glm-serve chat                      # talk to a running server in this terminal",
        ),
    )
    top.add_argument("--version", action="version", version=f"glm-serve {version('glm-serve')}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP",
        description="Serve MODEL (a preset name, a weights directory or a hub repo id; without one, the "
        "tiny CPU demo). Flags override GLM_SERVE_* variables, which override --config and the preset.",
        usage="%(prog)s [MODEL] [options]",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve serve",
            "glm-serve serve glm-4.5-air-fp8 --port 9000 --api-key-file ~/.glm-key",
            "glm-serve serve /models/GLM-4.7-Flash --max-model-len 65536",
            "ZAI_API_KEY=... glm-serve serve --backend hosted",
        ),
    )
    serve.add_argument(
        "model_argument",
        nargs="?",
        default=argparse.SUPPRESS,
        metavar="MODEL",
        help="a preset (`glm-serve plan` lists them), a weights directory or a hub repo id; same as --model",
    )
    add_flags(serve)
    mock = commands.add_parser(
        "mock-hosted",
        help="serve an offline stand-in of the hosted BigModel/Z.ai API",
        description="Answers like the hosted chat API, with selectable failures; base "
        "URL http://HOST:PORT/api/paas/v4 (or /api/coding/paas/v4).",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve mock-hosted --port 8400",
            "glm-serve mock-hosted --scenario rate_limit:2 --ttft-ms 300 --itl-ms 20",
            "BIGMODEL_BASE_URL=http://127.0.0.1:8400/api/paas/v4 BIGMODEL_API_KEY=test.key "
            "glm-serve serve --backend hosted",
        ),
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on")
    mock.add_argument("--port", type=int, default=8400, help="port to listen on")
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
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve bench                     # this box's server against the hosted API (key set)",
            "glm-serve bench --target box=http://127.0.0.1:8000 --target hosted=zai --concurrency 1,16",
            "glm-serve bench --target box=http://127.0.0.1:8000 --workload chat --slo ttft=2000,tpot=100",
        ),
    )
    bench_arguments(bench)
    download = commands.add_parser(
        "download",
        help="fetch weights for an air-gapped box, with a manifest of sizes and sha256 sums",
        description="Resumable; run it again after an interruption. Writes glm-serve-manifest.json.",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve download glm-4.7-flash --to /models/GLM-4.7-Flash",
            "glm-serve verify /models/GLM-4.7-Flash      # on the air-gapped box, after copying",
        ),
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
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve plan                      # this box's GPUs",
            "glm-serve plan --gpus 2x24GB",
            "glm-serve plan --gpus 8x80GB --model glm-4.7-fp8",
        ),
    )
    plan.add_argument("--gpus", help="plan for these GPUs instead of this box's, e.g. 2x24GB or 8x141GB")
    plan.add_argument("--model", help="one preset name or weights directory (default: every preset)")
    from .doctor.command import add_arguments as doctor_arguments

    doctor = commands.add_parser(
        "doctor",
        help="check this box and the model's answers on every wire; write a report to attach to a bug",
        description="Box checks (GPUs, versions, weights, disk, offline switches), then a fixed set of "
        "requests judged on structure against a server it starts (--model) or a running one (--url).",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve doctor                    # starts the tiny demo and checks it",
            'glm-serve doctor --url http://127.0.0.1:8000 --api-key "$GLM_SERVE_API_KEY"',
        ),
    )
    doctor_arguments(doctor)
    from .chat import add_arguments as chat_arguments

    chat = commands.add_parser(
        "chat",
        help="talk to a running server in this terminal (streaming, reasoning folded, tool calls shown)",
        description="A conversation with any OpenAI-compatible server: glm-serve's, vLLM's or the hosted "
        "API's. /help inside lists the commands.",
        formatter_class=_Help,
        epilog=_examples(
            "glm-serve chat",
            "glm-serve chat --url http://gpu-box:8000 --no-thinking",
            "glm-serve chat --tools tools.json --system 'You are terse.'",
        ),
    )
    chat_arguments(chat)
    verify = commands.add_parser(
        "verify",
        help="check a copied weights directory against its manifest",
        description="Every file's size and sha256 against the glm-serve-manifest.json that `download` wrote.",
        formatter_class=_Help,
        epilog=_examples("glm-serve verify /models/GLM-4.7-Flash"),
    )
    verify.add_argument("directory", type=Path, help="the weights directory, with its manifest")
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = vars(parser().parse_args(argv))
    command = args.pop("command")
    try:
        run_command(command, args)
    except KeyboardInterrupt:
        # Ctrl-C is how a person stops a foreground command: an exit status, not a traceback.
        sys.exit(130)


def run_command(command: str, args: dict[str, Any]) -> None:
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
    elif command == "chat":
        from .chat import main as chat

        sys.exit(chat(argparse.Namespace(**args)))
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
        refuse(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    try:
        latency = Latency(ttft_ms, itl_ms, latency_spread, seed)
    except ValueError as exc:
        refuse(f"{exc}")
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

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no"):
        refuse(
            "the hub is switched off here (HF_HUB_OFFLINE is set, as in glm-serve's image): run the "
            "download with HF_HUB_OFFLINE=0 (docker run -e HF_HUB_OFFLINE=0 …) on a connected machine"
        )
    repo = source
    if presets.path(source) is not None:
        try:
            repo = str(load_settings({"model": source}, environ={}).engine.model)
        except SettingsError as exc:
            refuse(f"{exc}")
    try:
        written = manifest.download(repo, to, revision)
    except Exception as exc:  # the hub's errors: unknown repo, no network, no token for a gated repo
        refuse(f"cannot download {repo}: {type(exc).__name__}: {exc}")
    print(f"{repo} is in {to}; manifest: {written}")


def check(directory: Path) -> None:
    from .backends.local import manifest

    try:
        problems = manifest.verify(directory)
    except ValueError as exc:
        refuse(f"{exc}")
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"glm-serve: {directory} does not match its manifest ({len(problems)} problems)", file=sys.stderr
        )
        sys.exit(1)
    print(f"{directory}: every file matches its manifest")


def refuse(message: str) -> NoReturn:
    """End the command with one line on stderr and exit code 2 (a usage error, as argparse's)."""
    print(f"glm-serve: {message}", file=sys.stderr)
    sys.exit(2)


def serve(flags: dict[str, object]) -> None:
    from . import preflight
    from .settings import load_settings

    positional = flags.pop("model_argument", None)
    if positional is not None:
        if flags.get("model") not in (None, positional):
            refuse(f"two models: {positional} and --model {flags['model']}; give one")
        flags["model"] = positional
    try:
        asked = flags.get("model") or os.environ.get("GLM_SERVE_MODEL")
        if asked:
            preflight.check_model_argument(str(asked))
        settings = load_settings(flags)
        preflight.check(settings, preflight.this_box(), str(asked) if asked else None)
    except ValueError as exc:  # SettingsError, Refused
        refuse(str(exc))
    server_settings = settings.server
    from . import logs

    logs.configure(server_settings.log_level, server_settings.log_format)
    try:
        # Bound before anything loads: a port in use is one line now, not after a minute of loading.
        listening = bind(server_settings.host, server_settings.port)
    except OSError as exc:
        where = f"{server_settings.host}:{server_settings.port}"
        refuse(f"cannot listen on {where}: {exc.strerror} (--port to choose another)")
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
        listening.close()
        refuse(str(exc))
    grace = settings.limits.shutdown_grace
    config = uvicorn.Config(
        app,
        host=server_settings.host,
        port=server_settings.port,
        log_level=server_settings.log_level,
        log_config=None,  # logs.configure's: one format for every line
        # Our drain ends every stream at the grace period; uvicorn's own cut is the backstop behind it.
        timeout_graceful_shutdown=int(grace) + 3,
        http=ResettableHttpTools,  # a stream may reset a connection whose client stopped reading
    )
    serving: Serving = app.state.serving
    server = DrainingServer(config, serving.gate, grace)
    logging.getLogger("glm_serve").info(
        "listening on http://%s:%d (API docs at /docs)", server_settings.host, server_settings.port
    )
    code = 0
    try:
        server.run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C it caught again, once it has shut down
        code = 130
    if server.stopped_by == signal.SIGINT:
        # Also where SIGINT was ignored when the process started (a background job): uvicorn's re-raise
        # is then ignored too, and the status would say nothing of the Ctrl-C.
        code = 130
    if failures:
        failure = failures[0]
        print(f"glm-serve: the engine failed to start: {type(failure).__name__}: {failure}", file=sys.stderr)
        code = 1
    leave(code)


def leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown. The engine has stopped by now (the app's shutdown); what
    the teardown would add is only compiled libraries' (triton's, xgrammar's) reports of objects they
    never freed, thirty lines on every exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, as uvicorn would make it (it takes this one over)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    main()
