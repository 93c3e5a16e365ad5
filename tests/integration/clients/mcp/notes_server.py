"""A minimal MCP server over stdio (JSON-RPC 2.0, one message a line) with one tool, for Codex to load."""

from __future__ import annotations

import json
import sys

TOOL = {
    "name": "lookup_note",
    "description": "Look up a note by its title.",
    "inputSchema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
}


def answer(request: dict) -> dict | None:
    method = request.get("method")
    if method == "initialize":
        result: dict = {
            "protocolVersion": request["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "notes", "version": "1.0"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call":
        title = request["params"]["arguments"].get("title", "")
        result = {"content": [{"type": "text", "text": f"note {title}: the launch is on Tuesday"}]}
    elif "id" not in request:
        return None  # a notification
    else:
        return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no such method"}}
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


for line in sys.stdin:
    if line.strip():
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
