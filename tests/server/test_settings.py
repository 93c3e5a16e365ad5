"""Settings: YAML presets, GLM_SERVE_* environment and generated flags, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import presets
from server.__main__ import main, parser
from server.settings import SECTIONS, Settings, SettingsError, fields, load_settings
from tests.conftest import ROOT, tiny_model_dir

PRESETS = presets.names()


def test_every_preset_loads() -> None:
    assert {
        "tiny-cpu",
        "glm-4.5-air-fp8",
        "glm-4.6-fp8",
        "glm-4.7-flash",
        "glm-4.7-fp8",
        "glm-5.1-fp8",
    } <= set(PRESETS)
    for name in PRESETS:
        s = load_settings({"model": name}, environ={}).engine
        assert s.served_name() and s.model != name


def test_precedence_flags_over_env_over_yaml(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: /w/glm\nport: 9000\nhost: 0.0.0.0\ntensor_parallel_size: 2\n")
    env = {"GLM_SERVE_CONFIG": str(config), "GLM_SERVE_PORT": "9100"}
    import os

    old = dict(os.environ)
    os.environ.update(env)
    try:
        s = load_settings({"host": "127.0.0.2"})
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert (s.engine.model, s.server.port, s.server.host) == ("/w/glm", 9100, "127.0.0.2")
    assert s.engine.tensor_parallel_size == 2


def test_model_preset_name_reads_its_yaml() -> None:
    s = load_settings({"model": "glm-4.7-fp8", "port": 1234}, environ={})
    engine = s.engine
    assert (
        engine.model == "zai-org/GLM-4.7-FP8" and engine.tensor_parallel_size == 4 and s.server.port == 1234
    )
    assert engine.speculative_config == {"method": "mtp", "num_speculative_tokens": 1}
    assert engine.served_name() == "glm-4.7"


def test_flags_are_generated_from_fields() -> None:
    args = vars(
        parser().parse_args(
            [
                "serve",
                "--model",
                "/m",
                "--port",
                "81",
                "--no-enable-thinking",
                "--vllm-args",
                '{"enforce_eager": true}',
                "--backend",
                "fake",
            ]
        )
    )
    assert args == {
        "command": "serve",
        "model": "/m",
        "port": 81,
        "enable_thinking": False,
        "vllm_args": {"enforce_eager": True},
        "backend": "fake",
    }
    help_text = parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for name, _ in fields():
        assert "--" + name.replace("_", "-") in help_text
    # Grouped: the sections, the engine's split into what is served (model) and how (engine).
    titles = ["server", "model", "engine (local vLLM)", "hosted API and upstream", "limits", "Responses API"]
    assert [t for t in titles if f"\n{t}:\n" in help_text] == titles
    assert len(SECTIONS) == 5
    # Each flag with a plain default shows it.
    assert "port to listen on (default: 8000)" in help_text
    assert "(default: true)" in help_text  # --enable-prefix-caching
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--backend", "nope"])
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--vllm-args", "[1]"])


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle: typo\n")
    with pytest.raises(SettingsError, match="modle"):
        load_settings({"config": str(bad)}, environ={})
    with pytest.raises(SettingsError):
        load_settings({"port": "not a port"}, environ={})


def test_an_empty_key_variable_means_no_key() -> None:
    assert load_settings({}, environ={"GLM_SERVE_API_KEY": ""}).server.api_key is None


def test_api_key_is_never_shown() -> None:
    s = load_settings({"api_key": "s3cret"}, environ={})
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


def test_a_backend_refusing_its_configuration_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(*argv: str) -> str:
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err.strip()

    assert refused("serve", "--backend", "upstream") == "glm-serve: --backend upstream needs --upstream-url"
    # The demo preset and a model of one's own: refused, not one of them silently dropped.
    weights = tiny_model_dir()
    for config in ("tiny-cpu", str(ROOT / "configs" / "tiny-cpu.yaml")):
        assert refused("serve", "--config", config, "--model", str(weights)) == (
            f"glm-serve: demo: true (as the tiny-cpu preset sets) serves the bundled tiny model, not --model "
            f"{weights}: drop one of the two"
        )
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("BIGMODEL_API_KEY", "k.k")
    assert (
        refused("serve", "--backend", "hosted")
        == "glm-serve: only http:// proxies are supported, not socks5://"
    )


def test_each_name_lives_in_one_section_and_flat_names_build_them() -> None:
    s = Settings(port=9000, max_model_len=8192, hosted_retries=1, max_body_mb=2, responses_store_size=3)
    assert (s.server.port, s.engine.max_model_len, s.remote.hosted_retries) == (9000, 8192, 1)
    assert (s.limits.max_body_mb, s.responses.responses_store_size) == (2, 3)
    names = [name for name, _ in fields()]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="unknown setting 'max_len'"):
        Settings(max_len=1)


def test_environment_values_are_typed_by_their_fields() -> None:
    env = {"GLM_SERVE_PORT": "9001", "glm_serve_vllm_args": '{"enforce_eager": true}', "GLM_SERVE_DEMO": "1"}
    s = load_settings(environ=env)
    assert s.server.port == 9001 and s.engine.vllm_args == {"enforce_eager": True} and s.engine.demo
    with pytest.raises(SettingsError, match="GLM_SERVE_VLLM_ARGS is not JSON"):
        load_settings(environ={"GLM_SERVE_VLLM_ARGS": "{nope"})


def test_the_old_name_of_output_layout_is_pointed_at(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("generation: glm45\n")
    with pytest.raises(SettingsError, match="generation is now output_layout"):
        load_settings({"config": str(old)}, environ={})
