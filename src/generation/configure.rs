//! Live configuration: [`Command::Configure`](super::Command::Configure) gives a
//! `(plugin id, type id)` a new configuration with a revision that only grows, and every
//! owner holding a live instance (or a ticket) of it hears of it; owners report per
//! instance what they did, and the core publishes each report.

use std::sync::Arc;
use std::time::Instant;

use super::effect::{CommandError, Effect, Outcome, RequestId};
use super::error::NotFoundError;
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use crate::events::Event;
use crate::owner::{InstanceKey, OwnerKey, ReleaseError};

/// A new configuration of one `(plugin id, type id)`, as its holders hear it.
///
/// With the `serde` feature, `config` crosses as a string when it is UTF-8, else as an
/// array of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConfigNotice {
    /// The plugin.
    pub plugin_id: String,
    /// The capability's type id.
    pub type_id: String,
    /// The revision: grows by one per [`Command::Configure`](super::Command::Configure)
    /// of this `(plugin id, type id)`, from 1, and never goes back.
    pub revision: u64,
    /// The configuration bytes, shared by every owner told.
    #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::config"))]
    pub config: Arc<[u8]>,
}

/// What an owner did with a new configuration for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ConfigResult {
    /// The instance planned an update in place and applied it.
    Applied,
    /// The instance was replaced by a new one created with the new configuration (its
    /// plan asked for it, or it offers no plan).
    Recreated,
    /// The instance refused the configuration; it keeps running with the old one.
    Rejected,
    /// Applying failed (the apply hook or the new instance's `create` returned an
    /// error); the instance that serves keeps its old configuration, as far as the host
    /// knows.
    Failed,
}

impl ConfigResult {
    /// The stable snake_case name, as in the JSON form.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigResult::Applied => "applied",
            ConfigResult::Recreated => "recreated",
            ConfigResult::Rejected => "rejected",
            ConfigResult::Failed => "failed",
        }
    }
}

/// An owner's report of what it did with a configuration for one instance, for
/// [`Lifecycle::instance_configured`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigReport {
    /// The revision acted on.
    pub revision: u64,
    /// What was done.
    pub result: ConfigResult,
    /// How many newer revisions than the one the instance last handled were passed over
    /// for this one (the owner heard of them too late to act on each).
    pub skipped: u64,
    /// Why, for a rejection or a failure; empty otherwise.
    pub message: String,
}

/// The configuration of a `(plugin id, type id)` now, with its revision.
#[derive(Debug, Clone)]
pub(crate) struct LiveConfig {
    pub(crate) revision: u64,
    pub(crate) config: Arc<[u8]>,
}

impl Lifecycle {
    /// [`Command::Configure`](super::Command::Configure): stores the configuration under
    /// the next revision and tells every owner holding an instance or ticket of the
    /// capability, of any generation of the plugin.
    pub(super) fn configure(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        plugin_id: String,
        type_id: String,
        config: Vec<u8>,
    ) {
        let Some(plugin) = self.plugins.get(&plugin_id) else {
            self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id });
            return;
        };
        if !plugin.enabled {
            self.fail(request_id, owner, CommandError::Disabled { plugin_id });
            return;
        }
        let offered = plugin
            .active
            .and_then(|generation| self.generations.get(generation))
            .is_some_and(|record| {
                record
                    .module
                    .capabilities
                    .iter()
                    .any(|c| c.type_id == type_id)
            });
        if !offered {
            let error = CommandError::NoCapability { plugin_id, type_id };
            self.fail(request_id, owner, error);
            return;
        }
        let live = self
            .configs
            .entry((plugin_id.clone(), type_id.clone()))
            .or_insert_with(|| LiveConfig {
                revision: 0,
                config: Arc::from(Vec::new()),
            });
        live.revision += 1;
        live.config = Arc::from(config);
        let notice = ConfigNotice {
            plugin_id: plugin_id.clone(),
            type_id: type_id.clone(),
            revision: live.revision,
            config: Arc::clone(&live.config),
        };
        let (told, instances) = self.holders_of_type(&plugin_id, &type_id);
        for holder in told {
            self.effects.push_back(Effect::Configure {
                owner: holder,
                notice: notice.clone(),
            });
        }
        let outcome = Outcome::Configured {
            plugin_id,
            type_id,
            revision: notice.revision,
            instances,
        };
        self.complete(request_id, owner, outcome);
    }

    /// Whether `generation` is of `plugin_id` and its capability at `index` has
    /// `type_id`.
    fn is_type(
        &self,
        generation: GenerationKey,
        index: u32,
        plugin_id: &str,
        type_id: &str,
    ) -> bool {
        self.generations.get(generation).is_some_and(|record| {
            record.plugin_id == plugin_id
                && record
                    .module
                    .capabilities
                    .get(index as usize)
                    .is_some_and(|c| c.type_id == type_id)
        })
    }

    /// The owners holding an instance or a ticket of the capability, in the order their
    /// records are found, and how many live instance records it has.
    fn holders_of_type(&self, plugin_id: &str, type_id: &str) -> (Vec<OwnerKey>, u64) {
        let mut owners = Vec::new();
        let mut instances = 0;
        for record in self.instances.values() {
            if self.is_type(record.generation, record.capability, plugin_id, type_id) {
                instances += 1;
                if !owners.contains(&record.owner) {
                    owners.push(record.owner);
                }
            }
        }
        for record in self.tickets.values() {
            if self.is_type(record.generation, record.capability, plugin_id, type_id)
                && !owners.contains(&record.owner)
            {
                owners.push(record.owner);
            }
        }
        (owners, instances)
    }

    /// The live configuration of `(plugin_id, type_id)`, if it was ever configured.
    pub fn live_config(&self, plugin_id: &str, type_id: &str) -> Option<ConfigNotice> {
        self.configs
            .get(&(plugin_id.to_owned(), type_id.to_owned()))
            .map(|live| ConfigNotice {
                plugin_id: plugin_id.to_owned(),
                type_id: type_id.to_owned(),
                revision: live.revision,
                config: Arc::clone(&live.config),
            })
    }

    /// What `owner` must know now about configurations, coalesced: the live
    /// configuration of every `(plugin id, type id)` it holds an instance or ticket of
    /// that was ever configured. This replaces the [`Effect::Configure`]s an owner
    /// missed (an owner that missed revisions applies only the newest).
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Owner`] if the owner is not registered,
    /// [`NotFoundError::Foreign`] if its key belongs to another core.
    pub fn config_notices(&self, owner: OwnerKey) -> Result<Vec<ConfigNotice>, NotFoundError> {
        self.owners.find(owner)?;
        if self.configs.is_empty() {
            return Ok(Vec::new());
        }
        let held = self
            .instances
            .values()
            .filter(|r| r.owner == owner)
            .map(|r| (r.generation, r.capability))
            .chain(
                self.tickets
                    .values()
                    .filter(|r| r.owner == owner)
                    .map(|r| (r.generation, r.capability)),
            );
        let mut notices: Vec<ConfigNotice> = Vec::new();
        for (generation, index) in held {
            let Some(record) = self.generations.get(generation) else {
                continue;
            };
            let Some(capability) = record.module.capabilities.get(index as usize) else {
                continue;
            };
            let known = notices
                .iter()
                .any(|n| n.plugin_id == record.plugin_id && n.type_id == capability.type_id);
            if !known && let Some(notice) = self.live_config(&record.plugin_id, &capability.type_id)
            {
                notices.push(notice);
            }
        }
        notices.sort_by(|a, b| (&a.plugin_id, &a.type_id).cmp(&(&b.plugin_id, &b.type_id)));
        Ok(notices)
    }

    /// An owner reports what it did with a configuration for `instance`; the core
    /// publishes it as an `instance_configured` event. Changes no state.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotFound`] if the instance was released or belongs to another
    /// core.
    pub fn instance_configured(
        &mut self,
        _now: Instant,
        instance: InstanceKey,
        report: ConfigReport,
    ) -> Result<(), ReleaseError> {
        let record = self
            .instances
            .find(instance)
            .map_err(ReleaseError::NotFound)?;
        let generation = self
            .generations
            .find(record.generation)
            .map_err(ReleaseError::NotFound)?;
        let type_id = generation
            .module
            .capabilities
            .get(record.capability as usize)
            .map(|c| c.type_id.clone())
            .unwrap_or_default();
        self.effects
            .push_back(Effect::Event(Event::InstanceConfigured {
                plugin_id: generation.plugin_id.clone(),
                type_id,
                owner: record.owner,
                instance,
                revision: report.revision,
                result: report.result,
                skipped: report.skipped,
                message: report.message,
            }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::generation::{Command, CoreConfig};
    use crate::module::{CapabilityInfo, ModuleInfo};

    fn capability(type_id: &str) -> CapabilityInfo {
        CapabilityInfo {
            kind: "dsp".into(),
            type_id: type_id.into(),
            interface_version: 1,
            interface_minor: 0,
            layout_id: 0,
            layout: String::new(),
            vtable_size: 0,
            display_name: type_id.into(),
            default_config: Vec::new(),
        }
    }

    fn loaded() -> (Lifecycle, Instant) {
        let now = Instant::now();
        let mut core = Lifecycle::new(CoreConfig::default());
        let load = Command::Load {
            path: "/plugins/fx.so".into(),
            expected_plugin_id: None,
        };
        core.submit(now, RequestId(1), None, load);
        while let Some(effect) = core.poll_effect() {
            if let Effect::Open { load, .. } = effect {
                let module = ModuleInfo {
                    digest: None,
                    plugin_id: "fx".into(),
                    version: "1".into(),
                    display_name: "FX".into(),
                    abi_major: 1,
                    abi_minor: 0,
                    capabilities: vec![capability("gain"), capability("delay")],
                };
                core.load_finished(now, load, Ok(module)).unwrap();
            }
        }
        (core, now)
    }

    fn configure(
        core: &mut Lifecycle,
        now: Instant,
        id: u64,
        type_id: &str,
        config: &[u8],
    ) -> (Outcome, Vec<(OwnerKey, ConfigNotice)>) {
        let command = Command::Configure {
            plugin_id: "fx".into(),
            type_id: type_id.into(),
            config: config.to_vec(),
        };
        core.submit(now, RequestId(id), None, command);
        let mut outcome = None;
        let mut notices = Vec::new();
        while let Some(effect) = core.poll_effect() {
            match effect {
                Effect::Configure { owner, notice } => notices.push((owner, notice)),
                Effect::Complete { outcome: o, .. } => outcome = Some(o),
                _ => {}
            }
        }
        (outcome.expect("the command completes at once"), notices)
    }

    #[test]
    fn revisions_grow_per_capability_and_reach_the_holders_of_instances_and_tickets() {
        let (mut core, now) = loaded();
        let (a, b, c) = (
            core.register_owner("a"),
            core.register_owner("b"),
            core.register_owner("c"),
        );
        let ticket = core.reserve_ticket(now, a, "fx", "dsp", "gain", 1).unwrap();
        core.record_created(now, ticket.key).unwrap();
        let second = core.reserve_ticket(now, a, "fx", "dsp", "gain", 1).unwrap();
        core.ticket_created(now, second.key).unwrap();
        // `b` only has a ticket of it: its instance will exist soon, so it hears too.
        core.reserve_ticket(now, b, "fx", "dsp", "gain", 1).unwrap();
        // `c` holds another type.
        let delay = core
            .reserve_ticket(now, c, "fx", "dsp", "delay", 1)
            .unwrap();
        core.ticket_created(now, delay.key).unwrap();

        let (outcome, notices) = configure(&mut core, now, 2, "gain", b"gain=2");
        assert_eq!(
            outcome,
            Outcome::Configured {
                plugin_id: "fx".into(),
                type_id: "gain".into(),
                revision: 1,
                instances: 2,
            }
        );
        let told: Vec<OwnerKey> = notices.iter().map(|(o, _)| *o).collect();
        assert_eq!(told, [a, b]);
        assert_eq!(&*notices[0].1.config, b"gain=2");

        let (outcome, _) = configure(&mut core, now, 3, "gain", b"gain=3");
        assert!(matches!(outcome, Outcome::Configured { revision: 2, .. }));
        let (outcome, notices) = configure(&mut core, now, 4, "delay", b"");
        assert!(matches!(outcome, Outcome::Configured { revision: 1, .. }));
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].0, c);

        // A lagging owner gets only the newest revision of what it holds.
        let newest = core.config_notices(a).unwrap();
        assert_eq!(newest.len(), 1);
        assert_eq!(
            (newest[0].revision, &*newest[0].config),
            (2, &b"gain=3"[..])
        );
        assert_eq!(core.config_notices(c).unwrap()[0].type_id, "delay");
        assert_eq!(core.live_config("fx", "gain").unwrap().revision, 2);
        assert!(core.live_config("fx", "echo").is_none());
    }

    #[test]
    fn revisions_survive_an_unload_and_a_new_load() {
        let (mut core, now) = loaded();
        configure(&mut core, now, 2, "gain", b"1");
        core.submit(
            now,
            RequestId(3),
            None,
            Command::Unload {
                plugin_id: "fx".into(),
            },
        );
        while core.poll_effect().is_some() {}
        let (outcome, _) = configure(&mut core, now, 4, "gain", b"2");
        assert!(matches!(
            outcome,
            Outcome::Failed(CommandError::UnknownPlugin { .. })
        ));
        let (mut again, _) = loaded();
        again.configs = core.configs.clone();
        let (outcome, _) = configure(&mut again, now, 5, "gain", b"3");
        assert!(matches!(outcome, Outcome::Configured { revision: 2, .. }));
    }

    #[test]
    fn a_configure_fails_for_an_unknown_plugin_a_disabled_one_and_a_missing_type() {
        let (mut core, now) = loaded();
        let (outcome, _) = configure(&mut core, now, 2, "echo", b"");
        assert_eq!(
            outcome,
            Outcome::Failed(CommandError::NoCapability {
                plugin_id: "fx".into(),
                type_id: "echo".into(),
            })
        );
        let disable = Command::SetEnabled {
            plugin_id: "fx".into(),
            enabled: false,
        };
        core.submit(now, RequestId(3), None, disable);
        while core.poll_effect().is_some() {}
        let (outcome, _) = configure(&mut core, now, 4, "gain", b"");
        assert!(matches!(
            outcome,
            Outcome::Failed(CommandError::Disabled { .. })
        ));
        core.submit(
            now,
            RequestId(5),
            None,
            Command::Configure {
                plugin_id: "nope".into(),
                type_id: "gain".into(),
                config: Vec::new(),
            },
        );
        let failed = std::iter::from_fn(|| core.poll_effect()).any(|e| {
            matches!(
                e,
                Effect::Complete {
                    outcome: Outcome::Failed(CommandError::UnknownPlugin { .. }),
                    ..
                }
            )
        });
        assert!(failed);
        assert!(
            core.live_config("fx", "gain").is_none(),
            "nothing was stored"
        );
    }

    #[test]
    fn a_report_is_published_for_a_live_instance_only() {
        let (mut core, now) = loaded();
        let owner = core.register_owner("a");
        let ticket = core
            .reserve_ticket(now, owner, "fx", "dsp", "gain", 1)
            .unwrap();
        let instance = core.record_created(now, ticket.key).unwrap();
        let report = ConfigReport {
            revision: 7,
            result: ConfigResult::Failed,
            skipped: 2,
            message: "no".into(),
        };
        core.instance_configured(now, instance, report.clone())
            .unwrap();
        let event = std::iter::from_fn(|| core.poll_effect())
            .find_map(|e| match e {
                Effect::Event(event @ Event::InstanceConfigured { .. }) => Some(event),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            event,
            Event::InstanceConfigured {
                plugin_id: "fx".into(),
                type_id: "gain".into(),
                owner,
                instance,
                revision: 7,
                result: ConfigResult::Failed,
                skipped: 2,
                message: "no".into(),
            }
        );
        core.release_created(now, ticket.key).unwrap();
        assert!(core.instance_configured(now, instance, report).is_err());
    }
}
