//! Slow and stuck lifecycle calls (`init`, `deinit`) over real libraries: deadlines,
//! loads in parallel, the order of loads of one plugin, and many generations kept
//! mapped by the OS loader.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{
    Command, CommandError, GenerationKey, GenerationState, Outcome, PinnedReason, RequestId,
};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Owner, Runtime, RuntimeConfig, RuntimeHandle};

const WAIT: Duration = Duration::from_secs(10);
/// Far below `fixture-slow-init`'s second, so a test that wants a timeout gets one fast.
const SHORT: Duration = Duration::from_millis(100);

/// A runtime with its own shadow root and install directory.
struct Setup {
    root: PathBuf,
    runtime: RuntimeHandle,
}

impl Setup {
    fn new(tag: &str, init_timeout: Duration, deinit_timeout: Duration) -> Self {
        let root = std::env::temp_dir().join(format!(
            "plugin-runtime-lifecycle-test-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("installed")).unwrap();
        let loader = LoaderConfig::default()
            .with_shadow_root(root.join("shadow"))
            .with_lifecycle_timeouts(init_timeout, deinit_timeout);
        let runtime = Runtime::start(RuntimeConfig::default().with_loader(loader)).unwrap();
        Self { root, runtime }
    }

    fn install(&self, fixture: &str, name: &str) -> PathBuf {
        let target = self.root.join("installed").join(name);
        fs::copy(fixtures().path(fixture), &target).unwrap();
        target
    }

    fn call(&self, command: Command) -> Outcome {
        self.runtime.call(command, WAIT).unwrap()
    }

    fn load(&self, path: &Path) -> GenerationKey {
        match self.call(load(path)) {
            Outcome::Loaded { generation, .. } => generation,
            other => panic!("load failed: {other:?}"),
        }
    }

    fn unload(&self, plugin_id: &str) {
        let outcome = self.call(Command::Unload {
            plugin_id: plugin_id.into(),
        });
        assert!(matches!(outcome, Outcome::Unloaded { .. }), "{outcome:?}");
    }

    fn shadow_of(&self, plugin_id: &str) -> PathBuf {
        let pin = self.runtime.pin(plugin_id).unwrap();
        pin.library().shadow_path().to_owned()
    }

    /// Waits until `done` holds for the generation's state (`None`: its record is gone).
    fn wait_for(&self, generation: GenerationKey, done: impl Fn(Option<&GenerationState>) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self.runtime.generation_state(generation).unwrap().ok();
            if done(state.as_ref()) {
                return;
            }
            assert!(Instant::now() < deadline, "still {state:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether any library of this runtime's shadow directory has code mapped.
    fn shadow_code_mapped(&self, name: &str) -> bool {
        let shadow = self.root.join("shadow").canonicalize().unwrap();
        fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .any(|l| {
                l.split_whitespace().nth(1).is_some_and(|p| p.contains('x'))
                    && l.contains(shadow.to_str().unwrap())
                    && l.contains(name)
            })
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn load(path: &Path) -> Command {
    Command::Load {
        path: path.to_owned(),
        expected_plugin_id: None,
    }
}

/// The next `count` command outcomes in the owner's mailbox, in the order they arrived.
fn completions(owner: &Owner, count: usize) -> Vec<(RequestId, Outcome)> {
    let mut done = Vec::new();
    while done.len() < count {
        match owner.recv_timeout(WAIT) {
            Some(OwnerEvent::CommandCompleted(c)) => done.push((c.request_id, c.outcome)),
            Some(_) => {}
            None => panic!("{} of {count} outcomes arrived", done.len()),
        }
    }
    done
}

#[test]
fn a_slow_init_does_not_delay_another_plugins_load() {
    let setup = Setup::new("parallel", WAIT, WAIT);
    let slow = setup.install("fixture-slow-init", "libslow.so");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let owner = setup.runtime.register_owner("loads").unwrap();
    let slow_request = owner.submit(load(&slow)).unwrap();
    let echo_request = owner.submit(load(&echo)).unwrap();
    // Submitted second, the fast load completes first: it never waits for the slow init.
    let done = completions(&owner, 2);
    assert_eq!(done[0].0, echo_request, "{done:?}");
    assert_eq!(done[1].0, slow_request, "{done:?}");
    assert!(
        done.iter()
            .all(|(_, o)| matches!(o, Outcome::Loaded { .. })),
        "{done:?}"
    );
}

#[test]
fn an_init_past_its_deadline_fails_typed_keeps_its_library_and_loading_goes_on() {
    let setup = Setup::new("init-timeout", SHORT, SHORT);
    let slow = setup.install("fixture-slow-init", "libslow.so");
    let Outcome::Failed(CommandError::Load(failure)) = setup.call(load(&slow)) else {
        panic!("a timed-out init must fail the load");
    };
    assert_eq!(failure.step, "init");
    assert!(
        failure.message.contains("did not return within"),
        "{failure:?}"
    );
    assert!(failure.message.contains("stays loaded"), "{failure:?}");
    // Its init thread may still run its code: it stays mapped.
    assert!(
        setup.shadow_code_mapped("libslow.so"),
        "unmapped under a running init"
    );

    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let generation = setup.load(&echo);
    setup.unload("fixture.echo");
    setup.wait_for(generation, |s| s.is_none());
}

#[test]
fn a_deinit_past_its_deadline_is_reported_and_later_loads_and_closes_go_on() {
    let setup = Setup::new("deinit-timeout", SHORT, SHORT);
    let stuck = setup.install("fixture-stuck-deinit", "libstuck.so");
    let generation = setup.load(&stuck);
    let shadow = setup.shadow_of("fixture.slow");
    setup.unload("fixture.slow");
    setup.wait_for(generation, |s| {
        matches!(s, Some(GenerationState::PinnedByLoader { reason: PinnedReason::KeptLoaded { reason } })
            if reason.contains("deinit did not return within"))
    });
    assert!(plugin_runtime::loader::code_mapped(&shadow).unwrap());

    // Later loads and closes are not stuck behind it.
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    for _ in 0..3 {
        let generation = setup.load(&echo);
        setup.unload("fixture.echo");
        setup.wait_for(generation, |s| s.is_none());
    }
    assert!(matches!(
        setup.runtime.generation_state(generation).unwrap(),
        Ok(GenerationState::PinnedByLoader { .. })
    ));
}

#[test]
fn an_older_build_that_finishes_last_never_becomes_active() {
    // `fixture-slow-init` and `fixture-stuck-deinit` are two builds of `fixture.slow`;
    // the first takes a second in init, the second none.
    let setup = Setup::new("order", WAIT, SHORT);
    let older = setup.install("fixture-slow-init", "libslow-1.so");
    let newer = setup.install("fixture-stuck-deinit", "libslow-2.so");
    let owner = setup.runtime.register_owner("loads").unwrap();
    let older_request = owner.submit(load(&older)).unwrap();
    let newer_request = owner.submit(load(&newer)).unwrap();
    let done = completions(&owner, 2);
    assert_eq!(
        done[0].0, newer_request,
        "the fast build finishes first: {done:?}"
    );
    let Outcome::Loaded { generation, .. } = done[0].1 else {
        panic!("{done:?}");
    };
    assert_eq!(done[1].0, older_request);
    assert_eq!(
        done[1].1,
        Outcome::Failed(CommandError::Superseded {
            plugin_id: "fixture.slow".into()
        })
    );
    assert_eq!(
        setup.runtime.generation_state(generation).unwrap(),
        Ok(GenerationState::Active)
    );
    let pin = setup.runtime.pin("fixture.slow").unwrap();
    assert_eq!(pin.library().module().version, "stuck-deinit");
}

#[test]
fn many_generations_kept_mapped_are_closed_once_their_thread_ends() {
    const GENERATIONS: usize = 30;
    let setup = Setup::new("many-mapped", WAIT, WAIT);
    let tls = setup.install("fixture-tls", "libtls.so");
    setup.load(&tls);
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (keys_tx, keys_rx) = std::sync::mpsc::channel();
    let runtime = setup.runtime.clone();
    // One owner thread touches each generation's thread-local (registering a destructor
    // on itself) and reloads, so every old generation stays mapped at its close.
    let toucher = std::thread::spawn(move || {
        let owner = runtime.register_owner("toucher").unwrap();
        let mut keys = Vec::new();
        for _ in 0..GENERATIONS {
            let mut instance = owner
                .create::<ProbeInterface>("fixture.tls", "tls", b"")
                .unwrap();
            instance.process(&mut [0.0]).unwrap();
            drop(instance);
            let reload = Command::Reload {
                plugin_id: "fixture.tls".into(),
            };
            match owner.call(reload, WAIT).unwrap() {
                Outcome::Loaded {
                    replaced: Some(old),
                    ..
                } => keys.push(old),
                other => panic!("{other:?}"),
            }
        }
        drop(owner);
        keys_tx.send(keys).unwrap();
        let _ = release_rx.recv();
    });
    let keys = keys_rx.recv().unwrap();
    for key in &keys {
        setup.wait_for(*key, |s| {
            matches!(
                s,
                Some(GenerationState::PinnedByLoader {
                    reason: PinnedReason::StillMapped
                })
            )
        });
    }

    release_tx.send(()).unwrap();
    toucher.join().unwrap();
    // The next close lets glibc unmap them all, and one read of the maps finds them.
    setup.unload("fixture.tls");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    setup.load(&echo);
    setup.unload("fixture.echo");
    for key in &keys {
        setup.wait_for(*key, |s| s.is_none());
    }
    assert!(!setup.shadow_code_mapped("libtls.so"));
}
