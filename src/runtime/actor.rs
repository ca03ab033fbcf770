//! The actor: a thin loop that feeds the core and performs its effects.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, never, select};

use std::path::PathBuf;

use crate::events::{Event, EventKind, EventRecord};
use crate::generation::{
    Command, CoreConfig, GenerationKey, LoadFailure, LoadKey, Outcome, RequestId, Snapshot, SyncKey,
};
use crate::loader::{CloseOutcome, LibraryLoader, LoadedLibrary};
use crate::owner::OwnerKey;
use crate::routing::{Action, ListenerId, Router};

use super::error::StartError;
use super::libraries::Libraries;
use super::listener::ListenerOutbox;
use super::loader_thread;
use super::mailbox::Outbox;
use super::owner::CommandCompleted;
use super::protocol::{
    LoaderDone, LoaderJob, PinGrant, Release, Request, Reservation, TicketGuard,
};

/// Request ids the actor uses for its own commands (the final shutdown); handles count
/// up from 1, so these never collide.
const ACTOR_REQUEST: RequestId = RequestId(0);

/// How often the actor looks again at the mailboxes of lagging owners. An owner's reads
/// do not wake the actor (that would make the owner send at its safe point), so the
/// actor polls, and only while some owner lags.
const LAG_RETRY: Duration = Duration::from_millis(2);

/// The longest wait between two looks at lagging owners: the retry interval doubles
/// while no lagging owner catches up, so an owner that never reads costs the actor a
/// few wake-ups a second, not hundreds.
const LAG_RETRY_MAX: Duration = Duration::from_millis(500);

pub(crate) struct Actor {
    /// The core behind the routing driver, which decides where each effect goes.
    router: Router,
    libraries: Libraries,
    /// Shadow copies of generations closed but not (yet) unmapped, for snapshots.
    closed_shadows: HashMap<GenerationKey, PathBuf>,
    mailboxes: HashMap<OwnerKey, Outbox>,
    listeners: HashMap<ListenerId, ListenerOutbox>,
    listener_capacity: usize,
    /// The span of each command not completed yet, entered whenever it makes progress.
    spans: HashMap<RequestId, tracing::Span>,
    /// The command behind each load in flight.
    load_requests: HashMap<LoadKey, RequestId>,
    /// The command behind each directory scan in flight.
    scan_requests: HashMap<SyncKey, RequestId>,
    /// Owners with notices not queued for lack of room: few, checked after every step.
    lagging: Vec<OwnerKey>,
    /// The current wait before looking at lagging owners again.
    lag_retry: Duration,
    waiters: HashMap<RequestId, Sender<Outcome>>,
    jobs: Sender<LoaderJob>,
    /// Opens and closes handed to the loader threads and not yet answered.
    jobs_in_flight: usize,
}

impl Actor {
    /// Spawns the loader threads and the actor thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn(
        config: CoreConfig,
        loader: LibraryLoader,
        loader_threads: usize,
        listener_capacity: usize,
        requests: Receiver<Request>,
        releases: Receiver<Release>,
        poisoned: Arc<AtomicBool>,
    ) -> Result<(), StartError> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        loader_thread::spawn(loader, loader_threads, jobs_rx, done_tx)?;
        let actor = Actor {
            router: Router::new(config, Instant::now()),
            libraries: Libraries::default(),
            closed_shadows: HashMap::new(),
            mailboxes: HashMap::new(),
            listeners: HashMap::new(),
            listener_capacity,
            spans: HashMap::new(),
            load_requests: HashMap::new(),
            scan_requests: HashMap::new(),
            lagging: Vec::new(),
            lag_retry: LAG_RETRY,
            waiters: HashMap::new(),
            jobs: jobs_tx,
            jobs_in_flight: 0,
        };
        std::thread::Builder::new()
            .name("plugrt-actor".into())
            .spawn(move || actor.run_guarded(requests, releases, done_rx, &poisoned))
            .map_err(|source| StartError::Spawn {
                thread: "actor",
                source,
            })?;
        Ok(())
    }

    /// Runs the loop; a panic poisons the runtime and unloads nothing.
    fn run_guarded(
        mut self,
        requests: Receiver<Request>,
        releases: Receiver<Release>,
        done: Receiver<LoaderDone>,
        poisoned: &AtomicBool,
    ) {
        let result = catch_unwind(AssertUnwindSafe(|| self.run(&requests, &releases, &done)));
        if let Err(payload) = result {
            poisoned.store(true, Ordering::SeqCst);
            tracing::error!(
                libraries = self.libraries.len(),
                "the runtime's actor panicked; the runtime is poisoned and keeps every library loaded"
            );
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            // The last record: listeners learn why nothing more comes. Delivering it
            // only touches the listeners' channels, never the suspect bookkeeping.
            let action = self.router.poisoned(Instant::now(), message);
            let _ = catch_unwind(AssertUnwindSafe(|| self.perform(action)));
        }
        // Dropping the actor drops its libraries, which never closes them: a
        // `LoadedLibrary` dropped without `LibraryLoader::close` stays loaded. After a
        // panic that is what must happen, because the bookkeeping that would prove a
        // library unused is suspect. Dropping the receivers tells every sender the actor
        // is gone.
    }

    fn run(
        &mut self,
        requests: &Receiver<Request>,
        releases: &Receiver<Release>,
        done: &Receiver<LoaderDone>,
    ) {
        let no_requests = never::<Request>();
        let no_releases = never::<Release>();
        let (mut requests_open, mut releases_open) = (true, true);
        let mut finishing = false;
        loop {
            let mut wake = self.router.core().poll_timeout();
            if !self.lagging.is_empty() {
                let retry = Instant::now() + self.lag_retry;
                wake = Some(wake.map_or(retry, |at| at.min(retry)));
            }
            // Waking early is harmless: `handle_timeout` acts only on what is due.
            let timer = match wake {
                Some(at) => crossbeam_channel::at(at),
                None => never(),
            };
            let requests_now = if requests_open {
                requests
            } else {
                &no_requests
            };
            let releases_now = if releases_open {
                releases
            } else {
                &no_releases
            };
            select! {
                recv(requests_now) -> message => match message {
                    Ok(request) => self.on_request(request),
                    Err(_) => requests_open = false,
                },
                recv(releases_now) -> message => match message {
                    Ok(release) => self.on_release(release),
                    Err(_) => releases_open = false,
                },
                recv(done) -> message => match message {
                    Ok(done) => self.on_loader_done(done),
                    // Every loader thread is gone (they end only when the actor drops
                    // the job queue, or by panicking). As in `job`: poison the runtime
                    // on purpose rather than spin on a closed channel.
                    Err(_) => panic!("every loader thread died"),
                },
                recv(timer) -> _ => self.router.core_mut().handle_timeout(Instant::now()),
            }
            self.perform_effects();
            self.catch_up_lagging();

            if !requests_open && !releases_open && !finishing {
                // Every handle, owner, instance and pin is gone (a channel reports
                // disconnection only after its last message), so nothing can hold a
                // generation any more: drain everything and close it.
                finishing = true;
                let shutdown = Command::Shutdown {
                    timeout: Duration::ZERO,
                };
                self.submit(ACTOR_REQUEST, None, shutdown, None);
            }
            if finishing && self.jobs_in_flight == 0 {
                break;
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        let now = Instant::now();
        match request {
            Request::Submit {
                request_id,
                owner,
                command,
                waiter,
            } => self.submit(request_id, owner, command, waiter),
            Request::RegisterOwner {
                name,
                thread,
                mailbox,
                held_back,
                reply,
            } => {
                let key = self.router.core_mut().register_owner_on(name, thread);
                self.mailboxes.insert(key, Outbox::new(mailbox, held_back));
                if reply.send(key).is_err() {
                    // The registering thread left before hearing back; it holds nothing.
                    let _ = self.router.core_mut().unregister_owner(now, key);
                    self.mailboxes.remove(&key);
                }
            }
            Request::Subscribe {
                owner,
                subscription,
                reply,
            } => {
                let result = self.router.core_mut().subscribe(owner, subscription);
                // The caller may have left; then there is no one to tell.
                let _ = reply.send(result);
            }
            Request::Listen { filter, reply } => {
                let id = self.router.listen(filter);
                let (outbox, receiver) = ListenerOutbox::channel(self.listener_capacity);
                if reply.send((id, receiver)).is_ok() {
                    self.listeners.insert(id, outbox);
                } else {
                    self.router.unlisten(id);
                }
            }
            Request::Reserve {
                owner,
                plugin_id,
                kind,
                type_id,
                interface_version,
                reply,
                releases,
            } => {
                let core = self.router.core_mut();
                let reservation = core
                    .reserve_ticket(now, owner, &plugin_id, kind, &type_id, interface_version)
                    .map(|ticket| Reservation {
                        library: self.library_of(ticket.generation),
                        live_config: self.router.core().live_config(&plugin_id, &type_id),
                        guard: TicketGuard::new(ticket.key, releases),
                        ticket,
                    });
                if let Err(unsent) = reply.send(reservation)
                    && let Ok(mut reservation) = unsent.into_inner()
                {
                    // The owner left before phase two; its library reference goes first,
                    // and the ticket is dropped here rather than by the guard.
                    reservation.guard.disarm();
                    let ticket = reservation.ticket.key;
                    drop(reservation);
                    let _ = self.router.core_mut().ticket_dropped(now, ticket);
                }
            }
            Request::Pin {
                owner,
                plugin_id,
                reply,
            } => {
                let grant =
                    self.router
                        .core_mut()
                        .pin(now, owner, &plugin_id)
                        .map(|(pin, generation)| PinGrant {
                            pin,
                            generation,
                            library: self.library_of(generation),
                        });
                if let Err(unsent) = reply.send(grant)
                    && let Ok(grant) = unsent.into_inner()
                {
                    let pin = grant.pin;
                    drop(grant);
                    let _ = self.router.core_mut().unpin(now, pin);
                }
            }
            Request::GenerationState { generation, reply } => {
                let state = self
                    .router
                    .core()
                    .generation(generation)
                    .map(|view| view.state);
                let _ = reply.send(state);
            }
            #[cfg(test)]
            Request::Panic => panic!("the actor panics, as the test asked"),
            #[cfg(test)]
            Request::Block { until } => {
                let _ = until.recv();
            }
        }
    }

    /// Submits a command inside its own span, which the actor enters again whenever the
    /// command makes progress, and performs what it asks for at once.
    fn submit(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        command: Command,
        waiter: Option<Sender<Outcome>>,
    ) {
        let span = tracing::info_span!(
            target: "plugin_runtime::command",
            "command",
            request_id = request_id.0,
            owner = owner.map(tracing::field::display),
            command = ?command,
        );
        let _entered = span.enter();
        let waits = waiter.is_some();
        if let Some(waiter) = waiter {
            self.waiters.insert(request_id, waiter);
        }
        self.spans.insert(request_id, span.clone());
        self.router
            .submit(Instant::now(), request_id, owner, command, waits);
        self.perform_effects();
    }

    fn on_release(&mut self, release: Release) {
        let now = Instant::now();
        let core = self.router.core_mut();
        let result = match release {
            Release::Created { ticket } => core
                .record_created(now, ticket)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Release::TicketFailed { ticket } => {
                core.ticket_failed(now, ticket).map_err(|e| e.to_string())
            }
            Release::Destroyed { ticket } => {
                core.release_created(now, ticket).map_err(|e| e.to_string())
            }
            Release::Configured { ticket, report } => core
                .instance_of(ticket)
                .map_err(|e| e.to_string())
                .and_then(|instance| {
                    core.instance_configured(now, instance, report)
                        .map_err(|e| e.to_string())
                }),
            Release::Unpin { pin } => core.unpin(now, pin).map_err(|e| e.to_string()),
            Release::UnregisterOwner { owner } => {
                let result = core
                    .unregister_owner(now, owner)
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                self.mailboxes.remove(&owner);
                self.lagging.retain(|o| *o != owner);
                result
            }
            Release::Unlisten { listener } => {
                self.router.unlisten(listener);
                self.listeners.remove(&listener);
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "a release did not match the core's records");
        }
    }

    fn on_loader_done(&mut self, done: LoaderDone) {
        self.jobs_in_flight -= 1;
        let now = Instant::now();
        match done {
            LoaderDone::Opened { load, result } => {
                let span = self
                    .load_requests
                    .remove(&load)
                    .and_then(|request| self.spans.get(&request).cloned())
                    .unwrap_or_else(tracing::Span::none);
                let _entered = span.enter();
                let (module, library) = match result {
                    Ok(library) => (Ok(library.module().clone()), Some(library)),
                    Err(e) => (Err(LoadFailure::from(&e)), None),
                };
                match self.router.core_mut().load_finished(now, load, module) {
                    Ok(Some(generation)) => {
                        if let Some(library) = library {
                            self.libraries.insert(generation, library);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "the core did not expect this load"),
                }
                // Inside the command's span, so the load's records and logs nest under
                // the command that asked for it.
                self.perform_effects();
            }
            LoaderDone::Scanned { sync, result } => {
                let span = self
                    .scan_requests
                    .remove(&sync)
                    .and_then(|request| self.spans.get(&request).cloned())
                    .unwrap_or_else(tracing::Span::none);
                let _entered = span.enter();
                if let Err(e) = self.router.core_mut().scan_finished(now, sync, result) {
                    tracing::error!(error = %e, "the core did not expect this scan");
                }
                self.perform_effects();
            }
            LoaderDone::Closed {
                token,
                report,
                unmapped,
            } => {
                let generation = token.generation();
                let outcome = report.outcome.clone();
                let core = self.router.core_mut();
                if let Err(e) = core.closed(now, token, report.outcome) {
                    tracing::error!(error = %e, "the core did not expect this close");
                } else if outcome == CloseOutcome::Unmapped {
                    // Gone from the process: the record goes too, and its key now
                    // resolves to not-found.
                    let _ = core.cleanup(generation);
                } else {
                    self.closed_shadows.insert(generation, report.shadow_path);
                }
                // Generations the OS loader kept mapped at their close (this one
                // included) whose code the loader thread found gone after this close:
                // reported unmapped, and their records go now. Each one's own close came
                // before, or in this very message, so it is already pinned by the loader.
                for generation in unmapped {
                    let _ = self.router.core_mut().unmapped_later(generation);
                    self.closed_shadows.remove(&generation);
                }
            }
        }
    }

    /// A reference to a generation's library for a ticket or pin. The core only grants
    /// tickets and pins on active generations, whose libraries are always here.
    fn library_of(&self, generation: GenerationKey) -> Arc<LoadedLibrary> {
        Arc::clone(
            self.libraries
                .get(generation)
                .expect("an active generation always has its library"),
        )
    }

    fn perform_effects(&mut self) {
        loop {
            // What only the runtime knows goes into a snapshot once, before the router
            // hands the same one to its caller and to the `command_completed` record.
            let (mailboxes, libraries, closed_shadows) =
                (&self.mailboxes, &self.libraries, &self.closed_shadows);
            let mut extras = |snapshot: &mut Snapshot| {
                fill_snapshot(snapshot, mailboxes, |generation| {
                    libraries
                        .get(generation)
                        .map(|library| library.shadow_path().to_path_buf())
                        .or_else(|| closed_shadows.get(&generation).cloned())
                });
            };
            let Some(action) = self.router.poll_action_with(Instant::now(), &mut extras) else {
                break;
            };
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Open {
                request_id,
                load,
                path,
                expected_plugin_id,
            } => {
                self.load_requests.insert(load, request_id);
                self.job(LoaderJob::Open {
                    load,
                    path,
                    expected_plugin_id,
                });
            }
            Action::Scan {
                request_id,
                sync,
                dir,
            } => {
                self.scan_requests.insert(sync, request_id);
                self.job(LoaderJob::Scan { sync, dir });
            }
            Action::Close(token) => match self.libraries.take(&token) {
                Some(library) => self.job(LoaderJob::Close { token, library }),
                None => {
                    tracing::error!(generation = ?token.generation(), "no library to close");
                    let _ = self.router.core_mut().closed(
                        Instant::now(),
                        token,
                        CloseOutcome::KeptLoaded {
                            reason: "the runtime had no library for this generation".into(),
                        },
                    );
                }
            },
            Action::Notify { owner, notice } => {
                // An owner that left is unregistered by its own release message.
                if let Some(outbox) = self.mailboxes.get_mut(&owner)
                    && outbox.notify(notice)
                    && !self.lagging.contains(&owner)
                {
                    self.lagging.push(owner);
                }
            }
            Action::Serving { owner, notice } => {
                if let Some(outbox) = self.mailboxes.get_mut(&owner)
                    && outbox.serving(notice)
                    && !self.lagging.contains(&owner)
                {
                    self.lagging.push(owner);
                }
            }
            Action::Configure { owner, notice } => {
                if let Some(outbox) = self.mailboxes.get_mut(&owner)
                    && outbox.configure(notice)
                    && !self.lagging.contains(&owner)
                {
                    self.lagging.push(owner);
                }
            }
            Action::Stalled { owner, stall } => {
                if let Some(outbox) = self.mailboxes.get(&owner) {
                    outbox.stalled(stall);
                }
            }
            Action::Reply {
                request_id,
                outcome,
            } => {
                self.spans.remove(&request_id);
                if let Some(waiter) = self.waiters.remove(&request_id) {
                    // A caller that timed out and left is ignored on purpose: it said it
                    // would not wait longer.
                    let _ = waiter.send(outcome);
                }
            }
            Action::Complete {
                owner,
                request_id,
                outcome,
            } => {
                self.spans.remove(&request_id);
                if let Some(outbox) = self.mailboxes.get(&owner) {
                    outbox.complete(CommandCompleted {
                        request_id,
                        owner,
                        outcome,
                    });
                }
            }
            Action::Publish { record, listeners } => {
                // Every command completes once; its span goes with it, wherever the
                // outcome goes (a command without waiter or owner completes nowhere).
                if let Event::CommandCompleted { request_id, .. } = &record.event {
                    self.spans.remove(request_id);
                }
                log_record(&record);
                let mut dropped = 0;
                for id in listeners {
                    if let Some(outbox) = self.listeners.get_mut(&id) {
                        dropped += outbox.deliver(&record);
                    }
                }
                if dropped > 0 {
                    self.router.listener_dropped(dropped);
                }
            }
            // Actions added later are performed by a newer actor.
            #[allow(unreachable_patterns)]
            other => tracing::error!(?other, "an action this actor does not know"),
        }
    }

    fn job(&mut self, job: LoaderJob) {
        self.jobs_in_flight += 1;
        if self.jobs.send(job).is_err() {
            // The loader thread stops only when this actor drops its sender, or when it
            // panicked. Panicking here poisons the runtime on purpose: without a loader
            // nothing can be loaded or closed, and nothing must be unloaded.
            panic!("the loader thread died");
        }
    }

    /// Sends each lagging owner that has room again one `Lagged` event with what it must
    /// know now, computed by the core.
    fn catch_up_lagging(&mut self) {
        if self.lagging.is_empty() {
            self.lag_retry = LAG_RETRY;
            return;
        }
        let before = self.lagging.len();
        let (core, mailboxes) = (self.router.core(), &mut self.mailboxes);
        self.lagging.retain(|owner| match mailboxes.get_mut(owner) {
            Some(outbox) => outbox.catch_up(|| {
                // A registered owner is known to the core; empty lists are the only
                // answer for one that is not.
                (
                    core.draining_notices(*owner).unwrap_or_default(),
                    core.serving_notices(*owner).unwrap_or_default(),
                    core.config_notices(*owner).unwrap_or_default(),
                )
            }),
            None => false,
        });
        self.lag_retry = if self.lagging.len() < before {
            LAG_RETRY
        } else {
            (self.lag_retry * 2).min(LAG_RETRY_MAX)
        };
    }
}

fn fill_snapshot(
    snapshot: &mut Snapshot,
    mailboxes: &HashMap<OwnerKey, Outbox>,
    shadow: impl Fn(GenerationKey) -> Option<PathBuf>,
) {
    for owner in &mut snapshot.owners {
        owner.mailbox_backlog = mailboxes.get(&owner.owner).map(Outbox::backlog);
    }
    for generation in &mut snapshot.generations {
        generation.shadow_path = shadow(generation.generation);
    }
}

/// Every record is also a `tracing` event under `plugin_runtime::events`: stalls and
/// failed loads at `warn`, poisoning at `error`, the rest at `info`.
fn log_record(record: &EventRecord) {
    let fields = RecordFields(record);
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "plugin_runtime::events",
                $level,
                seq = record.seq,
                t_micros = record.t_micros,
                topic = record.event.topic().name(),
                event = record.event.name(),
                fields = %fields,
            )
        };
    }
    match record.event.kind() {
        EventKind::RuntimePoisoned => emit!(tracing::Level::ERROR),
        EventKind::DrainStalled | EventKind::LoadFailed => emit!(tracing::Level::WARN),
        _ => emit!(tracing::Level::INFO),
    }
}

/// The event's fields, formatted only if a subscriber records them: as the JSON of the
/// schema with the `serde` feature, else as the typed event's `Debug` form.
struct RecordFields<'a>(&'a EventRecord);

impl std::fmt::Display for RecordFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "serde")]
        {
            let value = serde_json::to_value(self.0).map_err(|_| std::fmt::Error)?;
            write!(f, "{}", value["fields"])
        }
        #[cfg(not(feature = "serde"))]
        {
            write!(f, "{:?}", self.0.event)
        }
    }
}
