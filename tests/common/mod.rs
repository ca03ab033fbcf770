//! What the runtime's integration tests share: a runtime with a directory of its own to
//! install fixtures in, and a thread that keeps a library's code mapped until told to end.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, GenerationKey, Outcome};
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};

/// How long a test waits for the runtime to answer or to reach a state.
pub const WAIT: Duration = Duration::from_secs(10);

/// A runtime with its own shadow root and install directory.
pub struct Setup {
    pub root: PathBuf,
    pub runtime: RuntimeHandle,
}

impl Setup {
    /// Starts a runtime with `config`, its shadow copies under a directory of its own.
    pub fn with_config(tag: &str, config: RuntimeConfig) -> Self {
        let root =
            std::env::temp_dir().join(format!("plugin-runtime-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("installed")).unwrap();
        let loader = config.loader.clone().with_shadow_root(root.join("shadow"));
        let runtime = Runtime::start(config.with_loader(loader)).unwrap();
        Self { root, runtime }
    }

    /// Installs `fixture` as `name` by copy-then-rename, as a package manager would.
    pub fn install(&self, fixture: &str, name: &str) -> PathBuf {
        let target = self.root.join("installed").join(name);
        let staged = self.root.join("installed").join(format!("{name}.new"));
        fs::copy(fixtures().path(fixture), &staged).unwrap();
        fs::rename(&staged, &target).unwrap();
        target
    }

    pub fn call(&self, command: Command) -> Outcome {
        self.runtime.call(command, WAIT).unwrap()
    }

    pub fn load(&self, path: &Path) -> GenerationKey {
        match self.call(Command::Load {
            path: path.to_owned(),
            expected_plugin_id: None,
        }) {
            Outcome::Loaded { generation, .. } => generation,
            other => panic!("load failed: {other:?}"),
        }
    }

    pub fn reload(&self, plugin_id: &str) -> GenerationKey {
        match self.call(Command::Reload {
            plugin_id: plugin_id.into(),
        }) {
            Outcome::Loaded { generation, .. } => generation,
            other => panic!("reload failed: {other:?}"),
        }
    }

    /// Waits until the generation's record is gone (closed, unmapped and cleaned up).
    pub fn wait_removed(&self, generation: GenerationKey) {
        let deadline = Instant::now() + WAIT;
        while self.runtime.generation_state(generation).unwrap().is_ok() {
            assert!(Instant::now() < deadline, "{generation} is still there");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A thread that runs `fixture.tls` code, which leaves a thread-local destructor of the
/// library on it, then lets go of its instance and owner and stays alive until
/// [`finish`](Self::finish): until then the OS loader keeps the library mapped after
/// its close.
pub struct Toucher {
    release: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Toucher {
    pub fn start(runtime: &RuntimeHandle) -> Self {
        let (release, released) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<()>();
        let runtime = runtime.clone();
        let thread = std::thread::spawn(move || {
            let owner = runtime.register_owner("toucher").unwrap();
            let mut instance = owner
                .create::<ProbeInterface>("fixture.tls", "tls", b"")
                .unwrap();
            instance.process(&mut [0.0]).unwrap();
            drop(instance);
            drop(owner);
            done_tx.send(()).unwrap();
            let _ = released.recv();
        });
        done.recv().unwrap();
        Self { release, thread }
    }

    pub fn finish(self) {
        self.release.send(()).unwrap();
        self.thread.join().unwrap();
    }
}
