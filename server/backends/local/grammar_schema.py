"""JSON schemas as the grammar engine (xgrammar 0.2.8) must get them to produce valid JSON.

Its rule for a length-limited string (`maxLength`/`minLength`) lets raw control characters through,
which is not JSON: a random model wrote one in a third of its answers. The only length limit it keeps
valid is a `pattern`, so such strings become one — at the price that a length-limited string cannot
hold a quote, a backslash or a control character (its patterns never produce escapes), nor `<`: the
engine's substring exclusions skip patterned strings, and GLM's tags, which the parser acts on, all
begin with it.
"""

from __future__ import annotations

from typing import Any

# Schema keywords whose values are schemas, or lists or maps of them.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties")


def for_grammar(schema: Any) -> Any:
    """`schema` with every length-limited plain string turned into an equivalent pattern."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _ONE:
        if key in out:
            out[key] = for_grammar(out[key])
    for key in _MANY:
        if isinstance(out.get(key), list):
            out[key] = [for_grammar(s) for s in out[key]]
    for key in _MAP:
        if isinstance(out.get(key), dict):
            out[key] = {k: for_grammar(s) for k, s in out[key].items()}
    limited = "maxLength" in out or "minLength" in out
    if out.get("type") == "string" and limited and "pattern" not in out and "format" not in out:
        low = int(out.pop("minLength", 0))
        high = out.pop("maxLength", None)
        more = f"{_CHAR}*" if high is None else _at_most(_CHAR, int(high) - low)
        out["pattern"] = f"^{_exactly(_CHAR, low)}{more}$"
    return out


# Surrogates are excluded too: xgrammar takes their UTF-8 form as characters, decoders make three U+FFFD.
_CHAR = r'[^"\\<\x00-\x1f\uD800-\uDFFF]'
# xgrammar refuses a repetition count much above 128, so longer runs nest repetitions of 100.
_STEP = 100


def _exactly(unit: str, n: int) -> str:
    if n <= _STEP:
        return f"(?:{unit}){{{n}}}" if n else ""
    return _exactly(f"(?:{unit}){{{_STEP}}}", n // _STEP) + f"(?:{unit}){{{n % _STEP}}}"


def _at_most(unit: str, n: int) -> str:
    if n <= _STEP:
        return f"(?:{unit}){{0,{n}}}"
    blocks, rest = divmod(n, _STEP)
    block = f"(?:{unit}){{{_STEP}}}"
    # Fewer than `blocks` whole blocks and up to a block less one, or all of them and up to `rest`.
    fewer = f"{_at_most(block, blocks - 1)}(?:{unit}){{0,{_STEP - 1}}}"
    return f"(?:{fewer}|{_exactly(block, blocks)}(?:{unit}){{0,{rest}}})"
