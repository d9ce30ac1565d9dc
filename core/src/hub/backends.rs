//! Backend lifecycle (spawn, initialize, list, fail) and everything a backend sends us.

use super::{DEFAULT_CONNECT_TIMEOUT, Hub, Timer};
use crate::backend::{BackendState, Era, ListFetch, ListKind, Pending, ServerInfo};
use crate::event::Output;
use crate::ids::{BackendKey, Gen, ProxyId, SessionId};
use crate::jsonrpc::{self, Message, code};
use crate::session::SUPPORTED_VERSIONS;
use crate::supervision::{RestartDecision, STABLE_PERIOD, decide};
use crate::time::Instant;
use rand_core::Rng;
use serde_json::{Map, Value, json};

/// How long a server is given to answer `server/discover` when its era is being learned
/// (`protocol: "auto"`); a session-based server that ignores the question costs this much.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Most pages fetched for one list; a backend that pages forever is cut off there.
const MAX_LIST_PAGES: u32 = 1000;

impl Hub {
    /// Spawn a backend's next incarnation (a no-op for disabled ones).
    pub(super) fn start_backend(&mut self, now: Instant, name: &BackendKey) {
        self.next_generation += 1;
        let generation = Gen(self.next_generation);
        let Some(backend) = self.backends.get_mut(name) else { return };
        if backend.config.disabled {
            return;
        }
        backend.generation = generation;
        backend.info = None;
        backend.era = backend.era_to_start();
        // The catalog stays as last listed until the new incarnation lists again, so a call
        // meanwhile can be told its server is restarting rather than that the tool is unknown.
        backend.awaiting_roots = false;
        backend.lists.reset();
        backend.set_state(now, BackendState::Spawning);
        let timeout = backend.config.connection_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        backend.connect_timer =
            Some(self.timers.insert(now.after(timeout), Timer::Connect { backend: name.clone(), generation }));
        let transport = backend.config.transport.clone();
        self.outputs.push_back(Output::SpawnBackend { backend: name.clone(), generation, transport });
    }

    /// Look up a backend event's target, dropping events from stale incarnations.
    fn current(&mut self, name: &BackendKey, generation: Gen) -> Option<&mut crate::backend::Backend> {
        self.backends.get_mut(name).filter(|b| b.generation == generation && b.state.is_running())
    }

    pub(super) fn handle_spawned(&mut self, now: Instant, name: &BackendKey, generation: Gen, pid: Option<u32>) {
        let Some(backend) = self.current(name, generation) else { return };
        if backend.state != BackendState::Spawning {
            return;
        }
        tracing::info!(server = %name, pid, "server process started");
        backend.set_state(now, BackendState::Initializing);
        let id = backend.in_flight.next_id();
        match backend.era {
            Era::Sessions => {
                backend.in_flight.insert(id, Pending::Initialize);
                self.send_initialize(name, generation, id);
            }
            Era::Stateless => {
                // No handshake in this revision: discovery says what it speaks and can do.
                backend.in_flight.insert(id, Pending::Initialize);
                self.write_own(name, generation, jsonrpc::request(&id.to_json(), "server/discover", json!({})));
            }
            Era::Asking => {
                // The spec's era detection for a dual-era client: discovery first, briefly.
                let timer = Timer::Request { backend: name.clone(), generation, id };
                let timer = self.timers.insert(now.after(PROBE_TIMEOUT), timer);
                if let Some(backend) = self.backends.get_mut(name) {
                    backend.in_flight.insert(id, Pending::Probe { timer });
                }
                self.write_own(name, generation, jsonrpc::request(&id.to_json(), "server/discover", json!({})));
            }
        }
    }

    /// Open a session: `initialize`, with the capabilities 1mcp may declare for its clients.
    fn send_initialize(&mut self, name: &BackendKey, generation: Gen, id: ProxyId) {
        let owner = self.backends.get(name).and_then(|b| b.owner.clone());
        let capabilities = match owner.and_then(|o| self.sessions.get(&o)) {
            // A per-session instance speaks to exactly one client: it is told what that client declared.
            Some(session) => Value::Object(session.client_capabilities.clone()),
            // A shared server: sampling and elicitation go to the client whose call caused them
            // (or are refused cleanly); roots are answered with none (DESIGN.md rule 2).
            None => json!({"roots": {}, "sampling": {}, "elicitation": {"form": {}, "url": {}}}),
        };
        let params = json!({
            "protocolVersion": SUPPORTED_VERSIONS[0],
            "capabilities": capabilities,
            "clientInfo": {"name": super::clients::SERVER_NAME, "version": super::clients::SERVER_VERSION},
        });
        self.write(name, generation, &jsonrpc::request(&id.to_json(), "initialize", params));
    }

    pub(super) fn handle_spawn_failed(&mut self, now: Instant, name: &BackendKey, generation: Gen, error: &str) {
        if self.current(name, generation).is_some() {
            self.fail_backend(now, name, format!("could not start: {error}"));
        }
    }

    pub(super) fn handle_exited(&mut self, now: Instant, name: &BackendKey, generation: Gen, status: &str) {
        let Some(backend) = self.current(name, generation) else { return };
        if backend.era == Era::Asking {
            // It died of the question: it is not asked again, it gets a session next time.
            backend.learned = Some(Era::Sessions);
        }
        let reason = if backend.state.is_starting() { format!("{status} during startup") } else { status.to_owned() };
        self.fail_backend(now, name, reason);
    }

    pub(super) fn handle_connect_timeout(&mut self, now: Instant, name: &BackendKey, generation: Gen) {
        let Some(backend) = self.current(name, generation) else { return };
        backend.connect_timer = None;
        if !backend.state.is_starting() {
            return;
        }
        let timeout = backend.config.connection_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
        let why = format!(
            "did not become ready within {} ms (if it needs longer to start, e.g. a first `npx -y` download, \
             raise \"connectionTimeout\" for this server in the config)",
            timeout.as_millis()
        );
        self.fail_backend(now, name, why);
    }

    pub(super) fn handle_request_timeout(&mut self, now: Instant, name: &BackendKey, generation: Gen, id: ProxyId) {
        let Some(backend) = self.current(name, generation) else { return };
        let timeout = backend.config.request_timeout.unwrap_or(super::DEFAULT_REQUEST_TIMEOUT);
        let call = match backend.in_flight.take(id) {
            Some(Pending::Client(call)) => call,
            Some(Pending::List(fetch)) => {
                let why = format!("no answer within {} ms", timeout.as_millis());
                let error = json!({"error": {"code": code::INTERNAL_ERROR, "message": why}});
                let Value::Object(body) = error else { return };
                return self.handle_list_page(now, name, generation, fetch, body);
            }
            Some(Pending::Ping { .. }) => {
                // Alive processes answer pings; this one is hung. A restart is the cure.
                let generation = backend.generation;
                self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
                let why = format!("stopped answering (no reply to a ping within {} s)", super::PING_TIMEOUT.as_secs());
                return self.fail_backend(now, name, why);
            }
            Some(Pending::Internal { method, .. }) => {
                tracing::warn!(server = %name, "{method} got no answer within {} ms", timeout.as_millis());
                return;
            }
            Some(Pending::Probe { .. }) => {
                let why = format!("no answer to server/discover within {} ms", PROBE_TIMEOUT.as_millis());
                return self.open_session_instead(name, generation, &why, false);
            }
            Some(pending @ (Pending::Initialize | Pending::Listen { .. })) => {
                // The handshake has the connect deadline, a listen stream none: neither has a
                // request timer of its own.
                backend.in_flight.insert(id, pending);
                return;
            }
            None => return,
        };
        if let Some(timeouts) = backend.circuit.timed_out(now) {
            tracing::warn!(server = %name, timeouts, "server is not answering; failing fast for a while");
        }
        let cancel = jsonrpc::notification(
            "notifications/cancelled",
            Some(json!({"requestId": id.to_json(), "reason": "timed out"})),
        );
        self.write(name, generation, &cancel);
        let message = if now >= call.hard_deadline {
            format!("server '{name}' did not finish {} within its maximum time (maxTotalTimeout)", call.method)
        } else {
            format!("server '{name}' did not answer {} within {} ms", call.method, timeout.as_millis())
        };
        tracing::warn!(server = %name, "{message}");
        self.fail_client_call(now, name, call, message);
    }

    /// Mark a backend failed: answer everything it owed, withdraw its names.
    pub(super) fn fail_backend(&mut self, now: Instant, name: &BackendKey, reason: String) {
        tracing::error!(server = %name, "server failed: {reason}");
        let Some(backend) = self.backends.get_mut(name) else { return };
        backend.first_attempt_over = true;
        // A backend that stayed up long enough starts its backoff afresh.
        if backend.state == BackendState::Ready && now.since(backend.since) >= STABLE_PERIOD {
            backend.restarts = 0;
        }
        let jitter = f64::from(self.rng.next_u32()) / (f64::from(u32::MAX) + 1.0);
        let Some(backend) = self.backends.get(name) else { return };
        let decision = if self.shutting_down {
            RestartDecision::Stay
        } else {
            decide(&backend.config.restart, backend.restarts, jitter)
        };
        let state = match decision {
            RestartDecision::Stay => BackendState::Failed(reason.clone()),
            RestartDecision::GiveUp => {
                tracing::error!(
                    server = %name,
                    restarts = backend.restarts,
                    "server keeps failing; giving up (crash loop)"
                );
                BackendState::CrashLoop(format!("gave up after {} restarts; last failure: {reason}", backend.restarts))
            }
            RestartDecision::Restart { delay, attempt } => {
                tracing::warn!(
                    server = %name,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "restarting server after a delay"
                );
                let generation = backend.generation;
                let timer = self.timers.insert(now.after(delay), Timer::Restart { backend: name.clone(), generation });
                if let Some(b) = self.backends.get_mut(name) {
                    b.restarts = attempt;
                    b.restart_timer = Some(timer);
                }
                BackendState::Restarting { reason: reason.clone(), attempt }
            }
        };
        self.take_down(now, name, state, &reason);
    }

    fn schedule_ping(&mut self, now: Instant, name: &BackendKey) {
        let (Some(interval), Some(b)) = (self.config.ping_interval, self.backends.get(name)) else { return };
        let generation = b.generation;
        self.timers.insert(now.after(interval), Timer::Ping { backend: name.clone(), generation });
    }

    pub(super) fn handle_ping_due(&mut self, now: Instant, name: &BackendKey, generation: Gen) {
        let Some(b) = self.backends.get(name).filter(|b| b.generation == generation && b.state == BackendState::Ready)
        else {
            return;
        };
        // Only idle backends are pinged: one with requests in flight shows its health by answering them.
        if b.in_flight.is_empty() {
            self.ping(now, name);
        }
        self.schedule_ping(now, name);
    }

    pub(super) fn handle_restart_due(&mut self, now: Instant, name: &BackendKey, generation: Gen) {
        let Some(backend) = self.backends.get_mut(name) else { return };
        if self.shutting_down
            || backend.generation != generation
            || !matches!(backend.state, BackendState::Restarting { .. })
        {
            return;
        }
        backend.restart_timer = None;
        self.start_backend(now, name);
    }

    /// Leave the running states: answer everything the backend owed, withdraw its names.
    pub(super) fn take_down(&mut self, now: Instant, name: &BackendKey, state: BackendState, reason: &str) {
        let Some(backend) = self.backends.get_mut(name) else { return };
        let was_ready = backend.state == BackendState::Ready;
        let verb = if state == BackendState::Stopped { "was stopped" } else { "failed" };
        backend.set_state(now, state);
        if let Some(timer) = backend.connect_timer.take() {
            self.timers.remove(timer);
        }
        let owed: Vec<Pending> = backend.in_flight.take_all().collect();
        for timer in owed.iter().filter_map(Pending::timer) {
            self.timers.remove(timer);
        }
        // Its questions first: failing a call can end a stateless request, which answers what it
        // was still asked, and nothing may be written to a backend that is gone.
        self.withdraw_server_requests_of(name, reason);
        for call in owed.into_iter().filter_map(|p| match p {
            Pending::Client(call) => Some(call),
            _ => None,
        }) {
            let message = format!("server '{name}' {verb} before answering {}: {reason}", call.method);
            self.fail_client_call(now, name, call, message);
        }
        self.fail_queue(name, reason);
        if let Some(b) = self.backends.get_mut(name) {
            b.subscribers.clear();
            b.resource_listens.clear();
            b.log_level = None;
        }
        if was_ready && !name.is_instance() {
            self.rebuild_registry();
        }
    }

    pub(super) fn handle_backend_line(&mut self, now: Instant, name: &BackendKey, generation: Gen, line: &str) {
        let Some(backend) = self.current(name, generation) else { return };
        if line.trim().is_empty() {
            return;
        }
        let message = match jsonrpc::parse(line.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                backend.garbage_lines += 1;
                // Servers that print banners to stdout are common; skip the line, keep serving.
                let shown: String = line.chars().take(200).collect();
                tracing::warn!(server = %name, "ignoring a line that is not JSON-RPC ({e}): {shown}");
                return;
            }
        };
        match message {
            Message::Response { id, body } => self.handle_backend_response(now, name, generation, &id, body),
            Message::Request { id, method, body } => {
                self.handle_server_request(now, name, generation, &id, &method, body)
            }
            Message::Notification { method, body } => self.handle_backend_notification(now, name, &method, body),
        }
    }

    fn handle_backend_response(
        &mut self,
        now: Instant,
        name: &BackendKey,
        generation: Gen,
        id: &Value,
        body: Map<String, Value>,
    ) {
        let Some(backend) = self.current(name, generation) else { return };
        let Some(pending) = ProxyId::from_json(id).and_then(|id| backend.in_flight.take(id)) else {
            tracing::debug!(server = %name, %id, "dropping a response nobody awaits (late or unknown id)");
            return;
        };
        match pending {
            Pending::Initialize => self.handle_initialized(now, name, generation, body),
            Pending::Probe { timer } => {
                self.timers.remove(timer);
                self.handle_probe_answer(now, name, generation, body);
            }
            Pending::List(fetch) => {
                self.timers.remove(fetch.timer);
                self.handle_list_page(now, name, generation, fetch, body)
            }
            Pending::Client(call) => self.complete_client_call(now, name, call, body),
            Pending::Ping { timer } => {
                self.timers.remove(timer);
            }
            Pending::Internal { method, timer } => {
                self.timers.remove(timer);
                if let Some(error) = body.get("error") {
                    tracing::warn!(server = %name, %error, "{method} failed");
                }
            }
            Pending::Listen { since, uri } => {
                // Without a listen stream its notifications no longer arrive: listen again, unless
                // it refused, or ended the last one at once (it would only end the next too), or
                // nobody follows that resource any more.
                let lasted = now.since(since) >= super::LISTEN_MIN_LIFE;
                let wanted = uri.as_ref().is_none_or(|u| self.backends.get(name).is_some_and(|b| b.subscribers.has(u)));
                if body.contains_key("result") && lasted && wanted {
                    tracing::info!(server = %name, "the server ended a subscriptions/listen; listening again");
                    return match uri {
                        Some(uri) => self.listen_to_resource(now, name, &uri),
                        None => self.listen_to(now, name),
                    };
                }
                if let (Some(uri), Some(b)) = (&uri, self.backends.get_mut(name)) {
                    b.resource_listens.remove(uri);
                }
                let why = body.get("error").map_or_else(|| "it ended at once".to_owned(), ToString::to_string);
                tracing::warn!(server = %name, "not listening for list changes: {}", crate::text::for_log(&why));
            }
        }
    }

    /// The answer to `server/discover` asked to learn the era: a discovery result means the
    /// stateless revision (if it is not one 1mcp speaks, the spec says not to fall back), as does
    /// its unsupported-version error; any other answer means a session.
    fn handle_probe_answer(&mut self, now: Instant, name: &BackendKey, generation: Gen, body: Map<String, Value>) {
        let discovered = body.get("result").and_then(|r| r.get("supportedVersions")).is_some();
        let code = body.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64);
        if discovered || code == Some(code::UNSUPPORTED_PROTOCOL_VERSION) {
            let Some(backend) = self.current(name, generation) else { return };
            backend.era = Era::Stateless;
            backend.learned = Some(Era::Stateless);
            tracing::info!(server = %name, "the server speaks the stateless revision (it answered server/discover)");
            if discovered {
                return self.handle_initialized(now, name, generation, body);
            }
            self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
            let supported = body.get("error").and_then(|e| e.get("data")).and_then(|d| d.get("supported"));
            let supported = supported.map_or_else(|| "?".to_owned(), ToString::to_string);
            let why = format!(
                "it speaks the stateless revision but not 2026-07-28 (it supports {})",
                crate::text::clip(&supported, 200)
            );
            return self.fail_backend(now, name, why);
        }
        let why =
            body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("no discovery result");
        let why = format!("it answered server/discover with {:?}", crate::text::clip(why, 120));
        self.open_session_instead(name, generation, &why, true);
    }

    /// The server is not a stateless one (it said so, `learn`, or did not answer in time): open
    /// a session with it as with any other.
    fn open_session_instead(&mut self, name: &BackendKey, generation: Gen, why: &str, learn: bool) {
        let Some(backend) = self.current(name, generation) else { return };
        backend.era = Era::Sessions;
        if learn {
            backend.learned = Some(Era::Sessions);
        }
        tracing::info!(server = %name, "opening a session with the server: {why}");
        let id = backend.in_flight.next_id();
        backend.in_flight.insert(id, Pending::Initialize);
        self.send_initialize(name, generation, id);
    }

    fn handle_initialized(&mut self, now: Instant, name: &BackendKey, generation: Gen, body: Map<String, Value>) {
        let stateless = self.backends.get(name).is_some_and(crate::backend::Backend::is_stateless);
        let handshake = if stateless { "server/discover" } else { "initialize" };
        let Some(result) = body.get("result").and_then(Value::as_object) else {
            let why = body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("no result");
            self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
            return self.fail_backend(now, name, format!("{handshake} failed: {}", crate::text::clip(why, 200)));
        };
        let (info, server_name) = if stateless {
            match crate::modern::discovered(result) {
                Ok((capabilities, instructions)) => {
                    let version = crate::modern::MODERN_VERSIONS[0].to_owned();
                    (
                        ServerInfo { protocol_version: version, capabilities, instructions },
                        crate::modern::server_name(result),
                    )
                }
                Err(why) => {
                    self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
                    return self.fail_backend(now, name, format!("server/discover: {why}"));
                }
            }
        } else {
            let info = ServerInfo {
                protocol_version: result.get("protocolVersion").and_then(Value::as_str).unwrap_or_default().to_owned(),
                capabilities: result.get("capabilities").and_then(Value::as_object).cloned().unwrap_or_default(),
                instructions: result.get("instructions").and_then(Value::as_str).map(str::to_owned),
            };
            (info, result.get("serverInfo").and_then(|s| s.get("name")).and_then(Value::as_str))
        };
        if server_name == Some(super::clients::SERVER_NAME) {
            // Pointing 1mcp at itself would route requests in a circle.
            self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
            return self.fail_backend(now, name, "refusing to aggregate another 1mcp (loop protection)".into());
        }
        let Some(backend) = self.current(name, generation) else { return };
        tracing::info!(server = %name, version = %info.protocol_version, "server initialized");
        backend.info = Some(info);
        backend.catalog = Default::default();
        backend.set_state(now, BackendState::Listing);
        if !stateless {
            self.write(name, generation, &jsonrpc::notification("notifications/initialized", None));
        }
        if self.needs_roots_first(name) {
            // It will ask its client for roots now; it serves once they are given.
            if let Some(b) = self.backends.get_mut(name) {
                b.awaiting_roots = true;
            }
            return;
        }
        // A per-session instance serves calls only; the shared backend lists for everyone.
        let kinds: Vec<ListKind> = if name.is_instance() {
            Vec::new()
        } else {
            ListKind::ALL.into_iter().filter(|k| self.backends[name].has_capability(k.capability())).collect()
        };
        if let Some(b) = self.backends.get_mut(name) {
            b.lists.expect(kinds.len());
        }
        if kinds.is_empty() {
            return self.mark_ready(now, name);
        }
        for kind in kinds {
            self.request_list_page(now, name, generation, kind, Vec::new(), 0, None);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request_list_page(
        &mut self,
        now: Instant,
        name: &BackendKey,
        generation: Gen,
        kind: ListKind,
        items: Vec<Map<String, Value>>,
        pages: u32,
        cursor: Option<Value>,
    ) {
        let Some(backend) = self.current(name, generation) else { return };
        backend.lists.begin(kind);
        let id = backend.in_flight.next_id();
        let timeout = backend.config.request_timeout.unwrap_or(super::DEFAULT_REQUEST_TIMEOUT);
        let timer = self.timers.insert(now.after(timeout), Timer::Request { backend: name.clone(), generation, id });
        let Some(backend) = self.backends.get_mut(name) else { return };
        backend.in_flight.insert(id, Pending::List(ListFetch { kind, items, pages, timer }));
        let params = match cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let request = jsonrpc::request(&id.to_json(), kind.method(), params);
        self.write_own(name, generation, request);
    }

    fn handle_list_page(
        &mut self,
        now: Instant,
        name: &BackendKey,
        generation: Gen,
        fetch: ListFetch,
        body: Map<String, Value>,
    ) {
        let ListFetch { kind, mut items, pages, .. } = fetch;
        let ready = self.backends.get(name).is_some_and(|b| b.state == BackendState::Ready);
        let fetched = match body.get("result").and_then(Value::as_object) {
            Some(result) => {
                let hint = (
                    result.get("ttlMs").and_then(Value::as_u64).unwrap_or(0),
                    result.get("cacheScope").and_then(Value::as_str) == Some("private"),
                );
                if let Some(b) = self.backends.get_mut(name) {
                    // Over the pages: the shortest reuse, private if any page is.
                    let merged = match b.list_hints.get(&kind) {
                        Some((ttl, private)) if pages > 0 => ((*ttl).min(hint.0), *private || hint.1),
                        _ => hint,
                    };
                    b.list_hints.insert(kind, merged);
                }
                let page = result.get(kind.result_key()).and_then(Value::as_array);
                items.extend(page.into_iter().flatten().filter_map(|v| v.as_object().cloned()));
                let next = result.get("nextCursor").filter(|c| c.is_string()).cloned();
                if let Some(cursor) = next {
                    if pages + 1 < MAX_LIST_PAGES {
                        return self.request_list_page(now, name, generation, kind, items, pages + 1, Some(cursor));
                    }
                    tracing::warn!(server = %name, "stopped following {} after {MAX_LIST_PAGES} pages", kind.method());
                }
                Some(items)
            }
            None => failed_list(name, kind, &body, ready),
        };
        self.finish_list(now, name, generation, kind, fetched);
    }

    /// A list fetch is over: install what it got (`None`: keep what there was), then either
    /// count it toward readiness or rebuild the merged lists (fetching again if a change was
    /// announced meanwhile).
    fn finish_list(
        &mut self,
        now: Instant,
        name: &BackendKey,
        generation: Gen,
        kind: ListKind,
        fetched: Option<Vec<Map<String, Value>>>,
    ) {
        let Some(backend) = self.current(name, generation) else { return };
        backend.lists.end(kind);
        let fetched = fetched.map(|items| {
            if kind == ListKind::Tools && backend.is_stateless() {
                without_invalid_header_tools(name, items)
            } else {
                items
            }
        });
        if let Some(items) = fetched {
            *kind.slot(&mut backend.catalog) = items;
        }
        match backend.state {
            BackendState::Listing if backend.lists.startup_fetched() => self.mark_ready(now, name),
            BackendState::Ready => {
                self.rebuild_registry();
                // A change announced while this fetch was running may not be in it: fetch again.
                if self.backends.get_mut(name).is_some_and(|b| b.lists.take_stale(kind)) {
                    self.relist(now, name, kind);
                }
            }
            _ => {}
        }
    }

    pub(super) fn mark_ready(&mut self, now: Instant, name: &BackendKey) {
        let Some(backend) = self.backends.get_mut(name) else { return };
        if let Some(timer) = backend.connect_timer.take() {
            self.timers.remove(timer);
        }
        backend.set_state(now, BackendState::Ready);
        backend.first_attempt_over = true;
        if backend.key.is_instance() {
            tracing::info!(instance = %name, "per-session instance ready");
            return self.release_queue(now, name);
        }
        let c = &backend.catalog;
        tracing::info!(
            server = %name,
            tools = c.tools.len(),
            prompts = c.prompts.len(),
            resources = c.resources.len(),
            templates = c.templates.len(),
            "server ready"
        );
        self.rebuild_registry();
        self.sync_backend_log_levels(now);
        self.schedule_ping(now, name);
        self.listen_to(now, name);
    }

    fn handle_backend_notification(&mut self, now: Instant, name: &BackendKey, method: &str, body: Map<String, Value>) {
        match method {
            "notifications/tools/list_changed" => self.relist(now, name, ListKind::Tools),
            "notifications/prompts/list_changed" => self.relist(now, name, ListKind::Prompts),
            "notifications/resources/list_changed" => {
                self.relist(now, name, ListKind::Resources);
                self.relist(now, name, ListKind::Templates);
            }
            "notifications/message" => {
                let params = jsonrpc::params(&body);
                let level = params.and_then(|p| p.get("level")).and_then(Value::as_str).unwrap_or("info");
                let data = params.and_then(|p| p.get("data")).map(Value::to_string).unwrap_or_default();
                tracing::debug!(server = %name, level, "server log: {data}");
                self.handle_backend_log(name, body);
            }
            "notifications/progress" => self.handle_backend_progress(now, name, body),
            "notifications/resources/updated" => self.handle_resource_updated(name, body),
            "notifications/cancelled" => self.handle_backend_cancelled(name, &body),
            _ => tracing::debug!(server = %name, method, "ignoring server notification"),
        }
    }

    /// Fetch a list again after the backend announced a change; one fetch per list at a
    /// time, so answers to overlapping fetches cannot land out of order.
    fn relist(&mut self, now: Instant, name: &BackendKey, kind: ListKind) {
        let Some(backend) = self.backends.get_mut(name) else { return };
        if backend.state != BackendState::Ready || !backend.has_capability(kind.capability()) {
            return;
        }
        if !backend.lists.changed(kind) {
            return;
        }
        let generation = backend.generation;
        self.request_list_page(now, name, generation, kind, Vec::new(), 0, None);
    }

    /// Stop taking work, let calls in flight finish (up to `drain_grace`), then stop everything.
    pub(super) fn handle_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if self.calls_in_flight() == 0 {
            return self.finish_shutdown(now);
        }
        tracing::info!(calls = self.calls_in_flight(), "shutting down: letting calls in flight finish");
        self.drain_timer = Some(self.timers.insert(now.after(self.config.drain_grace), Timer::Drain));
    }

    /// Forwarded client calls still waiting on backends.
    fn calls_in_flight(&self) -> usize {
        self.backends.values().map(|b| b.in_flight.clients().count()).sum()
    }

    /// During a drain, finish as soon as the last call is answered.
    pub(super) fn check_drained(&mut self, now: Instant) {
        if self.shutting_down && self.drain_timer.is_some() && self.calls_in_flight() == 0 {
            self.finish_shutdown(now);
        }
    }

    /// The drain is over (all answered, or out of time): end sessions and stop backends.
    pub(super) fn finish_shutdown(&mut self, now: Instant) {
        for timer in [self.drain_timer.take(), self.sweep_timer.take()].into_iter().flatten() {
            self.timers.remove(timer);
        }
        let sessions: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for session in sessions {
            self.end_session(now, &session, "1mcp is shutting down");
        }
        let running: Vec<(BackendKey, Gen)> =
            self.backends.values().filter(|b| b.state.is_running()).map(|b| (b.key.clone(), b.generation)).collect();
        let waiting: Vec<BackendKey> = self
            .backends
            .values()
            .filter(|b| matches!(b.state, BackendState::Restarting { .. }))
            .map(|b| b.key.clone())
            .collect();
        for name in waiting {
            if let Some(b) = self.backends.get_mut(&name) {
                if let Some(timer) = b.restart_timer.take() {
                    self.timers.remove(timer);
                }
                b.set_state(now, BackendState::Stopped);
            }
        }
        for (name, generation) in running {
            tracing::info!(server = %name, "stopping server");
            self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
            self.take_down(now, &name, BackendState::Stopped, "1mcp is shutting down");
        }
    }

    pub(super) fn write(&mut self, name: &BackendKey, generation: Gen, message: &Value) {
        self.outputs.push_back(Output::WriteBackend { backend: name.clone(), generation, line: message.to_string() });
    }
}

/// A stateless server's tools minus those whose `x-mcp-header` declarations are invalid: the
/// revision tells its clients to leave them out (their calls could not carry valid headers).
fn without_invalid_header_tools(name: &BackendKey, mut tools: Vec<Map<String, Value>>) -> Vec<Map<String, Value>> {
    tools.retain(|tool| {
        let Some(schema) = tool.get("inputSchema") else { return true };
        match crate::mcp_headers::header_params(schema) {
            Ok(_) => true,
            Err(why) => {
                let tool = tool.get("name").and_then(Value::as_str).unwrap_or_default();
                tracing::warn!(server = %name, tool = %crate::text::for_log(tool), "leaving out a tool with invalid x-mcp-header declarations: {why:?}");
                false
            }
        }
    });
    tools
}

/// What a failed list fetch leaves (logged): a ready backend keeps its previous list (`None`),
/// one still starting has an empty one. "Not implemented" is common and harmless (a resources
/// server without templates), so it is not a warning.
fn failed_list(
    name: &BackendKey,
    kind: ListKind,
    body: &Map<String, Value>,
    ready: bool,
) -> Option<Vec<Map<String, Value>>> {
    let error = body.get("error");
    let why = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("no result");
    let fallback = if ready { "keeping the previous list" } else { "treating it as empty" };
    if error.and_then(|e| e.get("code")).and_then(Value::as_i64) == Some(code::METHOD_NOT_FOUND) {
        tracing::info!(server = %name, "{} is not implemented; {fallback}", kind.method());
    } else {
        tracing::warn!(server = %name, "{} failed ({why}); {fallback}", kind.method());
    }
    (!ready).then(Vec::new)
}

impl Hub {
    /// `name`'s server refused 1mcp and only the user can authorize it: the incarnation is
    /// stopped, what it owed is failed with where to authorize, and it waits (no restart). An
    /// instance's refusal is its server's: the instance goes and the server waits too.
    pub(super) fn handle_needs_authorization(&mut self, now: Instant, name: &BackendKey, generation: Gen, why: String) {
        if self.current(name, generation).is_none() {
            return;
        }
        tracing::warn!(server = %name, "the server needs authorization: {why}");
        let shared = name.shared();
        if name.is_instance() {
            self.remove_instance(now, name, &why);
        }
        let Some(b) = self.backends.get_mut(&shared) else { return };
        if b.state.is_running() {
            self.outputs.push_back(Output::StopBackend { backend: shared.clone(), generation: b.generation });
        }
        // Its first attempt is over: readiness does not wait for a user who may never come.
        b.first_attempt_over = true;
        if let Some(timer) = b.restart_timer.take() {
            self.timers.remove(timer);
        }
        let reason = why.clone();
        self.take_down(now, &shared, BackendState::AwaitingAuthorization(why), &reason);
    }

    /// 1mcp holds tokens for `server` now: a backend of it that awaited them starts afresh.
    pub(super) fn handle_authorized(&mut self, now: Instant, server: &str) {
        let shared = BackendKey::server(server);
        let Some(b) = self.backends.get_mut(&shared) else { return };
        if !matches!(b.state, BackendState::AwaitingAuthorization(_)) {
            return;
        }
        tracing::info!(%server, "authorized; starting the server");
        b.restarts = 0;
        self.start_backend(now, &shared);
    }
}
