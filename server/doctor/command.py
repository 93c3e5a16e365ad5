"""`glm-serve doctor`: the box's checks, then the model's, against a server it starts or --url's."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from ..bench.targets import Target
from ..settings import Settings, SettingsError, load_settings
from . import report
from .box import box_checks, inventory
from .checks import Check, run_model_checks
from .probe import Probe
from .speed import measure, speed_checks, vllm_command

DEMO_NAMES = ("glm-tiny-demo",)  # random weights: their answers make no sense, by design


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="a preset name or weights directory to check (default: tiny-cpu, or --url's model)"
    )
    parser.add_argument("--url", help="check this running server instead of starting one (http://host:port)")
    parser.add_argument("--api-key", default=os.environ.get("GLM_SERVE_API_KEY"), help="the server's key")
    parser.add_argument("--out", type=Path, default=Path("doctor-report"), help="where doctor.md/.json go")
    parser.add_argument("--port", type=int, default=8787, help="the port of the server it starts")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for it to load")
    parser.add_argument(
        "--no-speed", dest="speed", action="store_false", help="skip the speed section (TTFT, tokens/s)"
    )
    parser.add_argument(
        "--verify-weights", action="store_true", help="hash the weights against their manifest (slow)"
    )
    parser.add_argument(
        "--compare-vllm",
        action="store_true",
        help="also start vLLM's own server on the same weights and measure both, interleaved "
        "(both engines run at once: leave GPU memory for two)",
    )


def main(args: argparse.Namespace) -> int:
    console = Console()
    if args.model is None and not args.url:
        args.model = "tiny-cpu"
    try:
        settings = load_settings({"model": args.model} if args.model else {})
    except SettingsError as exc:
        console.print(f"glm-serve doctor: {exc}")
        return 2
    checks: list[Check] = box_checks(inventory(settings, hash_weights=args.verify_weights), settings)
    about = {"model": args.model or "(as --url serves)", "url": args.url or "started by the doctor"}
    try:
        with _server(args, console) as base:
            probe = Probe(base, args.api_key)
            models = probe.get("/v1/models")
            if models.status != 200 or not isinstance(models.answer, dict):
                checks.append(
                    Check(
                        "model", "the server answers", "fail", f"GET /v1/models: {models.status}", "", models
                    )
                )
            else:
                model = models.answer["data"][0]["id"]
                about["served model"] = model
                checks.append(Check("model", "the server answers", "ok", f"serving {model}"))
                sense = model not in DEMO_NAMES and not settings.engine.demo
                checks += run_model_checks(probe, model, sense=sense)
                if args.speed:
                    checks += _speed(args, settings, base, model, console)
    except StartFailed as exc:
        checks.append(Check("model", "the server starts", "fail", str(exc), "see the log named"))
    report.show(checks, console)
    md, js = report.write(args.out, checks, about)
    console.print(f"report: {md} and {js} (attach them to a bug report)")
    return 1 if report.verdict(checks) == "fail" else 0


class StartFailed(Exception):
    pass


def _speed(
    args: argparse.Namespace, settings: Settings, base: str, model: str, console: Console
) -> list[Check]:
    ours = Target("glm-serve", base + "/v1", args.api_key, hosted=False, model=model)
    if not args.compare_vllm:
        console.print("measuring speed (concurrency 1 and 16)")
        return speed_checks(measure([ours]), ours.name)
    from ..backends.local.start import resolve

    engine = resolve(settings.engine)
    command, env = vllm_command(engine, args.port + 1)
    try:
        with _process(
            command, env, f"http://127.0.0.1:{args.port + 1}", args.timeout, console
        ) as theirs_base:
            theirs = Target("vllm", theirs_base + "/v1", None, hosted=False, model=engine.served_name())
            console.print("measuring speed against vLLM's own server, interleaved (concurrency 1 and 16)")
            return speed_checks(measure([ours, theirs]), ours.name, theirs.name)
    except StartFailed as exc:
        return [
            Check("speed", "vLLM's own server", "fail", str(exc), "is vLLM installed where glm-serve is?")
        ]


@contextmanager
def _server(args: argparse.Namespace, console: Console) -> Iterator[str]:
    """--url, or a `glm-serve serve` of --model started here and stopped after."""
    if args.url:
        yield args.url
        return
    command = [sys.executable, "-m", "server", "serve", "--model", args.model, "--port", str(args.port)]
    with _process(command, dict(os.environ), f"http://127.0.0.1:{args.port}", args.timeout, console) as base:
        yield base


@contextmanager
def _process(
    command: list[str], env: dict[str, str], base: str, timeout: float, console: Console
) -> Iterator[str]:
    """A server process, until its /health answers 200; stopped after."""
    log = Path(tempfile.mkstemp(prefix="glm-serve-doctor-", suffix=".log")[1])
    console.print(f"starting: {' '.join(command[2:])} (log: {log})")
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise StartFailed(f"the server exited ({proc.returncode}); its log: {log}")
            if Probe(base, timeout=2).get("/health").status == 200:
                break
            if time.monotonic() > deadline:
                raise StartFailed(f"not ready after {timeout:.0f} s; its log: {log}")
            time.sleep(1)
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
