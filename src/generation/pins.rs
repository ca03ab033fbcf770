//! In-flight pins: a scoped module-level call keeps its generation from closing.

use std::time::Instant;

use super::error::{PinError, UnpinError};
use super::holders::Hold;
use super::keys::{GenerationKey, PinKey};
use super::lifecycle::Lifecycle;
use crate::owner::OwnerKey;

/// One in-flight pin: the generation it keeps and who took it.
#[derive(Debug)]
pub(crate) struct PinRecord {
    pub(crate) generation: GenerationKey,
    pub(crate) owner: Option<OwnerKey>,
}

impl Lifecycle {
    /// Pins the plugin's active generation for an in-flight call, for `owner` if given.
    ///
    /// The generation cannot be collected until [`unpin`](Self::unpin) releases the pin
    /// (or its owner is unregistered).
    ///
    /// # Errors
    ///
    /// A [`PinError`] if the runtime shuts down, the owner is not registered, or the
    /// plugin is unknown, disabled or has no active generation.
    pub fn pin(
        &mut self,
        _now: Instant,
        owner: Option<OwnerKey>,
        plugin_id: &str,
    ) -> Result<(PinKey, GenerationKey), PinError> {
        if let Some(owner) = owner {
            // Another core's key is refused whatever the state of this one.
            self.owners.check_core(owner).map_err(PinError::Owner)?;
        }
        if !self.shutdown.accepts_commands() {
            return Err(PinError::ShuttingDown);
        }
        if let Some(owner) = owner {
            self.owners.find(owner).map_err(PinError::Owner)?;
        }
        let Some(plugin) = self.plugins.get(plugin_id) else {
            let plugin_id = plugin_id.to_owned();
            return Err(if self.drains(&plugin_id) {
                PinError::DrainingOnly { plugin_id }
            } else {
                PinError::UnknownPlugin { plugin_id }
            });
        };
        if !plugin.enabled {
            return Err(PinError::Disabled {
                plugin_id: plugin_id.to_owned(),
            });
        }
        let generation = plugin.active.ok_or_else(|| PinError::DrainingOnly {
            plugin_id: plugin_id.to_owned(),
        })?;
        let record =
            self.generations
                .get_mut(generation)
                .ok_or_else(|| PinError::DrainingOnly {
                    plugin_id: plugin_id.to_owned(),
                })?;
        record.holders.add(owner, Hold::Pin);
        let pin = self.pins.insert(PinRecord { generation, owner });
        Ok((pin, generation))
    }

    /// Releases an in-flight pin; if it was the last hold of a draining generation, the
    /// generation is collected now.
    ///
    /// # Errors
    ///
    /// [`UnpinError::NotFound`] if the pin was already released or belongs to another
    /// core.
    pub fn unpin(&mut self, now: Instant, pin: PinKey) -> Result<(), UnpinError> {
        let record = self.pins.take(pin).map_err(UnpinError::NotFound)?;
        self.release_hold(now, record.generation, record.owner, Hold::Pin);
        Ok(())
    }
}
