"""Reading a chat template: each release's layout, thinking and images, and a clear refusal of the rest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.backends.local.prompt import PromptRenderer, profile
from server.backends.local.template import UnknownTemplate, read_profile
from server.core.errors import InvalidRequest
from server.core.request import ChatRequest, ImagePart, Message, Thinking
from tests.conftest import ROOT, tiny_model_dir

from .test_prompt import GLM45, GLM47, needs_reference

ASSETS = ROOT / "server" / "backends" / "local" / "assets"
GLM53 = ASSETS / "tiny_glm53_template.jinja"
GLM45V = ASSETS / "tiny_glm45v_template.jinja"
# Templates of other families, as their weights ship them (abridged to what decides the matter).
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GLM4_0414 = (  # GLM-4-0414 writes its calls as a name and JSON arguments, no <arg_key>
    "[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function.name }}\n{{ c.function.arguments | tojson }}"
    "</tool_call>{% endfor %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _tokenizer(template: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir())
    tok.chat_template = template
    return tok


@needs_reference
def test_the_official_templates_read_as_their_generation() -> None:
    glm45 = profile(_tokenizer(GLM45.read_text()))
    glm47 = profile(_tokenizer(GLM47.read_text()))
    assert (glm45.layout, glm45.thinking, glm45.images) == ("glm45", "optional", False)
    assert (glm47.layout, glm47.thinking, glm47.images) == ("glm47", "opened", False)


def test_glm53_thinks_always_and_glm45v_takes_images() -> None:
    glm53 = profile(_tokenizer(GLM53.read_text()))
    assert (glm53.layout, glm53.thinking) == ("glm47", "always")
    assert "thinking always on" in glm53.describe()
    glm45v = profile(_tokenizer(GLM45V.read_text()))
    assert (glm45v.layout, glm45v.thinking, glm45v.images) == ("glm45", "optional", True)


def test_glm53_reasons_even_when_asked_not_to() -> None:
    """Its template has no switch: the prompt opens <think> anyway, so the output parses as reasoning
    (else the reasoning would leak into the answer), and reasoning_effort reaches the template."""
    renderer = PromptRenderer(_tokenizer(GLM53.read_text()))
    off = ChatRequest(model="m", messages=(Message("user", "hi"),), thinking=Thinking(enabled=False))
    assert renderer.render(off).starts_in_reasoning
    low = ChatRequest(model="m", messages=(Message("user", "hi"),), thinking=Thinking(effort="low"))
    assert "Reasoning Effort: Low" in renderer.render_text(low)
    assert "Reasoning Effort: Max" in renderer.render_text(off)


@pytest.mark.parametrize(
    ("template", "named"),
    [
        (CHATML, "no [gMASK]<sop>, <tool_call>, <arg_key>, <arg_value>"),
        (GLM4_0414, "tool calls as <tool_call> with JSON arguments"),
    ],
)
def test_an_unknown_template_is_refused_naming_what_it_saw(template: str, named: str) -> None:
    with pytest.raises(UnknownTemplate) as info:
        profile(_tokenizer(template))
    message = str(info.value)
    assert named in message
    assert "its generation prompt ends" in message and "--output-layout" in message
    assert read_profile(GLM53.read_text(), "<|assistant|><think>").layout == "glm47"


def test_the_server_refuses_an_unknown_template_at_start(tmp_path: Path) -> None:
    """Before any engine loads: the CLI says what it saw in one line and exits 2."""
    weights = tmp_path / "not-glm"
    shutil.copytree(tiny_model_dir(), weights)
    _tokenizer(CHATML).save_pretrained(weights)
    run = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--model", str(weights), "--backend", "local"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("glm-serve: ") and "not a GLM-4.5+ template" in last and "<arg_key>" in last


def test_images_render_where_the_v_template_places_them() -> None:
    renderer = PromptRenderer(_tokenizer(GLM45V.read_text()), images=True)
    first, second = ImagePart("data:image/png;base64,AAAA"), ImagePart("https://example.com/b.png")
    req = ChatRequest(
        model="m",
        messages=(
            Message("user", ("what is this?", first)),
            Message("assistant", "A square."),
            Message("user", (second, "and this?")),
        ),
    )
    prompt = renderer.render(req)
    box = "<|begin_of_image|><|image|><|end_of_image|>"
    assert prompt.text.count(box) == 2
    assert prompt.text.index("what is this?") < prompt.text.index(box) < prompt.text.index("A square.")
    assert prompt.images == (first, second)  # in the order vLLM must receive them
    text_only = PromptRenderer(_tokenizer(GLM45V.read_text()))
    with pytest.raises(InvalidRequest, match="reads text only"):
        text_only.render(req)


def test_thinking_off_on_glm53_is_its_lowest_effort_and_says_so() -> None:
    """What the local backend does before rendering: GLM-5.3's template cannot turn thinking off, so off
    is its lowest effort (not the template's default Max), and a level it lacks is the nearest below."""
    from types import SimpleNamespace

    from server.backends.local.engine import _fitted

    tok = _tokenizer(GLM53.read_text())
    engine: Any = SimpleNamespace(template=profile(tok))
    assert engine.template.efforts == ("low", "high", "max")
    renderer = PromptRenderer(tok)
    for thinking, level, said in [
        (Thinking(enabled=False), "Low", "thinking off became its lowest effort, low"),
        (Thinking(effort="medium"), "Low", "reasoning effort medium became low"),
        (Thinking(effort="xhigh"), "High", "reasoning effort xhigh became high"),
        (Thinking(effort="high"), "High", None),
        (Thinking(), "Max", None),
    ]:
        req, note = _fitted(
            engine, ChatRequest(model="m", messages=(Message("user", "hi"),), thinking=thinking)
        )
        assert f"Reasoning Effort: {level}" in renderer.render_text(req)
        assert note is None if said is None else (note is not None and said in note)
