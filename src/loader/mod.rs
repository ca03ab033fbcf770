//! Loading, validating and closing plugin libraries: the only user of `libloading`.
//!
//! [`LibraryLoader`] is the real loader. For every load it copies the installed library
//! to a private shadow directory under a unique name and opens the copy, so two loads of
//! one path are two independent libraries and replacing the installed file (by rename)
//! never touches code that is running. It validates the module descriptor completely
//! before anything of the library is published, runs the module's `init`, and on close
//! runs `deinit`, deletes the thread keys the library left on the process's threads
//! (see [`thread_key_usage`]; glibc's `dlclose` ignores them), closes the library and
//! asks the OS whether it is really gone.
//!
//! Every load computes the SHA-256 digest of the copy it opens
//! ([`ModuleInfo::digest`]). A [`Lockdown`] in the [`LoaderConfig`] (off by default)
//! restricts loads to plugin roots, to paths no other user can change, and to digests an
//! [`Allowlist`] lists.
//!
//! [`LibraryLoader::describe`] reads a library's descriptor without running its `init`;
//! [`scan_directory`] fingerprints and describes a directory's libraries for a
//! directory sync.
//! A library whose own code crashes (ELF constructors, entry symbol, `init`, `deinit`)
//! kills the process that loaded it; [`probe`] loads it in a child process instead and
//! names the signal and the [`Step`] it died in.
//!
//! [`ModuleLoader`] is the small trait that [`LibraryLoader`] and the simulated loader
//! of the property tests ([`simulated`]) share. The runtime's loader thread uses
//! `LibraryLoader` itself, because instances need its typed capabilities.

mod elf;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod info;
mod library;
mod lockdown;
mod maps;
pub mod probe;
mod scan;
mod shadow;
pub mod simulated;
mod step;
mod thread_keys;
mod validate;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "plugin-runtime's loader verifies unmapping through /proc/self/maps and supports Linux only for now"
);

pub use crate::module::{CapabilityInfo, CloseOutcome, ModuleInfo};
pub use error::{
    CallError, DescriptorError, LayoutMismatch, LoadError, ResolveError, SourceChange,
};
pub use info::CloseReport;
pub(crate) use library::call_with_error;
pub use library::{
    LibraryLoader, LoadedLibrary, LoaderConfig, MAX_LIFECYCLE_TIMEOUT, MIN_LIFECYCLE_TIMEOUT,
    ResolvedCapability, Symbol,
};
pub use lockdown::{Allowlist, AllowlistError, AllowlistProblem, Lockdown, PermissionProblem};
pub use maps::MappedCode;
#[cfg(feature = "watch")]
pub(crate) use scan::is_library_name;
pub use scan::{DEFAULT_DESCRIPTOR_CACHE, DescriptorCache, scan_directory};
pub use step::Step;
pub use thread_keys::{ThreadKeyUsage, thread_key_usage};

use std::path::Path;

/// Whether code of the library file at `path` (a shadow copy named in a
/// [`CloseReport`]) is still mapped into this process.
///
/// A library reported [`CloseOutcome::StillMapped`] stays so while a thread holds one of
/// its thread-local destructors; once those threads have ended, glibc unmaps it at the
/// next `dlclose` of any library. To ask about many libraries, read the maps once with
/// [`MappedCode`].
///
/// # Errors
///
/// If `/proc/self/maps` cannot be read.
pub fn code_mapped(path: &Path) -> std::io::Result<bool> {
    maps::mappings(path).map(|m| m.code)
}

/// What every loader does: open a library into a validated module, and close it again,
/// reporting what the OS did.
pub trait ModuleLoader {
    /// A loaded library; dropped only through [`close`](Self::close).
    type Library;

    /// Loads the library installed at `path`, validates it and runs its `init`.
    ///
    /// # Errors
    ///
    /// Each failing step has its own [`LoadError`] variant; no shadow copy is left, and
    /// nothing is left loaded except after a failed `init` (see [`LoadError::Init`]).
    fn open(
        &mut self,
        path: &Path,
        expected_plugin_id: Option<&str>,
    ) -> Result<Self::Library, LoadError>;

    /// The validated description of a loaded library.
    fn module<'a>(&self, library: &'a Self::Library) -> &'a ModuleInfo;

    /// Runs `deinit`, closes the library and reports whether it left the process.
    fn close(&mut self, library: Self::Library) -> CloseReport;
}
