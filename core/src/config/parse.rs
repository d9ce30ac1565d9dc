//! Parsing `mcp.json` text into a [`McpConfig`](super::McpConfig). (Being written.)
