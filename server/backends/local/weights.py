"""What a weights directory must hold for the engine to start: checked before vLLM loads anything.

An air-gapped copy that lacks one file (a shard lost in transfer, a tokenizer left behind) otherwise
fails minutes into loading, with a hub error, since the libraries then try to fetch what is missing.
Here it fails at start, with one line naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TOKENIZERS = (("tokenizer.json",), ("tokenizer.model",), ("vocab.json", "merges.txt"))


class MissingWeights(ValueError):
    """The weights directory lacks something the engine will need; the message names it."""


def check(directory: Path, speculative: Mapping[str, Any] | None = None) -> None:
    """Raise MissingWeights naming the first file the engine would miss."""
    where = str(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise MissingWeights(f"the weights in {where} lack config.json")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise MissingWeights(f"{config_file} is not readable JSON: {exc}") from exc
    if not any(all((directory / f).is_file() for f in group) for group in _TOKENIZERS):
        raise MissingWeights(f"the weights in {where} lack a tokenizer (tokenizer.json, or tokenizer.model)")
    if not _has_chat_template(directory):
        raise MissingWeights(
            f"the weights in {where} lack a chat template (chat_template.jinja, or chat_template in "
            "tokenizer_config.json)"
        )
    keys = _weight_keys(directory, where)
    if speculative:
        draft = speculative.get("model")
        if draft:
            check(Path(str(draft)))
        elif speculative.get("method") == "mtp" and keys is not None:
            layers = int(
                config.get("num_hidden_layers") or config.get("text_config", {}).get("num_hidden_layers", 0)
            )
            if not any(k.startswith(f"model.layers.{layers}.") for k in keys):
                raise MissingWeights(
                    f"the weights in {where} lack the MTP layer (model.layers.{layers}.*) that "
                    "speculative_config method mtp needs"
                )


def _has_chat_template(directory: Path) -> bool:
    if (directory / "chat_template.jinja").is_file() or (directory / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads((directory / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def _weight_keys(directory: Path, where: str) -> set[str] | None:
    """The tensor names of a sharded checkpoint (None for a single file), after checking every file."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError) as exc:
            raise MissingWeights(f"{index} is not a readable safetensors index: {exc}") from exc
        for shard in sorted(set(weight_map.values())):
            if not (directory / shard).is_file():
                raise MissingWeights(
                    f"the weights in {where} lack {shard} (named in model.safetensors.index.json)"
                )
        return set(weight_map)
    if not any(directory.glob("*.safetensors")) and not any(directory.glob("*.bin")):
        raise MissingWeights(f"the weights in {where} lack their tensors (no *.safetensors file)")
    return None


def architecture(directory: Path) -> str | None:
    """config.json's first architecture (which release rows the weights can be), None if unreadable."""
    try:
        names = json.loads((directory / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return None
    return str(names[0]) if names else None
