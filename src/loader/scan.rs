//! Scanning a plugin directory for a sync: which files are libraries, their
//! fingerprints, and the plugin id each one's descriptor names.
//!
//! This is the part of a [directory sync](crate::generation::sync) that touches files:
//! the runtime runs it on a loader thread and answers the core with its
//! [`DirectoryScan`]; the core plans from it.
//!
//! # Which files are libraries
//!
//! A directory entry is a library when its name ends in `.so` and does not start with a
//! dot, and it is (or links to) a regular file. So the names installers stage under
//! before renaming into place (`libx.so.new`, `.libx.so.tmp`) are never read. Files are
//! listed in the order of their names' bytes.
//!
//! # Each library
//!
//! Its bytes are read whole, with the checks of the loader's shadow copy: the file's
//! identity, size and times are taken before and after, and a file that changed while
//! it was read is reported [`FileError::Unstable`]. The bytes must pass the loader's ELF
//! pre-check ([`FileError::ElfCheck`]). Their SHA-256 is always computed, so a file
//! touched but identical keeps its digest and a file rewritten with the same size and
//! time gets another. The plugin id comes from the descriptor, read with
//! [`LibraryLoader::describe`] (the library is opened without its `init`, and closed),
//! once per digest: a [`DescriptorCache`] keeps what each digest describes across syncs.
//! After describing, the file must still be the one that was hashed, else it is
//! unstable too. An unstable or refused file is not remembered, so the next sync reads
//! it again.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use super::LibraryLoader;
use super::shadow::{changed_since, read_stable};
use crate::generation::{DirectoryScan, FileError, Fingerprint, ScannedFile, ScannedLibrary};
use crate::module::{Digest, LoadFailure};

/// How many digests a [`DescriptorCache`] remembers by default.
pub const DEFAULT_DESCRIPTOR_CACHE: usize = 256;

/// The plugin id and version each library digest describes, kept across directory
/// syncs so that an unchanged library is opened (to read its descriptor) only once.
///
/// Bounded: past its capacity the digest remembered longest ago is forgotten first.
/// Shareable between threads; it is locked only to look up or insert one digest.
#[derive(Debug)]
pub struct DescriptorCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    capacity: usize,
    by_digest: HashMap<Digest, (String, String)>,
    /// Digests in the order they were inserted, oldest first.
    order: VecDeque<Digest>,
}

impl DescriptorCache {
    /// A cache remembering at most `capacity` digests (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(CacheInner {
                capacity: capacity.max(1),
                by_digest: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The plugin id and version remembered for `digest`.
    pub fn get(&self, digest: &Digest) -> Option<(String, String)> {
        self.lock().by_digest.get(digest).cloned()
    }

    /// How many digests are remembered.
    pub fn len(&self) -> usize {
        self.lock().by_digest.len()
    }

    /// Whether no digest is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, digest: Digest, plugin_id: String, version: String) {
        let mut inner = self.lock();
        if inner
            .by_digest
            .insert(digest, (plugin_id, version))
            .is_none()
        {
            inner.order.push_back(digest);
            while inner.order.len() > inner.capacity {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.by_digest.remove(&oldest);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // Each change is one insert or removal: a panic cannot leave it half-done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for DescriptorCache {
    fn default() -> Self {
        Self::new(DEFAULT_DESCRIPTOR_CACHE)
    }
}

/// Whether a directory entry's name is a library's (see [the module](self)).
pub(crate) fn is_library_name(name: &std::ffi::OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.ends_with(b".so") && !bytes.starts_with(b".")
}

/// Lists the libraries of `dir`, fingerprints each one and reads its plugin id: what a
/// [directory sync](crate::generation::sync) plans from.
///
/// A directory entry is a library when its name ends in `.so` and does not start with a
/// dot, and it is (or links to) a regular file, so the names installers stage under
/// (`libx.so.new`, `.libx.so.tmp`) are never read; files come in the byte order of their
/// names. Each library is read whole with the torn-file checks of the loader's shadow
/// copy (identity, size and times before and after: a file that changed is
/// [`FileError::Unstable`]), must pass the loader's ELF pre-check
/// ([`FileError::ElfCheck`]), and is hashed (SHA-256, always: the digest decides whether
/// it changed). Its plugin id comes from its descriptor
/// ([`LibraryLoader::describe`]: opened without `init`, closed again), read once per
/// digest thanks to `cache`; after describing, the path must still be the file that was
/// hashed.
///
/// # Errors
///
/// The error of listing the directory. Errors of single files are in their
/// [`ScannedFile::result`].
///
/// # Examples
///
/// ```no_run
/// use plugin_runtime::loader::{DescriptorCache, LibraryLoader, LoaderConfig, scan_directory};
///
/// let loader = LibraryLoader::new(LoaderConfig::default())?;
/// let cache = DescriptorCache::default();
/// let scan = scan_directory(&loader, "plugins".as_ref(), &cache)?;
/// for file in &scan.files {
///     match &file.result {
///         Ok(library) => println!("{} {} {}", file.path.display(), library.plugin_id,
///                                 library.fingerprint.digest),
///         Err(error) => println!("{} not loadable: {error}", file.path.display()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan_directory(
    loader: &LibraryLoader,
    dir: &Path,
    cache: &DescriptorCache,
) -> std::io::Result<DirectoryScan> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if is_library_name(&name) {
            names.push(name);
        }
    }
    names.sort_unstable_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        // Regular files only, following links; anything else is not a library.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let result = scan_file(loader, &path, cache);
        files.push(ScannedFile { path, result });
    }
    Ok(DirectoryScan { files })
}

/// Fingerprints and describes one library.
fn scan_file(
    loader: &LibraryLoader,
    path: &Path,
    cache: &DescriptorCache,
) -> Result<ScannedLibrary, FileError> {
    let read = read_stable(path).map_err(|e| FileError::Read {
        message: e.to_string(),
    })?;
    if let Some(change) = read.change {
        return Err(FileError::Unstable {
            message: change.to_string(),
        });
    }
    super::elf::check_bytes(&read.bytes).map_err(|message| FileError::ElfCheck { message })?;
    let fingerprint = Fingerprint {
        size_bytes: read.state.size(),
        mtime_unix_ns: read.state.mtime_unix_ns(),
        digest: Digest::of_bytes(&read.bytes),
    };
    drop(read.bytes);
    let (plugin_id, version) = match cache.get(&fingerprint.digest) {
        Some(known) => known,
        None => {
            let (module, report) = loader.describe(path, None).map_err(|e| {
                let failure = LoadFailure::from(&e);
                FileError::Describe {
                    step: failure.step,
                    message: failure.message,
                }
            })?;
            if !report.outcome.is_unmapped() {
                tracing::debug!(path = %path.display(), outcome = ?report.outcome, "a library described for a sync stays mapped");
            }
            // What was described must be what was hashed.
            let moved = changed_since(path, &read.state).map_err(|e| FileError::Read {
                message: e.to_string(),
            })?;
            let other_bytes = module.digest.is_some_and(|d| d != fingerprint.digest);
            if moved.is_some() || other_bytes {
                let message = moved.map_or_else(
                    || "the described copy has another digest".to_owned(),
                    |change| change.to_string(),
                );
                return Err(FileError::Unstable { message });
            }
            cache.insert(
                fingerprint.digest,
                module.plugin_id.clone(),
                module.version.clone(),
            );
            (module.plugin_id, module.version)
        }
    };
    Ok(ScannedLibrary {
        fingerprint,
        plugin_id,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_end_in_so_and_are_not_hidden() {
        for (name, library) in [
            ("libx.so", true),
            ("x.so", true),
            ("libx.so.new", false),
            (".libx.so", false),
            (".libx.so.tmp", false),
            ("libx.dylib", false),
            ("so", false),
        ] {
            assert_eq!(is_library_name(name.as_ref()), library, "{name}");
        }
    }

    #[test]
    fn the_cache_forgets_the_oldest_digest_past_its_capacity() {
        let cache = DescriptorCache::new(2);
        let digest = |n: u8| Digest([n; 32]);
        cache.insert(digest(1), "a".into(), "1".into());
        cache.insert(digest(2), "b".into(), "1".into());
        cache.insert(digest(1), "a".into(), "1".into());
        assert_eq!(cache.len(), 2);
        cache.insert(digest(3), "c".into(), "1".into());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&digest(1)), None);
        assert_eq!(cache.get(&digest(3)), Some(("c".into(), "1".into())));
    }
}
