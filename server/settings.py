"""Settings: one typed model fed by a YAML preset, GLM_SERVE_* environment variables and CLI flags.

Precedence, highest first: command-line flags, environment, the YAML file (`--config`, or the preset a
`--model NAME` names in configs/), defaults. The CLI flags are generated from the fields below, whose
descriptions are the `--help` text.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from parsers import LayoutName

from . import presets

BackendName = Literal["auto", "local", "hosted", "upstream", "fake"]
FallbackMode = Literal["none", "failover", "spillover"]
LayoutSetting = Literal["auto"] | LayoutName

_yaml_values: ContextVar[Mapping[str, Any]] = ContextVar("_yaml_values", default=types.MappingProxyType({}))


class SettingsError(ValueError):
    """A preset, YAML file or flag value that cannot be used."""


class Settings(BaseSettings):
    """Everything a glm-serve deployment chooses."""

    model_config = SettingsConfigDict(env_prefix="GLM_SERVE_", extra="forbid")

    config: Path | None = Field(None, description="YAML settings file (defaults to the --model preset's)")
    model: str | None = Field(None, description="weights directory, or a preset name from configs/")
    served_model_name: str | None = Field(None, description="model id clients use (default: preset name)")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 for every interface)")
    port: int = Field(8000, description="port to listen on")
    backend: BackendName = Field(
        "auto", description="local vLLM, hosted BigModel/Z.ai, upstream, fake, or auto"
    )
    api_key: SecretStr | None = Field(
        None,
        description="require this key on every route but /health (a flag shows in ps: prefer "
        "GLM_SERVE_API_KEY or --api-key-file)",
    )
    api_key_file: Path | None = Field(
        None, description="read the API key from this file (keeps it out of ps)"
    )
    output_layout: LayoutSetting = Field(
        "auto", description="where GLM's output puts whitespace around its tags; auto reads the template"
    )
    enable_thinking: bool = Field(True, description="think by default when a request does not say")
    strict_tools: bool = Field(
        False, description="hold every tool call to its schema, as if each tool were marked strict (local)"
    )
    image_max_mib: int = Field(20, description="largest image a vision model is given, in MiB (local)")
    image_fetch_timeout: float = Field(
        10.0, description="seconds an http(s) image URL may take to fetch (local; never fetched offline)"
    )
    tensor_parallel_size: int = Field(1, description="GPUs to shard the model across")
    max_model_len: int | None = Field(None, description="context length (default: the model's)")
    gpu_memory_utilization: float = Field(0.9, description="fraction of GPU memory vLLM may use")
    kv_cache_gib: int | None = Field(None, description="KV cache GiB on CPU (VLLM_CPU_KVCACHE_SPACE)")
    enable_prefix_caching: bool = Field(True, description="reuse KV cache across requests sharing a prefix")
    speculative_config: dict[str, Any] | None = Field(
        None, description="vLLM speculative decoding (MTP), JSON"
    )
    vllm_args: dict[str, Any] = Field(default_factory=dict, description="more AsyncEngineArgs, as JSON")
    demo: bool = Field(False, description="the tiny random-weight model: announced as a plumbing demo")
    offline: bool | None = Field(
        None,
        description="never reach the network: no hub downloads, no usage statistics, no hosted API "
        "(default: on when --model is a local directory)",
    )
    hosted_base_url: str | None = Field(
        None, description="hosted API base (default: BIGMODEL_BASE_URL, else open.bigmodel.cn/api/paas/v4)"
    )
    hosted_model: str = Field("glm-4.7", description="hosted model for requests that name no known GLM model")
    hosted_model_map: dict[str, str] = Field(
        default_factory=dict, description="more local→hosted names, JSON"
    )
    hosted_retries: int = Field(3, description="retries of a retryable hosted-API failure before any output")
    hosted_timeout: float = Field(600.0, description="seconds a hosted or upstream request may take")
    upstream_url: str | None = Field(
        None, description="OpenAI-compatible server whose GLM output is raw text"
    )
    upstream_model: str | None = Field(
        None, description="model name to send upstream (default: the request's)"
    )
    fallback: FallbackMode = Field("none", description="failover or spillover to --fallback-backend")
    fallback_backend: BackendName = Field("hosted", description="the secondary backend for --fallback")
    spillover_queue_depth: int = Field(
        64, description="requests in flight on the primary before spilling over"
    )
    responses_store_size: int = Field(
        256, description="responses kept for previous_response_id (store: true), the oldest dropped first"
    )
    responses_store_ttl: float = Field(3600.0, description="seconds a stored response is kept")
    responses_secret: SecretStr | None = Field(
        None,
        description="key that signs reasoning items' encrypted_content (default: random per process; "
        "give replicas behind one load balancer the same)",
    )
    max_body_mb: float = Field(32.0, description="largest request body in MB; bigger ones get a 413 unread")
    max_queued_requests: int | None = Field(
        None,
        description="requests allowed to wait beyond the engine's batch; more get a 429 with Retry-After "
        "(default: the engine's batch size, local backend; unbounded elsewhere; -1: unbounded)",
    )
    stream_write_timeout: float = Field(
        60.0, description="seconds a stream may wait on a client that does not read before it is closed"
    )
    shutdown_grace: float = Field(
        30.0, description="seconds streams may run on after SIGTERM before they are ended with an error event"
    )
    render_workers: int = Field(4, description="threads that render and tokenize prompts (local backend)")
    log_level: str = Field("info", description="log level")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @model_validator(mode="after")
    def _key_from_file(self) -> Settings:
        if self.api_key_file is None:
            return self
        if self.api_key is not None:
            raise ValueError("give the API key once: --api-key (or GLM_SERVE_API_KEY) or --api-key-file")
        try:
            key = self.api_key_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read --api-key-file: {exc}") from exc
        if not key:
            raise ValueError(f"--api-key-file {self.api_key_file} is empty")
        self.api_key = SecretStr(key)
        return self

    def served_name(self) -> str:
        return self.served_model_name or (Path(self.model).name if self.model else "glm")

    @property
    def offline_mode(self) -> bool:
        """--offline as given, else on exactly when the weights are a directory on this disk."""
        if self.offline is not None:
            return self.offline
        return bool(self.model) and Path(str(self.model)).is_dir()


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file's values, below the environment and the flags."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_values.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get())


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from flags (a mapping of field → value), the environment and the YAML file they name."""
    import os

    env = os.environ if environ is None else environ
    flags = dict(flags or {})
    config = flags.get("config") or env.get("GLM_SERVE_CONFIG")
    model = flags.get("model") or env.get("GLM_SERVE_MODEL")
    values: dict[str, Any] = {}
    preset = presets.path(str(model)) if model else None
    if config is not None or preset is not None:
        values = _read_yaml(Path(config) if config is not None else preset)  # type: ignore[arg-type]
        if config is None and (problems := presets.problems(str(model), values)):
            raise SettingsError("; ".join(problems))
        if preset is not None:
            # The preset supplies the weights path; its name becomes the served name by default.
            values.setdefault("served_model_name", str(model))
            flags.pop("model", None)
    if model is None and "model" in values and (named := presets.path(str(values["model"]))):
        values = {**_read_yaml(named), **values}
    token = _yaml_values.set(values)
    try:
        return Settings(**flags)
    except ValidationError as exc:
        raise SettingsError(str(exc)) from exc
    finally:
        _yaml_values.reset(token)


_RENAMED = {"generation": "output_layout"}


def _read_yaml(path: Path | Traversable) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a mapping of settings")
    if renamed := sorted(set(data) & set(_RENAMED)):
        raise SettingsError(f"{path}: {', '.join(f'{n} is now {_RENAMED[n]}' for n in renamed)}")
    unknown = set(data) - set(Settings.model_fields)
    if unknown:
        raise SettingsError(f"{path}: unknown settings {sorted(unknown)}")
    return data


# -- flags generated from the fields -------------------------------------------------------------


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per settings field; unset flags stay absent so lower sources show through."""
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": field.description}
        annotation = _strip_optional(field.annotation)
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif choices := _literal_values(annotation):
            kwargs["choices"] = choices
        elif typing.get_origin(annotation) is dict:
            kwargs["type"] = _json_object
            kwargs["metavar"] = "JSON"
        elif annotation in (int, float):
            kwargs["type"] = annotation
        parser.add_argument(flag, **kwargs)


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    """The values of a Literal, or of a union of Literals; () for anything else."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [_literal_values(a) for a in typing.get_args(annotation)]
        if all(parts):
            return tuple(v for part in parts for v in part)
    return ()


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args: Sequence[Any] = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value
