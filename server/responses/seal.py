"""Seal: a reasoning item's text as `encrypted_content` that only this server can read back as true.

GLM keeps earlier turns' thinking (interleaved thinking), but a stateless client such as Codex sends back
only the opaque `encrypted_content` of its reasoning items. The text travels in it, compressed, with an
HMAC under a server secret: an item whose signature does not verify was made or changed elsewhere and is
dropped, so no client can put words into the model's past reasoning this way. The text is not hidden
(it is also streamed to the client as reasoning_text); only its integrity is protected. Replicas behind
one load balancer share a secret (`--responses-secret`); otherwise the secret is drawn once and kept in
the state directory (`--state-dir`), so that a session resumed after a restart keeps its reasoning. Where
that directory cannot be written, each process draws its own, and a restart makes earlier items
unreadable (their shown text is used instead).

A compaction item (/v1/responses/compact) carries the summary of a conversation the same way, under a
signature of its own kind, so that neither kind of blob passes for the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import zlib
from pathlib import Path
from typing import Literal

log = logging.getLogger("glm_serve.responses")
Kind = Literal["reasoning", "compaction"]
# Each kind's prefix, and the context its signatures are made in (apart from any other use of the key).
_PREFIX: dict[Kind, str] = {"reasoning": "glm1.", "compaction": "glmc1."}
_CONTEXT: dict[Kind, bytes] = {
    "reasoning": b"glm-serve reasoning v1\n",
    "compaction": b"glm-serve compaction v1\n",
}


KEY_FILE = "responses.key"


def kept_secret(state_dir: Path) -> bytes | None:
    """The secret kept in `state_dir`, drawn and written (mode 0600) the first time; None where the
    directory cannot be written or read (a read-only deployment)."""
    path = state_dir / KEY_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = bytes.fromhex(path.read_text().strip())
        else:
            secret = secrets.token_bytes(32)
            with os.fdopen(fd, "w") as f:
                f.write(secret.hex())
    except (OSError, ValueError) as exc:
        log.warning(
            "cannot keep the Responses signing key in %s (%s): drawing one for this process", path, exc
        )
        return None
    return secret if len(secret) >= 16 else None


class Seal:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the reasoning secret must be at least 16 bytes")
        self._key = secret

    def seal(self, text: str, kind: Kind = "reasoning") -> str:
        payload = base64.urlsafe_b64encode(zlib.compress(text.encode(), 6)).decode()
        return f"{_PREFIX[kind]}{payload}.{self._sign(payload, kind)}"

    def open(self, token: str, kind: Kind = "reasoning") -> str | None:
        """The sealed text, or None when `token` was not sealed by this key as `kind` (or is damaged)."""
        if not token.startswith(_PREFIX[kind]):
            return None
        payload, _, signature = token[len(_PREFIX[kind]) :].rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload, kind)):
            return None
        try:
            return zlib.decompress(base64.urlsafe_b64decode(payload), bufsize=1 << 16).decode()
        except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
            return None

    def _sign(self, payload: str, kind: Kind) -> str:
        digest = hmac.new(self._key, _CONTEXT[kind] + payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
