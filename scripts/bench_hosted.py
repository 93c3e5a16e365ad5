"""Hosted-backend overhead: streaming straight to the hosted-API stand-in vs through glm-serve vs LiteLLM.

    .venv/bin/python scripts/bench_hosted.py [--requests 300] [--litellm /path/to/litellm]

The stand-in (`glm-serve mock-hosted`), glm-serve (`--backend hosted` pointed at the stand-in) and
LiteLLM's proxy (pointed at the same stand-in; install it apart, e.g. `python3 -m venv /tmp/litellm &&
/tmp/litellm/bin/pip install 'litellm[proxy]'`, since it is a benchmark tool, not our dependency) run as
separate processes. Each proxy is measured in its own phase of the run, its requests alternating one at a
time with direct ones so that drift hits both alike: added latency = the proxy's time minus the direct
time of the same round; per chunk = that over the number of streamed chunks. Separate phases, because
LiteLLM keeps working after each response (logging, spend tracking: see its CPU per request below) and
on this two-core machine that work landed in whichever request came next, raising the direct p50 from
~1.5 to ~2.3 ms when all three alternated. Prints p50/p99, each server's CPU time per request and the
ratio LiteLLM/glm-serve.
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
from bench_serve import raw_post, serve, stop

ROOT = Path(__file__).resolve().parent.parent
KEY = "0123456789abcdef0123456789abcdef.benchkey"
PORTS = {"standin": 8411, "glm-serve": 8412, "litellm": 8413}
BODY = {"model": "glm-4.7", "messages": [{"role": "user", "content": "Say hello."}], "stream": True}


def start(cmd: list[str], ready: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return serve(cmd, ready, env, headers={"Authorization": f"Bearer {KEY}"})


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(n: int, proxy: str, pid: int) -> tuple[list[float], list[float], float, int]:
    """Direct and through-`proxy` times, alternating; the proxy's CPU seconds per request; chunks."""
    direct_target = (PORTS["standin"], "/api/paas/v4/chat/completions", {"Authorization": f"Bearer {KEY}"})
    targets = {
        "direct": direct_target,
        "glm-serve": (PORTS["glm-serve"], "/v1/chat/completions", {}),
        "litellm": (PORTS["litellm"], "/v1/chat/completions", {"Authorization": "Bearer sk-bench"}),
    }
    times: dict[str, list[float]] = {"direct": [], proxy: []}
    chunks = 0
    cpu = 0.0
    for i in range(n + 20):
        if i == 20:  # the first rounds warm up connections, imports and caches
            cpu = cpu_seconds(pid)
        for name in times:
            port, path, headers = targets[name]
            ex = await raw_post("127.0.0.1", port, path, BODY, headers)
            if i >= 20:
                times[name].append(ex.total)
            if name == "direct":
                chunks = ex.raw.count(b"data: {")
    return times["direct"], times[proxy], (cpu_seconds(pid) - cpu) / n, chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--litellm", default=shutil.which("litellm") or "/tmp/litellm-venv/bin/litellm")
    args = ap.parse_args()
    env = {**os.environ, "BIGMODEL_API_KEY": KEY}
    py = sys.executable
    standin_url = f"http://127.0.0.1:{PORTS['standin']}"
    procs = [
        start(
            [py, "-m", "server", "mock-hosted", "--port", str(PORTS["standin"]), "--api-key", KEY],
            standin_url + "/api/paas/v4/models",
            env,
        )
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "litellm.yaml"
        config.write_text(
            "model_list:\n  - model_name: glm-4.7\n    litellm_params:\n      model: openai/glm-4.7\n"
            f"      api_base: {standin_url}/api/paas/v4\n      api_key: {KEY}\n"
            "general_settings:\n  master_key: sk-bench\n"
        )
        try:
            procs.append(
                start(
                    [
                        py,
                        "-m",
                        "server",
                        "serve",
                        "--backend",
                        "hosted",
                        "--port",
                        str(PORTS["glm-serve"]),
                        "--hosted-base-url",
                        standin_url + "/api/paas/v4",
                        "--log-level",
                        "warning",
                    ],
                    f"http://127.0.0.1:{PORTS['glm-serve']}/health",
                    env,
                )
            )
            procs.append(
                start(
                    [args.litellm, "--config", str(config), "--port", str(PORTS["litellm"])],
                    f"http://127.0.0.1:{PORTS['litellm']}/health/liveliness",
                    env,
                )
            )
            results = {
                name: asyncio.run(measure(args.requests, name, proc.pid))
                for name, proc in (("glm-serve", procs[1]), ("litellm", procs[2]))
            }
        finally:
            for proc in procs:
                stop(proc)
    chunks = results["glm-serve"][3]
    print(f"{args.requests} sequential streamed requests per proxy, {chunks} chunks each")
    added: dict[str, list[float]] = {}
    for name, (direct, through, cpu, _) in results.items():
        added[name] = a = [(t - d) * 1e3 for t, d in zip(through, direct, strict=True)]
        print(
            f"{name} phase: direct to the stand-in p50 {pct(direct, 0.5) * 1e3:.2f} ms, p99 "
            f"{pct(direct, 0.99) * 1e3:.2f} ms; {name} CPU {cpu * 1e3:.2f} ms per request"
        )
        print(
            f"  {name} adds per request p50 {pct(a, 0.5):.2f} ms, p99 {pct(a, 0.99):.2f} ms; per chunk "
            f"p50 {pct(a, 0.5) / chunks * 1e3:.1f} µs, p99 {pct(a, 0.99) / chunks * 1e3:.1f} µs"
        )
    ratio = statistics.median(added["litellm"]) / statistics.median(added["glm-serve"])
    print(f"LiteLLM adds {ratio:.1f}x the latency glm-serve adds (p50)")


if __name__ == "__main__":
    main()
