//! Per-session instances (`perSession`): a server that keeps per-client state, or an HTTP
//! server (where an instance is just one more MCP session), gets its own instance per client
//! session, created on the session's first request and stopped when the session ends or the
//! instance sits idle. Everything such an instance sends belongs to its session by
//! construction. The shared instance still lists the server's tools for everyone.

use super::clients::Incoming;
use super::{Hub, Timer};
use crate::backend::{Backend, BackendState};
use crate::config::PerSessionConfig;
use crate::event::Output;
use crate::ids::{BackendKey, Gen, SessionId};
use crate::jsonrpc::{self, code};
use crate::time::Instant;
use serde_json::{Map, Value, json};

/// A client request waiting for its session's instance to start: where to answer, and the message.
pub(super) type Waiting = (Incoming, Map<String, Value>);

impl Hub {
    /// The limits of `session`'s own instance of `server`, if its requests go to one: the
    /// server is configured `perSession`, or it asks clients for roots and this session has
    /// roots to give (a shared server holds nobody's roots: DESIGN.md rule 2).
    pub(super) fn own_instance_limits(&self, session: &SessionId, server: &BackendKey) -> Option<PerSessionConfig> {
        let shared = self.backends.get(server)?;
        if let Some(limits) = shared.per_session() {
            return Some(limits.clone());
        }
        // A stateless request's roots are asked of it within the request, not held by an instance.
        let has_roots = !session.is_stateless() && self.sessions.get(session).is_some_and(|s| s.declares("roots"));
        (shared.asks_for_roots && has_roots).then(PerSessionConfig::default)
    }

    /// The backend that serves `session`'s requests for `server`: the shared one, or the
    /// session's own instance (started now if it has none). `Err` says why there is none.
    pub(super) fn instance_for(
        &mut self,
        now: Instant,
        session: &SessionId,
        server: &BackendKey,
    ) -> Result<BackendKey, String> {
        let Some(limits) = self.own_instance_limits(session, server) else { return Ok(server.clone()) };
        let Some(shared) = self.backends.get(server) else { return Ok(server.clone()) };
        if let Some(key) = shared.instances.get(session).cloned() {
            if self.backends.get(&key).is_some_and(|b| b.state.is_running()) {
                self.touch_instance(now, &key);
                return Ok(key);
            }
            // It died: the next request gets a fresh one rather than a restart of the old.
            self.remove_instance(now, &key, "it stopped");
        }
        let running = self.backends.get(server).map_or(0, |b| b.instances.len());
        if running >= limits.max_instances as usize {
            let why = if self.backends.get(server).is_some_and(|b| b.per_session().is_some()) {
                "perSession.maxInstances"
            } else {
                "one per client session that has roots, since the server asks for them"
            };
            return Err(format!("server '{server}' already runs {running} per-session instances ({why})"));
        }
        self.next_instance += 1;
        let key = BackendKey::instance(server.server_name(), self.next_instance);
        let Some(shared) = self.backends.get_mut(server) else { return Ok(server.clone()) };
        shared.instances.insert(session.clone(), key.clone());
        let learned = shared.learned;
        let mut config = shared.config.clone();
        // A dead instance is replaced on the session's next request, not restarted in place.
        config.restart.restart_on_exit = false;
        config.per_session = Some(limits);
        let mut instance = Backend::new(key.clone(), config, now);
        instance.owner = Some(session.clone());
        // What the shared instance's era turned out to be holds for its instances: not asked again.
        instance.learned = learned;
        tracing::info!(%server, instance = %key, %session, "starting a per-session instance");
        self.backends.insert(key.clone(), instance);
        self.start_backend(now, &key);
        self.touch_instance(now, &key);
        Ok(key)
    }

    /// Start `session`'s own instances of the servers that ask for roots, ahead of its first
    /// call, so each has its client's roots before it is used. Only once the session can be
    /// asked (it declared roots and has a stream open).
    pub(super) fn start_roots_instances(&mut self, now: Instant, session: &SessionId) {
        let Some(s) = self.sessions.get(session) else { return };
        if !s.declares("roots") || s.stream.is_none() {
            return;
        }
        let servers: Vec<BackendKey> = self
            .backends
            .values()
            .filter(|b| !b.key.is_instance() && b.asks_for_roots)
            .filter(|b| !b.instances.contains_key(session) && b.state.is_running())
            .map(|b| b.key.clone())
            .filter(|name| self.sees(session, name))
            .collect();
        for server in servers {
            if let Err(why) = self.instance_for(now, session, &server) {
                tracing::warn!(server = %server, %session, "no instance with the client's roots: {why}");
            }
        }
    }

    /// Whether `name` is an instance that must have its client's roots before serving: its
    /// server asks for roots, and its session has them.
    pub(super) fn needs_roots_first(&self, name: &BackendKey) -> bool {
        let Some(owner) = self.backends.get(name).and_then(|b| b.owner.as_ref()) else { return false };
        if owner.is_stateless() {
            // A stateless request can be asked only within its call, which waits for this
            // instance: the instance cannot wait for it.
            return false;
        }
        let asks = self.backends.get(&name.shared()).is_some_and(|shared| shared.asks_for_roots);
        asks && self.sessions.get(owner).is_some_and(|s| s.declares("roots"))
    }

    /// Hold a request until its instance is ready (answered with an error if it never is).
    pub(super) fn queue_for_instance(&mut self, instance: &BackendKey, req: Incoming, body: Map<String, Value>) {
        self.queued.entry(instance.clone()).or_default().push((req, body));
    }

    /// An instance became ready: send what waited for it.
    pub(super) fn release_queue(&mut self, now: Instant, instance: &BackendKey) {
        let Some(queue) = self.queued.remove(instance) else { return };
        let server = instance.shared();
        for (req, body) in queue {
            self.forward(now, req, &server, body);
        }
    }

    /// An instance failed or went away: what waited for it gets an error.
    pub(super) fn fail_queue(&mut self, instance: &BackendKey, reason: &str) {
        let Some(queue) = self.queued.remove(instance) else { return };
        let server = instance.server_name();
        for (req, _) in queue {
            let message = format!("the session's instance of server '{server}' could not start: {reason}");
            let data = json!({"server": server, "instance": instance.to_string()});
            let e = jsonrpc::error_with_data(Some(&req.id), code::INTERNAL_ERROR, message, Some(data));
            self.answer(&req, &e);
        }
    }

    fn touch_instance(&mut self, now: Instant, key: &BackendKey) {
        let Some(b) = self.backends.get_mut(key) else { return };
        let Some(limits) = b.config.per_session.clone() else { return };
        let generation = b.generation;
        if let Some(old) = b.idle_timer.take() {
            self.timers.remove(old);
        }
        let timer =
            self.timers.insert(now.after(limits.idle_timeout), Timer::Idle { backend: key.clone(), generation });
        if let Some(b) = self.backends.get_mut(key) {
            b.idle_timer = Some(timer);
        }
    }

    pub(super) fn handle_idle_due(&mut self, now: Instant, key: &BackendKey, generation: Gen) {
        let Some(b) = self.backends.get_mut(key) else { return };
        if b.generation != generation {
            return;
        }
        b.idle_timer = None;
        if b.in_flight.clients().next().is_some() {
            // Busy with a long call: idle means unused, not slow.
            return self.touch_instance(now, key);
        }
        tracing::info!(instance = %key, "stopping an idle per-session instance");
        self.remove_instance(now, key, "it was idle");
    }

    /// Stop and forget an instance; anything it still owed is answered with an error.
    pub(super) fn remove_instance(&mut self, now: Instant, key: &BackendKey, reason: &str) {
        let Some(b) = self.backends.get(key) else { return };
        let (owner, generation, running) = (b.owner.clone(), b.generation, b.state.is_running());
        if running {
            self.outputs.push_back(Output::StopBackend { backend: key.clone(), generation });
            self.take_down(now, key, BackendState::Stopped, reason);
        }
        self.fail_queue(key, reason);
        if let Some(b) = self.backends.remove(key) {
            for timer in [b.idle_timer, b.connect_timer, b.restart_timer].into_iter().flatten() {
                self.timers.remove(timer);
            }
        }
        if let (Some(shared), Some(owner)) = (self.backends.get_mut(&key.shared()), owner) {
            shared.instances.remove(&owner);
        }
    }

    /// A session ended: its instances go with it.
    pub(super) fn remove_instances_of(&mut self, now: Instant, session: &SessionId) {
        let keys: Vec<BackendKey> =
            self.backends.values().filter(|b| b.owner.as_ref() == Some(session)).map(|b| b.key.clone()).collect();
        for key in keys {
            self.remove_instance(now, &key, "its session ended");
        }
    }
}
