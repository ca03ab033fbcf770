//! How a runtime is set up.

use std::time::Duration;

use crate::generation::CoreConfig;
use crate::loader::LoaderConfig;

/// The settings of [`Runtime::start`](super::Runtime::start).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The loader's settings (shadow directory).
    pub loader: LoaderConfig,
    /// The core's settings (drain deadlines).
    pub core: CoreConfig,
    /// How many requests may wait in the actor's queue; a full queue makes a request wait
    /// up to [`send_timeout`](Self::send_timeout) and then fail.
    pub queue_capacity: usize,
    /// How long a request waits for room in a full queue; zero fails at once.
    pub send_timeout: Duration,
    /// How many events each owner's mailbox holds, from
    /// [`MIN_MAILBOX_CAPACITY`](super::MIN_MAILBOX_CAPACITY) to
    /// [`MAX_MAILBOX_CAPACITY`](super::MAX_MAILBOX_CAPACITY) (else
    /// [`StartError::MailboxCapacity`](super::StartError::MailboxCapacity)). Half is
    /// reserved for completions: an owner may have that many commands outstanding. The
    /// slots are allocated when an owner registers.
    pub mailbox_capacity: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            loader: LoaderConfig::default(),
            core: CoreConfig::default(),
            queue_capacity: 1024,
            send_timeout: Duration::from_secs(1),
            mailbox_capacity: 1024,
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

    /// Sets each owner's mailbox capacity; checked by
    /// [`Runtime::start`](super::Runtime::start).
    pub fn with_mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }
}
