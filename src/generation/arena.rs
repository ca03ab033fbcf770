//! The core's arenas: slotmaps that hand out keys carrying their core's id and refuse
//! keys of any other core.

use std::ops::Index;

use slotmap::SlotMap;

use super::error::NotFoundError;
use super::keys::{CoreId, CoreKey};

/// One arena of records, keyed by `K`, owned by the core `core`.
///
/// Every access by key checks the key's core before touching the slotmap, so a key of
/// another core never reaches a record here whatever its index and version: the
/// `Option` accessors miss, the `Result` ones (for keys that come from the caller) say
/// [`NotFoundError::Foreign`]. A stale key of this core misses as in any slotmap.
#[derive(Debug)]
pub(crate) struct Arena<K: CoreKey, V> {
    core: CoreId,
    slots: SlotMap<K::Slot, V>,
}

impl<K: CoreKey, V> Arena<K, V> {
    /// An empty arena of `core`.
    pub(crate) fn new(core: CoreId) -> Self {
        Self {
            core,
            slots: SlotMap::with_key(),
        }
    }

    /// Inserts a record and returns its key.
    pub(crate) fn insert(&mut self, value: V) -> K {
        K::new(self.core, self.slots.insert(value))
    }

    /// The slot of `key` if it belongs to this arena's core.
    fn slot(&self, key: K) -> Option<K::Slot> {
        (key.core() == self.core).then(|| key.slot())
    }

    /// Why `key` names no record here: it belongs to another core, or its record is gone.
    fn missing(&self, key: K) -> NotFoundError {
        if key.core() == self.core {
            key.not_found()
        } else {
            NotFoundError::Foreign(key.foreign())
        }
    }

    /// The record `key` names, if it names one here.
    pub(crate) fn get(&self, key: K) -> Option<&V> {
        self.slots.get(self.slot(key)?)
    }

    /// The record `key` names, if it names one here.
    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let slot = self.slot(key)?;
        self.slots.get_mut(slot)
    }

    /// Removes and returns the record `key` names, if it names one here.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let slot = self.slot(key)?;
        self.slots.remove(slot)
    }

    /// Refuses a caller's key of another core, whether or not it would name a record.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Foreign`] for a key of another core.
    pub(crate) fn check_core(&self, key: K) -> Result<(), NotFoundError> {
        match self.slot(key) {
            Some(_) => Ok(()),
            None => Err(NotFoundError::Foreign(key.foreign())),
        }
    }

    /// The record a caller's `key` names.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Foreign`] for a key of another core, the key's own variant for a
    /// stale one.
    pub(crate) fn find(&self, key: K) -> Result<&V, NotFoundError> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// The record a caller's `key` names, mutably.
    ///
    /// # Errors
    ///
    /// As for [`find`](Self::find).
    pub(crate) fn find_mut(&mut self, key: K) -> Result<&mut V, NotFoundError> {
        let missing = self.missing(key);
        self.get_mut(key).ok_or(missing)
    }

    /// Removes and returns the record a caller's `key` names.
    ///
    /// # Errors
    ///
    /// As for [`find`](Self::find).
    pub(crate) fn take(&mut self, key: K) -> Result<V, NotFoundError> {
        let missing = self.missing(key);
        self.remove(key).ok_or(missing)
    }

    /// Every record with its key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        let core = self.core;
        self.slots
            .iter()
            .map(move |(slot, value)| (K::new(core, slot), value))
    }

    /// Every record.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.slots.values()
    }

    /// Every record, mutably.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.slots.values_mut()
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl<K: CoreKey, V> Index<K> for Arena<K, V> {
    type Output = V;

    /// # Panics
    ///
    /// If `key` names no record here; for keys the core itself just listed.
    fn index(&self, key: K) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("{key:?} names no record in this arena"),
        }
    }
}
