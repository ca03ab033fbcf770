//! Shadow roots whose path the kernel escapes in `/proc/self/maps`: the loader still
//! tells mapped from unmapped.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fixture_api::build::fixtures;
use plugin_runtime::loader::{CloseOutcome, LibraryLoader, LoaderConfig, code_mapped};

/// Whether an executable mapping of the file with inode `ino` and file name `name` is in
/// `/proc/self/maps`, found by inode rather than by path (so independently of how the
/// loader reads paths).
fn code_mapped_by_inode(ino: u64, name: &str) -> bool {
    let maps = fs::read("/proc/self/maps").unwrap();
    maps.split(|&b| b == b'\n').any(|line| {
        let line = String::from_utf8_lossy(line);
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() >= 6
            && fields[1].contains('x')
            && fields[4] == ino.to_string()
            && line.trim_end_matches(" (deleted)").ends_with(name)
    })
}

fn load_and_close_under(root: &Path) {
    let loader = LibraryLoader::new(LoaderConfig::default().with_shadow_root(root)).unwrap();
    let library = loader
        .load(&fixtures().path("fixture-echo-v1"), Some("fixture.echo"))
        .unwrap();
    let shadow: PathBuf = library.shadow_path().to_owned();
    let ino = fs::metadata(&shadow).unwrap().ino();
    let name = shadow.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(code_mapped_by_inode(ino, &name), "the test cannot see it");
    assert!(
        code_mapped(&shadow).unwrap(),
        "a loaded library under {root:?} is reported unmapped"
    );
    let report = loader.close(library);
    assert_eq!(report.outcome, CloseOutcome::Unmapped, "under {root:?}");
    assert!(!code_mapped_by_inode(ino, &name));
    assert!(!code_mapped(&shadow).unwrap());
}

#[test]
fn roots_with_escaped_characters_are_checked_truly() {
    let base = std::env::temp_dir().join(format!(
        "plugin-runtime-shadow-paths-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&base);
    // A newline (which the kernel writes as `\012`), a literal `\012`, a space, a tab and
    // a backslash (which it writes as they are).
    for odd in [
        "new\nline",
        "back\\012slash",
        "space tab\t\\ end",
        "a\nb\\012c",
    ] {
        load_and_close_under(&base.join(odd));
    }
    fs::remove_dir_all(&base).unwrap();
}
