//! The pin rule: what each owner holds of one generation.
//!
//! Every instance record, ticket and in-flight pin names its generation and its owner;
//! the generation counts them per owner here. The counts are kept by the same methods
//! that insert and remove those records, so a generation's holders are empty exactly
//! when no instance, ticket or pin of it exists.

use smallvec::SmallVec;

use crate::owner::OwnerKey;

/// One kind of thing that keeps a generation from closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hold {
    /// A live instance created from one of the generation's capabilities.
    Instance,
    /// A reserved ticket whose create has not finished yet.
    Ticket,
    /// An in-flight module-level call.
    Pin,
}

/// How many instances, tickets and pins keep a generation, for one owner or in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HoldCounts {
    /// Live instances.
    pub instances: u32,
    /// Reserved tickets.
    pub tickets: u32,
    /// In-flight pins.
    pub pins: u32,
}

impl HoldCounts {
    /// The number of holds of every kind.
    pub fn total(&self) -> u32 {
        self.instances + self.tickets + self.pins
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    fn slot(&mut self, hold: Hold) -> &mut u32 {
        match hold {
            Hold::Instance => &mut self.instances,
            Hold::Ticket => &mut self.tickets,
            Hold::Pin => &mut self.pins,
        }
    }
}

/// The holders of one generation: one entry per owner (or `None` for pins taken without
/// an owner) with a non-zero count. An entry is removed as soon as its count is zero, so
/// the list is empty exactly when nothing holds the generation.
#[derive(Debug, Default, Clone)]
pub(crate) struct Holders {
    entries: SmallVec<[(Option<OwnerKey>, HoldCounts); 2]>,
}

impl Holders {
    /// Counts one more hold of `owner`.
    pub(crate) fn add(&mut self, owner: Option<OwnerKey>, hold: Hold) {
        match self.entries.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, counts)) => *counts.slot(hold) += 1,
            None => {
                let mut counts = HoldCounts::default();
                *counts.slot(hold) = 1;
                self.entries.push((owner, counts));
            }
        }
    }

    /// Counts one hold of `owner` less, dropping the owner's entry when it reaches zero.
    ///
    /// Returns whether the generation is held by nothing afterwards.
    pub(crate) fn remove(&mut self, owner: Option<OwnerKey>, hold: Hold) -> bool {
        let position = self.entries.iter().position(|(o, _)| *o == owner);
        debug_assert!(position.is_some(), "a released hold was never counted");
        if let Some(index) = position {
            let counts = &mut self.entries[index].1;
            let slot = counts.slot(hold);
            debug_assert!(*slot > 0, "a released hold was never counted");
            *slot = slot.saturating_sub(1);
            if counts.is_empty() {
                self.entries.remove(index);
            }
        }
        self.is_empty()
    }

    /// Whether no instance, ticket or pin holds the generation.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The counts summed over every owner.
    pub(crate) fn total(&self) -> HoldCounts {
        self.entries
            .iter()
            .fold(HoldCounts::default(), |mut sum, (_, counts)| {
                sum.instances += counts.instances;
                sum.tickets += counts.tickets;
                sum.pins += counts.pins;
                sum
            })
    }

    /// Each holder with its counts, in the order they first took a hold.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Option<OwnerKey>, HoldCounts)> + '_ {
        self.entries.iter().copied()
    }
}
