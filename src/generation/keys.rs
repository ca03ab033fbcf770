//! The key types of the generation arenas, and the identity of the core that hands them
//! out.
//!
//! A slotmap key is an index and a version: enough to tell a removed record from a live
//! one in its own arena (a stale key misses), not enough to tell one core's arena from
//! another's. Every public key therefore wraps its arena's slot key with the [`CoreId`] of
//! the core that made it, and a core refuses a key of another core before any lookup.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::{ForeignKeyError, NotFoundError};

/// The identity of one [`Lifecycle`](super::Lifecycle) core, and so of one runtime, within
/// this process.
///
/// Taken from a process-wide counter when the core is made; no two cores of one process
/// share one. Every key a core hands out (and every [`CloseToken`](super::CloseToken))
/// carries it, and the core refuses a key with another id with
/// [`NotFoundError::Foreign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoreId(u32);

impl CoreId {
    /// An id no core of this process had before.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` cores were already made in this process: ids are never reused,
    /// so none is left.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        // Ids only need to be unique, so no ordering with other memory is needed.
        match NEXT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(1)) {
            Ok(id) => Self(id),
            Err(_) => ids_exhausted(),
        }
    }
}

impl fmt::Display for CoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "core {}", self.0)
    }
}

#[cold]
#[inline(never)]
fn ids_exhausted() -> ! {
    panic!("no core id left: u32::MAX - 1 cores were made in this process")
}

/// A public key: an arena's slot key with the id of the core that made it.
///
/// Implemented only by the key types declared with [`core_keys!`]; the arenas use it to
/// refuse keys of other cores.
pub(crate) trait CoreKey: Copy + Eq + fmt::Debug {
    /// The key type of the arena's slotmap.
    type Slot: slotmap::Key;

    /// The key of `slot` in an arena of `core`.
    fn new(core: CoreId, slot: Self::Slot) -> Self;

    /// The core that made this key.
    fn core(self) -> CoreId;

    /// The slot key within that core's arena.
    fn slot(self) -> Self::Slot;

    /// The error for this key when its record is gone.
    fn not_found(self) -> NotFoundError;

    /// The error for this key when it belongs to another core.
    fn foreign(self) -> ForeignKeyError;
}

/// Declares public key types: each one a private slotmap key type for its arena, and the
/// public key wrapping it with its [`CoreId`], `Copy`, 12 bytes, ordered by core then slot.
///
/// `Name(Slot) => Variant;` names the public type, its slot type and its variant in
/// [`NotFoundError`] and [`ForeignKeyError`].
macro_rules! core_keys {
    ($($(#[$meta:meta])* pub struct $name:ident($slot:ident) => $variant:ident;)*) => {$(
        slotmap::new_key_type! {
            #[doc = concat!("The slot key of the arena behind [`", stringify!($name), "`].")]
            pub(crate) struct $slot;
        }

        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            core: $crate::generation::CoreId,
            slot: $slot,
        }

        impl $name {
            /// The core that handed this key out.
            pub fn core(self) -> $crate::generation::CoreId {
                self.core
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                use slotmap::Key as _;
                write!(f, "{}({:?} of {})", stringify!($name), self.slot.data(), self.core)
            }
        }

        impl $crate::generation::keys::CoreKey for $name {
            type Slot = $slot;

            fn new(core: $crate::generation::CoreId, slot: $slot) -> Self {
                Self { core, slot }
            }

            fn core(self) -> $crate::generation::CoreId {
                self.core
            }

            fn slot(self) -> $slot {
                self.slot
            }

            fn not_found(self) -> $crate::generation::NotFoundError {
                $crate::generation::NotFoundError::$variant(self)
            }

            fn foreign(self) -> $crate::generation::ForeignKeyError {
                $crate::generation::ForeignKeyError::$variant(self)
            }
        }
    )*};
}
pub(crate) use core_keys;

core_keys! {
    /// A generational key to one generation: one load of one plugin's library.
    ///
    /// A key to a generation whose record was removed never reaches another generation;
    /// lookups return [`NotFoundError::Generation`]. A key of another core (another
    /// [`Lifecycle`](super::Lifecycle) or runtime) never reaches a record of this one;
    /// lookups return [`NotFoundError::Foreign`].
    pub struct GenerationKey(GenerationSlot) => Generation;

    /// A generational key to one pending load: a library the caller was asked to open and
    /// has not answered for yet.
    ///
    /// Stale or foreign, it is refused like a [`GenerationKey`].
    pub struct LoadKey(LoadSlot) => Load;

    /// A generational key to one in-flight pin: a scoped module-level call that keeps its
    /// generation from closing.
    ///
    /// Stale or foreign, it is refused like a [`GenerationKey`].
    pub struct PinKey(PinSlot) => Pin;
}

// Small and with a niche, as the slot keys alone were: `Option<GenerationKey>` costs nothing.
const _: () = assert!(size_of::<GenerationKey>() == 12);
const _: () = assert!(size_of::<Option<GenerationKey>>() == 12);
