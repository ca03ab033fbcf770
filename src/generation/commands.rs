//! Control-plane commands: [`Lifecycle::submit`] and one handler per [`Command`].

use std::time::Instant;

use super::effect::{Command, CommandError, Effect, Outcome, RequestId};
use super::error::ForeignKeyError;
use super::keys::GenerationKey;
use super::lifecycle::{Lifecycle, LoadPurpose, PluginRecord};
use super::state::DrainReason;
use crate::events::Event;
use crate::owner::OwnerKey;

impl Lifecycle {
    /// Accepts a control-plane command from `owner` (if an owner sent it).
    ///
    /// Exactly one [`Effect::Complete`] with `request_id` and `owner` follows, now or
    /// after the loads it started are answered. If `owner` is a key of another core, the
    /// command fails with [`CommandError::ForeignOwner`] and does nothing.
    pub fn submit(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        command: Command,
    ) {
        if let Some(foreign) = owner.filter(|owner| owner.core() != self.id) {
            let error = CommandError::ForeignOwner(ForeignKeyError::Owner(foreign));
            self.fail(request_id, owner, error);
            return;
        }
        if !self.shutdown.accepts_commands() {
            if let Command::Snapshot = command {
                self.report_snapshot(now, request_id, owner);
            } else {
                self.fail(request_id, owner, CommandError::ShuttingDown);
            }
            return;
        }
        match command {
            Command::Load {
                path,
                expected_plugin_id,
            } => self.open(
                request_id,
                owner,
                path,
                expected_plugin_id,
                LoadPurpose::Load,
            ),
            Command::Reload { plugin_id } => self.reload(request_id, owner, plugin_id),
            Command::Unload { plugin_id } => self.unload(now, request_id, owner, plugin_id),
            Command::SetEnabled { plugin_id, enabled } => {
                self.set_enabled(now, request_id, owner, plugin_id, enabled);
            }
            Command::Snapshot => self.report_snapshot(now, request_id, owner),
            Command::Shutdown { timeout } => self.begin_shutdown(now, request_id, owner, timeout),
            Command::Sync {
                dir,
                disabled,
                mode,
            } => self.begin_sync(request_id, owner, dir, disabled, mode),
            Command::Restart { timeout } => self.begin_restart(now, request_id, owner, timeout),
            Command::Configure {
                plugin_id,
                type_id,
                config,
            } => self.configure(request_id, owner, plugin_id, type_id, config),
        }
    }

    /// [`Command::Reload`]: loads the plugin again from its recorded path.
    fn reload(&mut self, request_id: RequestId, owner: Option<OwnerKey>, plugin_id: String) {
        match self.plugins.get(&plugin_id) {
            None => self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id }),
            Some(plugin) if !plugin.enabled => {
                self.fail(request_id, owner, CommandError::Disabled { plugin_id });
            }
            Some(plugin) => {
                let path = plugin.path.clone();
                self.open(request_id, owner, path, Some(plugin_id), LoadPurpose::Load);
            }
        }
    }

    /// [`Command::Unload`]: forgets the plugin and drains its active generation.
    fn unload(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        plugin_id: String,
    ) {
        let Some(draining) = self.unload_plugin(now, &plugin_id) else {
            self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id });
            return;
        };
        let outcome = Outcome::Unloaded {
            plugin_id,
            draining,
        };
        self.complete(request_id, owner, outcome);
    }

    /// Forgets a known plugin and drains its active generation, which it returns;
    /// `None` if the plugin is unknown. Shared by [`Command::Unload`] and the directory
    /// sync.
    pub(super) fn unload_plugin(
        &mut self,
        now: Instant,
        plugin_id: &str,
    ) -> Option<Option<GenerationKey>> {
        let plugin = self.plugins.remove(plugin_id)?;
        self.cancel_loads_of(plugin_id);
        self.effects.push_back(Effect::Event(Event::Unloaded {
            plugin_id: plugin_id.to_owned(),
        }));
        if let Some(active) = plugin.active {
            self.begin_drain(now, active, DrainReason::Unloaded, None);
        }
        Some(plugin.active)
    }

    /// [`Command::SetEnabled`]: disables or enables the plugin.
    fn set_enabled(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        plugin_id: String,
        enabled: bool,
    ) {
        if enabled {
            self.enable(request_id, owner, plugin_id);
        } else {
            self.disable(now, request_id, owner, plugin_id);
        }
    }

    /// Drains the plugin's active generation and keeps the plugin known, disabled.
    fn disable(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        plugin_id: String,
    ) {
        let Some(active) = self.disable_plugin(now, &plugin_id) else {
            self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id });
            return;
        };
        let outcome = Outcome::Disabled {
            plugin_id,
            draining: active,
        };
        self.complete(request_id, owner, outcome);
    }

    /// Disables a known plugin and drains its active generation, which it returns;
    /// `None` if the plugin is unknown. Shared by [`Command::SetEnabled`] and the
    /// directory sync.
    pub(super) fn disable_plugin(
        &mut self,
        now: Instant,
        plugin_id: &str,
    ) -> Option<Option<GenerationKey>> {
        let plugin = self.plugins.get_mut(plugin_id)?;
        let was_enabled = plugin.enabled;
        plugin.enabled = false;
        let active = plugin.active.take();
        self.cancel_loads_of(plugin_id);
        if was_enabled {
            self.effects.push_back(Effect::Event(Event::Disabled {
                plugin_id: plugin_id.to_owned(),
            }));
        }
        if let Some(active) = active {
            self.begin_drain(now, active, DrainReason::Disabled, None);
        }
        Some(active)
    }

    /// Loads the plugin again from its recorded path, unless it already serves.
    fn enable(&mut self, request_id: RequestId, owner: Option<OwnerKey>, plugin_id: String) {
        match self.plugins.get(&plugin_id) {
            None => self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id }),
            Some(PluginRecord {
                active: Some(generation),
                ..
            }) => {
                let outcome = Outcome::Enabled {
                    generation: *generation,
                    plugin_id,
                };
                self.complete(request_id, owner, outcome);
            }
            Some(plugin) => {
                let path = plugin.path.clone();
                self.open(
                    request_id,
                    owner,
                    path,
                    Some(plugin_id),
                    LoadPurpose::Enable,
                );
            }
        }
    }

    /// [`Command::Snapshot`]: completes with everything the core knows.
    fn report_snapshot(&mut self, now: Instant, request_id: RequestId, owner: Option<OwnerKey>) {
        let snapshot = self.snapshot(now);
        self.complete(request_id, owner, Outcome::Snapshot(snapshot));
    }
}
