"""A real Python SDK server (`mcp` 2.3, `MCPServer`) over HTTP, for 1mcp's HTTP-backend tests.

`python http_server.py sse` serves only the legacy HTTP+SSE transport (2024-11-05) at `/sse`;
`python http_server.py streamable-http` serves streamable HTTP at `/mcp`, where this SDK speaks
both the stateless revision (2026-07-28) and sessions. One tool, `py_echo`. Binds a free port on
127.0.0.1 and prints `listening on <url>` before serving; runs until killed.
"""

import asyncio, socket, sys
import uvicorn
from mcp.server.mcpserver import MCPServer

transport = sys.argv[1]
server = MCPServer("py-http-fixture")

@server.tool()
def py_echo(text: str) -> str:
    """Echoes text."""
    return f"py: {text}"

app = server.sse_app() if transport == "sse" else server.streamable_http_app()
# IPPROTO_TCP named, as uvicorn's own sockets have it: asyncio sets TCP_NODELAY only on sockets
# that say they are TCP, and without it every answer on a kept-alive connection waits ~40 ms
# for the client's delayed ACK.
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
sock.listen(64)
port = sock.getsockname()[1]
path = "/sse" if transport == "sse" else "/mcp"
print(f"listening on http://127.0.0.1:{port}{path}", flush=True)
asyncio.run(uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock]))
