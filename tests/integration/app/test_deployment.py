"""What ships: every preset parses and its engine arguments are vLLM's; the CUDA image lints clean and
its entry command parses; a configuration vLLM refuses is refused at start with vLLM's reason."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from server import presets
from server.__main__ import parser
from server.settings import load_settings
from tests.conftest import ROOT

PRESETS = presets.names()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_loads_and_vllm_takes_its_engine_arguments(preset: str) -> None:
    from server.backends.local.start import engine_args

    settings = load_settings({"model": preset}, environ={}).engine
    assert settings.served_model_name
    args = engine_args(settings)  # AsyncEngineArgs: an unknown key or a refused value raises here
    assert args.tensor_parallel_size == settings.tensor_parallel_size
    for key, value in settings.vllm_args.items():
        assert getattr(args, key) == value


def test_multi_node_presets_use_vllms_own_machinery() -> None:
    two_node = load_settings({"model": "glm-4.7-fp8-2node"}, environ={}).engine
    assert two_node.tensor_parallel_size * two_node.vllm_args["pipeline_parallel_size"] == 16
    assert two_node.vllm_args["distributed_executor_backend"] == "ray"
    dp_ep = load_settings({"model": "glm-4.7-fp8-dp-ep-2node"}, environ={}).engine
    assert dp_ep.vllm_args["enable_expert_parallel"] is True
    assert dp_ep.vllm_args["data_parallel_size"] == 2 * dp_ep.vllm_args["data_parallel_size_local"]


DOCKERFILE = ROOT / "Dockerfile.cuda"


def _instruction(name: str) -> list[str]:
    (line,) = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    return list(json.loads(line[len(name) + 1 :]))


def test_the_images_command_and_the_readme_run_line_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    entry, command = _instruction("ENTRYPOINT"), _instruction("CMD")
    assert entry == ["glm-serve"]
    args = vars(parser().parse_args(command))
    assert args.pop("command") == "serve"
    for name, value in _image_environment().items():  # as the image sets them
        monkeypatch.setenv(name, value)
    settings = load_settings(args)
    engine = settings.engine
    assert engine.model == "/weights" and engine.offline_mode and settings.server.host == "0.0.0.0"
    # The health check asks the port the server listens on, whatever GLM_SERVE_PORT says.
    assert settings.server.port == 8000 and "GLM_SERVE_PORT" in _instruction_text("HEALTHCHECK")
    assert _image_environment()["VLLM_CACHE_ROOT"].startswith("/cache/") and 'VOLUME ["/cache"]' in (
        DOCKERFILE.read_text()
    )
    documented = re.search(r"serve --config (\S+) --model /weights --host 0.0.0.0", DOCKERFILE.read_text())
    assert documented is not None
    args = vars(parser().parse_args(documented.group(0).split()))
    args.pop("command")
    assert presets.path(documented.group(1)) is not None  # a preset name: the image has no configs/
    preset = load_settings(args).engine
    assert preset.model == "/weights" and preset.tensor_parallel_size == 4


def test_the_image_is_built_for_an_air_gap() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"ARG VLLM_VERSION=\d+\.\d+\.\d+", text)  # a pinned release
    for switch in ("GLM_SERVE_OFFLINE=1", "HF_HUB_OFFLINE=1", "VLLM_NO_USAGE_STATS=1", "DO_NOT_TRACK=1"):
        assert switch in text
    assert "flashinfer-cubin" in text and "flashinfer-jit-cache" in text  # kernels in the image
    assert re.search(r"^USER 10001", text, re.M) and "HEALTHCHECK" in text and "/health" in text
    assert "AS with-weights" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "models", ".git"} <= set(ignored)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_configuration_vllm_refuses_is_refused_at_start(tmp_path: Path) -> None:
    from server.backends.local.engine import LocalBackend
    from tests.conftest import tiny_model_dir

    settings = load_settings({"model": str(tiny_model_dir()), "vllm_args": {"no_such_engine_argument": 1}})
    with pytest.raises(ValueError, match=r"vLLM refuses these engine arguments: .*no_such_engine_argument"):
        LocalBackend(settings.engine)


def test_weights_missing_a_file_stop_the_server_with_one_line(tmp_path: Path) -> None:
    from tests.conftest import tiny_model_dir

    copy = tmp_path / "GLM-copy"
    shutil.copytree(tiny_model_dir(), copy)
    (copy / "tokenizer.json").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--model", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"glm-serve: the weights in {copy} lack a tokenizer (tokenizer.json, or tokenizer.model)"
    )
    assert "Traceback" not in done.stderr


def _image_environment() -> dict[str, str]:
    """The ENV block of the server stage, as NAME=VALUE pairs."""
    text = DOCKERFILE.read_text()
    block = text[text.index("ENV GLM_SERVE_OFFLINE") :].split("\n\n", 1)[0]
    pairs = re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " "))
    return dict(pairs)


def _instruction_text(name: str) -> str:
    text = DOCKERFILE.read_text()
    start = text.index(f"\n{name} ")
    return text[start : text.index("\n", text.index("CMD", start))]


def test_the_compose_file_runs_the_image_with_a_restart_policy_and_the_cache_volume() -> None:
    compose = yaml.safe_load((ROOT / "configs" / "docker" / "compose.yaml").read_text())
    service = compose["services"]["glm-serve"]
    assert service["restart"] == "unless-stopped" and service["ipc"] == "host"
    assert (
        any(v.endswith(":/weights:ro") for v in service["volumes"])
        and "glm-cache:/cache" in service["volumes"]
    )
    assert service["environment"]["GLM_SERVE_PORT"] == "8000" and service["ports"] == ["${PORT:-8000}:8000"]
    args = [a.replace("${PRESET:-glm-4.7-fp8}", "glm-4.7-fp8") for a in service["command"]]
    parsed = vars(parser().parse_args(args))
    assert parsed["config"] == "glm-4.7-fp8" and parsed["api_key_file"] == "/run/secrets/glm_serve_key"
    assert compose["secrets"]["glm_serve_key"] and "glm-cache" in compose["volumes"]


def test_download_says_how_to_lift_the_images_hub_switch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    done = subprocess.run(
        [sys.executable, "-m", "server", "download", "glm-4.7-flash", "--to", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HF_HUB_OFFLINE=0" in done.stderr and done.stderr.count("\n") == 1
