"""The official Python SDK client through 1mcp's whole OAuth 2.1 flow, the mirror of
tests/js/sdk-oauth.mjs: `mcp.client.auth.OAuthClientProvider` as the httpx2 auth of the
streamable-HTTP transport. initialize gets a 401; the SDK discovers the protected resource
metadata and the authorization server metadata, registers dynamically (RFC 7591), and calls the
redirect handler with a PKCE S256 authorization URL. The redirect handler plays the operator's
browser (signed in through the one-time link in ONEMCP_OPERATOR_LINK): it opens the consent page,
approves only ONEMCP_TAG (default alpha) and reads the code from the 303's Location, which the
callback handler hands back with state and iss (RFC 9207, checked by the SDK). The SDK redeems the
code and retries; the client then lists the tools (only that tag's), calls one, is refused the
other tag's, and after its access token is marked expired the SDK refreshes (rotation) before the
next call, in the same session.

Usage: python sdk_oauth.py <daemon MCP URL>   (the venv in target/py). Prints one JSON line last:
{"sdk":"python-oauth","checks":[...],"loginMs":N}. Exits 0 when the script ran to the end,
whatever the checks say; the Rust test judges.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import anyio
import httpx2
from mcp import types
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

STEP_S = 20.0
"""Upper bound for any one round trip."""
REDIRECT = "http://127.0.0.1:47322/callback"
"""Where the authorization server sends the browser back (never listened on: the code is read from
the consent answer's Location, as a native app's loopback listener would receive it)."""

CHECKS: list[dict[str, Any]] = []
LABEL = "PY"


def check(client: str, name: str, ok: bool, detail: str = "") -> None:
    CHECKS.append({"client": client, "check": name, "ok": bool(ok), "detail": str(detail)})
    print(f"{'PASS' if ok else 'FAIL'} {client} {name}: {detail}", file=sys.stderr, flush=True)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") or "" for block in result.content)


class MemoryStorage:
    """The SDK's TokenStorage, in memory, remembering what it was given."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.saved_tokens: list[OAuthToken] = []
        self.saved_clients: list[OAuthClientInformationFull] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.saved_tokens.append(tokens)
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.saved_clients.append(client_info)
        self.client = client_info


class OperatorBrowser:
    """The browser the SDK sends to the authorization URL: the operator, approving one tag."""

    def __init__(self, cookie: str, tag: str) -> None:
        self.cookie = cookie
        self.tag = tag
        self.urls: list[str] = []
        self.answer: dict[str, Any] = {}

    async def redirect(self, authorization_url: str) -> None:
        self.urls.append(authorization_url)
        async with httpx2.AsyncClient(timeout=STEP_S, follow_redirects=False) as http:
            page = await http.get(authorization_url, headers={"Cookie": self.cookie})
            html = page.text

            def field(name: str) -> str:
                found = re.search(f'name="{name}" value="([^"]*)"', html)
                return found.group(1) if found else ""

            offered = re.findall(r'name="tag" value="([^"]+)"', html)
            check(LABEL, "consent-page", page.status_code == 200 and bool(field("csrf")) and self.tag in offered,
                  f"HTTP {page.status_code}; tags offered: {', '.join(offered)}")
            form = [("request", field("request")), ("csrf", field("csrf")), ("decision", "approve"), ("tag", self.tag)]
            answer = await http.post(urljoin(authorization_url, "/oauth/consent"), content=urlencode(form),
                                     headers={"Cookie": self.cookie,
                                              "Content-Type": "application/x-www-form-urlencoded"})
        location = answer.headers.get("location", "")
        params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        self.answer = {"status": answer.status_code, "location": location, **params}

    async def callback(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=self.answer.get("code", ""), state=self.answer.get("state"),
                                       iss=self.answer.get("iss"))


async def main(url: str) -> int:
    link = os.environ["ONEMCP_OPERATOR_LINK"]
    tag = os.environ.get("ONEMCP_TAG", "alpha")
    other_tag = "beta" if tag == "alpha" else "alpha"
    async with httpx2.AsyncClient(timeout=STEP_S, follow_redirects=False) as http:
        landing = await http.get(link)
    cookie = landing.headers.get("set-cookie", "").split(";")[0]
    check("operator", "sign-in", landing.status_code == 303 and bool(cookie), f"HTTP {landing.status_code}")

    storage = MemoryStorage()
    browser = OperatorBrowser(cookie, tag)
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="onemcp SDK client (Python)",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )
    sent: list[dict[str, Any]] = []

    async def record(response: httpx2.Response) -> None:
        request = response.request
        body = request.content.decode(errors="replace") if request.url.path == "/token" else ""
        sent.append({"method": request.method, "path": request.url.path, "status": response.status_code, "body": body})

    issuer = f"{urlparse(url).scheme}://{urlparse(url).netloc}"
    started = time.monotonic()
    http_client = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(STEP_S, read=300.0),
                                     event_hooks={"response": [record]})
    async with http_client, streamable_http_client(url, http_client=http_client) as (read, write):
        async with ClientSession(read, write) as session:
            with anyio.fail_after(STEP_S * 3):
                await session.initialize()
            first = next((r for r in sent if r["path"] == "/mcp"), {})
            prm = next((r for r in sent if r["path"].startswith("/.well-known/oauth-protected-resource")), {})
            asm = next((r for r in sent if r["path"] in ("/.well-known/oauth-authorization-server",
                                                          "/.well-known/openid-configuration")), {})
            check(LABEL, "first-request-401", first.get("status") == 401, f"first /mcp: HTTP {first.get('status')}")
            check(LABEL, "discovery", prm.get("status") == 200 and asm.get("status") == 200,
                  f"{prm.get('path')} {prm.get('status')}, {asm.get('path')} {asm.get('status')}")
            registrations = [r for r in sent if r["path"] == "/register"]
            client_id = storage.client.client_id if storage.client else ""
            check(LABEL, "dynamic-registration",
                  len(registrations) == 1 and registrations[0]["status"] == 201 and client_id.startswith("1mcp_c_"),
                  f"register {[r['status'] for r in registrations]}; client_id {client_id}")
            auth_params = {k: v[0] for k, v in parse_qs(urlparse(browser.urls[0] if browser.urls else "").query).items()}
            check(LABEL, "pkce-authorization-request",
                  auth_params.get("code_challenge_method") == "S256" and len(auth_params.get("code_challenge", "")) == 43
                  and auth_params.get("client_id") == client_id and auth_params.get("resource") == url,
                  f"method {auth_params.get('code_challenge_method')}, resource {auth_params.get('resource')}, "
                  f"scope {auth_params.get('scope')}")
            answer = browser.answer
            check(LABEL, "consent-approved",
                  answer.get("status") == 303 and bool(answer.get("code")) and answer.get("iss") == issuer
                  and answer.get("state") == auth_params.get("state"),
                  f"HTTP {answer.get('status')}; iss {answer.get('iss')}")
            exchange = next((r for r in sent if r["path"] == "/token" and "grant_type=authorization_code" in r["body"]), {})
            granted = storage.tokens
            check(LABEL, "token",
                  exchange.get("status") == 200 and "code_verifier=" in exchange.get("body", "") and granted is not None
                  and granted.access_token.startswith("1mcp_at_") and (granted.refresh_token or "").startswith("1mcp_rt_")
                  and granted.scope == f"tag:{tag}",
                  f"HTTP {exchange.get('status')}; scope {granted.scope if granted else None}")

            with anyio.fail_after(STEP_S):
                tools = (await session.list_tools()).tools
            names = [t.name for t in tools]
            check(LABEL, "sees-only-its-tag", bool(names) and all(n.startswith(f"{tag}_1mcp_") for n in names),
                  ", ".join(names))
            with anyio.fail_after(STEP_S):
                echo = await session.call_tool(f"{tag}_1mcp_echo", {"text": "hello-python"})
            login_ms = int((time.monotonic() - started) * 1000)
            check(LABEL, "tool-call", not echo.is_error and text_of(echo) == f"{tag}: hello-python",
                  f"{text_of(echo)} ({login_ms} ms from the first 401)")
            try:
                with anyio.fail_after(STEP_S):
                    other = await session.call_tool(f"{other_tag}_1mcp_echo", {"text": "x"})
                refused = other.is_error and f"{other_tag}: x" not in text_of(other)
                check(LABEL, "other-tag-refused", refused, text_of(other)[:200])
            except Exception as e:  # noqa: BLE001 - a JSON-RPC error is the refusal
                check(LABEL, "other-tag-refused", f"{other_tag}: x" not in str(e), str(e)[:200])

            # Refresh: the SDK refreshes before a request once its token has expired.
            before = storage.tokens
            provider.context.token_expiry_time = time.time() - 1
            with anyio.fail_after(STEP_S):
                again = await session.call_tool(f"{tag}_1mcp_echo", {"text": "after-refresh"})
            refreshes = [r for r in sent if r["path"] == "/token" and "grant_type=refresh_token" in r["body"]]
            after = storage.tokens
            check(LABEL, "refresh",
                  len(refreshes) == 1 and refreshes[0]["status"] == 200 and after is not None and before is not None
                  and after.refresh_token != before.refresh_token and after.access_token != before.access_token,
                  f"refresh requests {[r['status'] for r in refreshes]}")
            check(LABEL, "call-after-refresh", not again.is_error and text_of(again) == f"{tag}: after-refresh",
                  text_of(again))
            check(LABEL, "one-login-only", len(browser.urls) == 1, f"authorization requests: {len(browser.urls)}")
    return login_ms


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: ONEMCP_OPERATOR_LINK=... sdk_oauth.py <MCP URL>", file=sys.stderr)
        sys.exit(64)
    login: int | None = None
    try:
        login = anyio.run(main, sys.argv[1])
    except BaseException as e:  # noqa: BLE001 - report, then let the Rust test judge
        check("-", "script", False, f"crashed: {e!r}")
    print(json.dumps({"sdk": "python-oauth", "checks": CHECKS, "loginMs": login}), flush=True)
    sys.exit(0)
