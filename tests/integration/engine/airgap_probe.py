"""Run inside a network namespace that has only loopback: serve the tiny GLM, use every wire, and report
every connection the server tried to make to the outside world (all of them go to a recording proxy).

    unshare -n sh -c 'ip link set lo up && \
        python tests/integration/engine/airgap_probe.py MODEL_DIR [--no-offline]'

Prints one JSON object: the request lines the proxy caught, the status of each wire's request, and the
tail of the server's log.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """A proxy that forwards nothing: it writes down what each client asked for and refuses it."""

    def __init__(self) -> None:
        self.caught: list[str] = []
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            self.caught.append(line.decode(errors="replace").strip())
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            self.caught.append("(a connection that sent nothing)")
        finally:
            writer.close()


def post(base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # our own requests: direct
    try:
        with opener.open(request, timeout=120) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0  # no server to answer (it refused to start)


def main() -> None:
    model, *flags = sys.argv[1:]
    flags = [f for f in flags if f]
    recorder = Recorder()
    port = free_port()
    proxy = f"http://127.0.0.1:{recorder.port}"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        ALL_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="",
        no_proxy="",
        VLLM_CPU_KVCACHE_SPACE="1",
        PYTHONPATH=str(ROOT),
    )
    cmd = [
        sys.executable,
        "-m",
        "server",
        "serve",
        "--model",
        model,
        "--port",
        str(port),
        "--max-model-len",
        "2048",
    ]
    # One name whatever backend `auto` picks (the demo, the local weights, the hosted API).
    cmd += ["--served-model-name", "glm-4.7"]
    cmd += ["--gpu-memory-utilization", "0.3", "--vllm-args", '{"enforce_eager": true}', *flags]
    log = Path(os.environ.get("PROBE_LOG", "/tmp/airgap-probe.log"))
    with log.open("w") as out:
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    statuses: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and server.poll() is None:
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(base + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                # 503 "dead": up, and sure its backend cannot serve (the hosted API, unreachable here).
                if json.loads(exc.read() or b"{}").get("status") == "dead":
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        model_id = "glm-4.7"
        ask = [{"role": "user", "content": "hello"}]
        statuses["chat"] = post(
            base, "/v1/chat/completions", {"model": model_id, "messages": ask, "max_tokens": 8}
        )
        statuses["chat_stream"] = post(
            base,
            "/v1/chat/completions",
            {"model": model_id, "messages": ask, "max_tokens": 8, "stream": True},
        )
        statuses["messages"] = post(
            base, "/v1/messages", {"model": model_id, "messages": ask, "max_tokens": 8}
        )
        statuses["responses"] = post(
            base,
            "/v1/responses",
            {"model": model_id, "input": "hello", "max_output_tokens": 8, "stream": True},
        )
        time.sleep(2)  # anything a library does in the background after serving
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    text = log.read_text()
    report = {"caught": recorder.caught, "statuses": statuses, "exit": server.returncode}
    print(json.dumps({**report, "said_offline": "offline: no hub downloads" in text, "log": text[-3000:]}))


if __name__ == "__main__":
    main()
