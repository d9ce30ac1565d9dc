//! 1mcp as an OAuth 2.1 client of the protected MCP servers it aggregates (MCP authorization,
//! client side): what a server's refusal asks for ([`challenge`]), where its authorization
//! server is and what the documents on the way must say ([`discovery`]), and the discovery walk
//! itself as a state machine that io drives one fetch at a time ([`flow`]), and the code grant
//! that follows: registration, the authorization URL, the redirect's checks, the token and
//! refresh requests ([`authorize`]); and one backend's whole authorization, refreshes and
//! step-ups included, as one state machine ([`machine`]).
//!
//! Everything here is a decision over what io fetched; io does the HTTP (bounded in size and
//! time, to the addresses the SSRF guard allows) and keeps what must outlive a request. The
//! tokens this side obtains are for one backend only: they never reach a client of 1mcp, and a
//! client's token never reaches a backend.

pub mod authorize;
pub mod challenge;
pub mod discovery;
pub mod flow;
pub mod machine;

pub use authorize::{Client, Pending, TokenRequest, Tokens};
pub use challenge::{Challenge, bearer_challenge};
pub use discovery::{ClientAuth, ResourceMetadata, ServerMetadata};
pub use flow::{Discovery, Found, Step};
pub use machine::{Action, Authorizer, Random};

/// The daemon's page that sends the user to authorize 1mcp toward `server`'s backend.
pub fn authorize_path(server: &str) -> String {
    format!("/oauth/authorize/{server}")
}
