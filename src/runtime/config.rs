//! How a runtime is set up.

use std::time::Duration;

use super::error::StartError;
use crate::generation::CoreConfig;
use crate::loader::LoaderConfig;

use super::mailbox::{MAX_MAILBOX_CAPACITY, MIN_MAILBOX_CAPACITY};

/// The largest request queue [`Runtime::start`](super::Runtime::start) accepts: 2^20
/// requests. The queue is allocated whole at start, so a capacity is memory spent up
/// front, and a queue this deep already means callers wait minutes behind it.
pub const MAX_QUEUE_CAPACITY: usize = 1 << 20;

/// The settings of [`Runtime::start`](super::Runtime::start).
///
/// Every duration, here and in [`CoreConfig`], may be anything from [`Duration::ZERO`]
/// to [`Duration::MAX`]: a wait too long for the clock means "forever". The queue
/// capacity must be within `1..=`[`MAX_QUEUE_CAPACITY`]; `Runtime::start` refuses
/// anything else with [`StartError::Config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The loader's settings (shadow directory, deadlines of `init` and `deinit`, and
    /// the [`Lockdown`](crate::loader::Lockdown) every load and reload of the runtime's
    /// loader threads goes through). [`Runtime::start`](super::Runtime::start) refuses
    /// a plugin root that is not a directory with
    /// [`StartError::Loader`](super::StartError::Loader).
    pub loader: LoaderConfig,
    /// The core's settings (drain deadlines).
    pub core: CoreConfig,
    /// How many requests may wait in the actor's queue, `1..=`[`MAX_QUEUE_CAPACITY`]; a
    /// full queue makes a request wait up to [`send_timeout`](Self::send_timeout) and
    /// then fail.
    pub queue_capacity: usize,
    /// How long a request waits for room in a full queue; zero fails at once,
    /// [`Duration::MAX`] waits for as long as it takes.
    pub send_timeout: Duration,
    /// How many events each owner's mailbox holds, from
    /// [`MIN_MAILBOX_CAPACITY`](super::MIN_MAILBOX_CAPACITY) to
    /// [`MAX_MAILBOX_CAPACITY`](super::MAX_MAILBOX_CAPACITY) (else
    /// [`StartError::Config`](super::StartError::Config)). Half is
    /// reserved for completions: an owner may have that many commands outstanding. The
    /// slots are allocated when an owner registers.
    pub mailbox_capacity: usize,
    /// How many loader threads open and close libraries in parallel (1 to
    /// [`MAX_LOADER_THREADS`]; 4 by default). A module's `init` or `deinit` occupies one
    /// until it returns or its deadline passes
    /// ([`LoaderConfig::init_timeout`](crate::loader::LoaderConfig::init_timeout)), so
    /// this many slow plugins at once delay the next load or close by at most one
    /// deadline, and fewer delay nothing.
    pub loader_threads: usize,
    /// How many records each [listener](super::Listener) queues, from 1 to
    /// [`MAX_LISTENER_CAPACITY`] (1024 by default; else
    /// [`StartError::Config`](super::StartError::Config)). A listener that falls this far
    /// behind loses its oldest records, never delays the runtime, and learns how many it
    /// lost from the next record it reads ([`EventRecord::dropped`](crate::events::EventRecord::dropped)).
    pub listener_capacity: usize,
}

/// The largest listener capacity accepted (2^20).
pub const MAX_LISTENER_CAPACITY: usize = 1 << 20;

/// The most loader threads a runtime starts.
pub const MAX_LOADER_THREADS: usize = 64;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            loader: LoaderConfig::default(),
            core: CoreConfig::default(),
            queue_capacity: 1024,
            send_timeout: Duration::from_secs(1),
            mailbox_capacity: 1024,
            loader_threads: 4,
            listener_capacity: 1024,
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

    /// Sets the request queue's capacity, `1..=`[`MAX_QUEUE_CAPACITY`] (checked by
    /// [`Runtime::start`](super::Runtime::start)).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Sets how long a request waits for room in a full queue.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets each owner's mailbox capacity; checked by
    /// [`Runtime::start`](super::Runtime::start).
    pub fn with_mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// Sets how many loader threads run opens and closes in parallel; checked by
    /// [`Runtime::start`](super::Runtime::start) (1 to [`MAX_LOADER_THREADS`]).
    pub fn with_loader_threads(mut self, threads: usize) -> Self {
        self.loader_threads = threads;
        self
    }

    /// Sets each listener's queue capacity; checked by
    /// [`Runtime::start`](super::Runtime::start) (1 to [`MAX_LISTENER_CAPACITY`]).
    pub fn with_listener_capacity(mut self, capacity: usize) -> Self {
        self.listener_capacity = capacity;
        self
    }
}

impl RuntimeConfig {
    /// Checks the settings that have bounds.
    ///
    /// # Errors
    ///
    /// [`StartError::Config`] naming the first setting out of bounds.
    pub(crate) fn validate(&self) -> Result<(), StartError> {
        if !(1..=MAX_QUEUE_CAPACITY).contains(&self.queue_capacity) {
            return Err(StartError::Config {
                field: "queue_capacity",
                value: self.queue_capacity.to_string(),
                reason: "must be at least 1 and at most MAX_QUEUE_CAPACITY (1048576)",
            });
        }
        if !(MIN_MAILBOX_CAPACITY..=MAX_MAILBOX_CAPACITY).contains(&self.mailbox_capacity) {
            return Err(StartError::Config {
                field: "mailbox_capacity",
                value: self.mailbox_capacity.to_string(),
                reason: "must be at least MIN_MAILBOX_CAPACITY (4) and at most MAX_MAILBOX_CAPACITY (1048576)",
            });
        }
        if !(1..=MAX_LOADER_THREADS).contains(&self.loader_threads) {
            return Err(StartError::Config {
                field: "loader_threads",
                value: self.loader_threads.to_string(),
                reason: "must be at least 1 and at most MAX_LOADER_THREADS",
            });
        }
        if !(1..=MAX_LISTENER_CAPACITY).contains(&self.listener_capacity) {
            return Err(StartError::Config {
                field: "listener_capacity",
                value: self.listener_capacity.to_string(),
                reason: "must be at least 1 and at most MAX_LISTENER_CAPACITY (1048576)",
            });
        }
        Ok(())
    }
}
