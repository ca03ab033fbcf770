//! Watching a plugin directory: file events, debounced, run the
//! [directory sync](crate::generation::sync) (feature `watch`).
//!
//! A [`DirWatcher`] asks the OS (through the `notify` crate) for the directory's file
//! events, on a thread of its own. An event that names a library (a name ending in `.so`
//! that does not start with a dot, the rule of the scan) starts a quiet period of
//! [`WatchConfig::debounce`]; every later such event starts it again; when it ends, the
//! watcher submits one [`Command::Sync`] and waits for its outcome before the next
//! one, so syncs never overlap. Replacing a library by rename, or a burst of writes, so
//! gives one sync, which reloads the plugins whose files changed and only those. Reads
//! (the scan's own, or a host's) are not changes and start nothing.
//!
//! What a sync did is told by the runtime's events (`directory_synced`, and the
//! `command_completed` with every entry): listen to them with
//! [`RuntimeHandle::listen`].
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use plugin_runtime::generation::SyncMode;
//! use plugin_runtime::watch::{DirWatcher, WatchConfig};
//! use plugin_runtime::{Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::start(RuntimeConfig::default())?;
//! let config = WatchConfig {
//!     mode: SyncMode::Reconcile,
//!     ..WatchConfig::default()
//! };
//! // Syncs once now, then after every change; dropping it stops watching.
//! let watcher = DirWatcher::start(runtime.clone(), "plugins", config)?;
//! std::thread::sleep(Duration::from_secs(60));
//! drop(watcher);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, never, select};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::generation::{Command, Outcome, SyncMode};

use super::handle::RuntimeHandle;
use super::protocol::Request;

/// How a [`DirWatcher`] syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// How long the directory must be quiet after a change before the sync runs.
    pub debounce: Duration,
    /// The syncs' mode.
    pub mode: SyncMode,
    /// Plugin ids the syncs do not load (and, reconciling, disable).
    pub disabled: Vec<String>,
    /// Whether to sync once when the watcher starts (after the OS watch is set up, so
    /// that no change in between is missed).
    pub initial_sync: bool,
}

impl Default for WatchConfig {
    /// A quarter of a second of quiet, additive, nothing disabled, an initial sync.
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(250),
            mode: SyncMode::Additive,
            disabled: Vec::new(),
            initial_sync: true,
        }
    }
}

/// Why a [`DirWatcher`] did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The OS watch could not be set up (the directory does not exist, or the limit of
    /// watches is reached).
    #[error("cannot watch {}: {source}", dir.display())]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// What `notify` reported.
        #[source]
        source: notify::Error,
    },
    /// The watcher's thread could not be spawned.
    #[error("cannot spawn the watcher thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A running watch of one directory; see [the module](self). Dropping it stops the OS
/// watch and joins its thread (which waits for no sync in flight: that sync's outcome
/// is then only published).
#[derive(Debug)]
pub struct DirWatcher {
    dir: PathBuf,
    /// Dropped first, to end the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The OS watch; dropped after the thread ended.
    _watch: notify::RecommendedWatcher,
}

impl DirWatcher {
    /// Starts watching `dir` and syncing `runtime` with it.
    ///
    /// # Errors
    ///
    /// [`WatchError::Watch`] if the directory cannot be watched, [`WatchError::Spawn`]
    /// if the thread cannot be started.
    pub fn start(
        runtime: RuntimeHandle,
        dir: impl Into<PathBuf>,
        config: WatchConfig,
    ) -> Result<Self, WatchError> {
        let dir = dir.into();
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        let mut watch = notify::recommended_watcher(move |event| {
            // The thread is gone only once the watcher is being dropped.
            let _ = events_tx.send(event);
        })
        .map_err(|source| WatchError::Watch {
            dir: dir.clone(),
            source,
        })?;
        watch
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError::Watch {
                dir: dir.clone(),
                source,
            })?;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let worker = Worker {
            runtime,
            dir: dir.clone(),
            config,
            events: events_rx,
            stop: stop_rx,
        };
        let thread = std::thread::Builder::new()
            .name("plugrt-watch".into())
            .spawn(move || worker.run())
            .map_err(WatchError::Spawn)?;
        Ok(Self {
            dir,
            stop: Some(stop_tx),
            thread: Some(thread),
            _watch: watch,
        })
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            // It only waits on channels and the runtime's answers; a panic there is a
            // bug already reported on stderr.
            let _ = thread.join();
        }
    }
}

/// The watcher thread's state.
struct Worker {
    runtime: RuntimeHandle,
    dir: PathBuf,
    config: WatchConfig,
    events: Receiver<notify::Result<notify::Event>>,
    stop: Receiver<()>,
}

impl Worker {
    fn run(self) {
        let mut due = self.config.initial_sync.then(Instant::now);
        loop {
            let timer = due.map_or_else(never, crossbeam_channel::at);
            select! {
                recv(self.stop) -> _ => return,
                recv(self.events) -> event => match event {
                    Ok(event) if self.is_change(&event) => {
                        due = Some(Instant::now() + self.config.debounce);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                recv(timer) -> _ => {
                    due = None;
                    if !self.sync() {
                        return;
                    }
                }
            }
        }
    }

    /// Whether an event from the OS may mean a library changed.
    fn is_change(&self, event: &notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                // Events may have been lost (an overflowing queue): sync to be sure.
                tracing::warn!(dir = %self.dir.display(), %error, "the directory watch reported an error");
                return true;
            }
        };
        let kind = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        kind && (event.paths.is_empty()
            || event
                .paths
                .iter()
                .any(|path| path.file_name().is_some_and(crate::loader::is_library_name)))
    }

    /// Submits one sync and waits for its outcome; `false` when the watcher must stop.
    fn sync(&self) -> bool {
        let (waiter_tx, waiter_rx) = crossbeam_channel::bounded(1);
        let shared = &self.runtime.shared;
        let submitted = shared.send(Request::Submit {
            request_id: shared.next_request_id(),
            owner: None,
            command: Command::Sync {
                dir: self.dir.clone(),
                disabled: self.config.disabled.clone(),
                mode: self.config.mode,
            },
            waiter: Some(waiter_tx),
        });
        if let Err(error) = submitted {
            tracing::warn!(dir = %self.dir.display(), %error, "the directory sync could not be submitted");
            return !matches!(
                error,
                super::RequestError::Stopped | super::RequestError::Poisoned
            );
        }
        select! {
            recv(self.stop) -> _ => false,
            recv(waiter_rx) -> outcome => match outcome {
                Ok(Outcome::Synced { entries, .. }) => {
                    tracing::debug!(dir = %self.dir.display(), entries = entries.len(), "directory synced");
                    true
                }
                Ok(other) => {
                    tracing::warn!(dir = %self.dir.display(), outcome = ?other, "the directory sync failed");
                    true
                }
                // The runtime stopped.
                Err(_) => false,
            },
        }
    }
}
