//! Following every plugin's life from the events alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::event::{Event, EventRecord};
use crate::generation::{GenerationKey, GenerationState, PinnedReason, Snapshot};
use crate::module::CapabilityInfo;

/// What an outside program knows about one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginView {
    /// The installed library it loads from.
    pub path: PathBuf,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its active generation.
    pub active: Option<GenerationKey>,
    /// The active generation's plugin version.
    pub version: Option<String>,
    /// The active generation's capabilities.
    pub capabilities: Vec<CapabilityInfo>,
}

/// The plugins and generations of a runtime, as both a [`Snapshot`] and a stream of
/// events describe them: what a debug page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleView {
    /// Every known plugin, by id.
    pub plugins: BTreeMap<String, PluginView>,
    /// Every generation whose record exists: its plugin and its state's name (`active`,
    /// `draining`, `closing`, `closed`, `still_mapped` or `kept_loaded`).
    pub generations: BTreeMap<GenerationKey, (String, &'static str)>,
}

impl LifecycleView {
    /// The view a snapshot gives.
    pub fn of_snapshot(snapshot: &Snapshot) -> Self {
        let plugins = snapshot
            .plugins
            .iter()
            .map(|p| {
                let view = PluginView {
                    path: p.path.clone(),
                    enabled: p.enabled,
                    active: p.active,
                    version: p.version.clone(),
                    capabilities: p.capabilities.clone(),
                };
                (p.plugin_id.clone(), view)
            })
            .collect();
        let generations = snapshot
            .generations
            .iter()
            .map(|g| (g.generation, (g.plugin_id.clone(), state_name(&g.state))))
            .collect();
        Self {
            plugins,
            generations,
        }
    }
}

fn state_name(state: &GenerationState) -> &'static str {
    match state {
        GenerationState::Active => "active",
        GenerationState::Draining { .. } => "draining",
        GenerationState::Closing => "closing",
        GenerationState::Closed => "closed",
        GenerationState::PinnedByLoader {
            reason: PinnedReason::StillMapped,
        } => "still_mapped",
        GenerationState::PinnedByLoader { .. } => "kept_loaded",
    }
}

/// Rebuilds a [`LifecycleView`] from the runtime's events, in `seq` order, starting
/// from the runtime's first event: an outside program (a UI across an FFI bridge, a log
/// reader) can follow every plugin's life without asking the runtime.
///
/// # Examples
///
/// ```
/// use plugin_runtime::events::{Event, EventRecord, Follower};
///
/// let mut follower = Follower::default();
/// follower.apply(&EventRecord {
///     seq: 1,
///     t_micros: 0,
///     dropped: 0,
///     event: Event::Unloaded { plugin_id: "never.loaded".into() },
/// });
/// assert!(follower.view().plugins.is_empty());
/// assert_eq!(follower.gaps(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Follower {
    view: LifecycleView,
    last_seq: u64,
    gaps: u64,
}

impl Follower {
    /// What the events so far say.
    pub fn view(&self) -> &LifecycleView {
        &self.view
    }

    /// How many records were missing between those applied (by `seq`, plus each
    /// record's `dropped`): a view built over a gap may be wrong.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Applies one record.
    pub fn apply(&mut self, record: &EventRecord) {
        // Records may come from outside the process: numbers saturate, never overflow.
        let missed = record.seq.saturating_sub(self.last_seq.saturating_add(1));
        self.gaps = self
            .gaps
            .saturating_add(record.dropped)
            .saturating_add(missed);
        self.last_seq = record.seq;
        self.apply_event(&record.event);
    }

    fn apply_event(&mut self, event: &Event) {
        let view = &mut self.view;
        match event {
            Event::Loaded {
                plugin_id,
                generation,
                version,
                path,
                capabilities,
            } => {
                let plugin = view
                    .plugins
                    .entry(plugin_id.clone())
                    .or_insert_with(|| PluginView {
                        path: path.clone(),
                        enabled: true,
                        active: None,
                        version: None,
                        capabilities: Vec::new(),
                    });
                plugin.path = path.clone();
                plugin.enabled = true;
                plugin.active = Some(*generation);
                plugin.version = Some(version.clone());
                plugin.capabilities = capabilities.clone();
                view.generations
                    .insert(*generation, (plugin_id.clone(), "active"));
            }
            Event::Reloaded {
                plugin_id,
                new,
                version,
                path,
                capabilities,
                ..
            } => {
                if let Some(plugin) = view.plugins.get_mut(plugin_id) {
                    plugin.path = path.clone();
                    plugin.active = Some(*new);
                    plugin.version = Some(version.clone());
                    plugin.capabilities = capabilities.clone();
                }
                view.generations.insert(*new, (plugin_id.clone(), "active"));
            }
            Event::Enabled { plugin_id } => {
                if let Some(plugin) = view.plugins.get_mut(plugin_id) {
                    plugin.enabled = true;
                }
            }
            Event::Disabled { plugin_id } => {
                if let Some(plugin) = view.plugins.get_mut(plugin_id) {
                    plugin.enabled = false;
                }
            }
            Event::Unloaded { plugin_id } => {
                view.plugins.remove(plugin_id);
            }
            Event::Draining {
                plugin_id,
                generation,
                ..
            } => {
                if let Some(plugin) = view.plugins.get_mut(plugin_id)
                    && plugin.active == Some(*generation)
                {
                    plugin.active = None;
                    plugin.version = None;
                    plugin.capabilities.clear();
                }
                // A refused load's generation never served: draining is its first record.
                view.generations
                    .entry(*generation)
                    .or_insert_with(|| (plugin_id.clone(), "draining"))
                    .1 = "draining";
            }
            Event::Collected { generation, .. } => set_state(view, *generation, "closing"),
            Event::Closed { generation, .. } | Event::Unmapped { generation, .. } => {
                set_state(view, *generation, "closed")
            }
            Event::StillMapped { generation, .. } => set_state(view, *generation, "still_mapped"),
            Event::KeptLoaded { generation, .. } => set_state(view, *generation, "kept_loaded"),
            Event::CleanedUp { generation, .. } => {
                view.generations.remove(generation);
            }
            Event::LoadRequested { .. }
            | Event::LoadFailed { .. }
            | Event::DrainStalled { .. }
            | Event::InstanceConfigured { .. }
            | Event::ShutdownStarted { .. }
            | Event::ShutdownFinished { .. }
            | Event::RuntimePoisoned { .. }
            | Event::RestartStarted { .. }
            | Event::RestartFinished { .. }
            | Event::CommandSubmitted { .. }
            | Event::CommandCompleted { .. }
            | Event::DirectorySynced { .. } => {}
        }
    }
}

fn set_state(view: &mut LifecycleView, generation: GenerationKey, state: &'static str) {
    if let Some(entry) = view.generations.get_mut(&generation) {
        entry.1 = state;
    }
}
