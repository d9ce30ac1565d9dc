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
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
port = sock.getsockname()[1]
path = "/sse" if transport == "sse" else "/mcp"
print(f"listening on http://127.0.0.1:{port}{path}", flush=True)
asyncio.run(uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock]))
