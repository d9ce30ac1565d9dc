//! Hot reload: a new configuration restarts only the servers whose process it changes; the
//! rest keep their process, their sessions and their calls in flight. An invalid file changes
//! nothing and is reported until a valid one arrives.

use super::Hub;
use crate::backend::{Backend, BackendState};
use crate::config::McpConfig;
use crate::event::Output;
use crate::ids::{BackendKey, SessionId};
use crate::reload;
use crate::time::Instant;

impl Hub {
    pub(super) fn handle_config_changed(&mut self, now: Instant, config: McpConfig) {
        self.config_error = None;
        let plan = reload::plan(&self.config.mcp, &config);
        if plan.is_empty() {
            tracing::info!("configuration reloaded: nothing changed");
            self.config.mcp = config;
            return;
        }
        tracing::info!(
            added = ?plan.added, removed = ?plan.removed, restarted = ?plan.restarted, updated = ?plan.updated,
            "configuration reloaded"
        );
        for name in &plan.removed {
            let key = BackendKey::server(name.clone());
            self.retire_server(now, &key, "it was removed from the configuration");
            self.backends.remove(&key);
        }
        for name in &plan.restarted {
            self.retire_server(now, &BackendKey::server(name.clone()), "its configuration changed");
        }
        for name in plan.added.iter().chain(&plan.restarted) {
            if let Some(server) = config.servers.get(name) {
                let key = BackendKey::server(name.clone());
                self.backends.insert(key.clone(), Backend::new(key.clone(), server.clone(), now));
                self.start_backend(now, &key);
            }
        }
        for name in &plan.updated {
            if let Some(server) = config.servers.get(name) {
                self.update_in_place(name, server);
            }
        }
        self.config.mcp = config;
        // Tags, disabledTools and descriptions shape the lists; sessions hear of what changed.
        self.rebuild_registry();
    }

    /// A change that needs no restart (tags, disabledTools, timeouts...): the server and its
    /// per-session instances take the new configuration as they run.
    fn update_in_place(&mut self, name: &str, server: &crate::config::ServerConfig) {
        for backend in self.backends.values_mut().filter(|b| b.server() == name) {
            // An instance keeps instance limits even when the server has no `perSession` of its
            // own (an instance for a client's roots).
            let limits = server.per_session.clone().or_else(|| backend.config.per_session.take());
            backend.config = server.clone();
            if backend.key.is_instance() {
                backend.config.restart.restart_on_exit = false;
                backend.config.per_session = limits;
            }
        }
    }

    pub(super) fn handle_config_invalid(&mut self, errors: Vec<String>) {
        for error in &errors {
            tracing::error!("configuration not reloaded: {error}");
        }
        self.config_error = Some(errors);
    }

    /// `presets.json` was (re)read: `?preset=` resolves against it from now on (a stateless
    /// request at once, a session when it opens; an open session keeps its view). Presets
    /// with errors are left out, each said once.
    pub(in crate::hub) fn handle_presets_changed(&mut self, file: super::PresetsFile) {
        let (presets, warnings) = crate::view::parse_presets(&file.text, &file.source);
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        tracing::info!(source = %file.source, presets = presets.len(), "presets loaded");
        self.presets = presets;
    }

    /// Stop a server and all its per-session instances; whatever they owed gets an error.
    fn retire_server(&mut self, now: Instant, name: &BackendKey, reason: &str) {
        let instances: Vec<BackendKey> = self
            .backends
            .values()
            .filter(|b| b.server() == name.server_name() && b.key.is_instance())
            .map(|b| b.key.clone())
            .collect();
        for key in instances {
            self.remove_instance(now, &key, reason);
        }
        let Some(backend) = self.backends.get_mut(name) else { return };
        if let Some(timer) = backend.restart_timer.take() {
            self.timers.remove(timer);
        }
        let (generation, running) = (backend.generation, backend.state.is_running());
        if running {
            self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
        }
        self.take_down(now, name, BackendState::Stopped, reason);
    }

    /// The rejected configuration's problems, for `/health`.
    pub(super) fn config_errors(&self) -> Option<&[String]> {
        self.config_error.as_deref()
    }
}

impl Hub {
    /// Make sure a sweep is scheduled while there are sessions and a timeout is configured.
    pub(super) fn schedule_session_sweep(&mut self, now: Instant) {
        let Some(timeout) = self.config.session_idle_timeout else { return };
        if self.sweep_timer.is_some() || self.sessions.is_empty() {
            return;
        }
        // Often enough to keep the overshoot small, rarely enough to cost nothing.
        let every = (timeout / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60));
        self.sweep_timer = Some(self.timers.insert(now.after(every), super::Timer::SessionSweep));
    }

    pub(super) fn handle_session_sweep(&mut self, now: Instant) {
        self.sweep_timer = None;
        self.close_streams_of_expired_tokens(now);
        let Some(timeout) = self.config.session_idle_timeout else { return };
        let idle: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| !s.id.is_stateless() && s.stream.is_none() && s.in_flight.is_empty())
            .filter(|s| now.since(s.last_active) >= timeout)
            .map(|s| s.id.clone())
            .collect();
        for session in idle {
            self.end_session(now, &session, "it was idle too long");
        }
        self.schedule_session_sweep(now);
    }
}
