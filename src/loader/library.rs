//! The real loader: shadow copies, `libloading`, validation, `init`/`deinit`, and
//! verified unmapping.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};

use super::ModuleLoader;
use super::error::{CallError, LayoutMismatch, LoadError, ResolveError};
use super::info::CloseReport;
use super::lockdown::{Guard, Lockdown};
use super::maps::{Mappings, mappings};
use super::probe::{Probe, ProbeMode};
use super::shadow::{CopyError, ShadowDir};
use super::step::Step;
use super::thread_keys::{self, KeyTable};
use super::validate::{RawCapability, validate};
use crate::abi::layout::layout_lines;
use crate::abi::{
    ABI_VERSION_MAJOR, ABI_VERSION_MINOR, BytesRef, Capability, DeinitFn, ENTRY_SYMBOL,
    ENTRY_SYMBOL_PREFIX, EntryFn, ErrorBuf, HostContext, InstanceHandle, LogLevel, Status, StrRef,
};
use crate::module::{CapabilityInfo, CloseOutcome, Digest, ModuleInfo};

/// Other ABI majors probed for when the current entry symbol is missing, to tell "built
/// for another ABI" from "not a plugin".
const PROBED_MAJORS: std::ops::RangeInclusive<u32> = 0..=16;

/// The context every module's `init` receives. A `static`, so it outlives every library.
static HOST_CONTEXT: HostContext = HostContext {
    size: size_of::<HostContext>() as u32,
    abi_major: ABI_VERSION_MAJOR,
    abi_minor: ABI_VERSION_MINOR,
    log: Some(host_log),
};

/// The shortest deadline a lifecycle call may be given.
pub const MIN_LIFECYCLE_TIMEOUT: Duration = Duration::from_millis(1);
/// The longest deadline a lifecycle call may be given.
pub const MAX_LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How a [`LibraryLoader`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoaderConfig {
    /// The directory under which the loader makes its private shadow directory. `None`
    /// picks a per-user directory in the system's temporary directory.
    pub shadow_root: Option<PathBuf>,
    /// The probe executable, which loads one library in a child process so that a
    /// library that crashes kills the probe instead of the host (see
    /// [`probe`](super::probe)). `None`: no probe is configured.
    pub probe: Option<PathBuf>,
    /// Whether every load first has the [`probe`](Self::probe) open the very shadow copy
    /// the host is about to open, and refuses the library with
    /// [`LoadError::Preflight`] if that crashes the probe or is refused there. Off by
    /// default.
    ///
    /// The probe reads the copy as [`LibraryLoader::describe`] does: the library's ELF
    /// constructors and entry symbol run in the probe process (with the user's rights),
    /// its `init` does not. That is where a corrupt file or a broken library faults (in
    /// the OS loader's relocation, a constructor or the entry symbol); a crash in `init`
    /// still reaches the host. It costs a process start and a second `dlopen` per load.
    pub preflight: bool,
    /// How long a module's `init` may run before the load fails with
    /// [`LoadError::InitTimedOut`]. Between [`MIN_LIFECYCLE_TIMEOUT`] and
    /// [`MAX_LIFECYCLE_TIMEOUT`]; 10 seconds by default.
    pub init_timeout: Duration,
    /// How long a module's `deinit` may run before the close gives up on it and reports
    /// [`CloseOutcome::KeptLoaded`]. Between [`MIN_LIFECYCLE_TIMEOUT`] and
    /// [`MAX_LIFECYCLE_TIMEOUT`]; 10 seconds by default.
    pub deinit_timeout: Duration,
    /// The restrictions of a locked-down loader: plugin roots, the permission check and
    /// an allowlist of digests (see [`Lockdown`]). None by default.
    pub lockdown: Lockdown,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            shadow_root: None,
            probe: None,
            preflight: false,
            init_timeout: Duration::from_secs(10),
            deinit_timeout: Duration::from_secs(10),
            lockdown: Lockdown::default(),
        }
    }
}

impl LoaderConfig {
    /// Uses `root` for shadow directories.
    pub fn with_shadow_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.shadow_root = Some(root.into());
        self
    }

    /// Uses the executable at `path` as the probe (see [`probe`](super::probe)).
    pub fn with_probe(mut self, path: impl Into<PathBuf>) -> Self {
        self.probe = Some(path.into());
        self
    }

    /// Turns the [`preflight`](Self::preflight) on or off; it needs a
    /// [`probe`](Self::probe).
    pub fn with_preflight(mut self, preflight: bool) -> Self {
        self.preflight = preflight;
        self
    }

    /// Sets the deadlines of `init` and `deinit` (see
    /// [`init_timeout`](Self::init_timeout) and [`deinit_timeout`](Self::deinit_timeout)).
    pub fn with_lifecycle_timeouts(mut self, init: Duration, deinit: Duration) -> Self {
        self.init_timeout = init;
        self.deinit_timeout = deinit;
        self
    }

    /// Locks the loader down with `lockdown`: libraries load only from its roots, only
    /// through paths no other user can change, and only with a listed digest, as far as
    /// each rule is set (see [`Lockdown`]).
    ///
    /// ```no_run
    /// use plugin_runtime::loader::{Allowlist, LoaderConfig, Lockdown};
    /// use plugin_runtime::{Runtime, RuntimeConfig};
    ///
    /// let allowlist: Allowlist = std::fs::read_to_string("plugins.allow")?.parse()?;
    /// let loader = LoaderConfig::default().with_lockdown(
    ///     Lockdown::default()
    ///         .with_root("/opt/myhost/plugins")
    ///         .with_permission_checks(true)
    ///         .with_allowlist(allowlist),
    /// );
    /// // Every load of the runtime, reloads included, goes through these rules.
    /// let runtime = Runtime::start(RuntimeConfig::default().with_loader(loader))?;
    /// # drop(runtime);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_lockdown(mut self, lockdown: Lockdown) -> Self {
        self.lockdown = lockdown;
        self
    }

    /// Checks every setting against its bounds.
    fn validate(&self) -> Result<(), LoadError> {
        for (setting, value) in [
            ("init_timeout", self.init_timeout),
            ("deinit_timeout", self.deinit_timeout),
        ] {
            if !(MIN_LIFECYCLE_TIMEOUT..=MAX_LIFECYCLE_TIMEOUT).contains(&value) {
                return Err(LoadError::InvalidTimeout {
                    setting,
                    value,
                    min: MIN_LIFECYCLE_TIMEOUT,
                    max: MAX_LIFECYCLE_TIMEOUT,
                });
            }
        }
        Ok(())
    }
}

/// The real loader. See the [module documentation](super).
///
/// # Thread-safety
///
/// A loader is `Sync`, and its methods take `&self`: loads and closes may run on several
/// threads at once. The only state they share is the shadow directory's counter of copy
/// names, which is atomic; copying, `dlopen`, `init`, `deinit` and `dlclose` hold no lock
/// of the loader's (the OS loader has its own, held during `dlopen` and `dlclose` only,
/// not during `init` or `deinit`).
///
/// # Examples
///
/// ```no_run
/// use plugin_runtime::loader::{LibraryLoader, LoaderConfig};
///
/// let loader = LibraryLoader::new(LoaderConfig::default())?;
/// let library = loader.load("plugins/libgain.so".as_ref(), Some("example.gain"))?;
/// println!("{} {}", library.module().plugin_id, library.module().version);
/// let report = loader.close(library);
/// assert!(report.outcome.is_unmapped());
/// # Ok::<(), plugin_runtime::loader::LoadError>(())
/// ```
#[derive(Debug)]
pub struct LibraryLoader {
    shadow: ShadowDir,
    /// Deletes the thread keys a library left (see [`thread_keys`]); replaced in tests to
    /// walk the path where glibc's key table cannot be read.
    release_keys: ReleaseKeys,
    /// The probe each shadow copy is opened in first, when the preflight is on.
    preflight: Option<Probe>,
    /// The rules of the lockdown, if any is on.
    guard: Guard,
    init_timeout: Duration,
    deinit_timeout: Duration,
}

/// How [`LibraryLoader`] deletes the thread keys of the library containing an address.
type ReleaseKeys = fn(*const std::ffi::c_void) -> Result<usize, &'static str>;

/// Thread keys kept free for the host and for the library being loaded: a load is
/// refused with [`LoadError::ThreadKeys`] when fewer are left. A Rust plugin's standard
/// library takes one key of its own.
const RESERVED_THREAD_KEYS: usize = 16;

/// Libraries this process kept loaded because their thread keys could not be checked.
/// Each may hold keys for good, so with glibc's table unreadable this count stands in
/// for the keys in use.
static KEPT_FOR_KEYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl LibraryLoader {
    /// Makes the loader's shadow directory, first removing those that dead processes
    /// left behind (those of live processes are not touched).
    ///
    /// # Errors
    ///
    /// [`LoadError::InvalidTimeout`] if a deadline is out of bounds;
    /// [`LoadError::ShadowDirectory`] if the directory cannot be created;
    /// [`LoadError::PreflightWithoutProbe`] if the preflight is on without a probe;
    /// [`LoadError::InvalidRoot`] if a plugin root of the [`Lockdown`] does not resolve
    /// to a directory.
    pub fn new(config: LoaderConfig) -> Result<Self, LoadError> {
        config.validate()?;
        if config.preflight && config.probe.is_none() {
            return Err(LoadError::PreflightWithoutProbe);
        }
        let probe_timeout = Probe::timeout_of(&config);
        let guard = Guard::new(config.lockdown)?;
        let root = config.shadow_root.unwrap_or_else(ShadowDir::default_root);
        let shadow = ShadowDir::create(&root)
            .map_err(|source| LoadError::ShadowDirectory { path: root, source })?;
        // The probe makes its own shadow directory beside this loader's, under the same
        // checked root; neither its copies nor its sweep of dead processes' directories
        // touch the directory of this live process.
        let preflight = config
            .probe
            .filter(|_| config.preflight)
            .map(|program| Probe::new(program, shadow.root().to_owned(), probe_timeout));
        Ok(Self {
            shadow,
            preflight,
            release_keys: thread_keys::release_keys_of,
            guard,
            init_timeout: config.init_timeout,
            deinit_timeout: config.deinit_timeout,
        })
    }

    /// This loader's private shadow directory.
    pub fn shadow_dir(&self) -> &Path {
        self.shadow.path()
    }

    /// Loads the library installed at `path` from a fresh shadow copy, validates its
    /// descriptor and runs its `init`.
    ///
    /// The module's [`digest`](ModuleInfo::digest) is the SHA-256 digest of the copy,
    /// computed before it was opened: the digest of the installed file as it was copied.
    ///
    /// Install libraries by writing a new file and renaming it over the old one, never by
    /// rewriting the installed file in place. A file rewritten during the copy can give a
    /// torn copy (one build's headers, another's body) that faults inside the OS loader;
    /// the loader notices a file that changes during its copy and copies again, but it
    /// cannot tell a half-written file that holds still from a whole one. With the
    /// [`preflight`](LoaderConfig::preflight) on, the copy is opened in a probe process
    /// first, so a library that crashes while being opened is refused instead.
    ///
    /// The plugin is trusted code: once it follows the ABI, the host never misreads it
    /// and never unloads it while in use, but a plugin that breaks the ABI (returns a
    /// dangling descriptor, writes through wild pointers) is beyond what a host can
    /// check.
    ///
    /// # Errors
    ///
    /// One [`LoadError`] variant per failing step, and the shadow copy is removed: under
    /// a [`Lockdown`], [`LoadError::OutsideRoots`] and [`LoadError::Permissions`] (before
    /// anything is copied); [`LoadError::Copy`] or [`LoadError::SourceChanged`] (the file
    /// kept changing while it was copied); [`LoadError::DigestNotAllowed`];
    /// [`LoadError::ElfCheck`], [`LoadError::Preflight`], [`LoadError::Open`]; then the
    /// entry symbol and descriptor variants, [`LoadError::DigestPluginMismatch`], and the
    /// `init` variants. A library refused before its `init` ran is closed again. One
    /// whose `init` failed is kept loaded (see [`LoadError::Init`]): `init` may have
    /// started threads, and `deinit` only follows a successful `init`. One whose `init`
    /// did not return within the deadline is kept loaded too, and its thread left
    /// running ([`LoadError::InitTimedOut`]).
    pub fn load(
        &self,
        path: &Path,
        expected_plugin_id: Option<&str>,
    ) -> Result<LoadedLibrary, LoadError> {
        self.load_observed(path, expected_plugin_id, true, &mut |_| {})
    }

    /// Opens the library installed at `path` from a fresh shadow copy, validates and
    /// reads its module descriptor, and closes it again, without calling its `init` (and
    /// so without its `deinit`).
    ///
    /// This is how a host scans a plugin without starting it. It is not a sandbox: the
    /// library's ELF constructors run when it is opened, and its entry symbol is called
    /// to find the descriptor. To survive a library that crashes in those, read it in a
    /// [`probe`](super::probe) process.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), except that there is no `init` to fail; nothing is left
    /// loaded or copied after an error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use plugin_runtime::loader::{LibraryLoader, LoaderConfig};
    ///
    /// let loader = LibraryLoader::new(LoaderConfig::default())?;
    /// let (module, closed) = loader.describe("plugins/libgain.so".as_ref(), None)?;
    /// for capability in &module.capabilities {
    ///     println!("{}/{}", capability.kind, capability.type_id);
    /// }
    /// println!("unmapped: {}", closed.outcome.is_unmapped());
    /// # Ok::<(), plugin_runtime::loader::LoadError>(())
    /// ```
    pub fn describe(
        &self,
        path: &Path,
        expected_plugin_id: Option<&str>,
    ) -> Result<(ModuleInfo, CloseReport), LoadError> {
        self.describe_observed(path, expected_plugin_id, &mut |_| {})
    }

    /// [`describe`](Self::describe), telling `progress` each step before taking it.
    pub(crate) fn describe_observed(
        &self,
        path: &Path,
        expected_plugin_id: Option<&str>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<(ModuleInfo, CloseReport), LoadError> {
        let library = self.load_observed(path, expected_plugin_id, false, progress)?;
        let module = library.module().clone();
        Ok((module, self.close_observed(library, progress)))
    }

    /// [`load`](Self::load), telling `progress` each step before taking it; without
    /// `init` (and then without `deinit` at close) unless `run_init`.
    pub(crate) fn load_observed(
        &self,
        path: &Path,
        expected_plugin_id: Option<&str>,
        run_init: bool,
        progress: &mut dyn FnMut(Step),
    ) -> Result<LoadedLibrary, LoadError> {
        room_for_thread_keys()?;
        // Under roots or the permission check, the path is resolved once and the
        // resolved file is the one copied: a link changed after the check changes nothing.
        let source = if self.guard.checks_paths() {
            progress(Step::PathCheck);
            std::borrow::Cow::Owned(self.guard.check_path(path)?)
        } else {
            std::borrow::Cow::Borrowed(path)
        };
        progress(Step::Copy);
        let shadow_path = self.shadow.copy_in(&source).map_err(|e| match e {
            CopyError::Io(source) => LoadError::Copy {
                path: path.to_owned(),
                source,
            },
            CopyError::Changed { change, attempts } => LoadError::SourceChanged {
                path: path.to_owned(),
                change,
                attempts,
            },
        })?;
        progress(Step::Digest);
        // The digest of the bytes about to be opened, in a directory only this user can
        // reach; the allowlist judges them before anything of them runs.
        let digest = match digest_of(&shadow_path) {
            Ok(digest) => digest,
            Err(source) => {
                remove_copy(&shadow_path);
                return Err(LoadError::Copy {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if let Err(e) = self.guard.check_digest(path, &digest) {
            remove_copy(&shadow_path);
            return Err(e);
        }
        progress(Step::ElfCheck);
        if let Err(message) = super::elf::check(&shadow_path) {
            remove_copy(&shadow_path);
            return Err(LoadError::ElfCheck {
                path: path.to_owned(),
                message,
            });
        }
        if let Some(probe) = &self.preflight {
            // The copy, not the installed file: these are the bytes the host opens next,
            // in a directory only this user can write.
            if let Err(e) = probe.inspect(&shadow_path, ProbeMode::Describe) {
                remove_copy(&shadow_path);
                return Err(LoadError::Preflight {
                    path: path.to_owned(),
                    source: Box::new(e),
                });
            }
        }
        progress(Step::Open);
        // SAFETY: opening runs the library's initialisers; the trust model above is that
        // a plugin built against the ABI has no harmful ones. The copy has a unique name,
        // so this `dlopen` cannot return an already loaded library.
        let opened = unsafe { UnixLibrary::open(Some(&shadow_path), RTLD_NOW | RTLD_LOCAL) };
        let library = match opened {
            Ok(library) => library,
            Err(e) => {
                remove_copy(&shadow_path);
                return Err(LoadError::Open {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
            }
        };
        let init_timeout = run_init.then_some(self.init_timeout);
        let admit = |info: &ModuleInfo| self.guard.check_plugin_id(path, &digest, &info.plugin_id);
        match start(
            &library,
            path,
            expected_plugin_id,
            &admit,
            init_timeout,
            progress,
        ) {
            Ok(started) => Ok(LoadedLibrary {
                library: Some(library),
                info: ModuleInfo {
                    digest: Some(digest),
                    ..started.info
                },
                capabilities: started.capabilities,
                deinit: started.deinit,
                code_address: started.code_address,
                shadow_path,
                installed_path: path.to_owned(),
            }),
            Err(e @ LoadError::Init { .. }) => {
                // A failed `init` may already have started threads that run the
                // library's code, and `deinit` only follows a successful `init`: closing
                // could unmap code under them. So the library stays loaded, deliberately
                // leaked, as after a failed `deinit`.
                tracing::error!(path = %path.display(), error = %e, "init failed; keeping the library loaded");
                std::mem::forget(library);
                remove_copy(&shadow_path);
                Err(e)
            }
            Err(LoadError::InitTimedOut { timeout, .. }) => {
                // The `init` thread may still be running the library's code, and nothing
                // can stop it: the library stays loaded for good.
                tracing::error!(path = %path.display(), ?timeout, "init did not return in time; its thread is left running and the library stays loaded");
                std::mem::forget(library);
                remove_copy(&shadow_path);
                Err(LoadError::InitTimedOut {
                    path: path.to_owned(),
                    shadow_path,
                    timeout,
                })
            }
            Err(e) => {
                // Refused before `init`: only its ELF constructors and entry function
                // ran. The SDK's set no thread keys; a key one of them did set would
                // not be deleted here (the library is closed without the key check).
                if let Err(close) = library.close() {
                    tracing::warn!(path = %path.display(), error = %close, "closing a refused library failed");
                }
                remove_copy(&shadow_path);
                Err(e)
            }
        }
    }

    /// Runs the module's `deinit`, deletes the thread keys whose destructors lie in the
    /// library, closes the library, checks whether the OS unmapped it, and removes the
    /// shadow copy.
    ///
    /// If `deinit` fails or panics, the plugin's own threads may still run its code, so
    /// the library is not closed at all: it stays loaded for the life of the process and
    /// the report says [`CloseOutcome::KeptLoaded`]. The same happens if glibc's
    /// thread-key table cannot be read (a key destructor of the library may be set on a
    /// live thread, which would call it at exit), and when `deinit` has not returned by
    /// the loader's deadline ([`LoaderConfig::deinit_timeout`]): its thread is left
    /// running, detached, and the close returns.
    pub fn close(&self, library: LoadedLibrary) -> CloseReport {
        self.close_observed(library, &mut |_| {})
    }

    /// [`close`](Self::close), telling `progress` each step before taking it.
    pub(crate) fn close_observed(
        &self,
        mut library: LoadedLibrary,
        progress: &mut dyn FnMut(Step),
    ) -> CloseReport {
        let outcome = library.close_inner(self.deinit_timeout, progress, self.release_keys);
        let shadow_removed = std::fs::remove_file(&library.shadow_path).is_ok();
        CloseReport {
            plugin_id: library.info.plugin_id.clone(),
            shadow_path: library.shadow_path.clone(),
            outcome,
            shadow_removed,
        }
    }
}

impl ModuleLoader for LibraryLoader {
    type Library = LoadedLibrary;

    fn open(
        &mut self,
        path: &Path,
        expected_plugin_id: Option<&str>,
    ) -> Result<LoadedLibrary, LoadError> {
        self.load(path, expected_plugin_id)
    }

    fn module<'a>(&self, library: &'a LoadedLibrary) -> &'a ModuleInfo {
        library.module()
    }

    fn close(&mut self, library: LoadedLibrary) -> CloseReport {
        LibraryLoader::close(self, library)
    }
}

/// One loaded, validated and initialised library: one generation's code.
///
/// Close it with [`LibraryLoader::close`]. Dropping it without closing leaks it on
/// purpose (it stays loaded), because something may still run its code.
#[derive(Debug)]
pub struct LoadedLibrary {
    /// `None` once closed (or deliberately leaked).
    library: Option<UnixLibrary>,
    info: ModuleInfo,
    capabilities: Vec<RawCapability>,
    deinit: Option<DeinitFn>,
    /// The entry function's address: some address inside the library, by which the
    /// thread keys whose destructors lie in it are found at close.
    code_address: usize,
    shadow_path: PathBuf,
    installed_path: PathBuf,
}

impl LoadedLibrary {
    /// The validated description of the module.
    pub fn module(&self) -> &ModuleInfo {
        &self.info
    }

    /// The shadow copy this library was loaded from.
    pub fn shadow_path(&self) -> &Path {
        &self.shadow_path
    }

    /// The installed path it was copied from.
    pub fn installed_path(&self) -> &Path {
        &self.installed_path
    }

    /// Resolves capability `C` with this type id: finds it, and checks that its vtable
    /// has `C`'s layout.
    ///
    /// The checks, in order: the kind and type id exist; the interface major version is
    /// `C`'s; the base layout id is `C`'s; every method line both sides know (the
    /// shorter of the two layouts) is the same; the vtable is aligned for `C::VTable`.
    /// A plugin of an older minor resolves (the host sees its appended methods as
    /// missing), and so does one of a newer minor (the host reads the prefix it knows).
    ///
    /// # Errors
    ///
    /// [`ResolveError::NotFound`], [`ResolveError::InterfaceVersion`],
    /// [`ResolveError::Layout`] (naming both layouts and the first difference) or
    /// [`ResolveError::MisalignedVtable`].
    pub fn capability<C: Capability>(
        &self,
        type_id: &str,
    ) -> Result<ResolvedCapability<'_, C>, ResolveError> {
        let index = self
            .info
            .capabilities
            .iter()
            .position(|c| c.kind == C::KIND && c.type_id == type_id)
            .ok_or_else(|| ResolveError::NotFound {
                kind: C::KIND,
                type_id: type_id.to_owned(),
            })?;
        let info = &self.info.capabilities[index];
        if info.interface_version != C::INTERFACE_VERSION {
            return Err(ResolveError::InterfaceVersion {
                kind: C::KIND,
                type_id: type_id.to_owned(),
                expected: C::INTERFACE_VERSION,
                found: info.interface_version,
            });
        }
        check_layout::<C>(info)?;
        let raw = self.capabilities[index];
        if !raw.vtable.cast::<C::VTable>().is_aligned() {
            return Err(ResolveError::MisalignedVtable {
                kind: C::KIND,
                type_id: type_id.to_owned(),
            });
        }
        Ok(ResolvedCapability {
            info,
            raw,
            _library: PhantomData,
        })
    }

    /// Resolves the exported symbol `name` as a value of type `F` (a function pointer, or
    /// a pointer to an exported static), for host code and benchmarks that call a
    /// plugin's exported functions directly.
    ///
    /// The returned [`Symbol`] borrows this library, so it cannot outlive it; the value
    /// it holds is valid only while the library is loaded.
    ///
    /// # Safety
    ///
    /// `F` must be the exact type of the exported symbol. The borrow covers the
    /// [`Symbol`], not a value copied out of it: a function pointer or address copied out
    /// must not be used after this library is closed (the type system cannot follow a
    /// copy, which is why this function is `unsafe`).
    pub unsafe fn raw_symbol<F: Copy>(&self, name: &str) -> Option<Symbol<'_, F>> {
        let library = self.library.as_ref()?;
        // SAFETY: the caller promises `F` is the symbol's type.
        let symbol = unsafe { library.get::<F>(name) }.ok()?;
        Some(Symbol {
            value: *symbol,
            _library: PhantomData,
        })
    }

    fn close_inner(
        &mut self,
        deinit_timeout: Duration,
        progress: &mut dyn FnMut(Step),
        release_keys: ReleaseKeys,
    ) -> CloseOutcome {
        let Some(library) = self.library.take() else {
            return CloseOutcome::KeptLoaded {
                reason: "the library was already given up".into(),
            };
        };
        if let Some(deinit) = self.deinit {
            progress(Step::Deinit);
            let result = on_lifecycle_thread("plugin-deinit", deinit_timeout, move || {
                // SAFETY: `deinit` comes from the validated descriptor of this still open
                // library, and runs once: `library` was taken out of `self` above. The
                // library stays loaded while the call runs: it is closed only after the
                // call returned, and leaked if it does not return in time.
                call_with_error(|error| unsafe { deinit(error) })
            });
            if let Err(e) = result {
                let reason = match e {
                    LifecycleError::Failed(e) => format!("deinit failed: {e}"),
                    LifecycleError::TimedOut => format!(
                        "deinit did not return within {deinit_timeout:?} (or its thread did not end by then); the thread was left running and the library stays loaded"
                    ),
                };
                tracing::error!(plugin_id = %self.info.plugin_id, %reason, "keeping the library loaded");
                // Deliberately leaked: its threads may still be running its code.
                std::mem::forget(library);
                return CloseOutcome::KeptLoaded { reason };
            }
        }
        progress(Step::Close);
        // glibc's `dlclose` ignores pthread keys: a key destructor of this library still
        // set on a live thread would run in unmapped code when that thread exits. So the
        // keys go first, or the library stays.
        match release_keys(self.code_address as *const std::ffi::c_void) {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::debug!(plugin_id = %self.info.plugin_id, deleted, "deleted the library's thread keys");
            }
            Err(why) => {
                let reason = format!(
                    "cannot check the thread keys this library may have set on host threads ({why}); \
                     kept loaded so that no thread calls a destructor in unmapped code"
                );
                tracing::error!(plugin_id = %self.info.plugin_id, %reason, "keeping the library loaded");
                KEPT_FOR_KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Deliberately leaked: a thread may call one of its key destructors.
                std::mem::forget(library);
                return CloseOutcome::KeptLoaded { reason };
            }
        }
        if let Err(e) = library.close() {
            tracing::warn!(plugin_id = %self.info.plugin_id, error = %e, "dlclose reported an error");
        }
        match mappings(&self.shadow_path) {
            Ok(Mappings { code: false, data }) => {
                if data {
                    tracing::debug!(plugin_id = %self.info.plugin_id, "the code is unmapped; a read-only view of the file remains");
                }
                CloseOutcome::Unmapped
            }
            Ok(Mappings { code: true, .. }) => CloseOutcome::StillMapped,
            Err(e) => {
                // Without /proc we cannot prove it left, so we do not claim it did.
                tracing::warn!(error = %e, "cannot read /proc/self/maps");
                CloseOutcome::StillMapped
            }
        }
    }
}

// SAFETY: the raw pointers in a loaded library point to the module's static, immutable
// descriptor data and functions, valid until `close`, which takes the library by value.
// The ABI requires `create` and `destroy` to be callable from any thread (concurrently for
// different instances), so moving or sharing the library between threads is sound.
unsafe impl Send for LoadedLibrary {}
// SAFETY: as for `Send`: every `&self` method only reads immutable data or calls
// functions the ABI makes thread-safe.
unsafe impl Sync for LoadedLibrary {}

impl Drop for LoadedLibrary {
    fn drop(&mut self) {
        if let Some(library) = self.library.take() {
            tracing::warn!(
                plugin_id = %self.info.plugin_id,
                "a loaded library was dropped without being closed; it stays loaded"
            );
            // Deliberately leaked: code of it may still be referenced or running.
            std::mem::forget(library);
        }
    }
}

/// An exported symbol's value, borrowed from its [`LoadedLibrary`] so that it cannot
/// outlive it, like `libloading::Symbol`.
///
/// ```compile_fail
/// # fn f(loader: &mut plugin_runtime::loader::LibraryLoader) {
/// let library = loader.load("libp.so".as_ref(), None).unwrap();
/// // SAFETY: a doctest that must not compile.
/// let symbol = unsafe { library.raw_symbol::<extern "C" fn()>("f") }.unwrap();
/// loader.close(library); // error: `library` is borrowed by `symbol`
/// (*symbol)();
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Symbol<'lib, F> {
    value: F,
    _library: PhantomData<&'lib LoadedLibrary>,
}

impl<F> std::ops::Deref for Symbol<'_, F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.value
    }
}

/// A capability of a loaded library, typed by host code's [`Capability`] `C`.
///
/// It borrows the library, so it cannot outlive it (the runtime's instances hold a pin
/// on the generation instead).
#[derive(Debug)]
pub struct ResolvedCapability<'lib, C: Capability> {
    info: &'lib CapabilityInfo,
    raw: RawCapability,
    _library: PhantomData<&'lib C::VTable>,
}

impl<'lib, C: Capability> ResolvedCapability<'lib, C> {
    /// The capability's description.
    pub fn info(&self) -> &'lib CapabilityInfo {
        self.info
    }

    /// Calls the plugin's `create` with `config` (empty for the plugin's default),
    /// outside the runtime's bookkeeping: nothing pins the library for the handle.
    ///
    /// Not part of the API: tests and benchmarks of the loader use it. Hosts create
    /// instances with [`Owner::create`](crate::Owner::create), which pins the generation.
    ///
    /// # Errors
    ///
    /// The status and message the plugin returned, or [`Status::PANIC`] if it panicked.
    #[doc(hidden)]
    pub fn __create_unrecorded(&self, config: &[u8]) -> Result<InstanceHandle, CallError> {
        let mut handle = InstanceHandle(std::ptr::null_mut());
        // SAFETY: `create` is the validated function of a library borrowed for `'lib`;
        // the configuration bytes and the output slot live across the call.
        call_with_error(|error| unsafe {
            (self.raw.create)(BytesRef::new(config), &mut handle, error)
        })?;
        if handle.0.is_null() {
            return Err(CallError {
                status: Status::ERROR,
                message: "create returned OK without an instance".into(),
            });
        }
        Ok(handle)
    }

    /// Calls the plugin's `destroy`; the counterpart of
    /// [`__create_unrecorded`](Self::__create_unrecorded), equally not part of the API.
    ///
    /// # Errors
    ///
    /// The status and message the plugin returned (a panicking destructor is reported
    /// as [`Status::PANIC`]); the handle is gone either way.
    ///
    /// # Safety
    ///
    /// `handle` was returned by this capability's `__create_unrecorded` on this library
    /// and is destroyed exactly once, on the thread that owns it.
    #[doc(hidden)]
    pub unsafe fn __destroy_unrecorded(&self, handle: InstanceHandle) -> Result<(), CallError> {
        // SAFETY: the caller promises `handle` is live and destroyed once.
        call_with_error(|error| unsafe { (self.raw.destroy)(handle, error) })
    }

    /// The plugin's vtable as a raw pointer and its size in bytes. Not part of the API.
    #[doc(hidden)]
    pub fn __vtable(&self) -> (*const C::VTable, usize) {
        (self.raw.vtable.cast(), self.info.vtable_size)
    }

    /// The `destroy` function, for the same instances.
    pub(crate) fn raw_destroy(&self) -> crate::abi::DestroyFn {
        self.raw.destroy
    }
}

/// Runs a module's `init` or `deinit` on a thread of its own, for at most `deadline`.
///
/// A plugin's standard library registers thread-local destructors on whichever thread
/// first touches some of its state (spawning a thread, panicking), and glibc keeps a
/// library mapped while any live thread holds such a destructor. Running the module
/// lifecycle on a thread of its own keeps those registrations off long-lived host
/// threads (above all the runtime's loader threads, which live as long as the runtime).
///
/// When the call returns in time, the thread is joined within what is left of the
/// deadline, so it has ended (and run its thread-local destructors, which are plugin
/// code too) before the library can be closed. When either does not happen in time, the
/// thread is detached: nothing can stop it, it may still be running the library's code,
/// and the caller must keep the library loaded for good.
fn on_lifecycle_thread(
    name: &str,
    deadline: Duration,
    call: impl FnOnce() -> Result<(), CallError> + Send + 'static,
) -> Result<(), LifecycleError> {
    let (returned, result) = mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The receiver is gone only after the deadline; the result is then unwanted.
            let _ = returned.send(call());
        })
        .map_err(|e| {
            LifecycleError::Failed(CallError {
                status: Status::ERROR,
                message: format!("cannot start the {name} thread: {e}"),
            })
        })?;
    let started = Instant::now();
    match result.recv_timeout(deadline) {
        Ok(result) => {
            // The call returned; what is left is the thread's exit, with its thread-local
            // destructors.
            join_until(thread, deadline.saturating_sub(started.elapsed()))?;
            result.map_err(LifecycleError::Failed)
        }
        Err(RecvTimeoutError::Disconnected) => {
            // The sender was dropped without a result.
            join_until(thread, deadline.saturating_sub(started.elapsed()))?;
            Err(LifecycleError::Failed(CallError {
                status: Status::PANIC,
                message: format!("the {name} thread ended without a result"),
            }))
        }
        Err(RecvTimeoutError::Timeout) => {
            // Dropping the handle detaches the thread.
            drop(thread);
            Err(LifecycleError::TimedOut)
        }
    }
}

/// The least time a thread whose call returned is given to end.
const MIN_JOIN_WAIT: Duration = Duration::from_millis(5);

/// Joins `thread` if it ends within `left` (at least [`MIN_JOIN_WAIT`]); otherwise
/// detaches it and returns [`LifecycleError::TimedOut`].
fn join_until(thread: std::thread::JoinHandle<()>, left: Duration) -> Result<(), LifecycleError> {
    use std::os::unix::thread::JoinHandleExt;

    let left = left.max(MIN_JOIN_WAIT);
    // SAFETY: `timespec` is plain integers (and, on some targets, padding), for which
    // all zeroes is a valid value.
    let mut until: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `until` is a valid, writable `timespec`; CLOCK_REALTIME always exists, so
    // the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut until) };
    // The clock's nanoseconds are below 10^9, so the sum fits easily.
    let nanos = until.tv_nsec as u64 + u64::from(left.subsec_nanos());
    until.tv_sec = until
        .tv_sec
        .saturating_add(libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX))
        .saturating_add((nanos / 1_000_000_000) as libc::time_t);
    until.tv_nsec = (nanos % 1_000_000_000) as _;
    // The handle gives up its thread without joining or detaching it: this function
    // does one or the other below.
    let native = thread.into_pthread_t();
    // SAFETY: `native` is a joinable thread (taken from its `JoinHandle`, which neither
    // joined nor detached it), joined or detached exactly once: here, or by the detach
    // below if this does not join it. A null result pointer is allowed.
    let joined = unsafe { libc::pthread_timedjoin_np(native, std::ptr::null_mut(), &until) };
    if joined == 0 {
        return Ok(());
    }
    if joined != libc::ETIMEDOUT {
        tracing::error!(
            error = joined,
            "pthread_timedjoin_np failed; detaching the thread"
        );
    }
    // SAFETY: `native` was not joined (the join failed), so it is still a joinable
    // thread of this process, detached once here and never used again.
    unsafe { libc::pthread_detach(native) };
    Err(LifecycleError::TimedOut)
}

/// Why a lifecycle call did not succeed.
enum LifecycleError {
    /// It returned an error or unwound.
    Failed(CallError),
    /// It did not return by its deadline; its thread is still running.
    TimedOut,
}

/// Runs a plugin call that reports errors through an [`ErrorBuf`].
pub(crate) fn call_with_error(call: impl FnOnce(*mut ErrorBuf) -> Status) -> Result<(), CallError> {
    crate::interface::__private::call_status::<()>(|_, error| call(error))
}

/// Checks that a capability found under `C`'s kind and major has `C`'s layout.
fn check_layout<C: Capability>(info: &CapabilityInfo) -> Result<(), ResolveError> {
    let mismatch = |at: String| {
        ResolveError::Layout(Box::new(LayoutMismatch {
            kind: C::KIND,
            type_id: info.type_id.clone(),
            major: C::INTERFACE_VERSION,
            at,
            host: C::LAYOUT.to_owned(),
            plugin: info.layout.clone(),
        }))
    };
    // The plugin's description parsed at load (`validate`); the host's is the macro's.
    let (Ok(host), Ok(plugin)) = (layout_lines(C::LAYOUT), layout_lines(&info.layout)) else {
        return Err(mismatch(
            "a layout description that does not parse".to_owned(),
        ));
    };
    for (h, p) in host.iter().zip(&plugin) {
        if h.text != p.text {
            return Err(mismatch(format!(
                "`{}` (host) / `{}` (plugin)",
                h.text, p.text
            )));
        }
    }
    if info.layout_id != C::LAYOUT_ID {
        // The common lines agree, so one side has base methods the other lacks.
        return Err(mismatch("the base layout id".to_owned()));
    }
    Ok(())
}

/// The part of a load that runs inside the opened library.
struct Started {
    info: ModuleInfo,
    capabilities: Vec<RawCapability>,
    deinit: Option<DeinitFn>,
    code_address: usize,
}

/// Finds the entry symbol, validates the descriptor, has `admit` judge the validated
/// module, and runs `init` with this deadline if `init_timeout` is given.
///
/// Without `init` the result has no `deinit` either: the ABI pairs `deinit` with a
/// successful `init`. A timed-out `init` is [`LoadError::InitTimedOut`] with an empty
/// shadow path, which the caller fills in.
fn start(
    library: &UnixLibrary,
    path: &Path,
    expected_plugin_id: Option<&str>,
    admit: &dyn Fn(&ModuleInfo) -> Result<(), LoadError>,
    init_timeout: Option<Duration>,
    progress: &mut dyn FnMut(Step),
) -> Result<Started, LoadError> {
    progress(Step::EntrySymbol);
    // SAFETY: the entry symbol's type is fixed by the ABI for this major version.
    let entry = match unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(_) => return Err(missing_entry(library, path)),
    };
    // SAFETY: the ABI makes the entry function side-effect free and callable at any time
    // while the library is loaded.
    let descriptor = unsafe { entry() };
    progress(Step::Validate);
    // SAFETY: `descriptor` came from the entry symbol of `library`, which stays loaded
    // for the whole call.
    let module = unsafe { validate(descriptor, expected_plugin_id) }?;
    admit(&module.info)?;
    let Some(init_timeout) = init_timeout else {
        return Ok(Started {
            info: module.info,
            capabilities: module.capabilities,
            deinit: None,
            code_address: entry as usize,
        });
    };
    if let Some(init) = module.init {
        progress(Step::Init);
        on_lifecycle_thread("plugin-init", init_timeout, move || {
            // SAFETY: `init` comes from the validated descriptor; `HOST_CONTEXT` is a
            // static that outlives the library, as the ABI requires. The library stays
            // loaded while the call runs: the caller leaks it if the call does not
            // return in time.
            call_with_error(|error| unsafe { init(&HOST_CONTEXT, error) })
        })
        .map_err(|e| match e {
            LifecycleError::Failed(e) => LoadError::Init {
                status: e.status,
                message: e.message,
            },
            LifecycleError::TimedOut => LoadError::InitTimedOut {
                path: path.to_owned(),
                shadow_path: PathBuf::new(),
                timeout: init_timeout,
            },
        })?;
    }
    Ok(Started {
        info: module.info,
        capabilities: module.capabilities,
        deinit: module.deinit,
        code_address: entry as usize,
    })
}

/// Tells a library built for another ABI major from one that is no plugin at all.
fn missing_entry(library: &UnixLibrary, path: &Path) -> LoadError {
    for major in PROBED_MAJORS.filter(|m| *m != ABI_VERSION_MAJOR) {
        let name = format!("{ENTRY_SYMBOL_PREFIX}{major}");
        // SAFETY: only the symbol's presence is checked; it is never called.
        if unsafe { library.get::<*const ()>(name.as_str()) }.is_ok() {
            return LoadError::AbiVersion {
                found: major,
                expected: ABI_VERSION_MAJOR,
            };
        }
    }
    LoadError::EntrySymbol {
        path: path.to_owned(),
        symbol: ENTRY_SYMBOL,
    }
}

/// Refuses a load that could leave the process without thread keys (see
/// [`LoadError::ThreadKeys`]).
fn room_for_thread_keys() -> Result<(), LoadError> {
    let (in_use, limit, counted) = match KeyTable::glibc() {
        Ok(table) => {
            let usage = table.usage();
            (usage.in_use, usage.limit, true)
        }
        Err(_) => {
            // SAFETY: `sysconf` has no preconditions.
            let limit = unsafe { libc::sysconf(libc::_SC_THREAD_KEYS_MAX) };
            let kept = KEPT_FOR_KEYS.load(std::sync::atomic::Ordering::Relaxed);
            (kept, usize::try_from(limit).unwrap_or(1024), false)
        }
    };
    if in_use + RESERVED_THREAD_KEYS > limit {
        return Err(LoadError::ThreadKeys {
            in_use,
            limit,
            counted,
        });
    }
    Ok(())
}

/// The SHA-256 digest of the file at `path`.
fn digest_of(path: &Path) -> std::io::Result<Digest> {
    Digest::of_reader(std::fs::File::open(path)?)
}

fn remove_copy(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a shadow copy");
    }
}

/// Forwards a plugin's log records to `tracing`, under the target `plugin`.
unsafe extern "C" fn host_log(level: u32, plugin_id: StrRef, message: StrRef) {
    // A panic must not unwind into the plugin; tracing does not panic, but a subscriber
    // might, and a lost log line is better than an abort.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the ABI has the plugin pass valid (pointer, length) pairs for the call.
        let id = String::from_utf8_lossy(unsafe { plugin_id.as_bytes() });
        // SAFETY: as above.
        let message = String::from_utf8_lossy(unsafe { message.as_bytes() });
        match LogLevel::from_raw(level) {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin_id = %id, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin_id = %id, "{message}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin_id = %id, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin_id = %id, "{message}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin_id = %id, "{message}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As if glibc's key table could not be found or verified.
    fn unreadable(_: *const std::ffi::c_void) -> Result<usize, &'static str> {
        Err("no `__pthread_keys` in this process")
    }

    #[test]
    fn without_a_readable_key_table_the_library_is_kept_loaded_and_says_why() {
        let root = std::env::temp_dir().join(format!(
            "plugin-runtime-unit-unreadable-keys-{}",
            std::process::id()
        ));
        let mut loader =
            LibraryLoader::new(LoaderConfig::default().with_shadow_root(&root)).unwrap();
        loader.release_keys = unreadable;
        let path = fixture_api::build::fixtures().path("fixture-thread-current");
        let library = loader.load(&path, None).unwrap();
        let shadow = library.shadow_path().to_owned();
        // SAFETY: the fixture exports `fixture_thread_current_touch` with this type.
        let touch: extern "C" fn() -> u64 =
            *unsafe { library.raw_symbol("fixture_thread_current_touch") }.unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (touched_tx, touched_rx) = std::sync::mpsc::channel();
        let host = std::thread::spawn(move || {
            touched_tx.send(touch()).unwrap();
            let _ = release_rx.recv();
        });
        assert!(touched_rx.recv().unwrap() > 0);

        let report = loader.close(library);
        let CloseOutcome::KeptLoaded { reason } = &report.outcome else {
            panic!("{:?}", report.outcome);
        };
        assert!(reason.contains("__pthread_keys"), "{reason}");
        assert!(reason.contains("thread keys"), "{reason}");
        assert!(mappings(&shadow).unwrap().code, "kept loaded, but unmapped");
        // The key destructor still has its code to run in when the thread ends.
        release_tx.send(()).unwrap();
        host.join().unwrap();
        assert!(mappings(&shadow).unwrap().code);
        let _ = std::fs::remove_dir_all(&root);
    }
}
