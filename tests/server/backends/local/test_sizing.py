"""The plan's memory arithmetic against hand-computed cases, sizing and refusal with fake GPU inventories,
and every preset planned on the boxes people have."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from server import plan as plan_command
from server import presets
from server.backends.local.sizing.fit import (
    ACTIVATION_COPIES,
    BATCHED_TOKENS,
    FIXED_HEADROOM,
    MAX_SEQS,
    Layout,
    plan,
)
from server.backends.local.sizing.gpus import GIB, Gpus, parse_gpus
from server.backends.local.sizing.shape import ModelShape, shape_of
from server.backends.local.start import size_for_this_box
from server.backends.local.tiny_archs import ARCHS
from server.core import releases
from server.settings import load_settings


def published_shape(repo: str) -> ModelShape:
    found = releases.weights_named(repo)
    assert found is not None, repo
    return shape_of(found[0].config)


BOXES = ("1x24GB", "2x24GB", "1x80GB", "8x141GB")


def test_gpu_specs() -> None:
    assert parse_gpus("2x24GB") == Gpus(2, 24 * GIB)
    assert parse_gpus("8x141GB") == Gpus(8, 141 * GIB)
    assert parse_gpus("80") == Gpus(1, 80 * GIB)
    for bad in ("", "2x", "0x24GB", "x24GB", "lots"):
        with pytest.raises(ValueError, match="COUNTxMEMORY"):
            parse_gpus(bad)


def test_kv_bytes_per_token_of_each_attention_kind() -> None:
    glm47 = published_shape("zai-org/GLM-4.7-FP8")
    assert glm47.attention == "gqa"
    # 92 layers (+1 MTP) x K and V x 8 KV heads split over 4 ranks x 128 x 2 bytes.
    assert glm47.kv_bytes_per_token("auto", tp=4, mtp=True) == 93 * 2 * 2 * 128 * 2
    # Sixteen ranks for 8 KV heads: each keeps one (replicated), not half of one.
    assert glm47.kv_bytes_per_token("auto", tp=16) == 92 * 2 * 1 * 128 * 2
    # Pipeline stages each hold half the layers.
    assert glm47.kv_bytes_per_token("fp8", tp=8, pp=2) == 92 * 2 * 1 * 128 * 1 / 2

    flash = published_shape("zai-org/GLM-4.7-Flash")
    assert flash.attention == "mla"
    # MLA: one 512 + 64 latent per layer, whole on every rank.
    assert flash.kv_bytes_per_token("fp8", tp=1) == 47 * 576
    assert flash.kv_bytes_per_token("auto", tp=4) == 47 * 576 * 2

    glm51 = published_shape("zai-org/GLM-5.1-FP8")
    assert glm51.attention == "dsa"
    # DSA: the latent plus the indexer's FP8 key (128) and its float32 scale, per layer (+1 MTP).
    assert glm51.kv_bytes_per_token("auto", tp=8, mtp=True) == 79 * (576 * 2 + 128 + 4)

    flash53 = published_shape("zai-org/GLM-5.3-Flash-FP8")
    assert flash53.attention == "hybrid" and (flash53.layers, flash53.linear_layers) == (11, 34)
    assert flash53.kv_bytes_per_token("fp8", tp=8, mtp=True) == 12 * (512 + 128 + 4)
    # Linear attention: a 64-head x 128 x 128 float32 state per layer and sequence, whatever its length.
    assert flash53.state_bytes_per_sequence(tp=8) == 34 * 64 * 128 * 128 * 4 / 8

    vflash = published_shape("zai-org/GLM-4.6V-Flash")
    assert (vflash.attention, vflash.kv_heads, vflash.layers) == ("gqa", 2, 40)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_each_tiny_architecture_has_its_attention_kind(name: str) -> None:
    from transformers import AutoTokenizer

    from tests.conftest import tiny_model_dir

    arch = ARCHS[name]
    config = arch.config(256, [1], AutoTokenizer.from_pretrained(tiny_model_dir())).to_dict()
    config["architectures"] = [arch.architecture]
    shape = shape_of(config)
    want = {
        "glm4_moe": "gqa",
        "glm4_moe_lite": "mla",
        "glm_moe_dsa": "dsa",
        "glm5_next": "hybrid",
        "glm4v_moe": "gqa",
        "glm4v": "gqa",
    }[name]
    assert shape.attention == want
    if want == "gqa":
        assert shape.kv_bytes_per_token() == shape.layers * 2 * shape.kv_heads * 64 * 2
    else:
        assert shape.latent == 256 + (0 if want == "hybrid" else 64)


def test_the_plan_by_hand() -> None:
    shape = published_shape("zai-org/GLM-4.7-Flash")
    gpus = Gpus(1, 40 * GIB)
    layout = Layout(kv_dtype="fp8", gpu_memory_utilization=0.9)
    fit = plan(shape, 20 * GIB, layout, gpus)
    usable = int(40 * GIB * 0.9)
    room = FIXED_HEADROOM + BATCHED_TOKENS * 2048 * 2 * ACTIVATION_COPIES + MAX_SEQS * 154880 * 4
    budget = usable - 20 * GIB - room
    tokens = budget // (47 * 576)
    assert (fit.usable, fit.weights, fit.headroom, fit.kv_budget) == (usable, 20 * GIB, room, budget)
    assert fit.tokens == tokens
    assert fit.context == min(202752, tokens // 1024 * 1024)
    assert fit.sessions == budget // (fit.context * 47 * 576)
    assert fit.fits and fit.note is None


def test_what_does_not_fit_says_why() -> None:
    shape = published_shape("zai-org/GLM-4.7-FP8")
    too_few = plan(shape, 362 * 10**9, Layout(tp=4), parse_gpus("2x80GB"))
    assert too_few.reason == "needs 4 GPUs (TP 4); this box has 2"
    too_small = plan(shape, 362 * 10**9, Layout(tp=4), parse_gpus("4x80GB"))
    assert too_small.reason is not None and "exceed the 72.0 GiB vLLM may use" in too_small.reason
    offloaded = plan(shape, 362 * 10**9, Layout(tp=4, cpu_offload=40 * GIB), parse_gpus("4x80GB"))
    assert offloaded.weights == too_small.weights - 40 * GIB and offloaded.fits  # vLLM's cpu_offload_gb
    shorter = plan(shape, 362 * 10**9, Layout(tp=8, max_model_len=202752), parse_gpus("8x56GB"))
    assert shorter.fits and shorter.note is not None and shorter.context < 202752


def test_sizing_at_start_takes_the_largest_context_or_refuses() -> None:
    settings = load_settings({"model": "glm-4.7-flash-awq"}).engine
    assert settings.max_model_len is None
    sized = size_for_this_box(settings, parse_gpus("1x24GB"))
    expected = plan_command.rows_for(parse_gpus("1x24GB"), ["glm-4.7-flash-awq"])[0].fit
    assert expected is not None and sized.max_model_len == expected.context
    on_big = size_for_this_box(settings, parse_gpus("1x80GB"))
    assert on_big.max_model_len == 202752  # capped by the model's own limit
    chosen = size_for_this_box(load_settings({"model": "glm-4.7-flash-awq", "max_model_len": 4096}).engine)
    assert chosen.max_model_len == 4096  # no CUDA here: nothing is changed
    with pytest.raises(ValueError) as refused:
        size_for_this_box(settings, parse_gpus("1x16GB"))
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("cyankiwi/GLM-4.7-Flash-AWQ-4bit does not fit on 1x16GB: weights 17.7 GiB")
    with pytest.raises(ValueError, match="needs 8 GPUs"):
        size_for_this_box(load_settings({"model": "glm-5.1-fp8"}).engine, parse_gpus("4x141GB"))


@pytest.mark.parametrize("box", BOXES)
def test_every_preset_plans_on_the_boxes_people_have(box: str) -> None:
    gpus = parse_gpus(box)
    rows = plan_command.rows_for(gpus, presets.names())
    assert len(rows) >= 20
    for row in rows:
        assert row.problem is None, row
        assert row.fit is not None
        assert row.fit.fits or row.fit.reason
    best = plan_command.best(rows)
    assert best is not None and best.fit is not None
    expected = {
        "1x24GB": "glm-4.7-flash-awq",
        "2x24GB": "glm-4.7-flash-fp8",  # spread over both cards (TP 2)
        "1x80GB": "glm-4.5-air-awq",
        "8x141GB": "glm-5.3-fp8",
    }[box]
    assert best.preset == expected


def test_weights_per_rank_by_hand_for_each_layout() -> None:
    """What one GPU holds: TP and PP shard everything; DP x EP spreads only the routed experts."""
    glm45 = published_shape("zai-org/GLM-4.5-Air-FP8")
    # The share by hand, GLM-4.5-Air: 45 MoE layers x 128 experts x 3 x 4096 x 1408 in routed experts;
    # the rest: embeddings and head 2 x 151552 x 4096, attention 46 x 4096 x 128 x (2 x 96 + 2 x 8),
    # one dense layer 3 x 4096 x 10944, one shared expert a MoE layer 45 x 3 x 4096 x 1408.
    experts = 45 * 128 * 3 * 4096 * 1408
    rest = 2 * 151552 * 4096 + 46 * 4096 * 128 * 208 + 3 * 4096 * 10944 + 45 * 3 * 4096 * 1408
    assert glm45.expert_share == pytest.approx(experts / (experts + rest))
    assert 0.92 < glm45.expert_share < 0.94
    rows = {r.preset: r for r in plan_command.rows_for(parse_gpus("16x80GB"), presets.names())}

    def per_gpu(preset: str) -> int:
        fit = rows[preset].fit
        assert fit is not None
        return fit.weights

    dp_ep = rows["glm-4.5-air-fp8-dp-ep"].sized
    assert dp_ep is not None and dp_ep.layout.dp == 8 and dp_ep.layout.expert_parallel
    total = dp_ep.weight_bytes
    # Every one of the eight ranks holds attention, embeddings and the shared experts whole.
    share = dp_ep.shape.expert_share
    assert per_gpu("glm-4.5-air-fp8-dp-ep") == int(total * (1 - share) + total * share / 8)
    assert per_gpu("glm-4.5-air-fp8-dp-ep") > total // 8 * 1.4  # what dividing all by 8 understated
    # Tensor parallel 4: a quarter of every tensor.
    tp = rows["glm-4.7-fp8"].sized
    assert tp is not None and per_gpu("glm-4.7-fp8") == -(-tp.weight_bytes // 4)
    # Tensor parallel 8 x pipeline parallel 2 across two nodes: a sixteenth.
    pp = rows["glm-4.7-fp8-2node"].sized
    assert pp is not None and per_gpu("glm-4.7-fp8-2node") == -(-pp.weight_bytes // 16)
    # TP 4 x DP 4 with expert parallelism: the dense part over 4, the experts over 16.
    mixed = rows["glm-4.7-fp8-dp-ep-2node"].sized
    assert mixed is not None
    w, x = mixed.weight_bytes, mixed.shape.expert_share
    assert per_gpu("glm-4.7-fp8-dp-ep-2node") == int(w * (1 - x) / 4 + w * x / 16)


def test_a_one_gpu_preset_is_spread_over_the_cards_present_when_that_buys_context() -> None:
    two = {r.preset: r for r in plan_command.rows_for(parse_gpus("2x24GB"), presets.names())}
    one = {r.preset: r for r in plan_command.rows_for(parse_gpus("1x24GB"), presets.names())}
    fp8 = two["glm-4.7-flash-fp8"]
    assert one["glm-4.7-flash-fp8"].fit is not None and not one["glm-4.7-flash-fp8"].fit.fits
    assert fp8.resplit == 2 and fp8.fit is not None and fp8.fit.fits
    assert plan_command.serve_line(fp8).endswith("--tensor-parallel-size 2")
    # 2x24GB is not 1x24GB any more: the AWQ Flash gets more context over both cards.
    awq2, awq1 = two["glm-4.7-flash-awq"].fit, one["glm-4.7-flash-awq"].fit
    assert awq2 is not None and awq1 is not None and awq2.context > awq1.context
    # Where one card already holds the model's whole context, the preset stays on one card.
    big = {r.preset: r for r in plan_command.rows_for(parse_gpus("2x141GB"), ["glm-4.7-flash-awq"])}
    assert big["glm-4.7-flash-awq"].resplit == 0


def test_the_table_reads_at_80_columns() -> None:
    console = Console(width=80, record=True)
    assert plan_command.run("2x24GB", None, console) == 0
    text = console.export_text()
    lines = text.splitlines()
    # The table and the prose fit; the command stays one line, to copy (the terminal wraps it).
    assert all(len(line) <= 80 for line in lines if "glm-serve serve" not in line)
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == len(presets.names()) - 1  # every preset but the demo, one line each: no wrapping
    assert any("no: needs 8 GPUs" in line for line in rows)
    assert "glm-serve serve glm-4.7-flash-fp8 --max-model-len" in text


def test_the_command_prints_the_table_and_the_line_to_run() -> None:
    console = Console(width=200, record=True)
    assert plan_command.run("1x80GB", None, console) == 0
    text = console.export_text()
    assert "glm-5.1-fp8" in text and "needs 8 GPUs (TP 8); this box has 1" in text
    line = re.search(r"glm-serve serve (\S+) --max-model-len (\d+)", text)
    assert line is not None and line[1] == "glm-4.5-air-awq"
    unknown = Console(record=True)
    assert plan_command.run("1x80GB", "glm-4.7-flsh", unknown) == 2
    assert "unknown preset 'glm-4.7-flsh': did you mean glm-4.7-flash" in unknown.export_text()
    assert plan_command.run("1x8GB", "glm-4.7-flash-awq", Console(record=True)) == 1
    assert plan_command.run("two cards", None, Console(record=True)) == 2
