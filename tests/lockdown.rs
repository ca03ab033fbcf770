//! The locked-down loader against real libraries: plugin roots, the permission check, the
//! digest allowlist and the shadow directory's mode, each rule with its refusal and its
//! typed error; and a refused load through the runtime.
//!
//! The tests build their trees under the temporary directory and set every mode
//! themselves, so they pass as root and as another user; the few cases that need a file
//! of another user (made with `chown`) run only as root. The permission check walks up
//! to `/`, so the temporary directory itself must pass it (the usual root-owned sticky
//! `/tmp` does, by the sticky-bit rule).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, CommandError, GenerationState, Outcome};
use plugin_runtime::loader::{
    Allowlist, LibraryLoader, LoadError, LoaderConfig, Lockdown, PermissionProblem,
};
use plugin_runtime::module::Digest;
use plugin_runtime::runtime::StartError;
use plugin_runtime::{Runtime, RuntimeConfig};

const ECHO: &str = "fixture-echo-v1";
const ECHO_ID: &str = "fixture.echo";
const WAIT: Duration = Duration::from_secs(10);
/// A user other than root and (when the tests run as root) this process's.
const NOBODY: u32 = 65534;

/// A tree of its own under the temporary directory: `plugins/` (the root the tests lock
/// down to), `outside/` and `shadow/`, every directory mode 0755.
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Self {
        let base = std::env::temp_dir().join(format!(
            "plugin-runtime-lockdown-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&base);
        let tree = Self { base };
        for dir in ["", "plugins", "outside"] {
            tree.dir(dir, 0o755);
        }
        tree
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.base.join(relative)
    }

    fn plugins(&self) -> PathBuf {
        self.path("plugins")
    }

    /// Makes directory `relative` (if needed) with exactly `mode`.
    fn dir(&self, relative: &str, mode: u32) -> PathBuf {
        let dir = self.path(relative);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    /// Installs the echo fixture as `relative`, mode 0644.
    fn install(&self, relative: &str) -> PathBuf {
        let target = self.path(relative);
        fs::copy(fixtures().path(ECHO), &target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        target
    }

    /// A loader under `lockdown`, its shadow directory in this tree.
    fn loader(&self, lockdown: Lockdown) -> LibraryLoader {
        LibraryLoader::new(
            LoaderConfig::default()
                .with_shadow_root(self.path("shadow"))
                .with_lockdown(lockdown),
        )
        .unwrap()
    }

    /// A loader with roots `plugins/` and the permission check.
    fn strict_loader(&self) -> LibraryLoader {
        self.loader(
            Lockdown::default()
                .with_root(self.plugins())
                .with_permission_checks(true),
        )
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// Whether the tests run as root: the owner of a file this process just made.
fn running_as_root(tree: &Tree) -> bool {
    fs::metadata(&tree.base).unwrap().uid() == 0
}

/// Loads `path` expecting a refusal, and checks that the refusal left nothing: no file in
/// the shadow directory and no code of it mapped.
fn refused(loader: &LibraryLoader, path: &Path) -> LoadError {
    let err = loader
        .load(path, None)
        .expect_err("the load must be refused");
    assert_nothing_left(loader);
    err
}

fn assert_nothing_left(loader: &LibraryLoader) {
    let shadow = loader.shadow_dir();
    let files: Vec<_> = fs::read_dir(shadow).unwrap().collect();
    assert!(files.is_empty(), "a refused load left {files:?}");
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    let dir = shadow.to_str().unwrap();
    assert!(
        !maps.lines().any(|line| line.contains(dir)),
        "a refused load left a mapping under {dir}"
    );
}

/// Loads `path` and closes it again, expecting both to succeed.
fn loads(loader: &LibraryLoader, path: &Path) {
    let library = loader
        .load(path, Some(ECHO_ID))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(loader.close(library).outcome.is_unmapped());
}

#[test]
fn a_library_outside_the_roots_is_refused() {
    let tree = Tree::new("outside");
    let outside = tree.install("outside/libecho.so");
    let inside = tree.install("plugins/libecho.so");
    let loader = tree.strict_loader();
    loads(&loader, &inside);
    let err = refused(&loader, &outside);
    let LoadError::OutsideRoots {
        path,
        resolved,
        roots,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(path, &outside);
    assert_eq!(resolved, &outside.canonicalize().unwrap());
    assert_eq!(roots, &[tree.plugins().canonicalize().unwrap()]);
    assert_eq!(err.step(), "roots");
    // A sibling whose name starts like the root is no part of it.
    tree.dir("plugins-extra", 0o755);
    let sibling = tree.install("plugins-extra/libecho.so");
    assert!(matches!(
        refused(&loader, &sibling),
        LoadError::OutsideRoots { .. }
    ));
}

#[test]
fn a_symbolic_link_that_leads_out_of_a_root_is_refused() {
    let tree = Tree::new("symlink");
    let outside = tree.install("outside/libecho.so");
    let inside = tree.install("plugins/libecho.so");
    let escaping = tree.path("plugins/libescape.so");
    symlink(&outside, &escaping).unwrap();
    let staying = tree.path("plugins/libalias.so");
    symlink(&inside, &staying).unwrap();
    // A linked directory that leads out, too.
    let linked_dir = tree.path("plugins/elsewhere");
    symlink(tree.path("outside"), &linked_dir).unwrap();
    let loader = tree.strict_loader();

    loads(&loader, &staying);
    for path in [escaping, linked_dir.join("libecho.so")] {
        let err = refused(&loader, &path);
        assert!(
            matches!(&err, LoadError::OutsideRoots { resolved, .. } if *resolved == outside.canonicalize().unwrap()),
            "{err:?}"
        );
    }
}

#[test]
fn a_dot_dot_that_leads_out_of_a_root_is_refused() {
    let tree = Tree::new("dotdot");
    tree.install("outside/libecho.so");
    tree.install("plugins/libecho.so");
    tree.dir("plugins/sub", 0o755);
    let loader = tree.strict_loader();
    loads(&loader, &tree.path("plugins/sub/../libecho.so"));
    let err = refused(&loader, &tree.path("plugins/../outside/libecho.so"));
    assert!(
        matches!(&err, LoadError::OutsideRoots { resolved, .. } if resolved.ends_with("outside/libecho.so")),
        "{err:?}"
    );
    let err = refused(&loader, &tree.path("plugins/sub/../../outside/libecho.so"));
    assert!(matches!(err, LoadError::OutsideRoots { .. }), "{err:?}");
}

#[test]
fn a_group_writable_library_is_refused() {
    let tree = Tree::new("group");
    let library = tree.install("plugins/libecho.so");
    let loader = tree.strict_loader();
    loads(&loader, &library);
    fs::set_permissions(&library, fs::Permissions::from_mode(0o664)).unwrap();
    let err = refused(&loader, &library);
    let LoadError::Permissions {
        path,
        component,
        why,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(path, &library);
    assert_eq!(component, &library.canonicalize().unwrap());
    assert_eq!(why, &PermissionProblem::GroupWritable { mode: 0o664 });
    assert_eq!(err.step(), "permissions");
    // World-writable is named as such.
    fs::set_permissions(&library, fs::Permissions::from_mode(0o646)).unwrap();
    assert!(matches!(
        refused(&loader, &library),
        LoadError::Permissions {
            why: PermissionProblem::WorldWritable { mode: 0o646 },
            ..
        }
    ));
}

#[test]
fn a_world_writable_directory_on_the_path_is_refused() {
    let tree = Tree::new("world");
    tree.dir("plugins/vendor", 0o755);
    let library = tree.install("plugins/vendor/libecho.so");
    // The check covers every directory up to `/`, above the root too.
    let loader = tree.loader(Lockdown::default().with_permission_checks(true));
    loads(&loader, &library);
    for (relative, mode) in [("plugins/vendor", 0o777), ("", 0o757), ("plugins", 0o775)] {
        let dir = tree.dir(relative, mode);
        let err = refused(&loader, &library);
        let LoadError::Permissions { component, why, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(component, &dir.canonicalize().unwrap(), "{err}");
        let expected = if mode & 0o002 != 0 {
            PermissionProblem::WorldWritable { mode }
        } else {
            PermissionProblem::GroupWritable { mode }
        };
        assert_eq!(why, &expected);
        tree.dir(relative, 0o755);
    }
    loads(&loader, &library);
}

#[test]
fn a_sticky_directory_is_judged_by_the_component_below_it() {
    let tree = Tree::new("sticky");
    let sticky = tree.dir("plugins/shared", 0o1777);
    tree.dir("plugins/shared/mine", 0o755);
    let below = tree.install("plugins/shared/mine/libecho.so");
    let direct = tree.install("plugins/shared/libecho.so");
    let loader = tree.strict_loader();

    // A sticky directory of this user (or root) that others may write is accepted above
    // a component that belongs to this user and that no one else may write.
    loads(&loader, &below);
    loads(&loader, &direct);

    // The exception covers the sticky directory, not what is below it.
    let open = tree.dir("plugins/shared/open", 0o777);
    let in_open = tree.install("plugins/shared/open/libecho.so");
    assert!(matches!(
        refused(&loader, &in_open),
        LoadError::Permissions { ref component, why: PermissionProblem::WorldWritable { mode: 0o777 }, .. }
            if *component == open.canonicalize().unwrap()
    ));

    // Without its sticky bit, the same directory is refused.
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o777)).unwrap();
    let err = refused(&loader, &below);
    assert!(
        matches!(&err, LoadError::Permissions { component, why: PermissionProblem::WorldWritable { mode: 0o777 }, .. }
            if *component == sticky.canonicalize().unwrap()),
        "{err:?}"
    );
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();

    if running_as_root(&tree) {
        // Below a sticky directory, a component of another user is refused (anyone
        // could otherwise plant one there); so is a sticky directory of another user,
        // who may remove or replace anything in it.
        let theirs = tree.dir("plugins/shared/theirs", 0o755);
        let in_theirs = tree.install("plugins/shared/theirs/libecho.so");
        std::os::unix::fs::chown(&theirs, Some(NOBODY), None).unwrap();
        assert!(matches!(
            refused(&loader, &in_theirs),
            LoadError::Permissions { ref component, why: PermissionProblem::Owner { uid: NOBODY, euid: 0 }, .. }
                if *component == theirs.canonicalize().unwrap()
        ));
        std::os::unix::fs::chown(&sticky, Some(NOBODY), None).unwrap();
        assert!(matches!(
            refused(&loader, &below),
            LoadError::Permissions {
                why: PermissionProblem::Owner { uid: NOBODY, .. },
                ..
            }
        ));
        std::os::unix::fs::chown(&sticky, Some(0), None).unwrap();
        // A library file of another user is refused too.
        std::os::unix::fs::chown(&direct, Some(NOBODY), None).unwrap();
        assert!(matches!(
            refused(&loader, &direct),
            LoadError::Permissions { ref component, why: PermissionProblem::Owner { uid: NOBODY, .. }, .. }
                if *component == direct.canonicalize().unwrap()
        ));
    }
}

/// The digest `sha256sum` prints for `path`.
fn sha256sum(path: &Path) -> Digest {
    let out = Process::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn an_allowed_digest_loads_and_is_the_digest_of_the_installed_file() {
    let tree = Tree::new("allowed");
    let library = tree.install("plugins/libecho.so");
    let digest = sha256sum(&library);
    let allowlist = Allowlist::parse(&format!("# echo v1\n{digest} {ECHO_ID}\n")).unwrap();
    let loader = tree.loader(
        Lockdown::default()
            .with_root(tree.plugins())
            .with_permission_checks(true)
            .with_allowlist(allowlist),
    );
    let loaded = loader.load(&library, None).unwrap();
    assert_eq!(loaded.module().digest, Some(digest));
    assert_eq!(sha256sum(loaded.shadow_path()), digest);
    assert!(loader.close(loaded).outcome.is_unmapped());
    let (module, _) = loader.describe(&library, None).unwrap();
    assert_eq!(module.digest, Some(digest));

    // Every load computes the digest, locked down or not.
    let plain = tree.loader(Lockdown::default());
    let (module, _) = plain.describe(&fixtures().path(ECHO), None).unwrap();
    assert_eq!(module.digest, Some(digest));
}

#[test]
fn a_digest_not_listed_is_refused_before_the_copy_is_opened() {
    let tree = Tree::new("unlisted");
    let library = tree.install("plugins/libecho.so");
    let other = sha256sum(&fixtures().path("fixture-echo-v2"));
    let loader =
        tree.loader(Lockdown::default().with_allowlist(Allowlist::new().allow(other, ECHO_ID)));
    let err = refused(&loader, &library);
    let LoadError::DigestNotAllowed { path, digest } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, &library);
    assert_eq!(*digest, sha256sum(&library));
    assert_eq!(err.step(), "digest");
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    // An empty allowlist refuses everything.
    let loader = tree.loader(Lockdown::default().with_allowlist(Allowlist::new()));
    assert!(matches!(
        refused(&loader, &library),
        LoadError::DigestNotAllowed { .. }
    ));
}

#[test]
fn a_digest_listed_for_another_plugin_is_refused_before_init() {
    let tree = Tree::new("mismatch");
    let library = tree.install("plugins/libecho.so");
    let digest = sha256sum(&library);
    let loader = tree.loader(
        Lockdown::default().with_allowlist(
            Allowlist::new()
                .allow(digest, "example.gain")
                .allow(digest, "fixture.other"),
        ),
    );
    let err = refused(&loader, &library);
    let LoadError::DigestPluginMismatch {
        path,
        digest: found_digest,
        allowed,
        found,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(path, &library);
    assert_eq!(*found_digest, digest);
    assert_eq!(allowed, &["example.gain", "fixture.other"]);
    assert_eq!(found, ECHO_ID);
    assert_eq!(err.step(), "digest");
    // `describe` is refused the same way.
    assert!(matches!(
        loader.describe(&library, None),
        Err(LoadError::DigestPluginMismatch { .. })
    ));
    assert_nothing_left(&loader);
}

#[test]
fn the_shadow_directory_and_its_copies_are_private_to_the_user() {
    let tree = Tree::new("shadow");
    let library = tree.install("plugins/libecho.so");
    let loader = tree.loader(Lockdown::default());
    let dir = fs::metadata(loader.shadow_dir()).unwrap();
    assert_eq!(dir.mode() & 0o7777, 0o700);
    assert_eq!(dir.uid(), fs::metadata(&tree.base).unwrap().uid());
    let loaded = loader.load(&library, None).unwrap();
    let copy = fs::metadata(loaded.shadow_path()).unwrap();
    assert_eq!(copy.mode() & 0o077, 0, "mode {:o}", copy.mode());
    loader.close(loaded);
}

#[test]
fn a_root_that_is_not_a_directory_is_refused_at_start() {
    let tree = Tree::new("badroot");
    let file = tree.install("plugins/libecho.so");
    for root in [tree.path("absent"), file] {
        let lockdown = Lockdown::default().with_root(&root);
        let err = LibraryLoader::new(
            LoaderConfig::default()
                .with_shadow_root(tree.path("shadow"))
                .with_lockdown(lockdown.clone()),
        )
        .unwrap_err();
        assert!(
            matches!(&err, LoadError::InvalidRoot { root: r, .. } if *r == root),
            "{err:?}"
        );
        assert_eq!(err.step(), "config");
        let started = Runtime::start(
            RuntimeConfig::default().with_loader(
                LoaderConfig::default()
                    .with_shadow_root(tree.path("shadow"))
                    .with_lockdown(lockdown),
            ),
        );
        assert!(
            matches!(
                started,
                Err(StartError::Loader(LoadError::InvalidRoot { .. }))
            ),
            "{started:?}"
        );
    }
}

#[test]
fn through_the_runtime_a_refused_load_fails_typed_and_the_serving_generation_stays() {
    let tree = Tree::new("runtime");
    let inside = tree.install("plugins/libecho.so");
    let outside = tree.install("outside/libecho.so");
    let allowed = sha256sum(&inside);
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(
            LoaderConfig::default()
                .with_shadow_root(tree.path("shadow"))
                .with_lockdown(
                    Lockdown::default()
                        .with_root(tree.plugins())
                        .with_permission_checks(true)
                        .with_allowlist(Allowlist::new().allow(allowed, ECHO_ID)),
                ),
        ),
    )
    .unwrap();
    let load = |path: &Path| {
        runtime
            .call(
                Command::Load {
                    path: path.to_owned(),
                    expected_plugin_id: None,
                },
                WAIT,
            )
            .unwrap()
    };
    let Outcome::Loaded {
        generation: serving,
        ..
    } = load(&inside)
    else {
        panic!("the allowed library did not load");
    };
    assert_eq!(
        runtime.pin(ECHO_ID).unwrap().library().module().digest,
        Some(allowed)
    );

    // Outside the roots; then a newer build inside them whose digest is not listed.
    let newer = tree.path("plugins/libecho-v2.so");
    fs::copy(fixtures().path("fixture-echo-v2"), &newer).unwrap();
    fs::set_permissions(&newer, fs::Permissions::from_mode(0o644)).unwrap();
    for (path, step) in [(&outside, "roots"), (&newer, "digest")] {
        let outcome = load(path);
        let Outcome::Failed(CommandError::Load(failure)) = &outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(failure.step, step, "{failure:?}");
        assert!(
            failure.message.starts_with(&format!("{step}: ")),
            "{failure:?}"
        );
    }
    // A reload of the installed path, made group-writable meanwhile, is refused too.
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o664)).unwrap();
    let outcome = runtime
        .call(
            Command::Reload {
                plugin_id: ECHO_ID.into(),
            },
            WAIT,
        )
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Failed(CommandError::Load(f)) if f.step == "permissions"),
        "{outcome:?}"
    );

    // The first generation still serves.
    assert_eq!(
        runtime.generation_state(serving).unwrap().unwrap(),
        GenerationState::Active
    );
    let owner = runtime.register_owner("audio.dsp").unwrap();
    let instance = owner
        .create::<ProbeInterface>(ECHO_ID, "echo", b"")
        .unwrap();
    assert_eq!(instance.generation(), serving);
    assert_eq!(instance.tag(), 1);
    // Only the serving generation's copy is in the shadow directory.
    let copies: usize = fs::read_dir(tree.path("shadow"))
        .unwrap()
        .map(|dir| fs::read_dir(dir.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(copies, 1);
}
