//! Queries: read-only views of plugins, generations and capabilities.

use super::effect::{
    Counters, GenerationSnapshot, HolderReport, OwnerSnapshot, PluginSnapshot, PluginState,
    Snapshot,
};
use super::error::NotFoundError;
use super::holders::{HoldCounts, Holders};
use super::keys::GenerationKey;
use super::lifecycle::{GenerationView, Lifecycle, PluginRecord};
use super::state::{GenerationState, Stage};
use std::time::Instant;

use crate::module::CapabilityInfo;

impl Lifecycle {
    /// The plugin's active generation and its capability of this kind and type id.
    ///
    /// Returns `None` if the plugin is unknown, has no active generation, or its active
    /// generation lacks the capability.
    pub fn resolve(
        &self,
        plugin_id: &str,
        kind: &str,
        type_id: &str,
    ) -> Option<(GenerationKey, &CapabilityInfo)> {
        let active = self.plugins.get(plugin_id)?.active?;
        let record = self.generations.get(active)?;
        Some((active, record.module.capability(kind, type_id)?))
    }

    /// Every capability of every active generation, with its plugin id and generation.
    pub fn list(&self) -> impl Iterator<Item = (&str, GenerationKey, &CapabilityInfo)> + '_ {
        self.plugins
            .iter()
            .filter_map(|(id, plugin)| plugin.active.map(|g| (id, g)))
            .flat_map(move |(id, generation)| {
                self.generations
                    .get(generation)
                    .into_iter()
                    .flat_map(move |record| {
                        record
                            .module
                            .capabilities
                            .iter()
                            .map(move |c| (id.as_str(), generation, c))
                    })
            })
    }

    /// The plugin's active generation, if it has one.
    pub fn active_generation(&self, plugin_id: &str) -> Option<GenerationKey> {
        self.plugins.get(plugin_id)?.active
    }

    /// A view of one generation.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Generation`] if its record was removed,
    /// [`NotFoundError::Foreign`] if the key belongs to another core.
    pub fn generation(&self, key: GenerationKey) -> Result<GenerationView<'_>, NotFoundError> {
        let record = self.generations.find(key)?;
        Ok(GenerationView {
            plugin_id: &record.plugin_id,
            path: &record.path,
            module: &record.module,
            state: record.stage.state(),
            since: record.stage.since(),
            holds: record.holders.total(),
        })
    }

    /// The capability at `index` in the generation's module (as in a
    /// [`Ticket`](crate::owner::Ticket)).
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Generation`] if the generation's record was removed (an index
    /// past the module's capabilities is reported the same way),
    /// [`NotFoundError::Foreign`] if the key belongs to another core.
    pub fn capability(
        &self,
        generation: GenerationKey,
        index: usize,
    ) -> Result<&CapabilityInfo, NotFoundError> {
        self.generations
            .find(generation)?
            .module
            .capabilities
            .get(index)
            .ok_or(NotFoundError::Generation(generation))
    }

    /// Every generation whose record exists, with its state.
    pub fn generations(&self) -> impl Iterator<Item = (GenerationKey, GenerationState)> + '_ {
        self.generations
            .iter()
            .map(|(key, record)| (key, record.stage.state()))
    }

    /// Everything the core knows, as plain data, as of `now`. The runtime's parts
    /// (threads, mailbox backlogs, shadow paths, counters) are left empty; a snapshot
    /// taken through the runtime has them.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut plugins: Vec<PluginSnapshot> = self
            .plugins
            .iter()
            .map(|(id, plugin)| self.plugin_snapshot(id, plugin))
            .collect();
        plugins.sort_by(|a, b| a.plugin_id.cmp(&b.plugin_id));
        // Slots are reused: list records in the order they were made, as documented.
        let mut generations: Vec<_> = self.generations.iter().collect();
        generations.sort_by_key(|(_, record)| record.made);
        let generations = generations
            .into_iter()
            .map(|(key, record)| GenerationSnapshot {
                generation: key,
                plugin_id: record.plugin_id.clone(),
                version: record.module.version.clone(),
                state: record.stage.state(),
                age: now.saturating_duration_since(record.loaded_at),
                in_state: now.saturating_duration_since(record.stage.since()),
                shadow_path: None,
                code_mapped: !matches!(record.stage, Stage::Closed(_)),
                holders: self.holder_reports(&record.holders),
            })
            .collect();
        let mut owners: Vec<_> = self.owners.iter().collect();
        owners.sort_by_key(|(_, record)| record.made);
        let owners = owners
            .into_iter()
            .map(|(owner, record)| {
                let mut holds = HoldCounts::default();
                for generation in self.generations.values() {
                    if let Some(h) = generation.holders.iter().find(|(o, _)| *o == Some(owner)) {
                        holds.instances += h.1.instances;
                        holds.tickets += h.1.tickets;
                        holds.pins += h.1.pins;
                    }
                }
                OwnerSnapshot {
                    owner,
                    name: record.name.clone(),
                    thread: record.thread.clone(),
                    instances: holds.instances,
                    tickets: holds.tickets,
                    pins: holds.pins,
                    mailbox_backlog: None,
                }
            })
            .collect();
        Snapshot {
            plugins,
            generations,
            owners,
            counters: Counters::default(),
            instances: self.instances.len(),
            tickets: self.tickets.len(),
            pins: self.pins.len(),
            pending_loads: self.loads.len(),
        }
    }

    fn plugin_snapshot(&self, id: &str, plugin: &PluginRecord) -> PluginSnapshot {
        let module = plugin
            .active
            .and_then(|g| self.generations.get(g))
            .map(|record| &record.module);
        let state = if !plugin.enabled {
            PluginState::Disabled
        } else if plugin.active.is_some() {
            PluginState::Serving
        } else if self
            .loads
            .values()
            .any(|l| !l.cancelled && l.expected_plugin_id.as_deref() == Some(id))
        {
            PluginState::Loading
        } else {
            PluginState::Idle
        };
        PluginSnapshot {
            plugin_id: id.to_owned(),
            path: plugin.path.clone(),
            enabled: plugin.enabled,
            state,
            active: plugin.active,
            version: module.map(|m| m.version.clone()),
            capabilities: module.map(|m| m.capabilities.clone()).unwrap_or_default(),
        }
    }

    /// The holders of a generation with their owners' names.
    pub(crate) fn holder_reports(&self, holders: &Holders) -> Vec<HolderReport> {
        holders
            .iter()
            .map(|(owner, holds)| HolderReport {
                owner,
                owner_name: owner
                    .and_then(|o| self.owners.get(o))
                    .map(|o| o.name.clone()),
                holds,
            })
            .collect()
    }
}
