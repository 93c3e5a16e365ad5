"""Images in, on every wire: each becomes one core image part for a vision model, reaches the hosted
vision models as content parts, and is a clear 400 in the wire's own shape on a text-only model."""

from __future__ import annotations

import base64
import io
from typing import Any

import anthropic
import openai
import pytest
from fastapi import FastAPI
from PIL import Image

from server.app import create_app
from server.backends.remote.hosted import HostedBackend
from server.core.request import ChatRequest, ImagePart, Message
from server.settings import Settings
from tests.conftest import STANDIN_KEY, live_server
from tests.fake_server import fake_server

PIXEL = io.BytesIO()
Image.new("RGB", (2, 2), "green").save(PIXEL, format="PNG")
B64 = base64.b64encode(PIXEL.getvalue()).decode()
DATA_URL = f"data:image/png;base64,{B64}"
URL = "https://example.com/cat.png"
BLOCK = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}}


def _images(req: ChatRequest | Any) -> list[list[str | ImagePart]]:
    """Each message's content as a list (text and image parts), as the backend was given it."""
    return [[m.content] if isinstance(m.content, str) else list(m.content) for m in req.messages]


def test_openai_image_url_parts() -> None:
    with fake_server(vision=True) as (base, fake), openai.OpenAI(base_url=base + "/v1", api_key="x") as c:
        c.chat.completions.create(
            model="glm-test",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "high"}},
                        {"type": "image_url", "image_url": {"url": URL}},
                    ],
                }
            ],
        )
    assert _images(fake.requests[-1]) == [["Compare", ImagePart(DATA_URL), ImagePart(URL)]]


def test_anthropic_image_blocks_and_a_tool_result_image() -> None:
    """Base64 and url sources; a screenshot a tool returned follows the observations in a user turn."""
    with fake_server(vision=True) as (base, fake), anthropic.Anthropic(base_url=base, api_key="x") as c:
        c.messages.create(
            model="glm-test",
            max_tokens=16,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": B64},
                        },
                        {"type": "image", "source": {"type": "url", "url": URL}},
                        {"type": "text", "text": "What changed?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "screenshot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {"type": "text", "text": "captured"},
                                BLOCK,
                            ],
                        }
                    ],
                },
            ],
            tools=[{"name": "screenshot", "input_schema": {"type": "object", "properties": {}}}],
        )
        req = fake.requests[-1]
        assert _images(req)[0] == [ImagePart(DATA_URL), ImagePart(URL), "What changed?"]
        assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]
        assert req.messages[2].content == "captured" and _images(req)[3] == [ImagePart(DATA_URL)]
        with pytest.raises(anthropic.BadRequestError) as bad:
            c.messages.create(
                model="glm-test",
                max_tokens=16,
                messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}],
            )
        assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert "{type: base64, media_type, data}" in bad.value.message


def test_responses_input_image() -> None:
    with fake_server(vision=True) as (base, fake), openai.OpenAI(base_url=base + "/v1", api_key="x") as c:
        c.responses.create(
            model="glm-test",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Describe"},
                        {"type": "input_image", "image_url": DATA_URL, "detail": "auto"},
                    ],
                }
            ],
        )
        assert _images(fake.requests[-1]) == [["Describe", ImagePart(DATA_URL)]]
        with pytest.raises(openai.BadRequestError, match="file_id is not supported"):
            c.responses.create(
                model="glm-test",
                input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
            )


def test_a_text_only_model_refuses_images_on_every_wire() -> None:
    image_user = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]}]
    with fake_server() as (base, fake):
        with openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c:
            with pytest.raises(openai.BadRequestError, match="reads text only") as chat:
                c.chat.completions.create(model="glm-test", messages=image_user)  # type: ignore[arg-type]
            assert chat.value.body["type"] == "invalid_request_error"  # type: ignore[index]
            with pytest.raises(openai.BadRequestError, match="reads text only"):
                c.responses.create(
                    model="glm-test",
                    input=[{"role": "user", "content": [{"type": "input_image", "image_url": DATA_URL}]}],
                )
        with (
            anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as a,
            pytest.raises(anthropic.BadRequestError, match="reads text only"),
        ):
            a.messages.create(
                model="glm-test",
                max_tokens=8,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": B64},
                            }
                        ],
                    }
                ],
            )
        assert fake.opened == 0  # refused before anything was generated


KEY = STANDIN_KEY  # the `standin` fixture's (tests/conftest.py)


def test_hosted_vision_models_get_content_parts_and_text_models_refuse(
    standin: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, app = standin
    monkeypatch.setenv("BIGMODEL_API_KEY", KEY)
    settings = Settings(backend="hosted", hosted_base_url=base_url)
    with (
        live_server(create_app(settings, HostedBackend(settings.remote))) as base,
        openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c,
    ):
        content = [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": DATA_URL}},
        ]
        answer = c.chat.completions.create(
            model="GLM-4.6V-FP8",  # a local name, mapped to the hosted id as for text
            messages=[{"role": "user", "content": content}],  # type: ignore[misc]
        )
        assert answer.choices[0].message.content == "I see 1 image."
        sent = app.state.requests[-1]
        assert sent["model"] == "glm-4.6v"
        assert sent["messages"][0]["content"] == [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": DATA_URL}},
        ]
        received = len(app.state.requests)
        with pytest.raises(openai.BadRequestError, match=r"glm-4\.7 reads text only") as refused:
            user = {"role": "user", "content": content}
            c.chat.completions.create(model="glm-4.7", messages=[user])  # type: ignore[list-item]
        assert "glm-4.6v" in refused.value.message
        assert len(app.state.requests) == received  # refused here, not by the hosted API


def test_hosted_token_estimate_counts_an_image_not_its_bytes() -> None:
    from server.backends.remote.hosted_api import IMAGE_TOKENS, estimate_tokens

    text = ChatRequest(model="m", messages=(Message("user", "hi"),))
    big = ImagePart("data:image/png;base64," + "A" * 3_000_000)
    image = ChatRequest(model="m", messages=(Message("user", ("hi", big)),))
    assert estimate_tokens(image) == estimate_tokens(text) + IMAGE_TOKENS
