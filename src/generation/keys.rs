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

        impl ::std::fmt::Display for $name {
            /// The key's one text form, `<core>:<index>v<version>` (for example `1:3v1`),
            /// used in the event schema; see `docs/events.md`.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::generation::keys::write_key(f, self.core, slotmap::Key::data(&self.slot))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::generation::keys::ParseKeyError;

            /// Parses the text form written by `Display`. A parsed key is only data: a
            /// core refuses it like any other key that is stale or of another core.
            fn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {
                let (core, data) = $crate::generation::keys::parse_key(text, stringify!($name))?;
                Ok(Self { core, slot: $slot::from(data) })
            }
        }

        #[cfg(feature = "serde")]
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
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

/// Why a key's text form did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {kind}: expected `<core>:<index>v<version>` with an odd version")]
pub struct ParseKeyError {
    /// The text that did not parse.
    pub text: String,
    /// The key type asked for.
    pub kind: &'static str,
}

/// Writes `<core>:<index>v<version>`.
pub(crate) fn write_key(
    f: &mut fmt::Formatter<'_>,
    core: CoreId,
    data: slotmap::KeyData,
) -> fmt::Result {
    let ffi = data.as_ffi();
    write!(f, "{}:{}v{}", core.0, ffi & 0xffff_ffff, ffi >> 32)
}

/// Parses `<core>:<index>v<version>`; the version of a key to a live record is odd, so
/// an even one is refused rather than silently changed.
pub(crate) fn parse_key(
    text: &str,
    kind: &'static str,
) -> Result<(CoreId, slotmap::KeyData), ParseKeyError> {
    let error = || ParseKeyError {
        text: text.chars().take(64).collect(),
        kind,
    };
    let (core, rest) = text.split_once(':').ok_or_else(error)?;
    let (index, version) = rest.split_once('v').ok_or_else(error)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(core) && digits(index) && digits(version)) {
        return Err(error());
    }
    let core: u32 = core.parse().map_err(|_| error())?;
    let index: u32 = index.parse().map_err(|_| error())?;
    let version: u32 = version.parse().map_err(|_| error())?;
    if version.is_multiple_of(2) {
        return Err(error());
    }
    let ffi = (u64::from(version) << 32) | u64::from(index);
    Ok((CoreId(core), slotmap::KeyData::from_ffi(ffi)))
}

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
