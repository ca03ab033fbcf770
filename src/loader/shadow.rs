//! The private shadow directory each loader copies libraries into.
//!
//! `dlopen` of a path that is already loaded returns the old handle, and overwriting a
//! mapped file crashes the process. So every load copies the installed library to a file
//! with a name used once, inside a directory private to one loader (mode 0700), and opens
//! the copy. The directory is named after the process (pid and start time) so that a
//! later process can tell the leftovers of a dead process from those of a live one.
//!
//! A file rewritten in place while it is copied gives a torn copy: one build's headers
//! and another's body, which can pass every header check and fault inside the OS loader's
//! relocation. So the copy notes the installed file's identity, size and times before and
//! after, and a copy during which any of them changed is thrown away and taken again.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::error::SourceChange;

/// How many times a copy is taken before a source that keeps changing is refused.
pub(crate) const COPY_ATTEMPTS: u32 = 3;

/// The pause before the second copy; it doubles before each later one. Long enough for
/// an installer's write to finish, short enough not to matter to a load.
const COPY_BACKOFF: Duration = Duration::from_millis(5);

/// Why [`ShadowDir::copy_in`] made no copy.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The file could not be read or the copy written.
    Io(io::Error),
    /// The file changed during every attempt; `change` is what the last one saw.
    Changed {
        /// What changed during the last attempt.
        change: SourceChange,
        /// How many copies were taken.
        attempts: u32,
    },
}

impl From<io::Error> for CopyError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Distinguishes several loaders in one process.
static NEXT_LOADER: AtomicU64 = AtomicU64::new(0);

/// One loader's shadow directory.
#[derive(Debug)]
pub(crate) struct ShadowDir {
    /// The root the directory is in, canonical.
    root: PathBuf,
    dir: PathBuf,
    /// The number in the next copy's name. Atomic, so that loads on several threads
    /// never share a name and hold no lock while they copy.
    next_copy: AtomicU64,
}

impl ShadowDir {
    /// The default root: a per-user directory in `$XDG_RUNTIME_DIR` (private to the
    /// user by definition) or else in the system's temporary directory.
    pub(crate) fn default_root() -> PathBuf {
        let uid = effective_uid();
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute() && dir.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        base.join(format!("plugin-runtime-shadow-{uid}"))
    }

    /// Creates a fresh directory under `root`, after removing the directories that dead
    /// processes left there.
    ///
    /// The root must be a real directory (not a symbolic link) owned by this user and
    /// writable by no one else; anything else could let another user swap the copies
    /// between the checks and `dlopen`, so it is refused. The directory's path is made
    /// absolute and free of links, because `/proc/self/maps` names mapped files by that
    /// path and the close is verified against it.
    pub(crate) fn create(root: &Path) -> io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(root)?;
        check_private(root)?;
        let root = root.canonicalize()?;
        let me = ProcessId::current()?;
        sweep_dead(&root, &me);
        let n = NEXT_LOADER.fetch_add(1, Ordering::Relaxed);
        let dir = root.join(format!("{}-{}-{n}", me.pid, me.start_time));
        DirBuilder::new().mode(0o700).create(&dir)?;
        // The umask can only take bits away, but one that took the owner's would leave a
        // directory this loader cannot use: the mode is set whole, then checked.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        check_only_mine(&dir)?;
        Ok(Self {
            root,
            dir,
            next_copy: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// The root the directory is in (canonical, and checked private to this user).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Copies `installed` to a new, never-used name in the directory, and checks that
    /// the file did not change while it was copied.
    ///
    /// Refuses anything that is not a regular file (a directory, a device) before copying.
    /// A copy during which the file changed (see [`copy_once`]) is removed and taken
    /// again, up to [`COPY_ATTEMPTS`] times with a short pause between.
    pub(crate) fn copy_in(&self, installed: &Path) -> Result<PathBuf, CopyError> {
        let mut pause = COPY_BACKOFF;
        let mut attempt = 1;
        loop {
            let copy = self.next_name(installed);
            let result = copy_once(installed, &copy);
            if !matches!(result, Ok(None)) {
                // A failed or changed copy may be partly written; it is never opened.
                let _ = fs::remove_file(&copy);
            }
            match result? {
                None => return Ok(copy),
                Some(change) if attempt < COPY_ATTEMPTS => {
                    tracing::debug!(path = %installed.display(), %change, attempt, "the library changed while it was copied; copying again");
                    std::thread::sleep(pause);
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                Some(change) => {
                    return Err(CopyError::Changed {
                        change,
                        attempts: attempt,
                    });
                }
            }
        }
    }

    /// A name in the directory not used before, after `installed`'s file name.
    fn next_name(&self, installed: &Path) -> PathBuf {
        // Only plain characters: the copy's name then needs no escaping anywhere.
        let name: String = installed
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "library".to_owned())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let n = self.next_copy.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("g{n:06}-{name}"))
    }
}

/// What identifies one state of a file: which file it is, how long, and when its data
/// and its inode last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileState {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileState {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The modification time in nanoseconds since the Unix epoch (0 before it, and
    /// saturating far after it).
    pub(crate) fn mtime_unix_ns(&self) -> u64 {
        let (secs, nanos) = self.mtime;
        let ns = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }

    /// The first difference from `before` that could mean a torn copy, if any.
    fn change_since(&self, before: &FileState) -> Option<SourceChange> {
        if (self.dev, self.ino) != (before.dev, before.ino) {
            Some(SourceChange::Replaced)
        } else if self.size != before.size {
            Some(SourceChange::Size {
                before: before.size,
                after: self.size,
            })
        } else if self.mtime != before.mtime {
            Some(SourceChange::Modified)
        } else if self.ctime != before.ctime {
            Some(SourceChange::StatusChanged)
        } else {
            None
        }
    }
}

/// Copies `installed` to `copy` once, and tells what changed meanwhile, if anything
/// that could mean a torn copy did.
///
/// The bytes are read through one open file, whose state (size, modification and
/// status-change times) is taken before and after; the number of bytes copied must be
/// the size; and the path must still name that file afterwards (a file replaced by
/// rename meanwhile is a newer build, which a second attempt copies). A writer that
/// truncates or writes changes the size or the times. The times are as fine as the
/// file system keeps them: Linux since 6.13 gives a change right after a query its own
/// fine-grained time, while older kernels can miss a same-size rewrite within one clock
/// tick, which only replacing files by rename rules out.
fn copy_once(installed: &Path, copy: &Path) -> io::Result<Option<SourceChange>> {
    let mut source = File::open(installed)?;
    let meta = wait_until_quiet(&source)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let before = FileState::of(&meta);
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(copy)?;
    let copied = io::copy(&mut source, &mut target)?;
    let after = FileState::of(&source.metadata()?);
    let change = match fs::metadata(installed) {
        Ok(now) if (now.dev(), now.ino()) != (before.dev, before.ino) => {
            Some(SourceChange::Replaced)
        }
        Ok(_) => after.change_since(&before),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(SourceChange::Removed),
        Err(e) => return Err(e),
    };
    Ok(
        change.or((copied != before.size).then_some(SourceChange::Copied {
            expected: before.size,
            copied,
        })),
    )
}

/// How old a file's last change (data or inode) must be before a copy of it is trusted:
/// longer than the coarsest timestamp tick of the file systems the loader meets (one
/// jiffy, at most 10 ms). A write during the copy of a file that was quiet that long
/// moves its times past the ones taken before the copy, so the checks see it; a write
/// within the same tick as a change just before the copy would not.
const QUIET: Duration = Duration::from_millis(20);

/// The longest a copy waits for its file to fall quiet; past it, it copies anyway and
/// relies on the before-and-after checks (and their retries).
const QUIET_WAIT_MAX: Duration = Duration::from_millis(250);

/// The metadata of `source` once its last change is at least [`QUIET`] old, or after
/// [`QUIET_WAIT_MAX`]. A time in the future counts as quiet: any write now would move it.
fn wait_until_quiet(source: &File) -> io::Result<fs::Metadata> {
    let started = std::time::Instant::now();
    loop {
        let meta = source.metadata()?;
        let changed = |secs: i64, nanos: i64| {
            let secs = u64::try_from(secs).unwrap_or(0);
            let nanos = u32::try_from(nanos).unwrap_or(0);
            std::time::UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999))
        };
        let last =
            changed(meta.mtime(), meta.mtime_nsec()).max(changed(meta.ctime(), meta.ctime_nsec()));
        match std::time::SystemTime::now().duration_since(last) {
            Ok(age) if age < QUIET && started.elapsed() < QUIET_WAIT_MAX => {
                std::thread::sleep(QUIET - age);
            }
            _ => return Ok(meta),
        }
    }
}

/// The bytes of a file read by [`read_stable`], the file's state when the read began,
/// and what changed during the read, if anything that could mean torn bytes did.
#[derive(Debug)]
pub(crate) struct StableRead {
    pub(crate) bytes: Vec<u8>,
    pub(crate) state: FileState,
    pub(crate) change: Option<SourceChange>,
}

/// Reads the whole file at `path` with the same checks as a shadow copy (see
/// [`copy_once`]): through one open file whose state is taken before and after, the
/// length read must be the size, and the path must still name that file afterwards.
/// For a directory sync, which fingerprints the bytes it read.
pub(crate) fn read_stable(path: &Path) -> io::Result<StableRead> {
    use io::Read as _;
    let mut source = File::open(path)?;
    let meta = wait_until_quiet(&source)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let state = FileState::of(&meta);
    let mut bytes = Vec::with_capacity(usize::try_from(state.size).unwrap_or(0));
    source.read_to_end(&mut bytes)?;
    let after = FileState::of(&source.metadata()?);
    let change = match changed_since(path, &state)? {
        Some(change) => Some(change),
        None => after.change_since(&state),
    };
    let read = bytes.len() as u64;
    Ok(StableRead {
        change: change.or((read != state.size).then_some(SourceChange::Copied {
            expected: state.size,
            copied: read,
        })),
        bytes,
        state,
    })
}

/// What changed at `path` since it was in `state`: replaced, removed, or written.
pub(crate) fn changed_since(path: &Path, state: &FileState) -> io::Result<Option<SourceChange>> {
    match fs::metadata(path) {
        Ok(now) => Ok(FileState::of(&now).change_since(state)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(SourceChange::Removed)),
        Err(e) => Err(e),
    }
}

impl Drop for ShadowDir {
    fn drop(&mut self) {
        // Succeeds only when empty: copies of libraries kept loaded stay where they are,
        // and the next process's sweep removes them once this one is gone.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Removes the shadow directories that dead processes left under `root`, as
/// [`ShadowDir::create`] does first; for a parent whose probe process died with its copy
/// still in place. A root that is not private to this user is left alone.
pub(crate) fn sweep(root: &Path) {
    if check_private(root).is_err() {
        return;
    }
    if let Ok(me) = ProcessId::current() {
        sweep_dead(root, &me);
    }
}

/// The effective user id of this process: the user its files are created for.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a root that another user could write into or redirect.
fn check_private(root: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} {why}", root.display()),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link");
    }
    if !meta.is_dir() {
        return refuse("is not a directory");
    }
    if meta.uid() != effective_uid() {
        return refuse("belongs to another user");
    }
    if meta.mode() & 0o022 != 0 {
        return refuse("is writable by other users");
    }
    Ok(())
}

/// Refuses a shadow directory that anyone but this user could read, enter or write.
fn check_only_mine(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != effective_uid() || meta.mode() & 0o777 != 0o700 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of mode 0700 owned by this user (mode {:04o})",
                dir.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// A process as the shadow directory names it: pid plus start time, because pids are
/// reused.
#[derive(Debug, PartialEq, Eq)]
struct ProcessId {
    pid: u32,
    start_time: u64,
}

impl ProcessId {
    fn current() -> io::Result<Self> {
        let pid = std::process::id();
        let start_time = start_time(pid)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no start time in /proc/self/stat")
        })?;
        Ok(Self { pid, start_time })
    }

    /// Parses a directory name `pid-start-n`.
    fn from_dir_name(name: &str) -> Option<Self> {
        let mut parts = name.split('-');
        let pid = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok()?;
        parts.next()?.parse::<u64>().ok()?;
        parts.next().is_none().then_some(Self { pid, start_time })
    }

    fn is_alive(&self) -> bool {
        // A missing or unreadable stat means the process is gone; a different start time
        // means the pid now belongs to another process.
        matches!(start_time(self.pid), Ok(Some(t)) if t == self.start_time)
    }
}

/// The start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// `None` if the process does not exist.
fn start_time(pid: u32) -> io::Result<Option<u64>> {
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The command name (field 2) is in parentheses and may contain spaces; the fields
    // after the last ')' start with field 3.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    Ok(after_name
        .split_whitespace()
        .nth(22 - 3)
        .and_then(|t| t.parse().ok()))
}

/// Removes the directories of processes that no longer exist. Anything that is not a
/// directory named as a loader names its own (a file, a symbolic link, another name), or
/// belongs to a live process, is left alone.
fn sweep_dead(root: &Path, me: &ProcessId) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(ProcessId::from_dir_name) else {
            continue;
        };
        // The entry's own type: a link to a directory is not a directory here.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if owner == *me || owner.is_alive() {
            continue;
        }
        match fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                tracing::debug!(dir = %entry.path().display(), "removed a dead process's shadow directory")
            }
            Err(e) => {
                tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove a dead process's shadow directory")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "plugin-runtime-shadow-test-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn directory_is_private_and_copies_get_unique_names() {
        let root = temp_root("private");
        let shadow = ShadowDir::create(&root).unwrap();
        let mode = fs::metadata(shadow.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let src = root.join("lib.so");
        fs::write(&src, b"x").unwrap();
        let a = shadow.copy_in(&src).unwrap();
        let b = shadow.copy_in(&src).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(shadow.path()) && b.starts_with(shadow.path()));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn sweep_removes_dead_and_keeps_live_and_foreign() {
        let root = temp_root("sweep");
        fs::create_dir_all(&root).unwrap();
        // pid 0 never names a user process, so this directory's owner is dead.
        let dead = root.join("0-12345-0");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("g000000-lib.so"), b"x").unwrap();
        let me = ProcessId::current().unwrap();
        let live = root.join(format!("{}-{}-999", me.pid, me.start_time));
        fs::create_dir(&live).unwrap();
        let foreign = root.join("not-a-loader");
        fs::create_dir(&foreign).unwrap();
        // A live pid with another start time is a reused pid: its owner is dead.
        let reused = root.join(format!("{}-{}-0", me.pid, me.start_time + 1));
        fs::create_dir(&reused).unwrap();
        // Named as a dead process's directory, but a file and a link to a directory
        // outside the root: neither is a loader's directory.
        let file = root.join("0-12345-1");
        fs::write(&file, b"x").unwrap();
        let outside = temp_root("sweep-outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep.so"), b"x").unwrap();
        let link = root.join("0-12345-2");
        std::os::unix::fs::symlink(&outside, &link).unwrap();

        let shadow = ShadowDir::create(&root).unwrap();
        assert!(!dead.exists());
        assert!(!reused.exists());
        assert!(live.exists());
        assert!(foreign.exists());
        assert!(file.exists());
        assert!(fs::symlink_metadata(&link).is_ok());
        assert!(outside.join("keep.so").exists());
        drop(shadow);
        fs::remove_dir_all(&root).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_root_others_can_write_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = temp_root("open");
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let err = ShadowDir::create(&root).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        let link = temp_root("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        let err = ShadowDir::create(&link).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        fs::remove_file(&link).unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn copies_get_plain_names() {
        let root = temp_root("names");
        let shadow = ShadowDir::create(&root).unwrap();
        let src = root.join("lib odd\nname\u{e9}.so");
        fs::write(&src, b"x").unwrap();
        let copy = shadow.copy_in(&src).unwrap();
        let name = copy.file_name().unwrap().to_str().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c)),
            "{name}"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn each_change_of_the_source_is_named() {
        let before = FileState {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        assert_eq!(before.change_since(&before), None);
        let cases = [
            (FileState { ino: 9, ..before }, SourceChange::Replaced),
            (
                FileState { size: 0, ..before },
                SourceChange::Size {
                    before: 3,
                    after: 0,
                },
            ),
            (
                FileState {
                    mtime: (4, 6),
                    ..before
                },
                SourceChange::Modified,
            ),
            (
                FileState {
                    ctime: (6, 8),
                    ..before
                },
                SourceChange::StatusChanged,
            ),
        ];
        for (after, change) in cases {
            assert_eq!(after.change_since(&before), Some(change));
        }
    }

    #[test]
    fn copy_refuses_a_directory() {
        let root = temp_root("dir");
        let shadow = ShadowDir::create(&root).unwrap();
        let err = shadow.copy_in(&root).unwrap_err();
        assert!(
            matches!(&err, CopyError::Io(e) if e.kind() == io::ErrorKind::InvalidInput),
            "{err:?}"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
