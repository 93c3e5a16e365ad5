"""Hosted-backend overhead: streaming straight to the hosted-API stand-in vs through glm-serve vs LiteLLM.

    .venv/bin/python scripts/bench_hosted.py [--requests 300] [--proxies glm-serve,litellm] [--rounds 1]
        [--litellm /path/to/litellm]

The stand-in (`glm-serve mock-hosted`), glm-serve (`--backend hosted` pointed at the stand-in) and
LiteLLM's proxy (pointed at the same stand-in; install it apart, e.g. `python3 -m venv /tmp/litellm &&
/tmp/litellm/bin/pip install 'litellm[proxy]'`, since it is a benchmark tool, not our dependency) run as
separate processes. Each proxy is measured in its own phase of the run, its requests alternating one at a
time with direct ones so that drift hits both alike: added latency = the proxy's time minus the direct
time of the same round; per chunk = that over the number of streamed chunks. Separate phases, because
LiteLLM keeps working after each response (logging, spend tracking: see its CPU per request below) and
on this two-core machine that work landed in whichever request came next, raising the direct p50 from
~1.5 to ~2.3 ms when all three alternated. Prints p50/p99, each server's CPU time per request and the
ratio LiteLLM/glm-serve. `--rounds 3` repeats the phases in turn (A B A B A B). `--profile` samples
each glm-serve (this checkout's and the baseline's) with py-spy in its first phase and prints where its CPU
went, stage by stage, per request and per chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Spy, cpu_seconds, pct, print_hottest, print_stages, raw_post, serve, stop

ROOT = Path(__file__).resolve().parent.parent
KEY = "0123456789abcdef0123456789abcdef.benchkey"
PORTS = {"standin": 8411, "glm-serve": 8412, "litellm": 8413, "baseline": 8414}
BODY = {"model": "glm-4.7", "messages": [{"role": "user", "content": "Say hello."}], "stream": True}


def start(
    cmd: list[str], ready: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    return serve(cmd, ready, env, headers={"Authorization": f"Bearer {KEY}"}, cwd=cwd)


async def measure(
    n: int, proxy: str, pid: int, profile: Path | None = None
) -> tuple[list[float], list[float], float, int]:
    """Direct and through-`proxy` times, alternating; the proxy's CPU seconds per request; chunks.
    With `profile`, py-spy samples the proxy over the measured requests (into that file)."""
    direct_target = (PORTS["standin"], "/api/paas/v4/chat/completions", {"Authorization": f"Bearer {KEY}"})
    targets = {
        "direct": direct_target,
        "glm-serve": (PORTS["glm-serve"], "/v1/chat/completions", {}),
        "baseline": (PORTS["baseline"], "/v1/chat/completions", {}),
        "litellm": (PORTS["litellm"], "/v1/chat/completions", {"Authorization": "Bearer sk-bench"}),
    }
    times: dict[str, list[float]] = {"direct": [], proxy: []}
    chunks = 0
    cpu = 0.0
    spy = None
    for i in range(n + 20):
        if i == 20:  # the first rounds warm up connections, imports and caches
            if profile is not None:
                spy = Spy(pid, profile).__enter__()
            cpu = cpu_seconds(pid)
        for name in times:
            port, path, headers = targets[name]
            ex = await raw_post("127.0.0.1", port, path, BODY, headers)
            if i >= 20:
                times[name].append(ex.total)
            if name == "direct":
                chunks = ex.raw.count(b"data: {")
    spent = (cpu_seconds(pid) - cpu) / n
    if spy is not None:
        spy.__exit__()
    return times["direct"], times[proxy], spent, chunks


def glm_serve(name: str, tree: Path, standin_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """glm-serve from the checkout at `tree` (this one, or the baseline's), in front of the stand-in."""
    base, port = standin_url + "/api/paas/v4", PORTS[name]
    cmd = [sys.executable, "-m", "server", "serve", "--backend", "hosted", "--port", str(port)]
    cmd += ["--hosted-base-url", base, "--log-level", "warning"]
    env = {**env, "PYTHONPATH": str(tree)}  # before the installed (editable) glm-serve on sys.path
    return start(cmd, f"http://127.0.0.1:{port}/health", env, cwd=tree)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument(
        "--proxies", default="glm-serve,litellm", help="any of glm-serve, baseline and litellm, in order"
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        help="the baseline proxy's checkout: glm-serve as of another commit "
        "(git worktree add --detach /tmp/base COMMIT), for a before/after ratio in one run",
    )
    ap.add_argument("--rounds", type=int, default=1, help="how many times each proxy's phase is run, in turn")
    ap.add_argument("--litellm", default=shutil.which("litellm") or "/tmp/litellm-venv/bin/litellm")
    ap.add_argument(
        "--profile",
        nargs="?",
        const="",
        metavar="DIR",
        help="sample each glm-serve with py-spy; print its CPU by stage (and keep the samples in DIR)",
    )
    args = ap.parse_args()
    names = args.proxies.split(",")
    env = {**os.environ, "BIGMODEL_API_KEY": KEY}
    standin_url = f"http://127.0.0.1:{PORTS['standin']}"
    cmd = [sys.executable, "-m", "server", "mock-hosted", "--port", str(PORTS["standin"]), "--api-key", KEY]
    procs = {"standin": start(cmd, standin_url + "/api/paas/v4/models", env)}
    results: dict[str, list[tuple[list[float], list[float], float, int]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "litellm.yaml"
        config.write_text(
            "model_list:\n  - model_name: glm-4.7\n    litellm_params:\n      model: openai/glm-4.7\n"
            f"      api_base: {standin_url}/api/paas/v4\n      api_key: {KEY}\n"
            "general_settings:\n  master_key: sk-bench\n"
        )
        spied = None if args.profile is None else Path(args.profile or tmp)
        if spied is not None:
            spied.mkdir(parents=True, exist_ok=True)
        try:
            for name in names:
                if name == "litellm":
                    litellm = [args.litellm, "--config", str(config), "--port", str(PORTS["litellm"])]
                    procs[name] = start(
                        litellm, f"http://127.0.0.1:{PORTS['litellm']}/health/liveliness", env
                    )
                else:
                    tree = args.baseline if name == "baseline" else ROOT
                    procs[name] = glm_serve(name, tree, standin_url, env)
            for _ in range(args.rounds):
                for name in names:
                    # One profile of each glm-serve, in its first phase.
                    profiled = None
                    if spied is not None and name != "litellm" and not results[name]:
                        profiled = spied / f"{name}.spy"
                    run = measure(args.requests, name, procs[name].pid, profiled)
                    results[name].append(asyncio.run(run))
        finally:
            for proc in procs.values():
                stop(proc)
        if spied is not None:
            chunks = results[names[0]][0][3]
            spies = [(name, spied / f"{name}.spy") for name in names if name != "litellm"]
            print(f"where each glm-serve's CPU went (py-spy, {Spy.RATE} samples/s), µs")
            print_stages(
                [(f"{name} /request", path, args.requests) for name, path in spies]
                + [(f"{name} /chunk", path, args.requests * chunks) for name, path in spies]
            )
            for name, path in spies:
                print(f"{name}: ", end="")
                print_hottest(path, args.requests, "request")
    chunks = results[names[0]][0][3]
    print(f"{args.requests} sequential streamed requests per phase, {chunks} chunks each")
    added: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        for name in names:
            direct, through, cpu, _ = results[name][round_]
            a = [(t - d) * 1e3 for t, d in zip(through, direct, strict=True)]
            added.setdefault(name, []).extend(a)
            print(
                f"round {round_ + 1}, {name} phase: direct p50 {pct(direct, 0.5) * 1e3:.2f} ms, p99 "
                f"{pct(direct, 0.99) * 1e3:.2f} ms; {name} adds p50 {pct(a, 0.5):.2f} ms, p99 "
                f"{pct(a, 0.99):.2f} ms (per chunk p50 {pct(a, 0.5) / chunks * 1e3:.1f} µs); "
                f"{name} CPU {cpu * 1e3:.3f} ms per request"
            )
    for name in names:
        cpus = [r[2] * 1e3 for r in results[name]]
        print(
            f"{name}: adds p50 {statistics.median(added[name]):.2f} ms over all rounds; CPU per request "
            f"median of rounds {statistics.median(cpus):.3f} ms"
        )
    if "litellm" in names and "glm-serve" in names:
        ratio = statistics.median(added["litellm"]) / statistics.median(added["glm-serve"])
        print(f"LiteLLM adds {ratio:.1f}x the latency glm-serve adds (p50)")
    if "baseline" in names and "glm-serve" in names:
        ratio = statistics.median(added["glm-serve"]) / statistics.median(added["baseline"])
        cpus = {n: statistics.median(r[2] for r in results[n]) for n in ("glm-serve", "baseline")}
        print(
            f"glm-serve adds {ratio:.2f}x the latency the baseline ({args.baseline}) adds (p50); "
            f"its CPU per request is {cpus['glm-serve'] / cpus['baseline']:.2f}x the baseline's"
        )


if __name__ == "__main__":
    main()
