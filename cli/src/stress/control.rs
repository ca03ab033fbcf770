//! The control thread of the stress: replaces the installed library by rename and
//! reloads it, unloads, disables and enables, one command at a time, and samples the
//! runtime's snapshot for the drain invariant.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plugin_runtime::generation::{
    Command, CommandError, GenerationState, Outcome, RequestId, Snapshot,
};
use plugin_runtime::runtime::{OwnerEvent, RequestError};
use plugin_runtime::{Owner, RuntimeHandle};

use super::{ECHO_ID, Shared};

/// How long the control thread waits for one outcome before counting it lost.
const OUTCOME_WAIT: Duration = Duration::from_secs(30);
/// How often the storm samples the snapshot.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What the control thread did and saw.
#[derive(Debug, Default)]
pub(super) struct ControlReport {
    /// Commands submitted (including snapshots).
    pub(super) commands: u64,
    /// Outcomes received for them.
    pub(super) outcomes: u64,
    /// Outcomes that arrived for no command waiting for one (a duplicate, another
    /// owner's, or one that came after its wait gave up).
    pub(super) unexpected_outcomes: u64,
    /// Loads of the installed library that made a new active generation.
    pub(super) reloads: u64,
    /// Successful unloads.
    pub(super) unloads: u64,
    /// Successful disables.
    pub(super) disables: u64,
    /// Successful enables.
    pub(super) enables: u64,
    /// Commands refused for the state the plugin was in (unknown, disabled): expected in
    /// a random mix.
    pub(super) refused: u64,
    /// Loads that failed, which no load of a good fixture should.
    pub(super) load_failures: u64,
    /// The first failed load, for the report.
    pub(super) first_load_failure: Option<String>,
    /// Commands that could not be submitted.
    pub(super) submit_errors: u64,
    /// Snapshots sampled.
    pub(super) snapshots: u64,
    /// The most draining generations one snapshot showed.
    pub(super) max_draining: u64,
    /// The most distinct generations one snapshot showed held by something.
    pub(super) max_held_generations: u64,
    /// Snapshots in which some draining generation was held by nothing (it should have
    /// been collected in the step its last hold went), or draining generations
    /// outnumbered held ones.
    pub(super) draining_violations: u64,
    /// The first violation, for the report.
    pub(super) first_violation: Option<String>,
}

/// The fixture builds and where the control thread installs them.
#[derive(Debug)]
pub(super) struct Install {
    /// The libraries of build 1 and build 2.
    pub(super) builds: [PathBuf; 2],
    /// The installed path the runtime loads from.
    pub(super) installed: PathBuf,
    /// The staging name renamed over it.
    pub(super) staged: PathBuf,
}

impl Install {
    /// Copies `build` (1 or 2) to the staging name and renames it over the installed
    /// path, as a package manager replaces a library: the file the loader copies from is
    /// never rewritten in place.
    pub(super) fn put(&self, build: u32) -> std::io::Result<()> {
        fs::copy(&self.builds[build as usize - 1], &self.staged)?;
        fs::rename(&self.staged, &self.installed)
    }
}

/// The control thread's owner and its counts.
pub(super) struct Control<'a> {
    owner: Owner,
    shared: &'a Shared,
    install: &'a Install,
    /// The build at the installed path.
    installed_build: u32,
    rng: u64,
    pub(super) report: ControlReport,
}

impl<'a> Control<'a> {
    /// Registers the control owner, installs build 1 and loads it.
    ///
    /// # Errors
    ///
    /// If the owner cannot register, the library cannot be installed, or the first load
    /// does not succeed: without it there is nothing to stress.
    pub(super) fn start(
        runtime: &RuntimeHandle,
        shared: &'a Shared,
        install: &'a Install,
        seed: u64,
    ) -> Result<Self, String> {
        let owner = runtime
            .register_owner("stress.control")
            .map_err(|e| format!("the control owner cannot register: {e}"))?;
        let mut control = Self {
            owner,
            shared,
            install,
            installed_build: 1,
            // xorshift needs a non-zero state.
            rng: seed | 1,
            report: ControlReport::default(),
        };
        control.install(1).map_err(|e| {
            format!(
                "cannot install {} as {}: {e}",
                install.builds[0].display(),
                install.installed.display()
            )
        })?;
        match control.command(load(&install.installed)) {
            Some(Outcome::Loaded { .. }) => {
                // The first load sets the stage; only the storm's loads count as reloads.
                control.report.reloads -= 1;
                shared.reloads.fetch_sub(1, Ordering::Relaxed);
                Ok(control)
            }
            other => Err(format!(
                "the first load of {} did not succeed: {other:?}",
                install.installed.display()
            )),
        }
    }

    /// Sends commands one after another, each after the previous one's outcome, until
    /// `stop` says so; samples the snapshot every [`SAMPLE_EVERY`].
    pub(super) fn storm(&mut self, stop: impl Fn() -> bool) {
        let mut next_sample = Instant::now();
        while !stop() {
            if Instant::now() >= next_sample {
                self.sample();
                next_sample = Instant::now() + SAMPLE_EVERY;
            }
            let command = match self.next_random() % 100 {
                0..70 => {
                    let build = 3 - self.installed_build;
                    if let Err(e) = self.install(build) {
                        self.report.load_failures += 1;
                        self.report
                            .first_load_failure
                            .get_or_insert_with(|| format!("cannot install build {build}: {e}"));
                        continue;
                    }
                    load(&self.install.installed)
                }
                70..80 => Command::Unload {
                    plugin_id: ECHO_ID.into(),
                },
                80..90 => Command::SetEnabled {
                    plugin_id: ECHO_ID.into(),
                    enabled: false,
                },
                _ => Command::SetEnabled {
                    plugin_id: ECHO_ID.into(),
                    enabled: true,
                },
            };
            self.command(command);
        }
        self.sample();
    }

    /// Waits a little for outcomes that are still under way, counting any that come.
    pub(super) fn collect_late(&mut self, wait: Duration) {
        while let Some(event) = self.owner.recv_timeout(wait) {
            if let OwnerEvent::CommandCompleted(_) = event {
                self.report.unexpected_outcomes += 1;
            }
        }
    }

    fn install(&mut self, build: u32) -> std::io::Result<()> {
        self.install.put(build)?;
        self.installed_build = build;
        Ok(())
    }

    /// Submits `command` and waits for its outcome, recording what it says.
    fn command(&mut self, command: Command) -> Option<Outcome> {
        let build = self.installed_build;
        let request_id = match self.owner.submit(command) {
            Ok(id) => id,
            Err(e) => {
                self.report.submit_errors += 1;
                if matches!(e, RequestError::QueueFull) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                return None;
            }
        };
        self.report.commands += 1;
        let outcome = self.wait(request_id)?;
        self.report.outcomes += 1;
        match &outcome {
            Outcome::Loaded { generation, .. } => {
                // The build at the installed path when the load was submitted is the one
                // the loader copied: nothing else renames over it.
                self.shared.record_build(*generation, build);
                self.report.reloads += 1;
                self.shared.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Enabled { generation, .. } => {
                // A no-op enable names the active generation, already recorded.
                self.shared.record_build_if_new(*generation, build);
                self.report.enables += 1;
            }
            Outcome::Unloaded { .. } => self.report.unloads += 1,
            Outcome::Disabled { .. } => self.report.disables += 1,
            Outcome::Failed(CommandError::UnknownPlugin { .. } | CommandError::Disabled { .. }) => {
                self.report.refused += 1;
            }
            Outcome::Failed(error) => {
                self.report.load_failures += 1;
                self.report
                    .first_load_failure
                    .get_or_insert_with(|| error.to_string());
            }
            _ => {}
        }
        Some(outcome)
    }

    /// The outcome of `request_id`, or `None` if it did not come in time.
    fn wait(&mut self, request_id: RequestId) -> Option<Outcome> {
        let deadline = Instant::now() + OUTCOME_WAIT;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.owner.recv_timeout(left)? {
                OwnerEvent::CommandCompleted(done)
                    if done.request_id == request_id && done.owner == self.owner.key() =>
                {
                    return Some(done.outcome);
                }
                OwnerEvent::CommandCompleted(_) => self.report.unexpected_outcomes += 1,
                // Draining notices (this owner holds nothing, so none are expected) and
                // any event kind this stress does not know.
                _ => {}
            }
        }
    }

    /// Takes a snapshot and checks the drain invariant: every draining generation is
    /// still held by something.
    fn sample(&mut self) {
        let Some(Outcome::Snapshot(snapshot)) = self.command(Command::Snapshot) else {
            return;
        };
        self.report.snapshots += 1;
        let counts = DrainCounts::of(&snapshot);
        self.shared
            .draining
            .store(counts.draining, Ordering::Relaxed);
        self.report.max_draining = self.report.max_draining.max(counts.draining);
        self.report.max_held_generations = self.report.max_held_generations.max(counts.held);
        if counts.draining > counts.held || counts.draining_unheld > 0 {
            self.report.draining_violations += 1;
            self.report.first_violation.get_or_insert_with(|| {
                format!(
                    "{} draining generations ({} held by nothing) with {} generations held: {:?}",
                    counts.draining, counts.draining_unheld, counts.held, snapshot.generations
                )
            });
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, and plenty for picking commands.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
    }
}

/// What one snapshot says about draining and held generations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct DrainCounts {
    /// Generations draining.
    pub(super) draining: u64,
    /// Of those, generations held by nothing.
    pub(super) draining_unheld: u64,
    /// Distinct generations (of any state) held by an instance, ticket or pin.
    pub(super) held: u64,
    /// Generations draining or being closed.
    pub(super) unsettled: u64,
    /// Generations closed by the runtime but reported still in the process.
    pub(super) pinned_by_loader: u64,
    /// Active generations.
    pub(super) active: u64,
}

impl DrainCounts {
    pub(super) fn of(snapshot: &Snapshot) -> Self {
        let mut counts = Self::default();
        let mut held = HashSet::new();
        for generation in &snapshot.generations {
            let holds: u32 = generation.holders.iter().map(|h| h.holds.total()).sum();
            if holds > 0 {
                held.insert(generation.generation);
            }
            match generation.state {
                GenerationState::Draining { .. } => {
                    counts.draining += 1;
                    counts.unsettled += 1;
                    if holds == 0 {
                        counts.draining_unheld += 1;
                    }
                }
                GenerationState::Closing => counts.unsettled += 1,
                GenerationState::PinnedByLoader { .. } => counts.pinned_by_loader += 1,
                GenerationState::Active => counts.active += 1,
                _ => {}
            }
        }
        counts.held = held.len() as u64;
        counts
    }
}

fn load(path: &Path) -> Command {
    Command::Load {
        path: path.to_owned(),
        expected_plugin_id: Some(ECHO_ID.into()),
    }
}
