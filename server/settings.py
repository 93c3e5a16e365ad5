"""Settings: five typed sections fed by a YAML preset, GLM_SERVE_* environment variables and CLI flags.

Precedence, highest first: command-line flags, environment, the YAML file (`--config`, or the preset a
`--model NAME` names), defaults. Flags, variables and YAML keys are flat (`--max-model-len`,
GLM_SERVE_MAX_MODEL_LEN, `max_model_len:`): each name belongs to exactly one section, and the flags are
generated from the sections' fields, whose descriptions are the `--help` text. Each component is given
only its section.
"""

from __future__ import annotations

import argparse
import json
import os
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from parsers import LayoutName

from . import presets

BackendName = Literal["auto", "local", "hosted", "upstream", "fake"]
FallbackMode = Literal["none", "failover", "spillover"]
LayoutSetting = Literal["auto"] | LayoutName
ENV_PREFIX = "GLM_SERVE_"


class SettingsError(ValueError):
    """A preset, YAML file or flag value that cannot be used."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Section):
    """The HTTP server and which backend serves behind it."""

    config: Path | None = Field(
        None, description="YAML settings file or a preset's name (defaults to the --model preset's)"
    )
    state_dir: Path | None = Field(
        None,
        description="where state that must outlive a restart is kept (the Responses signing key); "
        "default $XDG_DATA_HOME/glm-serve, else ~/.local/share/glm-serve",
    )
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
    fallback: FallbackMode = Field("none", description="failover or spillover to --fallback-backend")
    fallback_backend: BackendName = Field("hosted", description="the secondary backend for --fallback")
    spillover_queue_depth: int = Field(
        64, description="requests in flight on the primary before spilling over"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="log level; debug also shows the engine's configuration and known warnings"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text, or one JSON object each (for log collectors)"
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_empty_key(cls, value: Any) -> Any:
        # GLM_SERVE_API_KEY= (set but empty) means no key, not a key every client must send empty.
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _key_from_file(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("api_key_file") is None:
            return data
        if data.get("api_key") is not None:
            raise ValueError("give the API key once: --api-key (or GLM_SERVE_API_KEY) or --api-key-file")
        path = Path(data["api_key_file"])
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read --api-key-file: {exc}") from exc
        if not key:
            raise ValueError(f"--api-key-file {path} is empty")
        return {**data, "api_key": key}


class EngineSettings(_Section):
    """The model served and the engine that serves it (local; upstream reads the model's identity)."""

    model: str | None = Field(None, description="weights directory, or a preset name from configs/")
    served_model_name: str | None = Field(None, description="model id clients use (default: preset name)")
    demo: bool = Field(False, description="the tiny random-weight model: announced as a plumbing demo")
    offline: bool | None = Field(
        None,
        description="never reach the network: no hub downloads, no usage statistics, no hosted API "
        "(default: on when --model is a local directory)",
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
    render_workers: int = Field(4, description="threads that render and tokenize prompts (local backend)")
    cpu_session_nice: int = Field(
        19,
        description="on CPU, this server's session scheduling niceness (autogroup), so that the engine's "
        "spinning never starves clients in other sessions; 0 leaves it",
    )

    def demo_conflict(self) -> str | None:
        """Two answers to "which model" (the demo and a model): refused, never one silently dropped."""
        if self.demo and self.model:
            return (
                f"demo: true (as the tiny-cpu preset sets) serves the bundled tiny model, not --model "
                f"{self.model}: drop one of the two"
            )
        return None

    def served_name(self) -> str:
        return self.served_model_name or (Path(self.model).name if self.model else "glm")

    @property
    def offline_mode(self) -> bool:
        """--offline as given, else on exactly when the weights are a directory on this disk."""
        if self.offline is not None:
            return self.offline
        return bool(self.model) and Path(str(self.model)).is_dir()


class RemoteSettings(_Section):
    """The hosted BigModel / Z.ai API and any OpenAI-compatible upstream."""

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


class LimitsSettings(_Section):
    """What one request, one client and the whole server may take."""

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


def state_dir(server: ServerSettings, environ: Mapping[str, str] = os.environ) -> Path:
    """The state directory: the setting, else the user's data directory (XDG's rule)."""
    if server.state_dir is not None:
        return server.state_dir
    data = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "glm-serve"


class ResponsesSettings(_Section):
    """The Responses API's server-side state."""

    responses_store_size: int = Field(
        256, description="responses kept for previous_response_id (store: true), the oldest dropped first"
    )
    responses_store_ttl: float = Field(3600.0, description="seconds a stored response is kept")
    responses_secret: SecretStr | None = Field(
        None,
        description="key that signs reasoning and compaction items' encrypted_content (default: one drawn "
        "once and kept in the state directory; give replicas on other hosts the same)",
    )


class Settings(BaseModel):
    """Everything a glm-serve deployment chooses, in sections. Built from flat names
    (`Settings(port=9000, max_model_len=8192)`, as flags, variables and YAML keys name them) or sections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: ServerSettings = ServerSettings()
    engine: EngineSettings = EngineSettings()
    remote: RemoteSettings = RemoteSettings()
    limits: LimitsSettings = LimitsSettings()
    responses: ResponsesSettings = ResponsesSettings()

    @model_validator(mode="before")
    @classmethod
    def _sections_from_flat_names(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        sections: dict[str, Any] = {}
        for name, value in data.items():
            if name in SECTIONS:
                sections.setdefault(name, {}).update(_as_dict(value))
            elif (section := SECTION_OF.get(name)) is not None:
                sections.setdefault(section, {})[name] = value
            else:
                raise ValueError(f"unknown setting {name!r}")
        return sections


def _as_dict(value: Any) -> dict[str, Any]:
    return value.model_dump() if isinstance(value, BaseModel) else dict(value)


SECTIONS: dict[str, type[_Section]] = {
    name: typing.cast(type[_Section], field.annotation) for name, field in Settings.model_fields.items()
}
# Each flat name belongs to one section; the sections' fields are the only names there are.
SECTION_OF: dict[str, str] = {
    name: section for section, model in SECTIONS.items() for name in model.model_fields
}


def fields() -> Iterator[tuple[str, FieldInfo]]:
    """Every setting's flat name and field, section by section."""
    for model in SECTIONS.values():
        yield from model.model_fields.items()


# -- loading: YAML, environment, flags --------------------------------------------------------------


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from flags (a mapping of flat name → value), the environment and the YAML file they name."""
    env = os.environ if environ is None else environ
    flags = dict(flags or {})
    from_env = _environment(env)
    config = flags.get("config") or from_env.get("config")
    model = flags.get("model") or from_env.get("model")
    values: dict[str, Any] = {}
    preset = presets.path(str(model)) if model else None
    if config is not None or preset is not None:
        values = _read_yaml(_config_file(str(config)) if config is not None else preset)  # type: ignore[arg-type]
        if config is None and (problems := presets.problems(str(model), values)):
            raise SettingsError("; ".join(problems))
        if preset is not None:
            # The preset supplies the weights path; its name becomes the served name by default.
            values.setdefault("served_model_name", str(model))
            flags.pop("model", None)
            from_env.pop("model", None)
    if model is None and "model" in values and (named := presets.path(str(values["model"]))):
        values = {**_read_yaml(named), **values}
    try:
        return Settings(**{**values, **from_env, **flags})
    except ValidationError as exc:
        raise SettingsError(str(exc)) from exc


def _config_file(config: str) -> Path | Traversable:
    """--config: a YAML file, or the name of a bundled preset (an installed wheel has no configs/ to
    point at: `--config glm-4.7-fp8 --model /weights` is that preset with the weights elsewhere)."""
    path = Path(config)
    return path if path.exists() else presets.path(config) or path


def _environment(env: Mapping[str, str]) -> dict[str, Any]:
    """GLM_SERVE_<NAME> variables (any case) under their flat names; JSON objects decoded."""
    upper = {key.upper(): value for key, value in env.items() if key.upper().startswith(ENV_PREFIX)}
    found: dict[str, Any] = {}
    for name, field in fields():
        value = upper.get(ENV_PREFIX + name.upper())
        if value is None:
            continue
        if typing.get_origin(_strip_optional(field.annotation)) is dict:
            try:
                found[name] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} is not JSON: {exc}") from exc
        else:
            found[name] = value
    return found


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
    unknown = set(data) - set(SECTION_OF)
    if unknown:
        raise SettingsError(f"{path}: unknown settings {sorted(unknown)}")
    return data


# -- flags generated from the fields -------------------------------------------------------------


# --help's groups: the sections, with the engine's section split into what is served and how.
_MODEL_FIELDS = frozenset(
    {"model", "served_model_name", "demo", "offline", "output_layout", "enable_thinking", "strict_tools"}
)
_GROUP_TITLES = {
    "server": "server",
    "model": "model",
    "engine": "engine (local vLLM)",
    "remote": "hosted API and upstream",
    "limits": "limits",
    "responses": "Responses API",
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting, grouped for --help; unset flags stay absent so lower sources show through."""
    groups = {key: parser.add_argument_group(title) for key, title in _GROUP_TITLES.items()}
    for section, model in SECTIONS.items():
        for name, field in model.model_fields.items():
            group = groups["model" if name in _MODEL_FIELDS else section]
            flag = "--" + name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": _help(field)}
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
            group.add_argument(flag, **kwargs)


def _help(field: FieldInfo) -> str:
    """The field's description, with its default where it has a plain one (argparse cannot show it: the
    flags' own default is "absent", so that the environment and YAML show through)."""
    text = (field.description or "").replace("%", "%%")
    default = field.get_default(call_default_factory=True)
    if default is None or default == {} or "(default" in text or isinstance(default, SecretStr):
        return text
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    return f"{text} (default: {shown})"


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
