//! The sans-IO core of 1mcp.
//!
//! A [`Hub`] is a plain state machine. The driver (the `io` crate, or the simulator) feeds it
//! facts with [`Hub::handle`] and [`Hub::handle_timeout`], then drains imperatives with
//! [`Hub::poll_output`] until it returns `None`, and sleeps until [`Hub::poll_timeout`]:
//!
//! ```ignore
//! let mut hub = Hub::new(now, config, seed);
//! loop {
//!     while let Some(output) = hub.poll_output() { driver.apply(output) }
//!     match driver.next_input_or_deadline(hub.poll_timeout()) {
//!         Some(input) => hub.handle(driver.now(), input),
//!         None => hub.handle_timeout(driver.now()),
//!     }
//! }
//! ```
//!
//! The core reads no clock, touches no socket, file or process, and iterates in a
//! deterministic order, so a sequence of inputs always yields the same outputs.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
mod backend;
pub mod config;
mod cursor;
pub mod event;
pub mod front;
pub mod health;
pub mod http_link;
pub mod hub;
pub mod ids;
pub mod jsonrpc;
pub mod mcp_headers;
mod modern;
pub mod oauth;
pub mod oauth_client;
mod registry;
mod reload;
mod request_state;
mod server_requests;
mod session;
mod supervision;
pub mod text;
pub mod time;
mod timer;
mod uri_template;
pub mod view;

pub use event::{ExitInfo, HttpMethod, HttpRequest, HttpResponse, Input, Output, SseEvent};
pub use hub::{FrontConfig, Hub, HubConfig, HubStats};
pub use ids::{BackendKey, ExchangeId, Gen};
pub use registry::SEPARATOR;
pub use time::Instant;
