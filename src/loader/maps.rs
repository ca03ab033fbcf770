//! Asking the OS whether a library file is still mapped into this process.

use std::collections::HashSet;
use std::io;
use std::path::Path;

/// How a file is mapped into this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mappings {
    /// Some mapping of the file is executable: code of the library is in the process.
    pub(crate) code: bool,
    /// Some mapping of the file is not executable: its data segments, or a read-only
    /// view of the whole file that a symbolizer made (a plugin's panic with
    /// `RUST_BACKTRACE` set maps its own file to read debug information, and keeps it).
    pub(crate) data: bool,
}

/// The mappings of this process backed by the file at `path`.
///
/// Reads `/proc/self/maps`: each line is `address perms offset device inode path`, and a
/// file unlinked while mapped shows as `path (deleted)`. Shadow copies have unique names,
/// so a line naming the path is this library and no other.
pub(crate) fn mappings(path: &Path) -> io::Result<Mappings> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(parse(&maps, &path.to_string_lossy()))
}

fn parse(maps: &str, wanted: &str) -> Mappings {
    let mut found = Mappings::default();
    for (mapped, executable) in maps.lines().filter_map(entry) {
        if mapped != wanted {
            continue;
        }
        if executable {
            found.code = true;
        } else {
            found.data = true;
        }
    }
    found
}

/// One line of `/proc/self/maps`: the mapped file's path (without a ` (deleted)`
/// suffix) and whether the mapping is executable; `None` for anonymous mappings.
fn entry(line: &str) -> Option<(&str, bool)> {
    // Address, permissions, offset, device and inode contain no '/', so the first '/'
    // starts the path.
    let start = line.find('/')?;
    let mapped = &line[start..];
    let mapped = mapped.strip_suffix(" (deleted)").unwrap_or(mapped);
    let executable = line
        .split_whitespace()
        .nth(1)
        .is_some_and(|perms| perms.contains('x'));
    Some((mapped, executable))
}

/// The files with code mapped into this process, from one read of `/proc/self/maps`.
///
/// Asking about many libraries at once costs one read and one pass over the maps,
/// instead of one of each per library: a process that keeps hundreds of closed
/// libraries mapped (thread-local destructors on live threads) checks them all after
/// each close without rereading the maps for each.
///
/// # Examples
///
/// ```no_run
/// use plugin_runtime::loader::MappedCode;
///
/// let mapped = MappedCode::read()?;
/// let exe = std::fs::read_link("/proc/self/exe")?;
/// assert!(mapped.contains(&exe));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MappedCode {
    files: HashSet<String>,
}

impl MappedCode {
    /// Reads `/proc/self/maps` once.
    ///
    /// # Errors
    ///
    /// If `/proc/self/maps` cannot be read.
    pub fn read() -> io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string("/proc/self/maps")?))
    }

    /// Whether some executable mapping of the file at `path` (a shadow copy named in a
    /// [`CloseReport`](super::CloseReport)) was in the process when the maps were read.
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains(path.to_string_lossy().as_ref())
    }

    /// The files with executable mappings in `maps`, the text of `/proc/self/maps`.
    pub(crate) fn parse(maps: &str) -> Self {
        let files = maps
            .lines()
            .filter_map(entry)
            .filter(|(_, executable)| *executable)
            .map(|(path, _)| path.to_owned())
            .collect();
        Self { files }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_is_mapped_as_code() {
        let exe = std::fs::read_link("/proc/self/exe").expect("procfs is available on Linux");
        assert!(mappings(&exe).unwrap().code);
    }

    #[test]
    fn an_unrelated_path_is_not_mapped() {
        let none = mappings(Path::new("/nonexistent/plugin-runtime/never-mapped.so")).unwrap();
        assert_eq!(none, Mappings::default());
    }

    #[test]
    fn code_and_data_and_deleted_files_are_told_apart() {
        let maps = "\
7f0000000000-7f0000001000 r--p 00000000 fd:01 42 /shadow/g1-lib.so
7f0000001000-7f0000002000 r-xp 00001000 fd:01 42 /shadow/g1-lib.so (deleted)
7f0000003000-7f0000004000 r--p 00000000 fd:01 43 /shadow/g2-lib.so
7f0000005000-7f0000006000 rw-p 00000000 00:00 0
7f0000006000-7f0000007000 r-xp 00000000 fd:01 44 /shadow/g1-lib.so.bak
";
        assert_eq!(
            parse(maps, "/shadow/g1-lib.so"),
            Mappings {
                code: true,
                data: true
            }
        );
        assert_eq!(
            parse(maps, "/shadow/g2-lib.so"),
            Mappings {
                code: false,
                data: true
            }
        );
        assert_eq!(parse(maps, "/shadow/g3-lib.so"), Mappings::default());

        let code = MappedCode::parse(maps);
        assert!(code.contains(Path::new("/shadow/g1-lib.so")));
        assert!(!code.contains(Path::new("/shadow/g2-lib.so")), "data only");
        assert!(code.contains(Path::new("/shadow/g1-lib.so.bak")));
        assert!(!code.contains(Path::new("/shadow/g3-lib.so")));
    }

    #[test]
    fn one_read_answers_for_the_test_binary() {
        let exe = std::fs::read_link("/proc/self/exe").expect("procfs is available on Linux");
        let code = MappedCode::read().unwrap();
        assert!(code.contains(&exe));
        assert!(!code.contains(Path::new("/nonexistent/plugin-runtime/never-mapped.so")));
    }
}
