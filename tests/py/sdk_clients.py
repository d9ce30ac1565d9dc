"""Two official Python SDK clients (A and B), connected at the same time to one 1mcp daemon that
fronts @modelcontextprotocol/server-everything, run the server-to-client round trips: sampling,
elicitation (accept and decline), roots, progress and cancellation. Each client answers with its
own marker ("A-answer" / "B-answer", its own roots, its own progress tokens) and checks it sees
only its own traffic. Sampling and elicitation run one at a time (attributable: they must arrive)
and then both at once (may be refused, never crossed). The mirror of tests/js/sdk-clients.mjs.

Usage: python sdk_clients.py <daemon MCP URL>   (the venv in target/py), or `--direct NODE
EVERYTHING_JS` to give each client its own server-everything over stdio (the baseline without a
proxy). Prints one JSON line last: {"sdk":"python","checks":[{"client","check","ok","detail"}]}.
Exits 0 when the script ran to the end, whatever the checks say; the Rust test judges.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

STEP_S = 20.0
"""Upper bound for any one round trip."""
CANCEL_GRACE_S = 0.4
"""After a cancel, progress for the cancelled token may still be in flight for this long."""

CHECKS: list[dict[str, Any]] = []


def check(client: str, name: str, ok: bool, detail: str = "") -> None:
    CHECKS.append({"client": client, "check": name, "ok": bool(ok), "detail": str(detail)})
    print(f"{'PASS' if ok else 'FAIL'} {client} {name}: {detail}", file=sys.stderr, flush=True)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") or "" for block in result.content)


@dataclass
class Peer:
    label: str
    session: ClientSession | None = None
    sampling_requests: list[str] = field(default_factory=list)
    elicitation_requests: int = 0
    elicitation_plan: list[str] = field(default_factory=list)
    roots_requests: int = 0
    progress: list[tuple[Any, float, float]] = field(default_factory=list)  # (token, progress, at)

    @property
    def other(self) -> str:
        return "B" if self.label == "A" else "A"

    async def on_sampling(self, _context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampling_requests.append(json.dumps(params.model_dump(mode="json", by_alias=True)))
        await anyio.sleep(0.3)  # keep both clients' sampling requests in flight at once
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"{self.label}-answer"),
            model=f"model-{self.label}",
            stop_reason="endTurn",
        )

    async def on_elicitation(self, _context: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitation_requests += 1
        plan = [a for a in self.elicitation_plan if a != "skipped"]
        index = self.elicitation_requests - 1
        action = plan[index] if index < len(plan) else "cancel"
        await anyio.sleep(0.2)
        if action == "accept":
            return types.ElicitResult(action="accept", content={"name": f"name-from-{self.label}"})
        return types.ElicitResult(action=action)

    async def on_roots(self, _context: Any) -> types.ListRootsResult:
        self.roots_requests += 1
        root = types.Root(uri=f"file:///tmp/onemcp-root-{self.label}", name=f"root-{self.label}")
        return types.ListRootsResult(roots=[root])

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ProgressNotification):
            params = message.params
            self.progress.append((params.progress_token, params.progress, time.monotonic()))

    def progress_for(self, token: str) -> list[tuple[Any, float, float]]:
        return [p for p in self.progress if p[0] == token]

    def foreign_progress(self) -> list[Any]:
        return [p[0] for p in self.progress if not str(p[0]).startswith(f"{self.label}-")]


async def connect(stack: AsyncExitStack, peer: Peer, target: list[str]) -> None:
    if target[0] == "--direct":
        params = StdioServerParameters(command=target[1], args=[target[2], "stdio"])
        read, write = await stack.enter_async_context(stdio_client(params, errlog=open(os.devnull, "w")))
    else:
        # With authentication on (1mcp's default) the bearer token comes in ONEMCP_TOKEN.
        token = os.environ.get("ONEMCP_TOKEN")
        http_client = None
        if token:
            headers = {"Authorization": f"Bearer {token}"}
            http_client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        read, write = await stack.enter_async_context(streamable_http_client(target[0], http_client=http_client))
    session = ClientSession(
        read,
        write,
        sampling_callback=peer.on_sampling,
        elicitation_callback=peer.on_elicitation,
        list_roots_callback=peer.on_roots,
        message_handler=peer.on_message,
        client_info=types.Implementation(name=f"onemcp-py-client-{peer.label}", version="1.0.0"),
    )
    peer.session = await stack.enter_async_context(session)
    with anyio.fail_after(STEP_S):
        await peer.session.initialize()


async def call(peer: Peer, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None):
    assert peer.session is not None
    with anyio.fail_after(STEP_S):
        return await peer.session.call_tool(name, arguments, meta=meta)


async def tools_listed(peer: Peer) -> None:
    wanted = ["trigger-sampling-request", "trigger-elicitation-request", "get-roots-list", "trigger-long-running-operation"]
    try:
        assert peer.session is not None
        with anyio.fail_after(STEP_S):
            listed = await peer.session.list_tools()
        names = {tool.name for tool in listed.tools}
        missing = [n for n in wanted if n not in names]
        check(peer.label, "tools-listed", not missing, f"missing: {', '.join(missing)}" if missing else "all four")
    except Exception as e:  # noqa: BLE001 - every failure is a failed check
        check(peer.label, "tools-listed", False, repr(e))


async def sampling(peer: Peer, strict: bool) -> None:
    """`strict`: the only sampling in flight, so the proxy can attribute it and must deliver it.

    Concurrent (not strict): both clients' requests are in flight on the one shared backend, whose
    sampling request carries no hint of its origin; the proxy may refuse, but never cross.
    """
    name = "sampling" if strict else "sampling-concurrent"
    before = len(peer.sampling_requests)
    text, failure = "", ""
    try:
        args = {"prompt": f"prompt-from-{peer.label}", "maxTokens": 5}
        result = await call(peer, "trigger-sampling-request", args)
        text = text_of(result)
        failure = text if result.is_error else ""
    except Exception as e:  # noqa: BLE001 - every failure is a failed check
        failure = repr(e)
    asked = " ".join(peer.sampling_requests)
    no_crossing = f"{peer.other}-answer" not in text and f"prompt-from-{peer.other}" not in asked
    delivered = not failure and f"{peer.label}-answer" in text and len(peer.sampling_requests) == before + 1
    refused = bool(failure) and len(peer.sampling_requests) == before
    ok = no_crossing and (delivered if strict else delivered or refused)
    outcome = f"error: {failure}" if failure else f"result: {text}"
    check(peer.label, name, ok, f"handler calls={len(peer.sampling_requests)}; {outcome}"[:400])


async def elicitation(peer: Peer, round_index: int, strict: bool) -> None:
    """Like `sampling`: strict when it is the only elicitation in flight, else own-or-refused."""
    action = peer.elicitation_plan[round_index]
    name = f"elicitation-{action}" if strict else f"elicitation-concurrent-{action}"
    before = peer.elicitation_requests
    text, failure = "", ""
    try:
        result = await call(peer, "trigger-elicitation-request", {})
        text = text_of(result)
        failure = text if result.is_error else ""
    except Exception as e:  # noqa: BLE001
        failure = repr(e)
    no_crossing = f"name-from-{peer.other}" not in text
    if action == "accept":
        answered = '"action": "accept"' in text and f"name-from-{peer.label}" in text
    else:
        answered = '"action": "decline"' in text and "name-from-" not in text
    delivered = not failure and answered and peer.elicitation_requests == before + 1
    refused = bool(failure) and peer.elicitation_requests == before
    if refused:
        peer.elicitation_plan[round_index] = "skipped"  # keep later rounds' plan aligned
    ok = no_crossing and (delivered if strict else delivered or refused)
    outcome = f"error: {failure}" if failure else f"result: {text}"
    check(peer.label, name, ok, f"handler calls={peer.elicitation_requests}; {outcome}"[:400])


async def roots(peer: Peer) -> None:
    try:
        result = await call(peer, "get-roots-list", {})
        text = text_of(result)
        # server-everything asks for roots at start-up and caches the first answer for its whole
        # connection; behind a proxy that connection is shared by A and B. Whatever the proxy does
        # (attribute, refuse, answer empty), one client's roots must never be shown to the other.
        ok = not result.is_error and f"onemcp-root-{peer.other}" not in text
        check(peer.label, "roots-no-leak", ok, f"roots/list answered={peer.roots_requests}; result: {text[:200]}")
    except Exception as e:  # noqa: BLE001
        check(peer.label, "roots-no-leak", False, repr(e))


async def progress(peer: Peer) -> None:
    token = f"{peer.label}-progress-{os.getpid()}"
    steps = 4
    try:
        result = await call(peer, "trigger-long-running-operation", {"duration": 1, "steps": steps}, {"progressToken": token})
        await anyio.sleep(0.1)
        mine = len(peer.progress_for(token))
        foreign = peer.foreign_progress()
        check(peer.label, "progress", not result.is_error and mine == steps and not foreign, f"own={mine}/{steps} foreign={foreign}")
    except Exception as e:  # noqa: BLE001
        check(peer.label, "progress", False, repr(e))


async def cancellation(peer: Peer, direct: bool) -> None:
    """A cancels a long operation after its first progress; B runs one to the end meanwhile."""
    token = f"{peer.label}-cancel-{os.getpid()}"
    if peer.label == "B":
        try:
            args = {"duration": 2, "steps": 4}
            result = await call(peer, "trigger-long-running-operation", args, {"progressToken": token})
            mine = len(peer.progress_for(token))
            check("B", "unaffected-by-cancel", not result.is_error and mine == 4, f"own progress={mine}/4")
        except Exception as e:  # noqa: BLE001
            check("B", "unaffected-by-cancel", False, repr(e))
        return
    settled = anyio.Event()
    outcome: dict[str, Any] = {}

    async def long_call(scope: anyio.CancelScope) -> None:
        with scope:
            try:
                args = {"duration": 4, "steps": 8}
                outcome["result"] = await call(peer, "trigger-long-running-operation", args, {"progressToken": token})
            except Exception as e:  # noqa: BLE001
                outcome["error"] = repr(e)
        settled.set()

    scope = anyio.CancelScope()
    cancelled_at = 0.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(long_call, scope)
        with anyio.move_on_after(5):
            while not peer.progress_for(token):
                await anyio.sleep(0.02)
        saw_first = bool(peer.progress_for(token))
        cancelled_at = time.monotonic()
        scope.cancel()  # the SDK sends notifications/cancelled for the abandoned request
        with anyio.move_on_after(2):
            await settled.wait()
    cancelled_cleanly = settled.is_set() and "result" not in outcome and "error" not in outcome
    await anyio.sleep(2.5)  # the backend would have finished its remaining steps by now
    late = [p for p in peer.progress_for(token) if p[2] > cancelled_at + CANCEL_GRACE_S]
    check("A", "cancel-settles", saw_first and cancelled_cleanly, f"first progress seen={saw_first}, outcome={outcome}")
    if direct:
        # server-everything ignores the cancel and keeps reporting; only a proxy can drop those.
        check("A", "cancel-stops-progress", True, f"not applicable without a proxy ({len(late)} late)")
    else:
        check("A", "cancel-stops-progress", saw_first and not late, f"progress for the cancelled token after cancel: {len(late)}")
    try:
        after = await call(peer, "echo", {"message": "still-here"})
        check("A", "usable-after-cancel", "still-here" in text_of(after), text_of(after))
    except Exception as e:  # noqa: BLE001
        check("A", "usable-after-cancel", False, repr(e))


async def both(peers: list[Peer], fn, *args) -> None:
    async with anyio.create_task_group() as tg:
        for peer in peers:
            tg.start_soon(fn, peer, *args)


async def main(target: list[str]) -> None:
    direct = target[0] == "--direct"
    peers = [
        Peer("A", elicitation_plan=["accept", "decline", "accept"]),
        Peer("B", elicitation_plan=["decline", "accept", "accept"]),
    ]
    async with AsyncExitStack() as stack:
        for peer in peers:
            try:
                await connect(stack, peer, target)
            except Exception as e:  # noqa: BLE001
                check(peer.label, "connect", False, repr(e))
                return
        await both(peers, tools_listed)
        # Both clients stay connected throughout; first one round trip at a time, then both at once.
        for peer in peers:
            await sampling(peer, True)
        for round_index in (0, 1):
            for peer in peers:
                await elicitation(peer, round_index, True)
        await both(peers, sampling, False)
        await both(peers, elicitation, 2, False)
        for peer in peers:
            await roots(peer)
        await both(peers, progress)
        await both(peers, cancellation, direct)
        for peer in peers:
            foreign = peer.foreign_progress()
            check(peer.label, "no-foreign-progress", not foreign, f"foreign tokens: {foreign}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: sdk_clients.py <MCP URL> | --direct NODE EVERYTHING_JS", file=sys.stderr)
        sys.exit(64)
    try:
        anyio.run(main, sys.argv[1:])
    except BaseException as e:  # noqa: BLE001 - report, then let the Rust test judge
        check("-", "script", False, f"crashed: {e!r}")
    print(json.dumps({"sdk": "python", "checks": CHECKS}), flush=True)
    sys.exit(0)
