//! The actor: a thin loop that feeds the core and performs its effects.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, never, select};

use crate::generation::{
    Command, CoreConfig, Effect, Event, GenerationKey, Lifecycle, LoadFailure, Outcome, RequestId,
};
use crate::loader::{CloseOutcome, LibraryLoader, LoadedLibrary};
use crate::owner::OwnerKey;

use super::error::StartError;
use super::libraries::Libraries;
use super::loader_thread;
use super::mailbox::Outbox;
use super::owner::CommandCompleted;
use super::protocol::{LoaderDone, LoaderJob, PinGrant, Release, Request, Reservation};

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
    core: Lifecycle,
    libraries: Libraries,
    mailboxes: HashMap<OwnerKey, Outbox>,
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
    pub(crate) fn spawn(
        config: CoreConfig,
        loader: LibraryLoader,
        loader_threads: usize,
        requests: Receiver<Request>,
        releases: Receiver<Release>,
        poisoned: Arc<AtomicBool>,
    ) -> Result<(), StartError> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        loader_thread::spawn(loader, loader_threads, jobs_rx, done_tx)?;
        let actor = Actor {
            core: Lifecycle::new(config),
            libraries: Libraries::default(),
            mailboxes: HashMap::new(),
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
        if result.is_err() {
            poisoned.store(true, Ordering::SeqCst);
            tracing::error!(
                libraries = self.libraries.len(),
                "the runtime's actor panicked; the runtime is poisoned and keeps every library loaded"
            );
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
            let mut wake = self.core.poll_timeout();
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
                recv(timer) -> _ => self.core.handle_timeout(Instant::now()),
            }
            self.perform_effects();
            self.catch_up_lagging();

            if !requests_open && !releases_open && !finishing {
                // Every handle, owner, instance and pin is gone (a channel reports
                // disconnection only after its last message), so nothing can hold a
                // generation any more: drain everything and close it.
                finishing = true;
                let now = Instant::now();
                self.core.submit(
                    now,
                    ACTOR_REQUEST,
                    None,
                    Command::Shutdown { deadline: now },
                );
                self.perform_effects();
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
            } => {
                if let Some(waiter) = waiter {
                    self.waiters.insert(request_id, waiter);
                }
                self.core.submit(now, request_id, owner, command);
            }
            Request::RegisterOwner {
                name,
                mailbox,
                held_back,
                reply,
            } => {
                let key = self.core.register_owner(name);
                self.mailboxes.insert(key, Outbox::new(mailbox, held_back));
                if reply.send(key).is_err() {
                    // The registering thread left before hearing back; it holds nothing.
                    let _ = self.core.unregister_owner(now, key);
                    self.mailboxes.remove(&key);
                }
            }
            Request::Subscribe {
                owner,
                subscription,
                reply,
            } => {
                let ok = self.core.subscribe(owner, subscription).is_ok();
                // The caller may have left; then there is no one to tell.
                let _ = reply.send(ok);
            }
            Request::Reserve {
                owner,
                plugin_id,
                kind,
                type_id,
                interface_version,
                reply,
            } => {
                let reservation = self
                    .core
                    .reserve_ticket(now, owner, &plugin_id, kind, &type_id, interface_version)
                    .map(|ticket| Reservation {
                        library: self.library_of(ticket.generation),
                        ticket,
                    });
                if let Err(unsent) = reply.send(reservation)
                    && let Ok(reservation) = unsent.into_inner()
                {
                    // The owner left before phase two; its library reference goes first.
                    let ticket = reservation.ticket.key;
                    drop(reservation);
                    let _ = self.core.ticket_dropped(now, ticket);
                }
            }
            Request::Pin {
                owner,
                plugin_id,
                reply,
            } => {
                let grant = self
                    .core
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
                    let _ = self.core.unpin(now, pin);
                }
            }
            Request::GenerationState { generation, reply } => {
                let state = self.core.generation(generation).map(|view| view.state);
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

    fn on_release(&mut self, release: Release) {
        let now = Instant::now();
        let result = match release {
            Release::TicketCreated { ticket, reply } => {
                let recorded = self.core.ticket_created(now, ticket);
                if let Err(unsent) = reply.send(recorded)
                    && let Ok(instance) = unsent.into_inner()
                {
                    // The owner thread unwound between create and here: the plugin
                    // object leaks with it, but no code of it can run any more.
                    let _ = self.core.release_instance(now, instance);
                }
                Ok(())
            }
            Release::TicketFailed { ticket } => self
                .core
                .ticket_failed(now, ticket)
                .map_err(|e| e.to_string()),
            Release::Instance { instance } => self
                .core
                .release_instance(now, instance)
                .map_err(|e| e.to_string()),
            Release::Unpin { pin } => self.core.unpin(now, pin).map_err(|e| e.to_string()),
            Release::UnregisterOwner { owner } => {
                self.mailboxes.remove(&owner);
                self.lagging.retain(|o| *o != owner);
                self.core
                    .unregister_owner(now, owner)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
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
                let (module, library) = match result {
                    Ok(library) => (Ok(library.module().clone()), Some(library)),
                    Err(e) => (Err(LoadFailure::from(&e)), None),
                };
                match self.core.load_finished(now, load, module) {
                    Ok(Some(generation)) => {
                        if let Some(library) = library {
                            self.libraries.insert(generation, library);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "the core did not expect this load"),
                }
            }
            LoaderDone::Closed {
                token,
                report,
                unmapped,
            } => {
                let generation = token.generation();
                let outcome = report.outcome.clone();
                if let Err(e) = self.core.closed(now, token, report.outcome) {
                    tracing::error!(error = %e, "the core did not expect this close");
                } else if outcome == CloseOutcome::Unmapped {
                    // Gone from the process: the record goes too, and its key now
                    // resolves to not-found.
                    let _ = self.core.cleanup(generation);
                }
                // Generations the OS loader kept mapped at their close (this one
                // included) whose code the loader thread found gone after this close:
                // their records go now. Each one's own close came before, or in this
                // very message, so it is already pinned by the loader.
                for generation in unmapped {
                    tracing::info!(generation = ?generation, "a generation kept mapped by the OS loader is gone");
                    let _ = self.core.cleanup(generation);
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
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Open {
                    load,
                    path,
                    expected_plugin_id,
                } => self.job(LoaderJob::Open {
                    load,
                    path,
                    expected_plugin_id,
                }),
                Effect::Close(token) => match self.libraries.take(&token) {
                    Some(library) => self.job(LoaderJob::Close { token, library }),
                    None => {
                        tracing::error!(generation = ?token.generation(), "no library to close");
                        let _ = self.core.closed(
                            Instant::now(),
                            token,
                            CloseOutcome::KeptLoaded {
                                reason: "the runtime had no library for this generation".into(),
                            },
                        );
                    }
                },
                Effect::Notify { owner, notice } => {
                    // An owner that left is unregistered by its own release message.
                    if let Some(outbox) = self.mailboxes.get_mut(&owner)
                        && outbox.notify(notice)
                        && !self.lagging.contains(&owner)
                    {
                        self.lagging.push(owner);
                    }
                }
                Effect::Complete {
                    request_id,
                    owner,
                    outcome,
                } => self.complete(request_id, owner, outcome),
                Effect::Event(event) => log_event(&event),
            }
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

    /// Routes an outcome to exactly one place: the waiting caller, else the submitting
    /// owner's mailbox.
    fn complete(&mut self, request_id: RequestId, owner: Option<OwnerKey>, outcome: Outcome) {
        if let Some(waiter) = self.waiters.remove(&request_id) {
            // A caller that timed out and left is ignored on purpose: it said it would
            // not wait longer.
            let _ = waiter.send(outcome);
            return;
        }
        if let Some(owner) = owner
            && let Some(outbox) = self.mailboxes.get(&owner)
        {
            outbox.complete(CommandCompleted {
                request_id,
                owner,
                outcome,
            });
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
        let (core, mailboxes) = (&self.core, &mut self.mailboxes);
        self.lagging.retain(|owner| match mailboxes.get_mut(owner) {
            Some(outbox) => outbox.catch_up(|| {
                // A registered owner is known to the core; an empty list is the only
                // answer for one that is not.
                core.draining_notices(*owner).unwrap_or_default()
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

fn log_event(event: &Event) {
    tracing::info!(target: "plugin_runtime::lifecycle", ?event, "lifecycle event");
}
