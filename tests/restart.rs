//! Hot restart on real libraries: owners that recreate on their drain notice, a holder
//! that never polls, and a plugin whose new file is corrupt.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

#[allow(dead_code)] // shared by the test files; each uses part of it
mod common;

use common::{Setup, WAIT};
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::events::{Event, EventFilter, EventKind};
use plugin_runtime::generation::{
    Command, CommandError, CoreConfig, GenerationKey, GenerationState, NotFoundError, Outcome,
    PluginRestart, RestartResult, Snapshot, StalledGeneration,
};
use plugin_runtime::loader::MappedCode;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Instance, RuntimeConfig, RuntimeHandle};

const ECHO: &str = "fixture.echo";
const THREADED: &str = "fixture.threaded";

/// The type id of each plugin's `Probe` capability.
fn type_id(plugin_id: &str) -> &'static str {
    match plugin_id {
        ECHO => "echo",
        _ => "worker",
    }
}

fn setup(tag: &str) -> Setup {
    Setup::with_config(tag, RuntimeConfig::default())
}

fn snapshot(setup: &Setup) -> Snapshot {
    setup.runtime.snapshot(WAIT).unwrap()
}

/// Every shadow copy's path, by generation.
fn shadows(setup: &Setup) -> BTreeMap<GenerationKey, PathBuf> {
    snapshot(setup)
        .generations
        .into_iter()
        .map(|g| {
            (
                g.generation,
                g.shadow_path.expect("a loaded library's copy"),
            )
        })
        .collect()
}

/// The files under the runtime's shadow root.
fn shadow_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.join("shadow")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn restart(setup: &Setup, timeout: Duration) -> (Vec<PluginRestart>, Vec<StalledGeneration>) {
    match setup.runtime.call(Command::Restart { timeout }, WAIT * 3) {
        Ok(Outcome::Restarted { plugins, stalled }) => (plugins, stalled),
        other => panic!("{other:?}"),
    }
}

fn reloaded(result: &RestartResult) -> (GenerationKey, Option<GenerationKey>) {
    match result {
        RestartResult::Reloaded {
            generation,
            replaced,
        } => (*generation, *replaced),
        other => panic!("not reloaded: {other:?}"),
    }
}

/// An owner thread holding one instance of each plugin, which at each safe point drains
/// its mailbox and, on a drain notice, does what a hot slot does: drops the instance of
/// the old generation and creates one from the new. It reports every instance it holds
/// after each change as (plugin, generation, tag).
struct Holder {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

type Held = Vec<(String, GenerationKey, u32)>;

impl Holder {
    fn start(runtime: &RuntimeHandle, name: String, report: mpsc::Sender<(String, Held)>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let runtime = runtime.clone();
        let thread = std::thread::spawn(move || {
            let owner = runtime.register_owner(name.clone()).unwrap();
            let create = |plugin_id: &str| {
                owner
                    .create::<ProbeInterface>(plugin_id, type_id(plugin_id), b"")
                    .unwrap()
            };
            let mut held: Vec<(String, Instance<ProbeInterface>)> = [ECHO, THREADED]
                .into_iter()
                .map(|p| (p.to_owned(), create(p)))
                .collect();
            let held_now = |held: &mut Vec<(String, Instance<ProbeInterface>)>| -> Held {
                held.iter_mut()
                    .map(|(p, i)| (p.clone(), i.generation(), i.tag()))
                    .collect()
            };
            report.send((name.clone(), held_now(&mut held))).unwrap();
            while stopped.try_recv().is_err() {
                // The block: every instance serves.
                for (_, instance) in &mut held {
                    let mut samples = [1.0f32; 16];
                    instance.process(&mut samples).unwrap();
                }
                // The safe point.
                while let Some(event) = owner.try_recv() {
                    let OwnerEvent::Draining(notice) = event else {
                        continue;
                    };
                    for (plugin_id, instance) in &mut held {
                        if instance.generation() != notice.old {
                            continue;
                        }
                        let new = notice.new.expect("a restart names the new generation");
                        // As a slot: the new instance is made, then the old one goes.
                        *instance = create(plugin_id);
                        assert_eq!(instance.generation(), new);
                    }
                    report.send((name.clone(), held_now(&mut held))).unwrap();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self { stop, thread }
    }

    fn finish(self) {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[test]
fn a_hot_restart_with_live_instances_converges_to_no_draining_generation_and_no_old_copy() {
    const HOLDERS: usize = 3;
    let setup = setup("restart-live");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let threaded = setup.install("fixture-threaded", "libthreaded.so");
    let old_echo = setup.load(&echo);
    let old_threaded = setup.load(&threaded);
    let (report, reports) = mpsc::channel();
    let holders: Vec<Holder> = (0..HOLDERS)
        .map(|i| Holder::start(&setup.runtime, format!("audio.{i}"), report.clone()))
        .collect();
    for _ in 0..HOLDERS {
        let (_, held) = reports.recv_timeout(WAIT).unwrap();
        assert_eq!(held[0], (ECHO.to_owned(), old_echo, 1));
    }
    let old_shadows = shadows(&setup);
    assert_eq!(old_shadows.len(), 2);

    // Build 2 of the echo plugin is installed; the threaded plugin's file is unchanged.
    setup.install("fixture-echo-v2", "libecho.so");
    let (plugins, stalled) = restart(&setup, WAIT);

    assert!(stalled.is_empty(), "{stalled:?}");
    let ids: Vec<&str> = plugins.iter().map(|p| p.plugin_id.as_str()).collect();
    assert_eq!(ids, [ECHO, THREADED]);
    let (new_echo, replaced_echo) = reloaded(&plugins[0].result);
    let (new_threaded, replaced_threaded) = reloaded(&plugins[1].result);
    assert_eq!(
        (replaced_echo, replaced_threaded),
        (Some(old_echo), Some(old_threaded))
    );

    // The restart completed once the old generations were closed: nothing drains, the
    // old records are gone, and so are their shadow copies, on disk and in memory.
    let after = snapshot(&setup);
    // (The loads run in parallel, so either new generation may have been made first.)
    let states: BTreeMap<GenerationKey, GenerationState> = after
        .generations
        .iter()
        .map(|g| (g.generation, g.state.clone()))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            (new_echo, GenerationState::Active),
            (new_threaded, GenerationState::Active)
        ])
    );
    for old in [old_echo, old_threaded] {
        assert_eq!(
            setup.runtime.generation_state(old).unwrap(),
            Err(NotFoundError::Generation(old))
        );
    }
    let mapped = MappedCode::read().unwrap();
    for path in old_shadows.values() {
        assert!(!path.exists(), "{} is still on disk", path.display());
        assert!(!mapped.contains(path), "{} is still mapped", path.display());
    }
    let mut files = shadow_files(&setup.root);
    files.sort();
    let mut live: Vec<PathBuf> = shadows(&setup).into_values().collect();
    live.sort();
    assert_eq!(files, live, "only the active generations' copies are left");
    assert_eq!(mapped.count_under(&setup.root.join("shadow")), 2);

    // Each holder recreated on the new generations (it had let go of the old ones before
    // the restart completed, and reports right after); echo answers as build 2 now.
    let want = |held: &Held| {
        held.len() == 2
            && held[0] == (ECHO.to_owned(), new_echo, 2)
            && (held[1].0.as_str(), held[1].1) == (THREADED, new_threaded)
    };
    let mut last: BTreeMap<String, Held> = BTreeMap::new();
    while last.len() < HOLDERS || !last.values().all(want) {
        let (name, held) = reports.recv_timeout(WAIT).expect("every holder recreates");
        last.insert(name, held);
    }
    for holder in holders {
        holder.finish();
    }
}

#[test]
fn a_holder_that_never_polls_is_reported_stalled_at_the_deadline_and_nothing_is_closed() {
    // A drain's own first stall report would come much later than the restart's deadline.
    let setup = Setup::with_config(
        "restart-stalled",
        RuntimeConfig::default().with_core(CoreConfig {
            drain_timeout: Duration::from_secs(3600),
            ..CoreConfig::default()
        }),
    );
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let old = setup.load(&echo);
    let mut stalls = setup
        .runtime
        .listen(EventFilter::all().kind(EventKind::DrainStalled))
        .unwrap();
    let owner = setup.runtime.register_owner("audio.stuck").unwrap();
    let mut instance = owner.create::<ProbeInterface>(ECHO, "echo", b"").unwrap();
    assert_eq!(instance.generation(), old);

    // The owner does not poll its mailbox while the restart runs. The deadline must
    // leave the load time to finish; on a machine too slow for that the restart reports
    // it `Loading`, and the owner moves to what that load made and tries again with a
    // longer one.
    let mut deadline = Duration::from_millis(300);
    let (old, plugins, stalled) = loop {
        let old = instance.generation();
        let (plugins, stalled) = restart(&setup, deadline);
        if plugins[0].result != RestartResult::Loading {
            break (old, plugins, stalled);
        }
        loop {
            match owner.recv_timeout(WAIT) {
                Some(OwnerEvent::Draining(notice)) if notice.old == old => break,
                Some(_) => {}
                None => panic!("the late load never finished"),
            }
        }
        instance = owner.create::<ProbeInterface>(ECHO, "echo", b"").unwrap();
        setup.wait_removed(old);
        deadline *= 2;
    };
    let old_shadow = shadows(&setup)[&old].clone();
    let (new, replaced) = reloaded(&plugins[0].result);
    assert_eq!(replaced, Some(old));
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].generation, old);
    assert_eq!(stalled[0].holders.len(), 1);
    assert_eq!(stalled[0].holders[0].owner, Some(owner.key()));
    assert_eq!(
        stalled[0].holders[0].owner_name.as_deref(),
        Some("audio.stuck")
    );
    assert_eq!(stalled[0].holders[0].holds.instances, 1);

    // Reported as a drain stall, to listeners and to the holder.
    let record = stalls.recv_timeout(WAIT).expect("a drain_stalled record");
    assert!(matches!(
        record.event,
        Event::DrainStalled { generation, report: 1, .. } if generation == old
    ));
    // Nothing was closed by force: the old generation drains, its code is mapped, and
    // the instance still answers as build 1.
    assert!(matches!(
        setup.runtime.generation_state(old).unwrap().unwrap(),
        GenerationState::Draining { stalls: 1, .. }
    ));
    assert!(plugin_runtime::loader::code_mapped(&old_shadow).unwrap());
    assert_eq!(instance.tag(), 1);
    let mut samples = [1.0f32; 4];
    instance.process(&mut samples).unwrap();

    // The owner's mailbox: the drain notice naming the new generation, then the stall.
    match owner.try_recv() {
        Some(OwnerEvent::Draining(notice)) => {
            assert_eq!((notice.old, notice.new), (old, Some(new)))
        }
        other => panic!("{other:?}"),
    }
    match owner.try_recv() {
        Some(OwnerEvent::DrainStalled(stall)) => assert_eq!(stall.stalled.generation, old),
        other => panic!("{other:?}"),
    }

    // The holder lets go later: the old generation is collected, closed and unmapped.
    drop(instance);
    setup.wait_removed(old);
    assert!(!plugin_runtime::loader::code_mapped(&old_shadow).unwrap());
    assert!(!old_shadow.exists());
}

#[test]
fn a_restart_where_one_reload_fails_leaves_that_plugin_serving_its_old_generation() {
    let setup = setup("restart-corrupt");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let threaded = setup.install("fixture-threaded", "libthreaded.so");
    let old_echo = setup.load(&echo);
    let old_threaded = setup.load(&threaded);

    // The threaded plugin's file is replaced (by rename, as an installer does) with one
    // that is not a library.
    let staged = threaded.with_extension("new");
    fs::write(&staged, b"\x7fELF this is not a shared library").unwrap();
    fs::rename(&staged, &threaded).unwrap();
    setup.install("fixture-echo-v2", "libecho.so");

    let (plugins, stalled) = restart(&setup, WAIT);
    assert!(stalled.is_empty());
    let (new_echo, _) = reloaded(&plugins[0].result);
    assert_ne!(new_echo, old_echo);
    assert_eq!(plugins[1].plugin_id, THREADED);
    let RestartResult::Failed {
        error: CommandError::Load(failure),
    } = &plugins[1].result
    else {
        panic!("{:?}", plugins[1]);
    };
    assert!(!failure.step.is_empty() && !failure.message.is_empty());

    // The threaded plugin keeps serving its old generation; the echo plugin its new one.
    assert_eq!(
        setup.runtime.generation_state(old_threaded).unwrap(),
        Ok(GenerationState::Active)
    );
    let owner = setup.runtime.register_owner("audio").unwrap();
    let worker = owner
        .create::<ProbeInterface>(THREADED, "worker", b"")
        .unwrap();
    assert_eq!(worker.generation(), old_threaded);
    let echo_instance = owner.create::<ProbeInterface>(ECHO, "echo", b"").unwrap();
    assert_eq!(
        (echo_instance.generation(), echo_instance.tag()),
        (new_echo, 2)
    );
    setup.wait_removed(old_echo);
}

#[test]
fn a_second_restart_during_one_is_refused_and_other_commands_run() {
    let setup = setup("restart-twice");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let old = setup.load(&echo);
    let owner = setup.runtime.register_owner("audio").unwrap();
    let instance = owner.create::<ProbeInterface>(ECHO, "echo", b"").unwrap();
    // The first restart waits for `instance`, which nothing releases until the end.
    let first = owner
        .submit(Command::Restart {
            timeout: Duration::MAX,
        })
        .unwrap();
    let mut draining = None;
    while draining.is_none() {
        match owner.recv_timeout(WAIT) {
            Some(OwnerEvent::Draining(notice)) => draining = Some(notice),
            Some(OwnerEvent::DrainStalled(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(draining.unwrap().old, old);
    assert_eq!(
        setup.call(Command::Restart {
            timeout: Duration::MAX
        }),
        Outcome::Failed(CommandError::RestartInProgress)
    );
    assert!(matches!(
        setup.call(Command::Snapshot),
        Outcome::Snapshot(_)
    ));
    drop(instance);
    loop {
        match owner.recv_timeout(WAIT) {
            Some(OwnerEvent::CommandCompleted(done)) => {
                assert_eq!(done.request_id, first);
                assert!(matches!(
                    done.outcome,
                    Outcome::Restarted { ref stalled, .. } if stalled.is_empty()
                ));
                break;
            }
            // On a slow machine the drain may outlive its first report.
            Some(OwnerEvent::DrainStalled(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}
