"""The official Python SDK client (`mcp` 2.x) in the stateless 2026-07-28 revision, for the
modern-peers tests (tests/tests/modern_peers.rs): it connects with `mode="auto"` (a
`server/discover` probe; an answer naming 2026-07-28 selects the new revision, anything else falls
back to `initialize`, which the `connect` check then reports as a failure), lists tools and calls
them, answering any InputRequiredResult's elicitation through its elicitation callback and
retrying with `inputResponses`. The mirror of tests/js/modern-client.mjs (same plan, same checks).

Usage: python modern_client.py <MCP URL> '<plan JSON>'   (the venv in target/py; a bearer token
in ONEMCP_TOKEN when the daemon wants one). The plan:
  {"label": "py", "tools": [...], "calls": [{"check", "name", "arguments", "expect": [...],
   "elicitations": n}]}
The callback accepts every form, filling each string field with "<label>-<field>" (booleans
true, numbers 7). Prints one JSON line last: {"sdk":"python-modern","checks":[{client,check,ok,detail}]}.
Exits 0 when the script ran to the end, whatever the checks say; the Rust test judges.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
from mcp import types
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

STEP_S = 20.0
"""Upper bound for any one round trip (a bridged elicitation included)."""

MODERN = "2026-07-28"

CHECKS: list[dict[str, Any]] = []
LABEL = "py"


def check(name: str, ok: bool, detail: str = "") -> None:
    CHECKS.append({"client": LABEL, "check": name, "ok": bool(ok), "detail": str(detail)})
    print(f"{'PASS' if ok else 'FAIL'} {LABEL} {name}: {detail}", file=sys.stderr, flush=True)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") or "" for block in result.content)


ELICITED: list[dict[str, Any]] = []
"""Every elicitation the callback answered: its message and the fields it filled."""


async def on_elicitation(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    wire = params.model_dump(mode="json", by_alias=True)
    properties = (wire.get("requestedSchema") or {}).get("properties") or {}
    content: dict[str, Any] = {}
    for field, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        content[field] = True if kind == "boolean" else 7 if kind in ("number", "integer") else f"{LABEL}-{field}"
    ELICITED.append({"message": wire.get("message"), "fields": list(content)})
    return types.ElicitResult(action="accept", content=content)


WIRE: list[dict[str, Any]] = []
"""What went over the wire: method, protocol header and session header of every POST."""


async def record(request: httpx2.Request) -> None:
    if request.method != "POST":
        return
    try:
        method = json.loads(request.content or b"{}").get("method", "(response)")
    except ValueError:
        method = "?"
    WIRE.append(
        {
            "method": method,
            "version": request.headers.get("mcp-protocol-version"),
            "session": request.headers.get("mcp-session-id"),
        }
    )


async def main(url: str, plan: dict[str, Any]) -> None:
    async with AsyncExitStack() as stack:
        token = os.environ.get("ONEMCP_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        http_client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        http_client.event_hooks["request"].append(record)
        transport = streamable_http_client(url, http_client=http_client)
        client = Client(
            transport,
            mode="auto",
            elicitation_callback=on_elicitation,
            client_info=types.Implementation(name=f"onemcp-{LABEL}", version="1.0.0"),
            cache=None,
            # Bounds every round trip, the connect-time probe included (a fail_after scope cannot
            # span entering the client: its task group would leave the scope it was opened in).
            read_timeout_seconds=STEP_S,
        )
        try:
            await stack.enter_async_context(client)
        except Exception as e:  # the report says why; the Rust test judges
            check("connect", False, f"{type(e).__name__}: {e}")
            return
        discovered = client.session.discover_result is not None
        check(
            "connect",
            client.protocol_version == MODERN and discovered,
            f"version={client.protocol_version} via {'server/discover' if discovered else 'initialize'}",
        )

        try:
            with anyio.fail_after(STEP_S):
                listed = await client.list_tools()
            names = {tool.name for tool in listed.tools}
            missing = [name for name in plan.get("tools", []) if name not in names]
            detail = f"missing {missing} in {sorted(names)}" if missing else f"{len(names)} tools, all wanted"
            check("tools-listed", not missing, detail)
        except Exception as e:
            check("tools-listed", False, f"{type(e).__name__}: {e}")

        for call in plan.get("calls", []):
            before = len(ELICITED)
            wanted = call.get("elicitations", 0)
            try:
                with anyio.fail_after(STEP_S):
                    result = await client.call_tool(call["name"], call.get("arguments", {}))
                text = text_of(result)
                missing = [s for s in call.get("expect", []) if s not in text]
                asked = len(ELICITED) - before
                ok = not result.is_error and not missing and asked == wanted
                error = " (isError)" if result.is_error else ""
                detail = f"elicitations answered={asked}/{wanted}; missing {missing}; result{error}: {text}"
                check(call["check"], ok, detail)
            except Exception as e:
                check(call["check"], False, f"elicitations answered={len(ELICITED) - before}; {type(e).__name__}: {e}")

        posts = [w for w in WIRE if w["method"] != "(response)"]
        legacyish = [w for w in posts if w["method"] == "initialize" or w["session"] or w["version"] != MODERN]
        methods = sorted({w["method"] for w in posts})
        check("wire-stateless", bool(posts) and not legacyish, f"{len(posts)} requests {methods}; not stateless: {legacyish}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python modern_client.py <MCP URL> '<plan JSON>'", file=sys.stderr)
        sys.exit(64)
    PLAN = json.loads(sys.argv[2])
    LABEL = PLAN.get("label", LABEL)
    try:
        anyio.run(main, sys.argv[1], PLAN)
    except BaseException as e:  # noqa: BLE001 -- the report must still be printed
        check("script", False, f"crashed: {type(e).__name__}: {e}")
    print(json.dumps({"sdk": "python-modern", "checks": CHECKS}))
    sys.exit(0)
