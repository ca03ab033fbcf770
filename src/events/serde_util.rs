//! How durations and paths cross into JSON: durations as whole microseconds or
//! milliseconds (saturating), paths as text (bytes that are not UTF-8 become U+FFFD).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Whole microseconds; a duration beyond `u64::MAX` microseconds is written as
/// `u64::MAX`.
pub(crate) mod micros {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// Whole milliseconds; a duration beyond `u64::MAX` milliseconds is written as
/// `u64::MAX`.
pub(crate) mod millis {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A path as text. serde's own impl fails on a path that is not UTF-8; an event must
/// never fail to encode, so such bytes are replaced instead.
pub(crate) mod path {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string_lossy())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Cow::<'de, str>::deserialize(d).map(|text| PathBuf::from(text.as_ref()))
    }
}

/// An optional path as text or `null`.
pub(crate) mod opt_path {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(&p.to_string_lossy()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        Option::<Cow<'de, str>>::deserialize(d).map(|t| t.map(|t| PathBuf::from(t.as_ref())))
    }
}
