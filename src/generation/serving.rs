//! Serving notices: the owners subscribed to a plugin hear when it starts serving from
//! no generation at all (its first load, or an enable), as they hear of its drains.

use super::effect::Effect;
use super::error::NotFoundError;
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use crate::owner::OwnerKey;

/// Why a plugin that had no active generation now serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ServingCause {
    /// A load made the first generation of a plugin the core did not know: never
    /// loaded before, or loaded again after an unload.
    FirstLoad,
    /// A disabled plugin serves again: by an enable, or by a load of its library.
    Enabled,
}

/// What a subscribed owner is told when a plugin starts serving from no generation.
///
/// It means exactly: from now on, [`generation`](Self::generation) is the plugin's
/// active generation, so a reservation of the plugin's capabilities succeeds (until a
/// later drain notice says otherwise), and before this there was no generation to
/// create from. An owner with an empty place for an instance of this plugin (a hot
/// slot whose instance a disable or unload dropped, or that never had one) fills it
/// from `generation`. A reload never makes one: it drains the old generation, and the
/// [`Notice`](super::Notice) of that drain names the new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServingNotice {
    /// The plugin.
    pub plugin_id: String,
    /// Its active generation: create from it.
    pub generation: GenerationKey,
    /// Why it serves, for the run of serving that `generation` belongs to.
    pub cause: ServingCause,
}

impl Lifecycle {
    /// Tells every owner subscribed to `plugin_id` (or to all) that it serves from
    /// `generation` now, having served from none.
    pub(crate) fn notify_serving(
        &mut self,
        plugin_id: &str,
        generation: GenerationKey,
        cause: ServingCause,
    ) {
        let told: Vec<OwnerKey> = self
            .owners
            .iter()
            .filter(|(_, record)| record.subscribes_to(plugin_id))
            .map(|(owner, _)| owner)
            .collect();
        for owner in told {
            self.effects.push_back(Effect::Serving {
                owner,
                notice: ServingNotice {
                    plugin_id: plugin_id.to_owned(),
                    generation,
                    cause,
                },
            });
        }
    }

    /// What `owner` must know now about serving plugins: one [`ServingNotice`] per
    /// plugin it subscribes to (by id or to all) that has an active generation, in
    /// plugin-id order, naming that generation and why the plugin's current run of
    /// serving began.
    ///
    /// With [`draining_notices`](Self::draining_notices), this replaces the
    /// [`Effect::Serving`]s an owner missed: a caller that could not deliver them sends
    /// this instead.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Owner`] if the owner is not registered,
    /// [`NotFoundError::Foreign`] if its key belongs to another core.
    pub fn serving_notices(&self, owner: OwnerKey) -> Result<Vec<ServingNotice>, NotFoundError> {
        let record = self.owners.find(owner)?;
        let mut serving: Vec<ServingNotice> = self
            .plugins
            .iter()
            .filter(|(plugin_id, _)| record.subscribes_to(plugin_id))
            .filter_map(|(plugin_id, plugin)| {
                Some(ServingNotice {
                    plugin_id: plugin_id.clone(),
                    generation: plugin.active?,
                    cause: plugin.serving_cause,
                })
            })
            .collect();
        serving.sort_by(|a, b| a.plugin_id.cmp(&b.plugin_id));
        Ok(serving)
    }
}
