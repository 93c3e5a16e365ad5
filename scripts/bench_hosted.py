"""Hosted-backend overhead: streaming straight to the hosted-API stand-in vs through glm-serve vs LiteLLM.

    .venv/bin/python scripts/bench_hosted.py [--requests 300] [--litellm /path/to/litellm]

The stand-in (`glm-serve mock-hosted`), glm-serve (`--backend hosted` pointed at the stand-in) and
LiteLLM's proxy (pointed at the same stand-in; install it apart, e.g. `python3 -m venv /tmp/litellm &&
/tmp/litellm/bin/pip install 'litellm[proxy]'`, since it is a benchmark tool, not our dependency) run as
separate processes. Requests go round-robin to the three targets, one at a time, so drift hits all
alike. Added latency = a proxy's time minus the direct time of the same round; per chunk = that over the
number of streamed chunks. Prints p50/p99 and the ratio LiteLLM/glm-serve.
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


async def measure(n: int) -> dict[str, tuple[list[float], int]]:
    targets = {
        "direct": (PORTS["standin"], "/api/paas/v4/chat/completions", {"Authorization": f"Bearer {KEY}"}),
        "glm-serve": (PORTS["glm-serve"], "/v1/chat/completions", {}),
        "litellm": (PORTS["litellm"], "/v1/chat/completions", {"Authorization": "Bearer sk-bench"}),
    }
    times: dict[str, list[float]] = {k: [] for k in targets}
    chunks = 0
    for i in range(n + 20):
        for name, (port, path, headers) in targets.items():
            ex = await raw_post("127.0.0.1", port, path, BODY, headers)
            if i >= 20:  # the first rounds warm up connections, imports and caches
                times[name].append(ex.total)
            if name == "direct":
                chunks = ex.raw.count(b"data: {")
    return {k: (v, chunks) for k, v in times.items()}


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
            results = asyncio.run(measure(args.requests))
        finally:
            for proc in procs:
                stop(proc)
    direct, chunks = results["direct"]
    print(f"{args.requests} sequential streamed requests per target, {chunks} chunks each")
    print(
        f"direct to the stand-in: p50 {pct(direct, 0.5) * 1e3:.2f} ms, p99 {pct(direct, 0.99) * 1e3:.2f} ms"
    )
    added: dict[str, list[float]] = {}
    for name in ("glm-serve", "litellm"):
        through, _ = results[name]
        added[name] = [(t - d) * 1e3 for t, d in zip(through, direct, strict=True)]
        a = added[name]
        print(
            f"{name:>10}: added per request p50 {pct(a, 0.5):.2f} ms, p99 {pct(a, 0.99):.2f} ms; "
            f"per chunk p50 {pct(a, 0.5) / chunks * 1e3:.1f} µs, p99 {pct(a, 0.99) / chunks * 1e3:.1f} µs"
        )
    ratio = statistics.median(added["litellm"]) / statistics.median(added["glm-serve"])
    print(f"LiteLLM adds {ratio:.1f}x the latency glm-serve adds (p50)")


if __name__ == "__main__":
    main()
