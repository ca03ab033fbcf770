//! The collect rule: a draining generation that nothing holds any more is handed to the
//! caller to close, in the same input that released its last hold.

use std::time::Instant;

use super::effect::Effect;
use super::holders::{Hold, Holders};
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use super::state::{Closing, Draining, Stage};
use crate::events::Event;
use crate::owner::OwnerKey;

/// The permission to close one generation's library.
///
/// Only a draining generation with no instance, ticket or in-flight pin can produce one
/// (its fields and constructor are private to this module), exactly once: the token is
/// neither `Clone` nor `Copy`, and the caller gives it back to
/// [`Lifecycle::closed`](super::Lifecycle::closed) with what the close did. Its
/// generation's key carries the id of the core that made it, and any other core refuses
/// it with [`ClosedError::Foreign`](super::ClosedError::Foreign).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CloseToken {
    generation: GenerationKey,
}

impl CloseToken {
    /// The generation whose library to close.
    pub fn generation(&self) -> GenerationKey {
        self.generation
    }
}

impl Draining {
    /// Collects the generation if nothing holds it: the state moves to closing and the
    /// token to close it is made. Otherwise the generation keeps draining.
    pub(crate) fn collect(
        self,
        now: Instant,
        key: GenerationKey,
        holders: &Holders,
    ) -> Result<(Closing, CloseToken), Self> {
        if holders.is_empty() {
            Ok((Closing { since: now }, CloseToken { generation: key }))
        } else {
            Err(self)
        }
    }
}

impl Lifecycle {
    /// Counts one hold of `owner` on `generation` as released, and collects the
    /// generation at once if it drains and that was its last hold.
    pub(crate) fn release_hold(
        &mut self,
        now: Instant,
        generation: GenerationKey,
        owner: Option<OwnerKey>,
        hold: Hold,
    ) {
        let Some(record) = self.generations.get_mut(generation) else {
            debug_assert!(false, "a hold outlived its generation's record");
            return;
        };
        if record.holders.remove(owner, hold) {
            self.try_collect(now, generation);
        }
    }

    /// Collects `generation` if it drains and nothing holds it: emits
    /// [`Event::Collected`] and [`Effect::Close`] with its token.
    pub(crate) fn try_collect(&mut self, now: Instant, generation: GenerationKey) {
        let Some(record) = self.generations.get_mut(generation) else {
            return;
        };
        // Moved out to be consumed by the transition; the placeholder never stays.
        let draining = match std::mem::replace(&mut record.stage, Stage::placeholder(now)) {
            Stage::Draining(draining) => draining,
            other => {
                record.stage = other;
                return;
            }
        };
        match draining.collect(now, generation, &record.holders) {
            Ok((closing, token)) => {
                record.stage = Stage::Closing(closing);
                self.effects.push_back(Effect::Event(Event::Collected {
                    plugin_id: record.plugin_id.clone(),
                    generation,
                }));
                self.effects.push_back(Effect::Close(token));
                self.check_quiesce(now);
            }
            Err(draining) => record.stage = Stage::Draining(draining),
        }
    }
}
