//! The view a stdio client asks for (`--preset`, `--filter`, `--tags`, `--pagination`). Which
//! option applies (a preset beats a filter, which beats tags), which are ignored, and the query
//! string that carries the choice to `/mcp` are the core's decisions
//! ([`onemcp_core::view::request`]); the bridge only puts the string on its requests.

/// Which servers and pages a bridged session sees.
pub use onemcp_core::view::request::ViewRequest as ViewQuery;
