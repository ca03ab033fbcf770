//! How a runtime is set up.

use std::time::Duration;

use crate::generation::CoreConfig;
use crate::loader::LoaderConfig;

/// The settings of [`Runtime::start`](super::Runtime::start).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The loader's settings (shadow directory, deadlines of `init` and `deinit`).
    pub loader: LoaderConfig,
    /// The core's settings (drain deadlines).
    pub core: CoreConfig,
    /// How many requests may wait in the actor's queue; a full queue makes a request wait
    /// up to [`send_timeout`](Self::send_timeout) and then fail.
    pub queue_capacity: usize,
    /// How long a request waits for room in a full queue; zero fails at once.
    pub send_timeout: Duration,
    /// How many loader threads open and close libraries in parallel (1 to
    /// [`MAX_LOADER_THREADS`]; 4 by default). A module's `init` or `deinit` occupies one
    /// until it returns or its deadline passes
    /// ([`LoaderConfig::init_timeout`](crate::loader::LoaderConfig::init_timeout)), so
    /// this many slow plugins at once delay the next load or close by at most one
    /// deadline, and fewer delay nothing.
    pub loader_threads: usize,
}

/// The most loader threads a runtime starts.
pub const MAX_LOADER_THREADS: usize = 64;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            loader: LoaderConfig::default(),
            core: CoreConfig::default(),
            queue_capacity: 1024,
            send_timeout: Duration::from_secs(1),
            loader_threads: 4,
        }
    }
}

impl RuntimeConfig {
    /// Uses `loader` for the loader's settings.
    pub fn with_loader(mut self, loader: LoaderConfig) -> Self {
        self.loader = loader;
        self
    }

    /// Uses `core` for the core's settings.
    pub fn with_core(mut self, core: CoreConfig) -> Self {
        self.core = core;
        self
    }

    /// Sets the request queue's capacity (at least 1).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Sets how long a request waits for room in a full queue.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets how many loader threads run opens and closes in parallel (clamped to 1 to
    /// [`MAX_LOADER_THREADS`]).
    pub fn with_loader_threads(mut self, threads: usize) -> Self {
        self.loader_threads = threads.clamp(1, MAX_LOADER_THREADS);
        self
    }
}
