"""The release table: consistent, and the one place a release is added (every consumer sees a new row)."""

from __future__ import annotations

import pytest
import yaml
from starlette.testclient import TestClient

from server import plan as plan_command
from server import presets
from server.backends.local.sizing.gpus import GIB, Gpus
from server.backends.local.template import read_profile
from server.backends.local.tiny_archs import ARCHS, ASSETS
from server.backends.remote.hosted import HostedBackend
from server.backends.remote.hosted_api import catalogue_name
from server.backends.remote.upstream import UpstreamBackend
from server.core import releases
from server.core.releases import Release, Weights, configs, table
from server.settings import Settings
from server.standin.hosted import create_standin

KEY = "0123456789abcdef.release"

# A release that does not exist: GLM-4.5's architecture, the old layout, and a template that always thinks
# (no release has had that mix, so each consumer can only have learnt it from this row).
INVENTED = Release(
    "GLM-9",
    "Glm4MoeForCausalLM",
    layout="glm45",
    thinking="always",
    hosted=("glm-9", "glm-9-x"),
    weights=(Weights("zai-org/GLM-9-FP8", 40),),
    config=configs.with_context(configs.AIR, 65536),
    efforts=("low", "max"),
)


@pytest.fixture
def glm9(monkeypatch: pytest.MonkeyPatch) -> Release:
    monkeypatch.setattr(table, "RELEASES", (*table.RELEASES, INVENTED))
    return INVENTED


def test_the_table_is_consistent() -> None:
    rows = releases.all_releases()
    hosted = [m for r in rows for m in r.hosted]
    repos = [w.repo for r in rows for w in r.weights]
    assert len(hosted) == len(set(hosted)) and len(repos) == len(set(repos))
    for release in rows:
        if release.weights:
            assert release.architecture is not None and release.config, release.name
            assert release.config.get("architectures", [None])[0] == release.architecture, release.name
        if release.tiny_template:
            assert (ASSETS / release.tiny_template).is_file(), release.tiny_template
    # Every tiny architecture stands for at least one release and has a template to render with.
    for arch in ARCHS.values():
        assert arch.releases and arch.template


def test_every_bundled_preset_names_a_release() -> None:
    for name in presets.names():
        path = presets.path(name)
        assert path is not None
        assert presets.problems(name, yaml.safe_load(path.read_text())) == []
    problems = presets.problems("x", {"model": "zai-org/GLM-4.7-FP8", "output_layout": "glm45"})
    assert problems == ["preset x: output_layout glm45 but GLM-4.7 writes glm47"]
    assert presets.problems("x", {"model": "someone/GLM-4.7-GGUF"})[0].endswith(
        "not the weights of a release in the release table"
    )


def test_names_find_their_release() -> None:
    assert releases.find("zai-org/GLM-4.6V-FP8").name == "GLM-4.6V"  # type: ignore[union-attr]
    assert releases.find("/data/GLM-4.5-Air-AWQ-4bit").name == "GLM-4.5-Air"  # type: ignore[union-attr]
    assert releases.find("GLM-4.7-FlashX").name == "GLM-4.7-Flash"  # type: ignore[union-attr]
    assert releases.find("llama-3") is None
    # Weights of a release mean its hosted model (an AWQ repo included), any case.
    assert catalogue_name("cpatonn/GLM-4.5-Air-AWQ-4bit") == "glm-4.5-air"
    assert catalogue_name("GLM-4.7-FLASHX") == "glm-4.7-flashx"


def test_an_invented_release_reaches_every_consumer(glm9: Release) -> None:
    # Template detection, and so the parser's layout: a template that always thinks, on this
    # architecture, is GLM-9's, which writes the glm45 layout.
    template = (ASSETS / "tiny_glm53_template.jinja").read_text()
    assert read_profile(template, "<|assistant|><think>", "Glm4MoeForCausalLM").layout == "glm45"
    assert read_profile(template, "<|assistant|><think>", "GlmMoeDsaForCausalLM").layout == "glm47"

    # The upstream backend parses a model it knows by name in that model's layout.
    upstream = UpstreamBackend(Settings(upstream_url="http://127.0.0.1:9").remote, Settings().engine)
    assert upstream.layout("zai-org/GLM-9-FP8") == "glm45" and upstream.layout("glm-4.7") == "glm47"

    # Sizing and plan, from the published numbers alone.
    (row,) = plan_command.rows_for(Gpus(1, 80 * GIB), ["zai-org/GLM-9-FP8"])
    assert row.sized is not None and row.sized.weight_bytes == 40 * 10**9
    assert row.fit is not None and row.fit.fits and row.fit.context == 65536

    # The hosted catalogue: our backend maps names onto it, and the stand-in takes it as the API would.
    assert catalogue_name("zai-org/GLM-9-FP8") == "glm-9"
    assert HostedBackend(Settings().remote).serves("glm-9-x")
    standin = TestClient(create_standin(api_key=KEY))
    auth = {"Authorization": f"Bearer {KEY}"}
    listed = standin.get("/api/paas/v4/models", headers=auth).json()["data"]
    assert {"glm-9", "glm-9-x"} <= {m["id"] for m in listed}
    body = {"model": "glm-9", "messages": [{"role": "user", "content": "hi"}]}
    assert standin.post("/api/paas/v4/chat/completions", json=body, headers=auth).status_code == 200

    # The tiny models say which releases each stands for.
    assert "GLM-9" in ARCHS["glm4_moe"].releases

    # Preset validation: a preset on its weights must use its layout.
    assert presets.problems("glm-9-fp8", {"model": "zai-org/GLM-9-FP8"}) == []
    assert presets.problems("glm-9-fp8", {"model": "zai-org/GLM-9-FP8", "output_layout": "glm47"})


def test_without_the_row_no_consumer_knows_it() -> None:
    """The same checks fail without the row: the consumers learnt GLM-9 from the table, nowhere else."""
    assert catalogue_name("zai-org/GLM-9-FP8") is None
    assert "GLM-9" not in ARCHS["glm4_moe"].releases
    assert presets.problems("glm-9-fp8", {"model": "zai-org/GLM-9-FP8"})
    template = (ASSETS / "tiny_glm53_template.jinja").read_text()
    assert read_profile(template, "<|assistant|><think>", "Glm4MoeForCausalLM").layout == "glm47"
