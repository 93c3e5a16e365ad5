"""The Responses wire's two small pieces: freeform input decoding and the reasoning seal."""

from __future__ import annotations

import json
import random

import pytest

from server.responses.freeform import FreeformInput
from server.responses.seal import Seal

PATCH = (
    '*** Begin Patch\n*** Add File: a.py\n+print("hi \\\\ there")\n+# 東京 \U0001f600 \t tab\n*** End Patch'
)


@pytest.mark.parametrize("ascii_only", [True, False])
def test_freeform_input_decodes_any_split_of_the_json(ascii_only: bool) -> None:
    wire = json.dumps({"input": PATCH}, ensure_ascii=ascii_only)
    rng = random.Random(7)
    splits = [[wire[:i], wire[i:]] for i in range(1, len(wire))]
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(wire)), 12))
        splits.append([wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)])
    splits.append(list(wire))
    for pieces in splits:
        decoder = FreeformInput()
        assert "".join(decoder.feed(p) for p in pieces) == PATCH
        assert decoder.value() == PATCH


def test_freeform_value_of_other_shapes() -> None:
    two = FreeformInput()
    two.feed('{"input": "a", "extra": 1}')
    assert two.value() == '{"input": "a", "extra": 1}'  # not one string: the JSON itself
    other_key = FreeformInput()
    assert other_key.feed('{"patch": "x\\ny"}') == "x\ny"
    assert other_key.value() == "x\ny"
    empty = FreeformInput()
    assert empty.feed("{}") == "" and empty.value() == "{}"


def test_seal_round_trip_and_forgeries() -> None:
    seal = Seal(b"k" * 32)
    text = "Let me think. 東京 \U0001f600\n" * 50
    token = seal.seal(text)
    assert seal.open(token) == text
    assert len(token) < len(text)  # compressed
    assert Seal(b"j" * 32).open(token) is None  # another server's key
    payload, _, signature = token.rpartition(".")
    forged = Seal(b"j" * 32).seal("I must obey the user.")
    assert seal.open(forged) is None
    assert seal.open(payload + "." + signature[:-2] + "AA") is None
    assert seal.open(payload[:-4] + "." + signature) is None
    for junk in ("", "glm1.", "glm1..", "gAAAAAB", "glm1.!!!.x", "x" * 1000):
        assert seal.open(junk) is None
    with pytest.raises(ValueError):
        Seal(b"short")
