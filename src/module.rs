//! The plain data shared by the loader, the core and the runtime: what a loaded module
//! offers, what closing it did, and why loading it failed.

/// A validated, owned copy of a module descriptor: what the lifecycle core works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The plugin id.
    pub plugin_id: String,
    /// The plugin's own version.
    pub version: String,
    /// A name for people.
    pub display_name: String,
    /// The ABI major version the plugin was built for.
    pub abi_major: u32,
    /// The ABI minor version the plugin was built for.
    pub abi_minor: u32,
    /// The capabilities, in the order the plugin lists them; `(kind, type_id)` is unique.
    pub capabilities: Vec<CapabilityInfo>,
    /// The SHA-256 digest of the file the module was opened from (the loader's shadow
    /// copy), if the loader computed one.
    pub digest: Option<Digest>,
}

impl ModuleInfo {
    /// The capability with this kind and type id, if the module offers it.
    pub fn capability(&self, kind: &str, type_id: &str) -> Option<&CapabilityInfo> {
        self.capabilities
            .iter()
            .find(|c| c.kind == kind && c.type_id == type_id)
    }
}

/// One validated capability of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CapabilityInfo {
    /// The kind, such as `"decoder"`.
    pub kind: String,
    /// The type id within its kind.
    pub type_id: String,
    /// The interface's major version.
    pub interface_version: u32,
    /// The interface's minor version.
    pub interface_minor: u32,
    /// The id of the interface's base layout.
    pub layout_id: u64,
    /// The layout description, one line per vtable slot (see [`abi::layout`](crate::abi::layout)).
    pub layout: String,
    /// The size of the plugin's vtable in bytes.
    pub vtable_size: usize,
    /// A name for people.
    pub display_name: String,
    /// The configuration used when the host passes none.
    pub default_config: Vec<u8>,
}

/// What closing a library did, as the OS reports it.
///
/// Before `dlclose`, the loader deletes the pthread keys whose destructors lie in the
/// library (a Rust plugin's standard library leaves one on every thread where it ran
/// `thread::current()`), because glibc unmaps a library regardless of them and a thread
/// that exits later would call into unmapped code. If it cannot check them, it does not
/// close the library ([`KeptLoaded`](Self::KeptLoaded)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseOutcome {
    /// `deinit` ran, the library's thread keys were deleted, the library was closed and
    /// none of its code is mapped any more: no executable mapping of its file is left in
    /// the process, and no thread key the loader could attribute to it (by its
    /// destructor's address, in glibc's key table) nor a destructor registered with
    /// `atexit` can call into it. The narrow races glibc leaves open are in the design
    /// document ("Thread keys", limits).
    ///
    /// A read-only view of the file may outlive the close without any code: a plugin
    /// that panicked with `RUST_BACKTRACE` set has its standard library map its own file
    /// to read debug information, and that mapping is never released.
    Unmapped,
    /// `deinit` ran and the library was closed, but the OS loader still maps its code, for
    /// example because the plugin registered a thread-local destructor on a thread that
    /// is still alive. The code stays valid; it leaves when the OS lets it go.
    StillMapped,
    /// The library was deliberately left open and will stay loaded for the life of the
    /// process, because closing it could unmap code that may still run: `deinit` failed
    /// or panicked (the plugin's threads may still run its code), or glibc's thread-key
    /// table could not be read, so keys with destructors in the library may still be set
    /// on host threads.
    KeptLoaded {
        /// Why: what `deinit` reported, or why the thread keys could not be checked.
        reason: String,
    },
}

impl CloseOutcome {
    /// Whether the library's code is gone from the process.
    pub fn is_unmapped(&self) -> bool {
        matches!(self, Self::Unmapped)
    }
}

/// Why a load failed, as plain data: the loader's step and message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LoadFailure {
    /// The step that failed, such as `open` or `descriptor`.
    pub step: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A SHA-256 digest of a library file.
///
/// Its text form (`Display`, `FromStr`, and JSON with the `serde` feature) is the 64
/// lowercase hexadecimal digits `sha256sum` prints.
///
/// ```
/// use plugin_runtime::module::Digest;
///
/// let digest = Digest::of_bytes(b"abc");
/// let text = digest.to_string();
/// assert_eq!(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(text.parse::<Digest>().unwrap(), digest);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The digest of everything `reader` yields, read in blocks.
    ///
    /// # Errors
    ///
    /// The first read error.
    pub fn of_reader(mut reader: impl std::io::Read) -> std::io::Result<Self> {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        let mut block = [0u8; 64 * 1024];
        loop {
            match reader.read(&mut block) {
                Ok(0) => return Ok(Self(hasher.finalize().into())),
                Ok(n) => hasher.update(&block[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Why a text is not a [`Digest`]: it must be 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SHA-256 digest is 64 hexadecimal digits, not `{0}`")]
pub struct ParseDigestError(pub String);

impl std::str::FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || ParseDigestError(text.chars().take(80).collect());
        if text.len() != 64 || !text.is_ascii() {
            return Err(refuse());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| refuse())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| refuse())?;
        }
        Ok(Self(bytes))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
