//! `plugin-runtime stress [--seconds N] [--owners K] [--json] [--fixtures DIR]`: owner
//! threads call real plugin instances in blocks while a control thread replaces, reloads,
//! unloads, disables and enables the plugin as fast as the runtime answers; then
//! everything is released and the runtime must converge to nothing draining and nothing
//! mapped that it does not report.
//!
//! The threads:
//!
//! * **owners** ([`owner`]) each hold two instances of `fixture.echo`/`echo`, call them
//!   in blocks (`tag`, `process` on 64 samples, `accumulate`), check every answer against
//!   the build their generation was loaded from (the canary), and at their safe point
//!   between blocks recreate what drains with `Owner::create`, which waits for the
//!   actor's reservation. Each block's time goes into a histogram allocated up front, by
//!   phase.
//! * **slot owners** ([`slot_owner`], `--slot-owners`, half of them by default) do the
//!   same with their instances in slots: their safe point is one `Owner::poll`, which
//!   never waits on the actor. The report sets the two kinds' block times side by side.
//! * the **control thread** ([`control`]) loads build 1, waits through the idle phase,
//!   then runs the storm: a deterministic random mix of reloads (after renaming the other
//!   build over the installed file), unloads, disables and enables, each waiting for its
//!   outcome, with a snapshot every 10 ms to check that every draining generation is
//!   still held.
//! * this thread keeps time, prints progress on stderr, stops the control thread, then
//!   the owners, and measures convergence, shutdown and what is left.

mod control;
mod histogram;
mod owner;
mod replay;
mod slot_owner;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugin_runtime::generation::{Command, Counters, GenerationKey, Outcome, Snapshot};
use plugin_runtime::loader::{LoaderConfig, MappedCode};
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};
use serde::Serialize;

use control::{Control, ControlReport, DrainCounts, Install};
use histogram::Histogram;
use owner::OwnerReport;
use replay::ReplayReport;

/// The plugin the stress loads: the echo fixtures, builds 1 and 2.
const ECHO_ID: &str = "fixture.echo";
/// The capability the owners create.
const ECHO_TYPE: &str = "echo";
/// The fixture packages, as build 1 and build 2.
const ECHO_PACKAGES: [&str; 2] = ["fixture-echo-v1", "fixture-echo-v2"];
/// The longest idle phase, whatever the run's length.
const MAX_IDLE: Duration = Duration::from_secs(5);
/// How long the runtime gets to converge once everything is released.
const CONVERGE_WAIT: Duration = Duration::from_secs(30);
/// How long a snapshot or the shutdown may take to answer.
const CALL_WAIT: Duration = Duration::from_secs(30);

/// Arguments of `stress`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long to run, in seconds: the first fifth (at most 5 s) is the idle phase,
    /// the rest the storm.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    seconds: u64,
    /// How many owner threads call instances.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    owners: u64,
    /// How many of the owners hold their instances in slots (the others recreate with
    /// `Owner::create`) [default: half of --owners].
    #[arg(long, value_name = "N")]
    slot_owners: Option<u64>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// The directory holding the echo fixture libraries (`cargo build --workspace` puts
    /// them next to this executable) [default: the directory of this executable].
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// The seed of the control thread's command mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The period of each owner's blocks in microseconds (an owner sleeps out the rest
    /// of its period after each block, as an audio callback waits for the next one); 0
    /// runs blocks back to back.
    #[arg(long, default_value_t = 500)]
    block_micros: u64,
}

/// Runs `stress` and prints its report. Exit 0 when nothing was lost, 1 otherwise (each
/// failure named on stderr).
pub fn run(args: &Args) -> ExitCode {
    if args.slot_owners.is_some_and(|n| n > args.owners) {
        eprintln!("plugin-runtime: stress: --slot-owners is more than --owners");
        return ExitCode::FAILURE;
    }
    let builds = match fixture_libraries(args.fixtures.as_deref()) {
        Ok(builds) => builds,
        Err(e) => {
            eprintln!("plugin-runtime: stress: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scratch =
        std::env::temp_dir().join(format!("plugin-runtime-stress-{}", std::process::id()));
    let report = match stress(args, builds, &scratch) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("plugin-runtime: stress: {e}");
            return ExitCode::FAILURE;
        }
    };
    if report.ok {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        for failure in &report.failures {
            eprintln!("plugin-runtime: stress: {failure}");
        }
        eprintln!(
            "plugin-runtime: stress: the install and shadow directories are kept in {}",
            scratch.display()
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        serde_json::to_writer(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        report.print_text(&mut out)
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        eprintln!("plugin-runtime: stress: cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

impl Args {
    /// How many owners hold their instances in slots.
    fn slot_owners(&self) -> u64 {
        self.slot_owners.unwrap_or(self.owners / 2).min(self.owners)
    }
}

/// What the stress measured; `--json` prints it as one object.
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    /// Why the run failed, one line each.
    failures: Vec<String>,
    seconds: f64,
    idle_seconds: f64,
    storm_seconds: f64,
    owners: u64,
    block_period_micros: u64,
    seed: u64,

    reloads: u64,
    /// Reloads per minute of storm.
    reloads_per_minute: f64,
    unloads: u64,
    disables: u64,
    enables: u64,
    refused_commands: u64,
    load_failures: u64,
    submit_errors: u64,

    calls: u64,
    idle_blocks: u64,
    storm_blocks: u64,
    empty_blocks: u64,
    creates: u64,
    create_failures: u64,
    notices: u64,
    wrong_generation_calls: u64,
    accumulate_mismatches: u64,
    unattributed_instances: u64,

    commands: u64,
    outcomes: u64,
    lost_outcomes: u64,
    unexpected_outcomes: u64,

    snapshots: u64,
    draining_violations: u64,
    max_draining: u64,
    max_held_generations: u64,
    draining_at_end: u64,
    /// From the last release to nothing draining or closing and no code mapped beyond
    /// the active and pinned-by-loader generations; `null` if that never happened.
    converge_micros: Option<u64>,
    shutdown_stalled: u64,
    shadow_files_left: u64,
    mapped_left: u64,
    reported_pinned_by_loader: u64,

    /// Records the replay watcher read, lost, and the snapshots it compared with them.
    events: u64,
    events_dropped: u64,
    replay_checks: u64,
    replay_mismatches: u64,
    replay_skipped: u64,
    /// The runtime's own counters at the end.
    counted_loads: u64,
    counted_reloads: u64,
    counted_failed_loads: u64,
    counted_collected: u64,
    counted_unmapped: u64,
    counted_kept_mapped: u64,

    idle_block_p50_ns: u64,
    idle_block_p999_ns: u64,
    idle_block_max_ns: u64,
    storm_block_p50_ns: u64,
    storm_block_p999_ns: u64,
    storm_block_max_ns: u64,
    idle_calls_p50_ns: u64,
    idle_calls_p999_ns: u64,
    storm_calls_p50_ns: u64,
    storm_calls_p999_ns: u64,
    storm_create_p50_ns: u64,
    storm_create_p999_ns: u64,
    storm_create_max_ns: u64,

    /// Owners holding their instances in slots, and owners using `Owner::create`.
    slot_owners: u64,
    create_owners: u64,
    /// Storm blocks (calls and safe point) of each kind of owner, in microseconds.
    slot_owner_block_p50_micros: f64,
    slot_owner_block_p99_micros: f64,
    slot_owner_block_max_micros: f64,
    create_owner_block_p50_micros: f64,
    create_owner_block_p99_micros: f64,
    create_owner_block_max_micros: f64,
    /// How many times worse the `Owner::create` owners' blocks were than the slot
    /// owners'; `null` without owners of both kinds.
    create_to_slot_block_p99_ratio: Option<f64>,
    create_to_slot_block_max_ratio: Option<f64>,
    /// Times the owner threads of each kind waited on the runtime after registering.
    slot_owner_blocking_waits: u64,
    create_owner_blocking_waits: u64,
}

/// Where the owners are; read once per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Idle = 0,
    Storm = 1,
    Stop = 2,
}

/// What the threads of one stress share, all off the instances' call path.
#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    /// Set when the control thread must finish its command and stop.
    stop_control: AtomicBool,
    /// The build (1 or 2) each generation was loaded from, recorded by the control thread
    /// from the load's outcome; owners look it up at their safe point.
    builds: Mutex<HashMap<GenerationKey, u32>>,
    /// Progress counters for the stderr lines.
    blocks: AtomicU64,
    reloads: AtomicU64,
    draining: AtomicU64,
}

impl Shared {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Idle,
            1 => Phase::Storm,
            _ => Phase::Stop,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn build_of(&self, generation: GenerationKey) -> Option<u32> {
        self.lock_builds().get(&generation).copied()
    }

    fn record_build(&self, generation: GenerationKey, build: u32) {
        self.lock_builds().insert(generation, build);
    }

    fn record_build_if_new(&self, generation: GenerationKey, build: u32) {
        self.lock_builds().entry(generation).or_insert(build);
    }

    fn lock_builds(&self) -> std::sync::MutexGuard<'_, HashMap<GenerationKey, u32>> {
        // A thread that panicked while holding the lock left the map as it was: each
        // operation on it is a single insert or lookup.
        self.builds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The libraries of builds 1 and 2 in `dir` (by default this executable's directory).
fn fixture_libraries(dir: Option<&Path>) -> Result<[PathBuf; 2], String> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this executable's directory: {e}"))?
            .parent()
            .map(Path::to_owned)
            .ok_or("this executable has no directory")?,
    };
    let path = |package: &str| {
        dir.join(format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            package.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        ))
    };
    let builds = ECHO_PACKAGES.map(path);
    for (build, package) in builds.iter().zip(ECHO_PACKAGES) {
        if !build.is_file() {
            return Err(format!(
                "no fixture library {package} at {} (`cargo build --workspace` builds it next to plugin-runtime; --fixtures names another directory)",
                build.display()
            ));
        }
    }
    Ok(builds)
}

/// Runs the phases and gathers the report.
fn stress(args: &Args, builds: [PathBuf; 2], scratch: &Path) -> Result<Report, String> {
    let _ = std::fs::remove_dir_all(scratch);
    let installed_dir = scratch.join("installed");
    std::fs::create_dir_all(&installed_dir)
        .map_err(|e| format!("cannot create {}: {e}", installed_dir.display()))?;
    let shadow_root = scratch.join("shadow");
    let config = RuntimeConfig::default()
        .with_loader(LoaderConfig::default().with_shadow_root(&shadow_root))
        .with_listener_capacity(replay::CAPACITY);
    let runtime = Runtime::start(config).map_err(|e| format!("the runtime did not start: {e}"))?;
    let replay = replay::watch(&runtime)?;
    // `/proc/self/maps` names files by their real path.
    let shadow_root = shadow_root
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", shadow_root.display()))?;
    let install = Install {
        builds,
        installed: installed_dir.join("libecho.so"),
        staged: installed_dir.join("libecho.so.new"),
    };
    let shared = Shared {
        phase: AtomicU8::new(Phase::Idle as u8),
        stop_control: AtomicBool::new(false),
        builds: Mutex::new(HashMap::new()),
        blocks: AtomicU64::new(0),
        reloads: AtomicU64::new(0),
        draining: AtomicU64::new(0),
    };
    let total = Duration::from_secs(args.seconds);
    let idle = (total / 5).min(MAX_IDLE);
    let period = Duration::from_micros(args.block_micros);

    let (control, owners, timing) = std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (runtime, shared, install) = (&runtime, &shared, &install);
        let control = std::thread::Builder::new()
            .name("stress.control".into())
            .spawn_scoped(scope, move || {
                let mut control = match Control::start(runtime, shared, install, args.seed) {
                    Ok(control) => control,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return None;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while shared.phase() == Phase::Idle {
                    std::thread::sleep(Duration::from_millis(1));
                }
                control.storm(|| shared.stop_control.load(Ordering::Relaxed));
                control.collect_late(Duration::from_millis(100));
                Some(control.report)
            })
            .map_err(|e| format!("cannot spawn the control thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("the control thread died while starting".to_owned()),
        }

        let start = Instant::now();
        let mut owners = Vec::new();
        let slot_owners = args.slot_owners() as usize;
        for index in 0..args.owners as usize {
            let slots = index < slot_owners;
            let spawned = std::thread::Builder::new()
                .name(format!("stress.owner.{index}"))
                .spawn_scoped(scope, move || {
                    if slots {
                        slot_owner::run(index, runtime, shared, period)
                    } else {
                        owner::run(index, runtime, shared, period)
                    }
                });
            match spawned {
                Ok(handle) => owners.push(handle),
                Err(e) => {
                    shared.stop_control.store(true, Ordering::Relaxed);
                    shared.set_phase(Phase::Stop);
                    return Err(format!("cannot spawn owner {index}: {e}"));
                }
            }
        }

        let progress = Progress {
            shared,
            start,
            total,
        };
        progress.run_until(start + idle, "idle");
        let storm_start = Instant::now();
        shared.set_phase(Phase::Storm);
        progress.run_until(start + total, "storm");
        shared.stop_control.store(true, Ordering::Relaxed);
        let control = control.join();
        let storm_end = Instant::now();
        shared.set_phase(Phase::Stop);
        let owners: Vec<_> = owners.into_iter().map(|h| h.join()).collect();
        let timing = Timing {
            seconds: start.elapsed(),
            idle: storm_start - start,
            storm: storm_end - storm_start,
        };
        Ok((control, owners, timing))
    })?;

    let mut failures = Vec::new();
    let control = match control {
        Ok(Some(report)) => report,
        Ok(None) => return Err("the control thread could not start".to_owned()),
        Err(_) => {
            failures.push("the control thread panicked".to_owned());
            ControlReport::default()
        }
    };
    let mut owner_reports = Vec::new();
    for (index, result) in owners.into_iter().enumerate() {
        match result {
            Ok(Ok(report)) => owner_reports.push(report),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push(format!("owner {index} panicked")),
        }
    }

    let mut end = End::new(&runtime, &shadow_root);
    let last_release = owner_reports.iter().map(|r| r.released_at).max();
    let converge = end.converge(last_release.unwrap_or_else(Instant::now));
    let draining_at_end = end.last.draining;
    let shutdown_stalled = end.shutdown(&mut failures);
    let after = end
        .snapshot()
        .map(|s| DrainCounts::of(&s))
        .unwrap_or_default();
    let mapped_left = mapped_code(&shadow_root);
    let shadow_files_left = count_files(&shadow_root);
    if runtime.is_poisoned() {
        failures.push("the runtime is poisoned: its actor panicked".to_owned());
    }
    let counters: Counters = end.snapshot().map(|s| s.counters).unwrap_or_default();
    let mut end_report = EndReport {
        commands: end.commands,
        outcomes: end.outcomes,
        converge,
        draining_at_end,
        shutdown_stalled,
        shadow_files_left,
        mapped_left,
        reported_pinned_by_loader: after.pinned_by_loader,
        replay: ReplayReport::default(),
    };
    // The last handle goes (`end` only borrowed it): the runtime stops, and the
    // watcher with it.
    drop(runtime);
    let mut replay = replay.join().unwrap_or_else(|_| {
        failures.push("the replay thread panicked".to_owned());
        ReplayReport::default()
    });
    replay.counters = counters;
    if replay.mismatches > 0 {
        failures.push(format!(
            "{} of {} snapshots differed from what the events said; first {}",
            replay.mismatches,
            replay.checks,
            replay.first_mismatch.as_deref().unwrap_or("")
        ));
    }
    // Every load the control thread saw complete made a generation active (its first
    // load and enables too, which it does not count as reloads).
    if counters.loads < control.reloads + 1 {
        failures.push(format!(
            "the runtime counted {} loads, the control thread saw {} and its first",
            counters.loads, control.reloads
        ));
    }
    end_report.replay = replay;

    let builds = shared.lock_builds().clone();
    let report = Report::new(
        args,
        timing,
        &control,
        &owner_reports,
        &builds,
        end_report,
        failures,
    );
    Ok(report)
}

/// How long the phases lasted.
#[derive(Debug, Clone, Copy)]
struct Timing {
    seconds: Duration,
    idle: Duration,
    storm: Duration,
}

/// What the end of the run measured.
#[derive(Debug, Clone)]
struct EndReport {
    commands: u64,
    outcomes: u64,
    converge: Option<Duration>,
    draining_at_end: u64,
    shutdown_stalled: u64,
    shadow_files_left: u64,
    mapped_left: u64,
    reported_pinned_by_loader: u64,
    /// What the replay watcher saw, and the runtime's counters.
    replay: ReplayReport,
}

/// The end of the run, through a plain handle: convergence, shutdown, what is left.
struct End<'a> {
    runtime: &'a RuntimeHandle,
    shadow_root: &'a Path,
    commands: u64,
    outcomes: u64,
    last: DrainCounts,
}

impl<'a> End<'a> {
    fn new(runtime: &'a RuntimeHandle, shadow_root: &'a Path) -> Self {
        Self {
            runtime,
            shadow_root,
            commands: 0,
            outcomes: 0,
            last: DrainCounts::default(),
        }
    }

    /// Polls until nothing drains or closes and no shadow copy is mapped as code beyond
    /// the active and pinned-by-loader generations; the time from `since`, or `None`
    /// after [`CONVERGE_WAIT`].
    fn converge(&mut self, since: Instant) -> Option<Duration> {
        let deadline = Instant::now() + CONVERGE_WAIT;
        while Instant::now() < deadline {
            if let Some(snapshot) = self.snapshot() {
                self.last = DrainCounts::of(&snapshot);
                let mapped = mapped_code(self.shadow_root);
                if self.last.unsettled == 0
                    && mapped <= self.last.active + self.last.pinned_by_loader
                {
                    return Some(since.elapsed());
                }
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        None
    }

    /// Shuts the runtime down; returns how many generations it reported stalled.
    fn shutdown(&mut self, failures: &mut Vec<String>) -> u64 {
        self.commands += 1;
        let command = Command::Shutdown {
            timeout: Duration::from_secs(10),
        };
        match self.runtime.call(command, CALL_WAIT) {
            Ok(Outcome::ShutDown { stalled }) => {
                self.outcomes += 1;
                if !stalled.is_empty() {
                    failures.push(format!("the shutdown stalled on {stalled:?}"));
                }
                stalled.len() as u64
            }
            Ok(other) => {
                self.outcomes += 1;
                failures.push(format!("the shutdown answered {other:?}"));
                0
            }
            Err(e) => {
                failures.push(format!("the shutdown got no outcome: {e}"));
                0
            }
        }
    }

    fn snapshot(&mut self) -> Option<Snapshot> {
        self.commands += 1;
        match self.runtime.call(Command::Snapshot, CALL_WAIT) {
            Ok(outcome) => {
                self.outcomes += 1;
                match outcome {
                    Outcome::Snapshot(snapshot) => Some(snapshot),
                    _ => None,
                }
            }
            Err(_) => None,
        }
    }
}

/// Prints a progress line on stderr every second until `until`.
struct Progress<'a> {
    shared: &'a Shared,
    start: Instant,
    total: Duration,
}

impl Progress<'_> {
    fn run_until(&self, until: Instant, phase: &str) {
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            std::thread::sleep(left.min(Duration::from_secs(1)));
            eprintln!(
                "stress: {:5.1}/{} s  {phase:5}  reloads {:>8}  blocks {:>10}  draining {}",
                self.start.elapsed().as_secs_f64(),
                self.total.as_secs(),
                self.shared.reloads.load(Ordering::Relaxed),
                self.shared.blocks.load(Ordering::Relaxed),
                self.shared.draining.load(Ordering::Relaxed),
            );
        }
    }
}

impl Report {
    fn new(
        args: &Args,
        timing: Timing,
        control: &ControlReport,
        owners: &[OwnerReport],
        builds: &HashMap<GenerationKey, u32>,
        end: EndReport,
        mut failures: Vec<String>,
    ) -> Self {
        let mut idle_blocks = Histogram::new();
        let mut storm_blocks = Histogram::new();
        let mut idle_calls = Histogram::new();
        let mut storm_calls = Histogram::new();
        let mut storm_creates = Histogram::new();
        let mut slot_blocks = Histogram::new();
        let mut create_blocks = Histogram::new();
        let sum = |f: fn(&OwnerReport) -> u64| owners.iter().map(f).sum::<u64>();
        let mut wrong_generation_calls = sum(|o| o.wrong_generation_calls);
        let mut unattributed = 0;
        for owner in owners {
            idle_blocks.merge(&owner.idle_blocks);
            storm_blocks.merge(&owner.storm_blocks);
            idle_calls.merge(&owner.idle_calls);
            storm_calls.merge(&owner.storm_calls);
            storm_creates.merge(&owner.storm_creates);
            if owner.slots {
                slot_blocks.merge(&owner.storm_blocks);
            } else {
                create_blocks.merge(&owner.storm_blocks);
            }
            for (generation, seen) in &owner.unverified {
                match builds.get(generation) {
                    Some(build) if build == seen => {}
                    Some(build) => {
                        wrong_generation_calls += 1;
                        failures.push(format!(
                            "an instance of generation {generation:?} answered tag {seen}, but build {build} was installed when it was loaded"
                        ));
                    }
                    None => unattributed += 1,
                }
            }
        }
        let commands = control.commands + end.commands;
        let outcomes = control.outcomes + end.outcomes;
        let lost_outcomes = commands.saturating_sub(outcomes);

        if let Some(first) = owners.iter().find_map(|o| o.first_wrong.as_ref()) {
            failures.push(format!("wrong-generation call: {first}"));
        }
        let accumulate_mismatches = sum(|o| o.accumulate_mismatches);
        let mut check = |failed: bool, message: String| {
            if failed {
                failures.push(message);
            }
        };
        check(
            wrong_generation_calls > 0,
            format!("{wrong_generation_calls} wrong-generation calls"),
        );
        check(
            accumulate_mismatches > 0,
            format!("{accumulate_mismatches} accumulate answers were not the instance's own total"),
        );
        check(
            unattributed > 0,
            format!("{unattributed} instances came from generations no load outcome named"),
        );
        check(
            lost_outcomes > 0,
            format!("{lost_outcomes} of {commands} commands got no outcome"),
        );
        check(
            control.unexpected_outcomes > 0,
            format!(
                "{} outcomes arrived for no waiting command (duplicated or misrouted)",
                control.unexpected_outcomes
            ),
        );
        check(
            control.load_failures > 0,
            format!(
                "{} loads failed; first: {}",
                control.load_failures,
                control.first_load_failure.as_deref().unwrap_or("?")
            ),
        );
        check(
            control.draining_violations > 0,
            format!(
                "{} snapshots showed a draining generation held by nothing; first: {}",
                control.draining_violations,
                control.first_violation.as_deref().unwrap_or("?")
            ),
        );
        check(
            control.reloads == 0,
            "no reload succeeded: the storm exercised nothing".to_owned(),
        );
        check(
            end.converge.is_none(),
            format!(
                "the runtime did not converge within {} s of the last release",
                CONVERGE_WAIT.as_secs()
            ),
        );
        check(
            end.draining_at_end > 0,
            format!(
                "{} generations still draining at the end",
                end.draining_at_end
            ),
        );
        check(
            end.shadow_files_left > end.reported_pinned_by_loader,
            format!(
                "{} shadow files left after shutdown, {} generations reported pinned by the loader",
                end.shadow_files_left, end.reported_pinned_by_loader
            ),
        );
        check(
            end.mapped_left > end.reported_pinned_by_loader,
            format!(
                "{} shadow copies still mapped as code after shutdown, {} generations reported pinned by the loader",
                end.mapped_left, end.reported_pinned_by_loader
            ),
        );

        let slot_waits: u64 = owners
            .iter()
            .filter(|o| o.slots)
            .map(|o| o.blocking_waits)
            .sum();
        let create_waits: u64 = owners
            .iter()
            .filter(|o| !o.slots)
            .map(|o| o.blocking_waits)
            .sum();
        check(
            slot_waits > 0,
            format!("the slot owners' threads waited on the runtime {slot_waits} times"),
        );
        let slot_owners = owners.iter().filter(|o| o.slots).count() as u64;
        let create_owners = owners.len() as u64 - slot_owners;
        let micros = |nanos: u64| nanos as f64 / 1000.0;
        let ratio = |create: u64, slot: u64| {
            (slot_blocks.count() > 0 && create_blocks.count() > 0 && slot > 0)
                .then(|| create as f64 / slot as f64)
        };
        let storm_seconds = timing.storm.as_secs_f64();
        Self {
            ok: failures.is_empty(),
            failures,
            seconds: timing.seconds.as_secs_f64(),
            idle_seconds: timing.idle.as_secs_f64(),
            storm_seconds,
            owners: args.owners,
            block_period_micros: args.block_micros,
            seed: args.seed,
            reloads: control.reloads,
            reloads_per_minute: if storm_seconds > 0.0 {
                control.reloads as f64 * 60.0 / storm_seconds
            } else {
                0.0
            },
            unloads: control.unloads,
            disables: control.disables,
            enables: control.enables,
            refused_commands: control.refused,
            load_failures: control.load_failures,
            submit_errors: control.submit_errors,
            calls: sum(|o| o.calls),
            idle_blocks: idle_blocks.count(),
            storm_blocks: storm_blocks.count(),
            empty_blocks: sum(|o| o.empty_blocks),
            creates: sum(|o| o.creates),
            create_failures: sum(|o| o.create_failures),
            notices: sum(|o| o.notices),
            wrong_generation_calls,
            accumulate_mismatches,
            unattributed_instances: unattributed,
            commands,
            outcomes,
            lost_outcomes,
            unexpected_outcomes: control.unexpected_outcomes,
            snapshots: control.snapshots,
            draining_violations: control.draining_violations,
            max_draining: control.max_draining,
            max_held_generations: control.max_held_generations,
            draining_at_end: end.draining_at_end,
            converge_micros: end
                .converge
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            shutdown_stalled: end.shutdown_stalled,
            shadow_files_left: end.shadow_files_left,
            mapped_left: end.mapped_left,
            reported_pinned_by_loader: end.reported_pinned_by_loader,
            events: end.replay.events,
            events_dropped: end.replay.dropped,
            replay_checks: end.replay.checks,
            replay_mismatches: end.replay.mismatches,
            replay_skipped: end.replay.skipped,
            counted_loads: end.replay.counters.loads,
            counted_reloads: end.replay.counters.reloads,
            counted_failed_loads: end.replay.counters.failed_loads,
            counted_collected: end.replay.counters.collected,
            counted_unmapped: end.replay.counters.unmapped,
            counted_kept_mapped: end.replay.counters.kept_mapped,
            idle_block_p50_ns: idle_blocks.quantile(0.5),
            idle_block_p999_ns: idle_blocks.quantile(0.999),
            idle_block_max_ns: idle_blocks.max(),
            storm_block_p50_ns: storm_blocks.quantile(0.5),
            storm_block_p999_ns: storm_blocks.quantile(0.999),
            storm_block_max_ns: storm_blocks.max(),
            idle_calls_p50_ns: idle_calls.quantile(0.5),
            idle_calls_p999_ns: idle_calls.quantile(0.999),
            storm_calls_p50_ns: storm_calls.quantile(0.5),
            storm_calls_p999_ns: storm_calls.quantile(0.999),
            storm_create_p50_ns: storm_creates.quantile(0.5),
            storm_create_p999_ns: storm_creates.quantile(0.999),
            storm_create_max_ns: storm_creates.max(),
            slot_owners,
            create_owners,
            slot_owner_block_p50_micros: micros(slot_blocks.quantile(0.5)),
            slot_owner_block_p99_micros: micros(slot_blocks.quantile(0.99)),
            slot_owner_block_max_micros: micros(slot_blocks.max()),
            create_owner_block_p50_micros: micros(create_blocks.quantile(0.5)),
            create_owner_block_p99_micros: micros(create_blocks.quantile(0.99)),
            create_owner_block_max_micros: micros(create_blocks.max()),
            create_to_slot_block_p99_ratio: ratio(
                create_blocks.quantile(0.99),
                slot_blocks.quantile(0.99),
            ),
            create_to_slot_block_max_ratio: ratio(create_blocks.max(), slot_blocks.max()),
            slot_owner_blocking_waits: slot_waits,
            create_owner_blocking_waits: create_waits,
        }
    }

    fn print_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let verdict = if self.ok { "ok" } else { "FAILED" };
        writeln!(out, "stress       {verdict}")?;
        for failure in &self.failures {
            writeln!(out, "  failure    {failure}")?;
        }
        writeln!(
            out,
            "run          {:.1} s ({:.1} s idle, {:.1} s storm), {} owners, blocks every {} us, seed {}",
            self.seconds,
            self.idle_seconds,
            self.storm_seconds,
            self.owners,
            self.block_period_micros,
            self.seed
        )?;
        writeln!(
            out,
            "control      {} reloads ({:.0}/min), {} unloads, {} disables, {} enables, {} refused, {} load failures",
            self.reloads,
            self.reloads_per_minute,
            self.unloads,
            self.disables,
            self.enables,
            self.refused_commands,
            self.load_failures
        )?;
        writeln!(
            out,
            "commands     {} submitted, {} outcomes, {} lost, {} unexpected",
            self.commands, self.outcomes, self.lost_outcomes, self.unexpected_outcomes
        )?;
        writeln!(
            out,
            "owners       {} calls in {} idle + {} storm blocks ({} empty), {} creates ({} failed), {} notices",
            self.calls,
            self.idle_blocks,
            self.storm_blocks,
            self.empty_blocks,
            self.creates,
            self.create_failures,
            self.notices
        )?;
        writeln!(
            out,
            "canary       {} wrong-generation calls, {} accumulate mismatches, {} unattributed instances",
            self.wrong_generation_calls, self.accumulate_mismatches, self.unattributed_instances
        )?;
        writeln!(
            out,
            "draining     max {} (max {} held) in {} snapshots, {} violations, {} at the end",
            self.max_draining,
            self.max_held_generations,
            self.snapshots,
            self.draining_violations,
            self.draining_at_end
        )?;
        match self.converge_micros {
            Some(us) => writeln!(out, "converged    {us} us after the last release")?,
            None => writeln!(out, "converged    never")?,
        }
        writeln!(
            out,
            "left         {} shadow files, {} mapped, {} reported pinned by the loader, {} stalled at shutdown",
            self.shadow_files_left,
            self.mapped_left,
            self.reported_pinned_by_loader,
            self.shutdown_stalled
        )?;
        writeln!(
            out,
            "block        idle p50 {} ns  p99.9 {} ns  max {} ns | storm p50 {} ns  p99.9 {} ns  max {} ns",
            self.idle_block_p50_ns,
            self.idle_block_p999_ns,
            self.idle_block_max_ns,
            self.storm_block_p50_ns,
            self.storm_block_p999_ns,
            self.storm_block_max_ns
        )?;
        writeln!(
            out,
            "calls only   idle p50 {} ns  p99.9 {} ns | storm p50 {} ns  p99.9 {} ns",
            self.idle_calls_p50_ns,
            self.idle_calls_p999_ns,
            self.storm_calls_p50_ns,
            self.storm_calls_p999_ns
        )?;
        writeln!(
            out,
            "create       storm p50 {} ns  p99.9 {} ns  max {} ns",
            self.storm_create_p50_ns, self.storm_create_p999_ns, self.storm_create_max_ns
        )?;
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x"));
        writeln!(
            out,
            "kinds        {} slot owners: storm block p50 {:.1} us  p99 {:.1} us  max {:.1} us, {} waits | {} create owners: p50 {:.1} us  p99 {:.1} us  max {:.1} us, {} waits | create/slot p99 {}  max {}",
            self.slot_owners,
            self.slot_owner_block_p50_micros,
            self.slot_owner_block_p99_micros,
            self.slot_owner_block_max_micros,
            self.slot_owner_blocking_waits,
            self.create_owners,
            self.create_owner_block_p50_micros,
            self.create_owner_block_p99_micros,
            self.create_owner_block_max_micros,
            self.create_owner_blocking_waits,
            ratio(self.create_to_slot_block_p99_ratio),
            ratio(self.create_to_slot_block_max_ratio),
        )?;
        writeln!(
            out,
            "events       {} read, {} dropped; {} snapshots replayed from events, {} differed, {} skipped",
            self.events,
            self.events_dropped,
            self.replay_checks,
            self.replay_mismatches,
            self.replay_skipped
        )?;
        writeln!(
            out,
            "counters     {} loads, {} reloads, {} failed, {} collected, {} unmapped, {} kept mapped",
            self.counted_loads,
            self.counted_reloads,
            self.counted_failed_loads,
            self.counted_collected,
            self.counted_unmapped,
            self.counted_kept_mapped
        )
    }
}

/// How many files under `root` this process maps as code, from one read of
/// `/proc/self/maps` through the loader's own parser (paths as the kernel escapes them).
/// An unreadable maps file counts as everything still mapped, never as nothing left.
fn mapped_code(root: &Path) -> u64 {
    match MappedCode::read() {
        Ok(mapped) => mapped.count_under(root) as u64,
        Err(e) => {
            eprintln!("stress: cannot read /proc/self/maps: {e}");
            u64::MAX
        }
    }
}

/// How many files are left anywhere under `root`.
fn count_files(root: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            _ => 1,
        })
        .sum()
}
