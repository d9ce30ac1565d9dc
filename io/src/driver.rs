//! The hub task: the only owner of the [`Hub`]. It turns messages from the front end and the
//! backends into inputs, fires timers, and carries every output out to the world.

use crate::backend::{self, BackendHandle, PipeLimits, WriteRefused};
use crate::backend_auth::registry::Authorizations;
use crate::clock::Clock;
use crate::exchange::{FrontMsg, Head};
use crate::http_backend;
use crate::record::Recorder;
use onemcp_core::config::TransportConfig;
use onemcp_core::{BackendKey, ExchangeId, Gen, HttpResponse, Hub, Input, Output, SseEvent};
use std::collections::{BTreeMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;

/// Events that may queue on one open stream before the client is deemed too slow and cut off;
/// the hub task never waits for a client.
const STREAM_QUEUE: usize = 1024;

/// Where an exchange stands, from the driver's side.
#[derive(Debug)]
enum Slot {
    /// Waiting for the core's first answer.
    Pending(oneshot::Sender<Head>),
    /// A stream is open; events go here.
    Stream(mpsc::Sender<SseEvent>),
}

/// Channels the hub task listens on.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// HTTP requests and client disconnects (unbounded: bounded by open connections).
    pub(crate) front: mpsc::UnboundedReceiver<FrontMsg>,
    /// Backend lines and exits (bounded: a flooding backend waits).
    pub(crate) backends: mpsc::Receiver<Input>,
    /// One message per shutdown request (signal); the second one forces the exit.
    pub(crate) shutdown: mpsc::Receiver<()>,
}

/// The hub task's state.
pub(crate) struct Driver {
    hub: Hub,
    clock: Clock,
    exchanges: BTreeMap<ExchangeId, Slot>,
    backends: BTreeMap<(BackendKey, Gen), BackendHandle>,
    backend_events: mpsc::Sender<Input>,
    pipe_limits: PipeLimits,
    /// Inputs produced while dispatching outputs (spawn results, dropped streams).
    pending: VecDeque<Input>,
    /// Tells the HTTP server to stop accepting connections.
    stop_accepting: watch::Sender<bool>,
    shutdown_grace: Duration,
    /// `serve --record`: every call into the hub, its instant and its outputs.
    recorder: Option<Recorder>,
    /// 1mcp's authorizations toward protected HTTP backends (none: it does not authorize).
    auths: Option<Arc<Authorizations>>,
}

impl Driver {
    /// A driver around `hub`; backends report on `backend_events`.
    pub(crate) fn new(
        hub: Hub,
        clock: Clock,
        backend_events: mpsc::Sender<Input>,
        pipe_limits: PipeLimits,
        stop_accepting: watch::Sender<bool>,
        shutdown_grace: Duration,
        recorder: Option<Recorder>,
    ) -> Self {
        Driver {
            hub,
            clock,
            exchanges: BTreeMap::new(),
            backends: BTreeMap::new(),
            backend_events,
            pipe_limits,
            pending: VecDeque::new(),
            stop_accepting,
            shutdown_grace,
            recorder,
            auths: None,
        }
    }

    /// HTTP backends authorize themselves with `auths` (OAuth) when their servers ask.
    pub(crate) fn with_authorizations(mut self, auths: Arc<Authorizations>) -> Self {
        self.auths = Some(auths);
        self
    }

    /// Runs until a shutdown has been requested and every backend has exited (or the grace
    /// period is over, or a second shutdown request arrives), then kills what is left.
    pub(crate) async fn run(mut self, mut inbox: Inbox) {
        self.start();
        let mut stop_deadline: Option<tokio::time::Instant> = None;
        while stop_deadline.is_none() || !self.backends.is_empty() {
            if self.handle_next(&mut inbox, &mut stop_deadline).await.is_break() {
                break;
            }
            self.step();
        }
        self.finish();
    }

    /// Waits for the next message, timer or deadline and takes it in; `Break` when waiting for
    /// backends is over (a second shutdown request, or `stop_deadline` passed).
    async fn handle_next(
        &mut self,
        inbox: &mut Inbox,
        stop_deadline: &mut Option<tokio::time::Instant>,
    ) -> ControlFlow<()> {
        let wake = self.hub.poll_timeout().map(|at| self.clock.to_tokio(at));
        tokio::select! {
            Some(msg) = inbox.front.recv() => self.on_front(msg),
            Some(input) = inbox.backends.recv() => self.on_backend(input),
            Some(()) = inbox.shutdown.recv() => return self.on_shutdown_request(stop_deadline),
            () = sleep_until_some(wake) => self.on_timeout(),
            () = sleep_until_some(*stop_deadline) => {
                tracing::warn!(remaining = self.backends.len(), "backends did not stop in time");
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// The first request starts the shutdown; a second one means "do not wait for backends".
    fn on_shutdown_request(&mut self, stop_deadline: &mut Option<tokio::time::Instant>) -> ControlFlow<()> {
        if stop_deadline.is_some() {
            tracing::warn!("second shutdown request; not waiting for backends");
            return ControlFlow::Break(());
        }
        *stop_deadline = Some(self.begin_shutdown());
        ControlFlow::Continue(())
    }

    /// The hub may have work at start (spawning every enabled backend).
    fn start(&mut self) {
        let outputs = self.drain();
        if let Some(recorder) = &mut self.recorder {
            recorder.record_start(&outputs);
        }
        self.dispatch_all(outputs);
        self.step();
    }

    /// The first shutdown request: stop accepting, ask the hub to stop every backend, and
    /// return how long they may take.
    fn begin_shutdown(&mut self) -> tokio::time::Instant {
        tracing::info!("shutting down");
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        let _ = self.stop_accepting.send(true);
        self.pending.push_back(Input::Shutdown);
        deadline
    }

    /// One of the hub's timers is due.
    fn on_timeout(&mut self) {
        // Read the clock after waking, not before sleeping: the hub must see real time.
        let now = self.clock.now();
        self.hub.handle_timeout(now);
        let outputs = self.drain();
        if let Some(recorder) = &mut self.recorder {
            recorder.record_timeout(now, &outputs);
        }
        self.dispatch_all(outputs);
    }

    fn on_front(&mut self, msg: FrontMsg) {
        match msg {
            FrontMsg::Request { exchange, request, reply } => {
                self.exchanges.insert(exchange, Slot::Pending(reply));
                self.pending.push_back(Input::HttpRequest { exchange, request: *request });
            }
            FrontMsg::Closed(exchange) => {
                // Only exchanges the core still considers open; one it already finished needs no news.
                if self.exchanges.remove(&exchange).is_some() {
                    tracing::debug!(%exchange, "client went away");
                    self.pending.push_back(Input::ExchangeClosed { exchange });
                }
            }
        }
    }

    fn on_backend(&mut self, input: Input) {
        // An HTTP connection that never came up reports that instead of an exit, and one the
        // server refused until the user authorizes it reports that: either way it is over.
        if let Input::BackendExited { backend, generation, .. }
        | Input::BackendSpawnFailed { backend, generation, .. }
        | Input::BackendNeedsAuthorization { backend, generation, .. } = &input
        {
            self.backends.remove(&(backend.clone(), *generation));
        }
        self.pending.push_back(input);
    }

    /// Feeds pending inputs and dispatches outputs until both are exhausted.
    fn step(&mut self) {
        while let Some(input) = self.pending.pop_front() {
            let now = self.clock.now();
            // Serialized before the hub takes it, written with what the hub made of it.
            let recorded = self.recorder.as_ref().map(|r| r.input(now, &input));
            self.hub.handle(now, input);
            let outputs = self.drain();
            if let (Some(recorder), Some(recorded)) = (&mut self.recorder, recorded) {
                recorder.record(recorded, &outputs);
            }
            self.dispatch_all(outputs);
        }
    }

    /// Everything the hub wants done after one call. Collected before any of it is carried
    /// out: dispatching only queues inputs, so the hub is never called in between.
    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.hub.poll_output()).collect()
    }

    fn dispatch_all(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            self.dispatch(output);
        }
    }

    fn dispatch(&mut self, output: Output) {
        match output {
            Output::Respond { exchange, response } => self.respond(exchange, response),
            Output::OpenStream { exchange, headers } => self.open_stream(exchange, headers),
            Output::PushEvent { exchange, event } => self.push_event(exchange, event),
            Output::CloseStream { exchange } => {
                // Dropping the sender ends the body; dropping a pending reply answers 503.
                self.exchanges.remove(&exchange);
            }
            Output::SpawnBackend { backend, generation, transport } => self.spawn(backend, generation, &transport),
            Output::WriteBackend { backend, generation, line } => self.write_backend(backend, generation, line),
            Output::StopBackend { backend, generation } => {
                if let Some(handle) = self.backends.get_mut(&(backend, generation)) {
                    handle.stop();
                }
            }
        }
    }

    fn respond(&mut self, exchange: ExchangeId, response: HttpResponse) {
        match self.exchanges.remove(&exchange) {
            Some(Slot::Pending(reply)) => {
                // A failed send means the client left; its guard already told us.
                let _ = reply.send(Head::Response(response));
            }
            Some(Slot::Stream(_)) => tracing::debug!(%exchange, "respond on an open stream; stream closed instead"),
            None => {}
        }
    }

    fn open_stream(&mut self, exchange: ExchangeId, headers: Vec<(String, String)>) {
        match self.exchanges.remove(&exchange) {
            Some(Slot::Pending(reply)) => {
                let (events, rx) = mpsc::channel(STREAM_QUEUE);
                if reply.send(Head::Stream { headers, events: rx }).is_ok() {
                    self.exchanges.insert(exchange, Slot::Stream(events));
                } else {
                    // The guard's `Closed` will find no slot, so report it here instead.
                    self.pending.push_back(Input::ExchangeClosed { exchange });
                }
            }
            Some(slot @ Slot::Stream(_)) => {
                self.exchanges.insert(exchange, slot);
                tracing::debug!(%exchange, "stream already open");
            }
            None => {}
        }
    }

    /// Queues `event` on its stream without waiting: a client that lets the queue fill up is
    /// cut off, so one slow reader never holds up the hub.
    fn push_event(&mut self, exchange: ExchangeId, event: SseEvent) {
        let Some(Slot::Stream(events)) = self.exchanges.get(&exchange) else { return };
        match events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%exchange, "client is not reading its event stream; closing it");
                self.exchanges.remove(&exchange);
                self.pending.push_back(Input::ExchangeClosed { exchange });
            }
            // The body was dropped; its guard's `Closed` is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn write_backend(&mut self, backend: BackendKey, generation: Gen, line: String) {
        let Some(handle) = self.backends.get(&(backend, generation)) else { return };
        match handle.write(line) {
            Ok(()) => {}
            Err(WriteRefused::QueueFull) => {
                tracing::warn!(%generation, "backend is not reading stdin; message dropped")
            }
            Err(WriteRefused::Closed) => tracing::debug!(%generation, "backend stdin closed; message dropped"),
        }
    }

    fn spawn(&mut self, backend: BackendKey, generation: Gen, transport: &TransportConfig) {
        let key = (backend, generation);
        if self.backends.contains_key(&key) {
            tracing::warn!(server = %key.0, %generation, "backend generation already running; spawn ignored");
            return;
        }
        let (backend, generation) = key;
        if *self.stop_accepting.borrow() {
            let what = match transport {
                TransportConfig::Stdio(spec) => format!("start `{}`", spec.command),
                TransportConfig::Http(_) => "connect".to_owned(),
            };
            let error = format!("failed to {what}: 1mcp is shutting down");
            self.pending.push_back(Input::BackendSpawnFailed { backend, generation, error });
            return;
        }
        let events = self.backend_events.clone();
        let started = match transport {
            // Forked right here on the hub task's worker thread: the parent-death signal is
            // tied to the forking thread, and runtime workers live as long as the daemon.
            TransportConfig::Stdio(spec) => backend::spawn(&backend, generation, spec, self.pipe_limits, events),
            // Reports `BackendSpawned` (or `BackendSpawnFailed`) itself, once it knows.
            TransportConfig::Http(config) => {
                let auth = self.auths.as_ref().and_then(|auths| auths.for_server(backend.server_name(), config));
                http_backend::connect(&backend, generation, config, auth, self.pipe_limits.max_line_bytes, events)
            }
        };
        match started {
            Ok(handle) => {
                let pid = handle.pid();
                tracing::debug!(server = %backend, %generation, pid, "backend started");
                self.backends.insert((backend.clone(), generation), handle);
                if matches!(transport, TransportConfig::Stdio(_)) {
                    self.pending.push_back(Input::BackendSpawned { backend, generation, pid });
                }
            }
            Err(error) => {
                tracing::warn!(server = %backend, %generation, "{error}");
                self.pending.push_back(Input::BackendSpawnFailed { backend, generation, error });
            }
        }
    }

    /// Last step of shutdown: no backend may outlive the daemon, no client waits forever.
    fn finish(mut self) {
        for ((server, generation), handle) in std::mem::take(&mut self.backends) {
            match handle.pid() {
                Some(pid) => tracing::warn!(server = %server, %generation, pid, "killing backend process group"),
                None => tracing::warn!(server = %server, %generation, "dropping backend connection"),
            }
            handle.kill_now();
        }
        // Dropping the slots answers pending requests with 503 and ends open streams.
        self.exchanges.clear();
        if let Some(recorder) = &mut self.recorder {
            recorder.finish();
        }
    }
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
