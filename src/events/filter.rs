//! Which events a listener wants.

use super::event::{Event, EventKind, Topic};

/// Which events a [listener](crate::Listener) receives: every event, or those matching
/// all of the restrictions set (topics, kinds, plugins). A restriction left unset
/// matches everything; each one set lets an event through if it matches any value.
///
/// # Examples
///
/// ```
/// use plugin_runtime::events::{EventFilter, EventKind, Topic};
///
/// // What a settings page of one plugin needs.
/// let filter = EventFilter::all()
///     .topic(Topic::Lifecycle)
///     .plugin("example.gain");
/// // What a watchdog needs.
/// let stalls = EventFilter::all().kind(EventKind::DrainStalled);
/// # let _ = (filter, stalls);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    topics: Vec<Topic>,
    kinds: Vec<EventKind>,
    plugins: Vec<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Also restricts to `topic` (several calls: any of them).
    pub fn topic(mut self, topic: Topic) -> Self {
        self.topics.push(topic);
        self
    }

    /// Also restricts to `kind` (several calls: any of them).
    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Also restricts to events about `plugin_id` (several calls: any of them). Events
    /// about no plugin, such as shutdown, then do not match.
    pub fn plugin(mut self, plugin_id: impl Into<String>) -> Self {
        self.plugins.push(plugin_id.into());
        self
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        (self.topics.is_empty() || self.topics.contains(&event.topic()))
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind()))
            && (self.plugins.is_empty()
                || event
                    .plugin_id()
                    .is_some_and(|id| self.plugins.iter().any(|p| p == id)))
    }
}
