"""Targets: the servers a bench run compares, given as NAME=URL, and the check that each one answers.

    --target local=http://127.0.0.1:8000          glm-serve (or vLLM, SGLang…): /v1 is added when missing
    --target hosted=zai                           the Z.ai API (key from ZAI_API_KEY or BIGMODEL_API_KEY)
    --target cn=bigmodel                          the BigModel API (key from BIGMODEL_API_KEY or ZAI_API_KEY)
    --target mock=http://127.0.0.1:8400/api/paas/v4   any OpenAI-compatible base URL, e.g. mock-hosted

A key comes from the environment, never a flag: `--key-env NAME=VAR` names the variable for a target;
the default is GLM_SERVE_API_KEY for URLs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import aiohttp

# The header glm-serve's offline stand-in answers /models with (a wire contract: the bench shares no code
# with the servers it measures).
STANDIN_HEADER = "x-glm-serve-standin-tool-error-rate"

HOSTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "zai": ("https://api.z.ai/api/paas/v4", ("ZAI_API_KEY", "BIGMODEL_API_KEY")),
    "bigmodel": ("https://open.bigmodel.cn/api/paas/v4", ("BIGMODEL_API_KEY", "ZAI_API_KEY")),
}
HOSTED_MODEL = "glm-4.7"


class BenchError(Exception):
    """Something that stops a bench run before it starts; its message is the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base_url: str  # up to and including the API version, e.g. http://127.0.0.1:8000/v1
    api_key: str | None
    hosted: bool  # the BigModel / Z.ai API: billed per token, no vLLM metrics
    model: str = ""  # filled in by probe() unless given
    # glm-serve's offline stand-in says so on /models, with the share of tool answers it gets wrong
    # on purpose (None: a real server).
    standin_error_rate: float | None = None

    @property
    def origin(self) -> str:
        url = urlsplit(self.base_url)
        return f"{url.scheme}://{url.netloc}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def parse_targets(
    specs: Sequence[str], key_envs: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> list[Target]:
    """Targets from NAME=URL specs; the default is the local server, and the hosted API when a key is set."""
    env = os.environ if environ is None else environ
    if not specs:
        specs = ["local=http://127.0.0.1:8000"]
        if env.get("ZAI_API_KEY") or env.get("BIGMODEL_API_KEY"):
            specs.append("hosted=zai" if env.get("ZAI_API_KEY") else "hosted=bigmodel")
    targets: list[Target] = []
    for spec in specs:
        name, sep, where = spec.partition("=")
        if not sep or not name or not where:
            raise BenchError(f"--target {spec!r}: expected NAME=URL, NAME=zai or NAME=bigmodel")
        if name in {t.name for t in targets}:
            raise BenchError(f"--target {name!r} is given twice")
        if where in HOSTED:
            url, defaults = HOSTED[where]
            variables: tuple[str, ...] = (key_envs[name],) if name in key_envs else defaults
            key = next((env[v] for v in variables if env.get(v)), None)
            if key is None:
                raise BenchError(f"target {name} ({where}): set {' or '.join(variables)} to its API key")
            targets.append(Target(name, url, key, hosted=True, model=HOSTED_MODEL))
            continue
        parts = urlsplit(where)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BenchError(f"target {name}: {where!r} is not an http(s) URL, nor zai or bigmodel")
        base = where.rstrip("/")
        if not parts.path.strip("/"):
            base += "/v1"
        key = env.get(key_envs.get(name, "GLM_SERVE_API_KEY"))
        targets.append(Target(name, base, key, hosted=False))
    return targets


async def probe(session: aiohttp.ClientSession, target: Target) -> Target:
    """Check that `target` answers as an OpenAI-compatible server; pick its model if none was given.

    Raises BenchError with one line: refused, a rejected key, or something that is not that API."""
    where = f"target {target.name} ({target.base_url})"
    try:
        async with session.get(target.base_url + "/models", headers=target.headers()) as r:
            status = r.status
            body = await r.read()
            standin = r.headers.get(STANDIN_HEADER)
    except aiohttp.ClientConnectorError as exc:
        raise BenchError(f"{where}: cannot connect ({exc.os_error or exc}); is the server running?") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BenchError(f"{where}: no answer ({type(exc).__name__})") from exc
    if status in (401, 403):
        raise BenchError(
            f"{where}: the API key was rejected (HTTP {status}); check the key's environment variable"
        )
    try:
        models = [m["id"] for m in json.loads(body)["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(
            f"{where}: GET /models answered HTTP {status} without an OpenAI model list; "
            "is this an OpenAI-compatible base URL?"
        ) from exc
    rate = float(standin) if standin else None
    if not target.model and not models:
        raise BenchError(f"{where}: serves no model")
    return replace(target, model=target.model or models[0], standin_error_rate=rate)
