//! The event trace: one compact line per input and output, kept as a short ring for violation
//! reports, optionally in full, and always folded into a hash so two runs compare cheaply.

use onemcp_core::auth::Credential;
use onemcp_core::{Input, Instant, Output};
use std::collections::VecDeque;

/// Longest message text shown in one trace line.
const SHOWN: usize = 180;

/// Recent trace lines plus a digest of all of them.
#[derive(Debug)]
pub struct Trace {
    recent: VecDeque<String>,
    keep: usize,
    full: Option<Vec<String>>,
    hash: u64,
    lines: u64,
}

impl Trace {
    /// A trace that keeps the last `keep` lines, and every line if `full`.
    pub fn new(keep: usize, full: bool) -> Trace {
        Trace { recent: VecDeque::new(), keep, full: full.then(Vec::new), hash: 0xcbf2_9ce4_8422_2325, lines: 0 }
    }

    /// Record one line stamped with `now`.
    pub fn push(&mut self, now: Instant, text: String) {
        let line = format!("{} {text}", stamp(now));
        // FNV-1a: stable across platforms and releases, unlike `DefaultHasher`.
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.lines += 1;
        if let Some(full) = &mut self.full {
            full.push(line.clone());
        }
        self.recent.push_back(line);
        while self.recent.len() > self.keep {
            self.recent.pop_front();
        }
    }

    /// The last lines, oldest first.
    pub fn recent(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }

    /// Every line, if the trace was asked to keep them.
    pub fn full(&self) -> Option<&[String]> {
        self.full.as_deref()
    }

    /// Digest of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines recorded so far.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// True before the first line.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }
}

/// `+1.250s`, relative to the run's epoch.
pub fn stamp(now: Instant) -> String {
    let ms = now.0 / 1_000_000;
    format!("+{}.{:03}s", ms / 1000, ms % 1000)
}

/// Cut long text so a trace line stays readable.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= SHOWN {
        return text.to_owned();
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{cut}…")
}

/// Session ids are long random strings; the first 8 hex digits identify them in a trace.
fn short_session(id: &str) -> String {
    id.trim_start_matches("stream-").chars().take(8).collect()
}

/// One line for an input, `who` naming the client for HTTP requests.
pub fn input_line(input: &Input, who: &str) -> String {
    match input {
        Input::HttpRequest { exchange, request } => {
            let method = request.method.map(|m| format!("{m:?}").to_uppercase()).unwrap_or_default();
            let session =
                request.session_id.as_deref().map(|s| format!(" sid={}", short_session(s))).unwrap_or_default();
            let body = String::from_utf8_lossy(&request.body);
            let credential = credential_label(&request.credential);
            format!("IN  {who}/{exchange} {method}{session}{credential} {}", shorten(&body))
        }
        Input::ExchangeClosed { exchange } => format!("IN  {who}/{exchange} closed"),
        Input::BackendSpawned { backend, generation, .. } => format!("IN  {backend}#{generation} spawned"),
        Input::BackendSpawnFailed { backend, generation, error } => {
            format!("IN  {backend}#{generation} spawn failed: {error}")
        }
        Input::BackendLine { backend, generation, line } => {
            format!("IN  {backend}#{generation} line {}", shorten(line))
        }
        Input::BackendLineTooLong { backend, generation, len } => {
            format!("IN  {backend}#{generation} line too long ({len})")
        }
        Input::BackendExited { backend, generation, status } => format!("IN  {backend}#{generation} exited: {status}"),
        Input::ConfigChanged { config } => {
            format!("IN  config changed: {}", config.servers.keys().cloned().collect::<Vec<_>>().join(","))
        }
        Input::ConfigInvalid { errors } => format!("IN  config invalid: {}", errors.join("; ")),
        Input::PresetsChanged { presets } => format!("IN  presets changed: {}", presets.source),
        Input::CredentialsRevoked { principals } => format!("IN  credentials revoked: {}", principals.join(",")),
        Input::BackendNeedsAuthorization { backend, generation, why } => {
            format!("IN  {backend}#{generation} needs authorization: {why}")
        }
        Input::BackendAuthorized { server } => format!("IN  {server} authorized"),
        Input::Shutdown => "IN  shutdown".to_owned(),
    }
}

/// ` auth=<what>` for a request presenting a credential; empty for none (so runs with
/// authentication off trace exactly as before).
fn credential_label(credential: &Credential) -> String {
    match credential {
        Credential::None => String::new(),
        Credential::Malformed => " auth=malformed".to_owned(),
        Credential::Unknown => " auth=unknown".to_owned(),
        Credential::Token(grant) => {
            let tags = grant.tags.as_ref().map(|t| format!("[{}]", t.join(","))).unwrap_or_default();
            let expires = grant.expires_at_ms.map(|at| format!("@{at}")).unwrap_or_default();
            let revoked = if grant.revoked { "!revoked" } else { "" };
            format!(" auth={}{tags}{expires}{revoked}", grant.id)
        }
    }
}

/// One line for an output.
pub fn output_line(output: &Output) -> String {
    match output {
        Output::Respond { exchange, response } => {
            format!("OUT respond {exchange} {} {}", response.status, shorten(&response.body))
        }
        Output::OpenStream { exchange, .. } => format!("OUT open {exchange}"),
        Output::PushEvent { exchange, event } => format!("OUT push {exchange} {}", shorten(&event.data)),
        Output::CloseStream { exchange } => format!("OUT close {exchange}"),
        Output::SpawnBackend { backend, generation, .. } => format!("OUT spawn {backend}#{generation}"),
        Output::WriteBackend { backend, generation, line } => {
            format!("OUT write {backend}#{generation} {}", shorten(line))
        }
        Output::StopBackend { backend, generation } => format!("OUT stop {backend}#{generation}"),
    }
}
