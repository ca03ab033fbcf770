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

/// Configuration bytes: a string when they are UTF-8, else an array of bytes. Reads
/// either form back, into any byte container (`Vec<u8>`, `Arc<[u8]>`).
pub(crate) mod config {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};

    use super::*;

    pub(crate) fn serialize<S: Serializer, T: AsRef<[u8]>>(
        bytes: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let bytes = bytes.as_ref();
        match std::str::from_utf8(bytes) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_seq(bytes),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: From<Vec<u8>>>(
        d: D,
    ) -> Result<T, D::Error> {
        d.deserialize_any(Bytes).map(T::from)
    }

    /// Accepts a string or a sequence of bytes.
    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of bytes")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            Ok(text.as_bytes().to_vec())
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}
