"""A weights directory is checked before the engine loads, and a copy is proven whole by its manifest."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from server.backends.local import manifest
from server.backends.local.weights import MissingWeights, check
from tests.conftest import tiny_model_dir


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    copy = tmp_path / "GLM-tiny"
    shutil.copytree(tiny_model_dir(), copy)
    return copy


def shard(directory: Path, parts: int = 2) -> None:
    """Turn the single safetensors file into an index with `parts` shard names (the bytes do not matter
    to the check, only which files exist)."""
    single = directory / "model.safetensors"
    names = [f"model-{i + 1:05d}-of-{parts:05d}.safetensors" for i in range(parts)]
    for name in names:
        shutil.copy(single, directory / name)
    single.unlink()
    layers = json.loads((directory / "config.json").read_text())["num_hidden_layers"]
    weight_map = {f"model.layers.{i}.mlp.weight": names[i % parts] for i in range(layers)}
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def test_a_complete_directory_passes(weights: Path) -> None:
    check(weights)
    shard(weights)
    check(weights)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("config.json", "lack config.json"),
        ("tokenizer.json", "lack a tokenizer"),
        ("chat_template.jinja", "lack a chat template"),
        ("model-00002-of-00002.safetensors", "lack model-00002-of-00002.safetensors (named in"),
    ],
)
def test_the_first_missing_file_is_named(weights: Path, remove: str, message: str) -> None:
    shard(weights)
    config = json.loads((weights / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)  # the template is only in chat_template.jinja
    (weights / "tokenizer_config.json").write_text(json.dumps(config))
    (weights / remove).unlink()
    with pytest.raises(MissingWeights, match=re.escape(message)):
        check(weights)


def test_mtp_needs_its_layer_and_a_draft_model_its_files(weights: Path, tmp_path: Path) -> None:
    shard(weights)
    with pytest.raises(MissingWeights, match=r"lack the MTP layer \(model\.layers\.2\.\*\)"):
        check(weights, {"method": "mtp", "num_speculative_tokens": 1})
    index = weights / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["model.layers.2.eh_proj.weight"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(data))
    check(weights, {"method": "mtp", "num_speculative_tokens": 1})
    with pytest.raises(MissingWeights, match=re.escape("lack config.json")):
        check(weights, {"model": str(tmp_path / "no-draft")})


def test_manifest_catches_a_flipped_byte_a_missing_shard_and_an_extra_file(weights: Path) -> None:
    shard(weights, parts=3)
    written = manifest.write(weights, "zai-org/GLM-tiny", "abc123")
    recorded = json.loads(written.read_text())
    assert recorded["repo"] == "zai-org/GLM-tiny" and len(recorded["files"]) == 9
    assert manifest.verify(weights) == []
    target = weights / "model-00001-of-00003.safetensors"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    (weights / "model-00002-of-00003.safetensors").unlink()
    (weights / "notes.txt").write_text("copied by hand")
    (weights / "model-00003-of-00003.safetensors").write_bytes(b"short")
    problems = [str(p) for p in manifest.verify(weights)]
    size = recorded["files"]["model-00003-of-00003.safetensors"]["size"]
    assert problems == [
        "changed: model-00001-of-00003.safetensors (sha256 differs)",
        "missing: model-00002-of-00003.safetensors",
        f"changed: model-00003-of-00003.safetensors (5 bytes, expected {size})",
        "extra: notes.txt (not in the manifest)",
    ]


def test_verify_without_a_manifest_says_so(weights: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("glm-serve-manifest.json is missing")):
        manifest.verify(weights)
