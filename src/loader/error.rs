//! Errors of loading and of resolving capabilities.

use std::path::PathBuf;

use super::lockdown::PermissionProblem;
use super::probe::ProbeError;
use crate::abi::Status;
use crate::module::{Digest, LoadFailure};

/// Why a library could not be loaded. Each variant names the step that failed; nothing
/// is left copied after any of them, and nothing loaded unless the module's `init` ran
/// ([`Init`](Self::Init), [`InitTimedOut`](Self::InitTimedOut)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path asked for resolves to a file outside every plugin root of the loader's
    /// [`Lockdown`](super::Lockdown): it is outside them, or a symbolic link or a `..`
    /// leads out of them. Refused before anything was copied.
    #[error(
        "roots: {path} resolves to {resolved}, which is outside the plugin roots ({})",
        path_list(roots)
    )]
    OutsideRoots {
        /// The path asked for.
        path: PathBuf,
        /// The path it resolves to (links and `..` followed).
        resolved: PathBuf,
        /// The plugin roots, resolved.
        roots: Vec<PathBuf>,
    },
    /// The library file or a directory on its path could be changed by another user
    /// (see [`Lockdown::permissions`](super::Lockdown::permissions)). Refused before
    /// anything was copied.
    #[error("permissions: {path} is refused: {component} {why}")]
    Permissions {
        /// The path asked for.
        path: PathBuf,
        /// The file or directory refused, on the resolved path.
        component: PathBuf,
        /// What is wrong with it.
        why: PermissionProblem,
    },
    /// The shadow copy's SHA-256 digest is not in the loader's
    /// [`Allowlist`](super::Allowlist). Refused before the copy was opened; the copy is
    /// removed.
    #[error("digest: the copy of {path} has digest {digest}, which the allowlist does not list")]
    DigestNotAllowed {
        /// The path asked for.
        path: PathBuf,
        /// The copy's digest.
        digest: Digest,
    },
    /// The shadow copy's digest is allowed, but not for the plugin id its descriptor
    /// claims. Refused before the module's `init`; the library is closed again and the
    /// copy removed.
    #[error(
        "digest: the copy of {path} has digest {digest}, which the allowlist allows for {} only, but its descriptor claims `{found}`",
        allowed.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
    )]
    DigestPluginMismatch {
        /// The path asked for.
        path: PathBuf,
        /// The copy's digest.
        digest: Digest,
        /// The plugin ids the allowlist gives this digest.
        allowed: Vec<String>,
        /// The plugin id the descriptor claims.
        found: String,
    },
    /// The installed file could not be read or copied into the shadow directory (it does
    /// not exist, is a directory, or the disk is full).
    #[error("copy: {}", copy_message(path, source))]
    Copy {
        /// The installed path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The installed file changed while it was copied into the shadow directory, on
    /// every attempt: it is being rewritten in place, and a copy of it could be torn
    /// (one build's headers, another's body). Installers must write a new file and
    /// rename it over the old one.
    #[error(
        "copy: {path} changed while it was copied ({change}), on each of {attempts} attempts; install libraries by renaming a complete file into place"
    )]
    SourceChanged {
        /// The installed path.
        path: PathBuf,
        /// What the last attempt saw change.
        change: SourceChange,
        /// How many copies were taken.
        attempts: u32,
    },
    /// The loader's own check of the ELF headers refused the shadow copy before the OS
    /// loader saw it: not an ELF shared object for this machine, or truncated (a segment
    /// past the end of the file would fault on first touch instead of failing the load).
    #[error("elf check: {path} is refused before opening: {message}")]
    ElfCheck {
        /// The installed path.
        path: PathBuf,
        /// What is wrong with the headers.
        message: String,
    },
    /// The preflight (see [`LoaderConfig::preflight`](super::LoaderConfig::preflight))
    /// refused the shadow copy: a probe process that opened it crashed, exited early, or
    /// its loader refused the copy. The host never opened it.
    #[error("preflight: {path}: {source}")]
    Preflight {
        /// The installed path.
        path: PathBuf,
        /// What the probe reported.
        #[source]
        source: Box<ProbeError>,
    },
    /// The preflight is on but the configuration names no probe executable.
    #[error("preflight: no probe executable is configured")]
    PreflightWithoutProbe,
    /// The OS loader refused the shadow copy (missing dependencies, unresolved symbols,
    /// a malformed dynamic section).
    #[error("open: the OS loader refused {path}: {message}")]
    Open {
        /// The installed path.
        path: PathBuf,
        /// The OS loader's message.
        message: String,
    },
    /// The library exports no entry symbol of any ABI major version.
    #[error("entry symbol: {path} exports no `{symbol}` (not a plugin-runtime plugin)")]
    EntrySymbol {
        /// The installed path.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The library was built for another ABI major version, told by its entry symbol or
    /// by its descriptor.
    #[error("version: plugin is built for ABI major {found}, this host reads major {expected}")]
    AbiVersion {
        /// The plugin's ABI major version.
        found: u32,
        /// This host's ABI major version.
        expected: u32,
    },
    /// The entry symbol returned null or a pointer to something without the module
    /// magic.
    #[error("magic: the entry symbol returned {found:#018x}, not a module descriptor")]
    Magic {
        /// The value read where the magic should be (0 for a null pointer).
        found: u64,
    },
    /// The descriptor is malformed.
    #[error("descriptor: {0}")]
    Descriptor(#[from] DescriptorError),
    /// The module is not the plugin the caller expected.
    #[error("descriptor: expected plugin `{expected}`, the library is `{found}`")]
    PluginIdMismatch {
        /// The plugin id the caller asked for.
        expected: String,
        /// The plugin id in the descriptor.
        found: String,
    },
    /// The module's `init` failed or panicked. The library is kept loaded for the life of
    /// the process rather than closed: a failing `init` may have started threads that
    /// run its code, and `deinit` only follows a successful `init`.
    #[error("init: {status}: {message}")]
    Init {
        /// The status `init` returned.
        status: Status,
        /// The message the plugin wrote.
        message: String,
    },
    /// Loading another library could leave the process without thread keys
    /// (`PTHREAD_KEYS_MAX`, 1,024 on glibc), and the standard library aborts the process
    /// when it cannot create one. Refused before anything was copied or opened.
    ///
    /// The loader deletes a library's keys when it closes it, so this means keys are
    /// held elsewhere: by the host, by libraries still loaded, by keys whose destructor
    /// is outside any library, or, when glibc's key table cannot be read, by libraries
    /// kept loaded for that reason (see [`CloseOutcome::KeptLoaded`] and
    /// [`thread_key_usage`]).
    ///
    /// [`CloseOutcome::KeptLoaded`]: crate::loader::CloseOutcome::KeptLoaded
    /// [`thread_key_usage`]: crate::loader::thread_key_usage
    #[error(
        "thread keys: {in_use} of {limit} {} in use; loading another library could exhaust them",
        if *counted { "keys are" } else { "are assumed (libraries kept for their keys)" }
    )]
    ThreadKeys {
        /// Keys in use, or, if `counted` is false, libraries kept loaded because their
        /// keys could not be checked.
        in_use: usize,
        /// How many keys a process can have.
        limit: usize,
        /// Whether `in_use` was counted in glibc's key table.
        counted: bool,
    },
    /// The module's `init` did not return within the loader's deadline
    /// ([`LoaderConfig::init_timeout`](super::LoaderConfig::init_timeout)). Its thread
    /// was left running, detached (a thread cannot be stopped from outside), and may
    /// still run the library's code, so the library stays loaded for the life of the
    /// process. Other loads go on.
    #[error(
        "init: {} did not return within {timeout:?} (or its thread did not end by then); the thread was left running and the library stays loaded",
        path.display()
    )]
    InitTimedOut {
        /// The installed path.
        path: PathBuf,
        /// The shadow copy that stays mapped (its file is removed; `/proc/self/maps`
        /// shows it as deleted).
        shadow_path: PathBuf,
        /// The deadline it missed.
        timeout: std::time::Duration,
    },
    /// A deadline in the [`LoaderConfig`](super::LoaderConfig) is out of its bounds.
    #[error("config: {setting} is {value:?}, it must be between {min:?} and {max:?}")]
    InvalidTimeout {
        /// The setting's name, such as `init_timeout`.
        setting: &'static str,
        /// The value given.
        value: std::time::Duration,
        /// The smallest value allowed.
        min: std::time::Duration,
        /// The largest value allowed.
        max: std::time::Duration,
    },
    /// A plugin root of the loader's [`Lockdown`](super::Lockdown) does not resolve to
    /// a directory.
    #[error("config: plugin root {root}: {source}")]
    InvalidRoot {
        /// The root as configured.
        root: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: std::io::Error,
    },
    /// The shadow directory could not be set up.
    #[error("shadow directory {path}: {source}")]
    ShadowDirectory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    /// The name of the step that failed: `roots`, `permissions`, `copy`, `digest`, `elf
    /// check`, `preflight`, `open`, `entry symbol`, `version`, `magic`, `descriptor`,
    /// `init`, `thread keys`, `config` or `shadow directory`.
    pub fn step(&self) -> &'static str {
        match self {
            Self::OutsideRoots { .. } => "roots",
            Self::Permissions { .. } => "permissions",
            Self::DigestNotAllowed { .. } | Self::DigestPluginMismatch { .. } => "digest",
            Self::Copy { .. } | Self::SourceChanged { .. } => "copy",
            Self::ElfCheck { .. } => "elf check",
            Self::Preflight { .. } | Self::PreflightWithoutProbe => "preflight",
            Self::Open { .. } => "open",
            Self::EntrySymbol { .. } => "entry symbol",
            Self::AbiVersion { .. } => "version",
            Self::Magic { .. } => "magic",
            Self::Descriptor(_) | Self::PluginIdMismatch { .. } => "descriptor",
            Self::Init { .. } | Self::InitTimedOut { .. } => "init",
            Self::ThreadKeys { .. } => "thread keys",
            Self::InvalidTimeout { .. } | Self::InvalidRoot { .. } => "config",
            Self::ShadowDirectory { .. } => "shadow directory",
        }
    }
}

impl From<&LoadError> for LoadFailure {
    fn from(error: &LoadError) -> Self {
        Self {
            step: error.step().to_owned(),
            message: error.to_string(),
        }
    }
}

/// Paths separated by commas, for messages.
fn path_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What changed in an installed file while the loader copied it (see
/// [`LoadError::SourceChanged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceChange {
    /// The path now names another file: it was replaced (by rename) during the copy.
    #[error("the path now names another file")]
    Replaced,
    /// The path names no file any more.
    #[error("the file was removed")]
    Removed,
    /// The file's size changed (it was truncated or written past its end).
    #[error("its size changed from {before} to {after} bytes")]
    Size {
        /// The size before the copy.
        before: u64,
        /// The size after the copy.
        after: u64,
    },
    /// Its modification time changed: it was written.
    #[error("it was written to")]
    Modified,
    /// Its status-change time changed: it was written, truncated, or its metadata changed.
    #[error("its inode was changed")]
    StatusChanged,
    /// The copy has another length than the file had when the copy began.
    #[error("{copied} bytes were copied of {expected}")]
    Copied {
        /// The file's size when the copy began.
        expected: u64,
        /// The bytes copied.
        copied: u64,
    },
}

/// The message of [`LoadError::Copy`]: a missing file is said plainly, as the reason most
/// often behind it.
fn copy_message(path: &std::path::Path, source: &std::io::Error) -> String {
    if source.kind() == std::io::ErrorKind::NotFound {
        format!("no such file: {}", path.display())
    } else {
        format!(
            "cannot copy {} into the shadow directory: {source}",
            path.display()
        )
    }
}

/// What is wrong with a module descriptor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The descriptor pointer is not aligned for a `ModuleDescriptor`.
    #[error("the descriptor pointer is misaligned")]
    Misaligned,
    /// The descriptor says it is smaller than the prefix this host reads.
    #[error("the descriptor is {found} bytes, this host needs at least {needed}")]
    TooSmall {
        /// The size the descriptor claims.
        found: u32,
        /// The size this host reads.
        needed: u32,
    },
    /// A capability descriptor is smaller than the prefix this host reads.
    #[error("a capability descriptor is {found} bytes, this host needs at least {needed}")]
    CapabilityTooSmall {
        /// The stride the descriptor claims.
        found: u32,
        /// The size this host reads.
        needed: u32,
    },
    /// A pointer that must not be null is null (with a non-zero length or count).
    #[error("{field} is a null pointer")]
    NullPointer {
        /// The field, such as `capabilities` or `capabilities[2].kind`.
        field: String,
    },
    /// A string field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: String,
    },
    /// A field that must not be empty is empty.
    #[error("{field} is empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// A capability has a null vtable.
    #[error("capability `{kind}/{type_id}` has a null vtable")]
    NullVtable {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
    },
    /// A capability's layout description does not parse (see
    /// [`abi::layout`](crate::abi::layout)).
    #[error("capability `{kind}/{type_id}` has a malformed layout description at line {line}")]
    MalformedLayout {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
        /// The index of the first line that does not parse.
        line: usize,
    },
    /// A capability's layout id is not the id of its own layout description.
    #[error(
        "capability `{kind}/{type_id}` has layout id {found:#018x}, its layout description has id {computed:#018x}"
    )]
    LayoutId {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
        /// The id in the descriptor.
        found: u64,
        /// The id of the description.
        computed: u64,
    },
    /// A capability's vtable size is not one pointer per line of its layout, or its
    /// vtable pointer is not aligned for pointers.
    #[error(
        "capability `{kind}/{type_id}` has a vtable of {size} bytes for {slots} slots, or a misaligned one"
    )]
    VtableShape {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
        /// The vtable size in the descriptor.
        size: usize,
        /// The number of lines of the layout description.
        slots: usize,
    },
    /// A slot of a method that is not optional is null.
    #[error("capability `{kind}/{type_id}` has a null slot for its required method `{method}`")]
    NullSlot {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
        /// The method.
        method: String,
    },
    /// A capability lacks its `create` or `destroy` function.
    #[error("capability `{kind}/{type_id}` has no `{function}` function")]
    MissingFunction {
        /// The capability's kind.
        kind: String,
        /// The capability's type id.
        type_id: String,
        /// `create` or `destroy`.
        function: &'static str,
    },
    /// Two capabilities share a `(kind, type_id)` pair.
    #[error("capability `{kind}/{type_id}` is listed twice")]
    DuplicateCapability {
        /// The kind.
        kind: String,
        /// The type id.
        type_id: String,
    },
    /// The capability count or a string length is implausibly large.
    #[error("{field} is implausibly large ({value})")]
    TooLarge {
        /// The field.
        field: String,
        /// Its value.
        value: usize,
    },
}

/// Why a capability could not be resolved on a loaded library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The plugin's vtable pointer is not aligned for the host's vtable type, so it
    /// cannot be that type.
    #[error("capability `{kind}/{type_id}` has a vtable misaligned for the host's type")]
    MisalignedVtable {
        /// The kind.
        kind: &'static str,
        /// The type id.
        type_id: String,
    },
    /// The capability has the host's kind and major version but another layout.
    #[error(transparent)]
    Layout(Box<LayoutMismatch>),
    /// The module offers no capability of this kind and type id.
    #[error("no capability `{kind}/{type_id}`")]
    NotFound {
        /// The kind asked for.
        kind: &'static str,
        /// The type id asked for.
        type_id: String,
    },
    /// The capability exists with another interface major version.
    #[error(
        "capability `{kind}/{type_id}` has interface version {found}, the host expects {expected}"
    )]
    InterfaceVersion {
        /// The kind.
        kind: &'static str,
        /// The type id.
        type_id: String,
        /// The version the host's `Capability` type names.
        expected: u32,
        /// The version the plugin exports.
        found: u32,
    },
}

/// The capability has the host's kind and major version but another layout: the two
/// sides were built from different declarations of the interface.
///
/// Both layouts are named, one method per line, and the first method where they differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "capability `{kind}/{type_id}`: the plugin's layout of interface {kind} v{major} differs from the host's at {at}\n  host:   {host}\n  plugin: {plugin}",
    host = .host.replace('\n', "\n          "),
    plugin = .plugin.replace('\n', "\n          ")
)]
pub struct LayoutMismatch {
    /// The kind.
    pub kind: &'static str,
    /// The type id.
    pub type_id: String,
    /// The major version both sides share.
    pub major: u32,
    /// Where they first differ: a method line of either side, or `the base layout id`.
    pub at: String,
    /// The host's layout description.
    pub host: String,
    /// The plugin's layout description.
    pub plugin: String,
}

/// A plugin function returned an error status (or the SDK caught a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct CallError {
    /// The status the plugin returned; never [`Status::OK`].
    pub status: Status,
    /// The message the plugin wrote into the error buffer, possibly empty.
    pub message: String,
}

impl CallError {
    /// Whether the plugin panicked (the SDK caught it at the boundary).
    pub fn is_panic(&self) -> bool {
        self.status == Status::PANIC
    }
}
