//! The locked-down loader: plugin roots, safe permissions on the path to a library, and
//! an allowlist of SHA-256 digests (see [`Lockdown`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::LoadError;
use crate::module::{Digest, ParseDigestError};

/// The opt-in restrictions of a locked-down loader, set with
/// [`LoaderConfig::with_lockdown`](super::LoaderConfig::with_lockdown). Each rule is
/// off by default (the default `Lockdown` restricts nothing) and each refusal has its
/// own [`LoadError`] variant; nothing is left copied or loaded after one.
///
/// The rules, in the order a load checks them:
///
/// 1. **Roots** ([`roots`](Self::roots)): the path asked for is resolved once (symbolic
///    links and `..` followed, as `realpath` does) and must lie inside one of the roots,
///    themselves resolved when the loader is made. Anything else, such as a link or a
///    `..` that leads out of a root, is [`LoadError::OutsideRoots`]. The library is then
///    copied from the resolved path, so a link changed after the check changes nothing.
/// 2. **Permissions** ([`permissions`](Self::permissions)): the resolved file and every
///    directory above it up to `/` must belong to root or to this process's effective
///    user, and must not be writable by its group or by others; otherwise
///    [`LoadError::Permissions`]. The one exception is a directory with the sticky bit
///    (such as `/tmp`) that belongs to root or to this process's user: it may be
///    writable by others, because then no other user can rename or remove what is in
///    it, and the component below it must itself pass the rule (belong to root or this
///    user, not be writable by others), as every component must.
/// 3. **Digests** ([`allowlist`](Self::allowlist)): the loader computes the SHA-256
///    digest of its shadow copy (the very bytes it opens, in a directory only its user
///    can reach) before opening it. A digest the allowlist does not list is
///    [`LoadError::DigestNotAllowed`], before the copy is opened. A listed digest whose
///    descriptor then claims a plugin id the allowlist does not give it is
///    [`LoadError::DigestPluginMismatch`], before the module's `init` runs (the
///    descriptor can only be read from the opened library, so its ELF constructors and
///    entry symbol have run by then: the bytes are the allowed ones).
///
/// # Examples
///
/// ```no_run
/// use plugin_runtime::loader::{Allowlist, LibraryLoader, LoaderConfig, Lockdown};
///
/// let allowlist = Allowlist::parse(&std::fs::read_to_string("/etc/myhost/plugins.allow")?)?;
/// let lockdown = Lockdown::default()
///     .with_root("/usr/lib/myhost/plugins")
///     .with_permission_checks(true)
///     .with_allowlist(allowlist);
/// let loader = LibraryLoader::new(LoaderConfig::default().with_lockdown(lockdown))?;
/// let library = loader.load("/usr/lib/myhost/plugins/libgain.so".as_ref(), None)?;
/// println!("{} {:?}", library.module().plugin_id, library.module().digest);
/// loader.close(library);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lockdown {
    /// The directories libraries may be loaded from (and from directories below them).
    /// Each must exist when the loader is made ([`LoadError::InvalidRoot`] otherwise).
    /// Empty: libraries load from anywhere.
    pub roots: Vec<PathBuf>,
    /// Whether the file and the directories on its path are checked for owners and
    /// permissions that would let another user change the library (see above).
    pub permissions: bool,
    /// The digests allowed, each with the plugin ids it may carry. `None`: any digest.
    pub allowlist: Option<Allowlist>,
}

impl Lockdown {
    /// Adds `root` to the [`roots`](Self::roots).
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.roots.push(root.into());
        self
    }

    /// Turns the [`permissions`](Self::permissions) check on or off.
    pub fn with_permission_checks(mut self, on: bool) -> Self {
        self.permissions = on;
        self
    }

    /// Loads only libraries whose digest `allowlist` lists, for the plugin ids it names.
    pub fn with_allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlist = Some(allowlist);
        self
    }

    /// Whether any rule is on.
    pub fn is_active(&self) -> bool {
        !self.roots.is_empty() || self.permissions || self.allowlist.is_some()
    }
}

/// Why a file or a directory on a library's path is refused by the permission check (see
/// [`Lockdown::permissions`] and [`LoadError::Permissions`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PermissionProblem {
    /// Its group may write it (and it is no sticky directory of root or this user).
    #[error("is writable by its group (mode {mode:04o})")]
    GroupWritable {
        /// Its mode bits (permissions, set-id and sticky bits).
        mode: u32,
    },
    /// Every user may write it (and it is no sticky directory of root or this user).
    #[error("is writable by every user (mode {mode:04o})")]
    WorldWritable {
        /// Its mode bits (permissions, set-id and sticky bits).
        mode: u32,
    },
    /// It belongs to another user than root and this process's effective user, who could
    /// change its permissions at will.
    #[error("belongs to user {uid}, neither root nor this process's user ({euid})")]
    Owner {
        /// Its owner.
        uid: u32,
        /// This process's effective user.
        euid: u32,
    },
    /// It is a symbolic link, though the path was resolved: it was replaced meanwhile.
    #[error("is a symbolic link (it changed after the path was resolved)")]
    SymbolicLink,
    /// Its owner and mode could not be read.
    #[error("cannot be examined: {message}")]
    Unreadable {
        /// The I/O error.
        message: String,
    },
}

/// The set of SHA-256 digests a locked-down loader accepts, each with the plugin ids a
/// library of that digest may carry (see [`Lockdown::allowlist`]).
///
/// Its text form, read by [`parse`](Self::parse) and written by `Display`, has one
/// `<digest> <plugin id>` pair per line: the 64 lowercase hexadecimal digits `sha256sum`
/// and `plugin-runtime inspect` print, blanks, and the plugin id (which therefore
/// cannot contain blanks). A digest may appear on several lines, once per plugin id it
/// may carry. Blank lines are ignored, and a `#` that starts a line or a field starts a
/// comment that runs to the end of the line.
///
/// ```
/// use plugin_runtime::loader::{Allowlist, AllowlistProblem};
///
/// let text = "\
/// ## the gain plugin, release 1.2
/// ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad example.gain
/// ";
/// let allowlist = Allowlist::parse(text)?;
/// let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse()?;
/// assert!(allowlist.allows(&digest, "example.gain"));
/// assert!(!allowlist.allows(&digest, "example.other"));
///
/// let err = Allowlist::parse("ba7816bf example.gain").unwrap_err();
/// assert_eq!(err.line, 1);
/// assert!(matches!(err.problem, AllowlistProblem::Digest(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: BTreeMap<Digest, BTreeSet<String>>,
}

impl Allowlist {
    /// An empty allowlist: a loader with it refuses every library.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same allowlist, also allowing `digest` to carry `plugin_id`.
    pub fn allow(mut self, digest: Digest, plugin_id: impl Into<String>) -> Self {
        self.insert(digest, plugin_id);
        self
    }

    /// Allows `digest` to carry `plugin_id`; `false` if it already was.
    pub fn insert(&mut self, digest: Digest, plugin_id: impl Into<String>) -> bool {
        self.entries
            .entry(digest)
            .or_default()
            .insert(plugin_id.into())
    }

    /// Whether `digest` is listed at all.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.entries.contains_key(digest)
    }

    /// Whether a library with `digest` may carry `plugin_id`.
    pub fn allows(&self, digest: &Digest, plugin_id: &str) -> bool {
        self.entries
            .get(digest)
            .is_some_and(|ids| ids.contains(plugin_id))
    }

    /// The plugin ids `digest` may carry, in order; none if it is not listed.
    pub fn plugin_ids(&self, digest: &Digest) -> impl Iterator<Item = &str> {
        self.entries
            .get(digest)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Every `(digest, plugin id)` pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &str)> {
        self.entries
            .iter()
            .flat_map(|(digest, ids)| ids.iter().map(move |id| (digest, id.as_str())))
    }

    /// How many `(digest, plugin id)` pairs are listed.
    pub fn len(&self) -> usize {
        self.entries.values().map(BTreeSet::len).sum()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads the text form (see the [type's documentation](Self)).
    ///
    /// # Errors
    ///
    /// The first line that is not a pair, a blank line or a comment, with its number
    /// (from 1) and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, AllowlistError> {
        let mut allowlist = Self::new();
        for (index, line) in text.lines().enumerate() {
            let refuse = |problem| AllowlistError {
                line: index + 1,
                problem,
            };
            let mut fields = line
                .split_whitespace()
                .take_while(|field| !field.starts_with('#'));
            let Some(digest) = fields.next() else {
                continue;
            };
            let digest = digest
                .parse::<Digest>()
                .map_err(|e| refuse(AllowlistProblem::Digest(e)))?;
            let plugin_id = fields
                .next()
                .ok_or_else(|| refuse(AllowlistProblem::MissingPluginId))?;
            if let Some(extra) = fields.next() {
                return Err(refuse(AllowlistProblem::ExtraField(extra.to_owned())));
            }
            allowlist.insert(digest, plugin_id);
        }
        Ok(allowlist)
    }
}

impl FromStr for Allowlist {
    type Err = AllowlistError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Allowlist {
    /// One `<digest> <plugin id>` line per pair, as [`Allowlist::parse`] reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter()
            .try_for_each(|(digest, id)| writeln!(f, "{digest} {id}"))
    }
}

/// A line of an allowlist's text that [`Allowlist::parse`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowlist line {line}: {problem}")]
pub struct AllowlistError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: AllowlistProblem,
}

/// What is wrong with a line of an allowlist (see [`AllowlistError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistProblem {
    /// The first field is no SHA-256 digest.
    #[error(transparent)]
    Digest(ParseDigestError),
    /// The digest is not followed by a plugin id.
    #[error("a digest without a plugin id")]
    MissingPluginId,
    /// A field follows the plugin id (plugin ids with blanks cannot be listed; a
    /// comment must start with `#`).
    #[error("an unexpected field `{0}` after the plugin id")]
    ExtraField(String),
}

/// The rules of a [`Lockdown`], ready to apply: roots resolved, the user known.
#[derive(Debug)]
pub(crate) struct Guard {
    roots: Vec<PathBuf>,
    permissions: bool,
    allowlist: Option<Allowlist>,
    euid: u32,
}

impl Guard {
    /// Resolves the roots.
    ///
    /// # Errors
    ///
    /// [`LoadError::InvalidRoot`] for a root that does not resolve to a directory.
    pub(crate) fn new(lockdown: Lockdown) -> Result<Self, LoadError> {
        let roots = lockdown
            .roots
            .into_iter()
            .map(|root| match root.canonicalize() {
                Ok(resolved) if resolved.is_dir() => Ok(resolved),
                Ok(_) => Err(LoadError::InvalidRoot {
                    source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
                    root,
                }),
                Err(source) => Err(LoadError::InvalidRoot { root, source }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            roots,
            permissions: lockdown.permissions,
            allowlist: lockdown.allowlist,
            euid: super::shadow::effective_uid(),
        })
    }

    /// Whether the path is checked before the copy (roots or permissions).
    pub(crate) fn checks_paths(&self) -> bool {
        !self.roots.is_empty() || self.permissions
    }

    /// Resolves `path` and applies the roots and permission rules to it; returns the
    /// resolved path, which is the one to copy.
    ///
    /// # Errors
    ///
    /// [`LoadError::Copy`] if the path does not resolve (as the copy would say),
    /// [`LoadError::OutsideRoots`], [`LoadError::Permissions`].
    pub(crate) fn check_path(&self, path: &Path) -> Result<PathBuf, LoadError> {
        let resolved = path.canonicalize().map_err(|source| LoadError::Copy {
            path: path.to_owned(),
            source,
        })?;
        if !self.roots.is_empty() && !self.roots.iter().any(|root| resolved.starts_with(root)) {
            return Err(LoadError::OutsideRoots {
                path: path.to_owned(),
                resolved,
                roots: self.roots.clone(),
            });
        }
        if self.permissions
            && let Err((component, why)) = check_permissions(&resolved, self.euid)
        {
            return Err(LoadError::Permissions {
                path: path.to_owned(),
                component,
                why,
            });
        }
        Ok(resolved)
    }

    /// Applies the allowlist to a copy's digest, before it is opened.
    pub(crate) fn check_digest(&self, path: &Path, digest: &Digest) -> Result<(), LoadError> {
        match &self.allowlist {
            Some(allowlist) if !allowlist.contains(digest) => Err(LoadError::DigestNotAllowed {
                path: path.to_owned(),
                digest: *digest,
            }),
            _ => Ok(()),
        }
    }

    /// Applies the allowlist to the plugin id the copy's descriptor claims, before its
    /// `init`.
    pub(crate) fn check_plugin_id(
        &self,
        path: &Path,
        digest: &Digest,
        plugin_id: &str,
    ) -> Result<(), LoadError> {
        match &self.allowlist {
            Some(allowlist) if !allowlist.allows(digest, plugin_id) => {
                Err(LoadError::DigestPluginMismatch {
                    path: path.to_owned(),
                    digest: *digest,
                    allowed: allowlist.plugin_ids(digest).map(str::to_owned).collect(),
                    found: plugin_id.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The mode bits that let the group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// Checks the owner and mode of `file` (a resolved path) and of every directory above
/// it, from the file up to `/` (see [`Lockdown::permissions`]). Returns the first
/// component refused, and why.
pub(crate) fn check_permissions(
    file: &Path,
    euid: u32,
) -> Result<(), (PathBuf, PermissionProblem)> {
    for (depth, component) in file.ancestors().enumerate() {
        if component.as_os_str().is_empty() {
            break;
        }
        let refuse = |why| Err((component.to_owned(), why));
        let meta = match fs::symlink_metadata(component) {
            Ok(meta) => meta,
            Err(e) => {
                return refuse(PermissionProblem::Unreadable {
                    message: e.to_string(),
                });
            }
        };
        if meta.file_type().is_symlink() {
            return refuse(PermissionProblem::SymbolicLink);
        }
        let uid = meta.uid();
        if uid != 0 && uid != euid {
            return refuse(PermissionProblem::Owner { uid, euid });
        }
        let mode = meta.mode() & 0o7777;
        // The component below a sticky directory was checked one step earlier: it
        // belongs to root or this user and is writable by no one else, and the sticky
        // bit keeps anyone but its owner, the directory's owner (root or this user) and
        // root from renaming or removing it.
        let sticky_exempt = depth > 0 && meta.is_dir() && mode & libc::S_ISVTX != 0;
        if mode & WRITABLE_BY_OTHERS != 0 && !sticky_exempt {
            return refuse(if mode & 0o002 != 0 {
                PermissionProblem::WorldWritable { mode }
            } else {
                PermissionProblem::GroupWritable { mode }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn an_allowlist_reads_pairs_comments_and_blank_lines() {
        let text = format!(
            "# allowed builds\n\n{A} example.gain\n  {A}\tfixture.echo   # the same bytes under a second id\n{B} fixture.echo\n"
        );
        let allowlist = Allowlist::parse(&text).unwrap();
        let (a, b) = (A.parse().unwrap(), B.parse().unwrap());
        assert_eq!(allowlist.len(), 3);
        assert_eq!(
            allowlist.plugin_ids(&a).collect::<Vec<_>>(),
            ["example.gain", "fixture.echo"]
        );
        assert!(allowlist.allows(&b, "fixture.echo"));
        assert!(!allowlist.allows(&b, "example.gain"));
        assert!(!allowlist.contains(&Digest::of_bytes(b"not listed")));
        // The text form reads back as the same allowlist.
        assert_eq!(Allowlist::parse(&allowlist.to_string()).unwrap(), allowlist);
        assert!(Allowlist::parse("# nothing\n").unwrap().is_empty());
    }

    #[test]
    fn each_bad_line_is_named_with_its_number() {
        let cases = [
            (
                format!("{A} a\nnot-a-digest b\n"),
                2,
                AllowlistProblem::Digest(ParseDigestError("not-a-digest".into())),
            ),
            (format!("\n\n{A}\n"), 3, AllowlistProblem::MissingPluginId),
            (
                format!("{A} a b\n"),
                1,
                AllowlistProblem::ExtraField("b".into()),
            ),
            (
                format!("{}g a\n", &A[..63]),
                1,
                AllowlistProblem::Digest(ParseDigestError(format!("{}g", &A[..63]))),
            ),
        ];
        for (text, line, problem) in cases {
            let err = Allowlist::parse(&text).unwrap_err();
            assert_eq!(err, AllowlistError { line, problem }, "{text:?}");
            assert!(
                err.to_string()
                    .starts_with(&format!("allowlist line {line}: "))
            );
        }
        // Upper-case digits are digits too; the digit count is what matters.
        assert!(Allowlist::parse(&format!("{} a", A.to_uppercase())).is_ok());
        assert!(Allowlist::parse(&format!("{}a a", &A[..62])).is_err());
    }
}
