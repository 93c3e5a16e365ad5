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
        # Surrogates too: xgrammar takes their UTF-8 form as characters; decoders make three U+FFFD of each.
        out["pattern"] = rf'^[^"\\<\x00-\x1f\uD800-\uDFFF]{{{low},{"" if high is None else int(high)}}}$'
    return out
