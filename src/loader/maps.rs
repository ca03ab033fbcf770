//! Asking the OS whether a library file is still mapped into this process.

use std::collections::HashSet;
use std::io;
use std::os::unix::ffi::OsStrExt;
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
///
/// The kernel writes the path escaped: `show_map` passes `"\n"` as the set of characters
/// to escape to `seq_file_path`, whose `mangle_path` writes each of them as a backslash
/// and three octal digits, so a newline reads `\012` and nothing else is escaped (not
/// a space, a tab or a backslash). The lines are compared as bytes with `path` escaped
/// the same way, rather than unescaped: unescaping cannot be exact, because a path
/// holding a literal `\012` reads the same as one holding a newline. Comparing escaped
/// forms finds every mapping of `path`; the only confusion left is between two such
/// paths, which can make a library look mapped when it is not (a conservative
/// "still mapped"), never the reverse. Bytes, because a path need not be UTF-8.
pub(crate) fn mappings(path: &Path) -> io::Result<Mappings> {
    let maps = std::fs::read("/proc/self/maps")?;
    Ok(parse(&maps, &escape(path.as_os_str().as_bytes())))
}

/// `path` as `/proc/self/maps` writes it: each newline as `\012`.
fn escape(path: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(path.len());
    for &byte in path {
        if byte == b'\n' {
            escaped.extend_from_slice(b"\\012");
        } else {
            escaped.push(byte);
        }
    }
    escaped
}

fn parse(maps: &[u8], wanted: &[u8]) -> Mappings {
    let mut found = Mappings::default();
    for (mapped, executable) in maps.split(|&b| b == b'\n').filter_map(entry) {
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

/// One line of `/proc/self/maps`: the mapped file's path as the kernel wrote it
/// (escaped, without a ` (deleted)` suffix) and whether the mapping is executable;
/// `None` for anonymous mappings. A path holds no raw newline (the kernel escapes it),
/// so lines are records.
fn entry(line: &[u8]) -> Option<(&[u8], bool)> {
    // Address, permissions, offset, device and inode contain no '/', so the first '/'
    // starts the path.
    let start = line.iter().position(|&b| b == b'/')?;
    let mapped = &line[start..];
    let mapped = mapped.strip_suffix(b" (deleted)").unwrap_or(mapped);
    let executable = line
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|perms| perms.contains(&b'x'));
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
    /// The escaped paths, as the kernel writes them.
    files: HashSet<Vec<u8>>,
}

impl MappedCode {
    /// Reads `/proc/self/maps` once.
    ///
    /// # Errors
    ///
    /// If `/proc/self/maps` cannot be read.
    pub fn read() -> io::Result<Self> {
        Ok(Self::parse(&std::fs::read("/proc/self/maps")?))
    }

    /// Whether some executable mapping of the file at `path` (a shadow copy named in a
    /// [`CloseReport`](super::CloseReport)) was in the process when the maps were read.
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains(&escape(path.as_os_str().as_bytes()))
    }

    /// How many distinct files under the directory `root` have code mapped.
    pub fn count_under(&self, root: &Path) -> usize {
        let mut prefix = escape(root.as_os_str().as_bytes());
        prefix.push(b'/');
        self.files.iter().filter(|f| f.starts_with(&prefix)).count()
    }

    /// The files with executable mappings in `maps`, the bytes of `/proc/self/maps`.
    pub(crate) fn parse(maps: &[u8]) -> Self {
        let files = maps
            .split(|&b| b == b'\n')
            .filter_map(entry)
            .filter(|(_, executable)| *executable)
            .map(|(path, _)| path.to_vec())
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
        let maps = maps.as_bytes();
        assert_eq!(
            parse(maps, b"/shadow/g1-lib.so"),
            Mappings {
                code: true,
                data: true
            }
        );
        assert_eq!(
            parse(maps, b"/shadow/g2-lib.so"),
            Mappings {
                code: false,
                data: true
            }
        );
        assert_eq!(parse(maps, b"/shadow/g3-lib.so"), Mappings::default());

        let code = MappedCode::parse(maps);
        assert!(code.contains(Path::new("/shadow/g1-lib.so")));
        assert!(!code.contains(Path::new("/shadow/g2-lib.so")), "data only");
        assert!(code.contains(Path::new("/shadow/g1-lib.so.bak")));
        assert!(!code.contains(Path::new("/shadow/g3-lib.so")));
        assert_eq!(code.count_under(Path::new("/shadow")), 2);
        assert_eq!(code.count_under(Path::new("/shad")), 0);
    }

    #[test]
    fn one_read_answers_for_the_test_binary() {
        let exe = std::fs::read_link("/proc/self/exe").expect("procfs is available on Linux");
        let code = MappedCode::read().unwrap();
        assert!(code.contains(&exe));
        assert!(!code.contains(Path::new("/nonexistent/plugin-runtime/never-mapped.so")));
    }

    #[test]
    fn paths_are_matched_as_the_kernel_escapes_them() {
        // As the kernel writes `/odd root\n \t\\x/g1-lib.so`: only the newline escaped.
        let maps = b"7f0000001000-7f0000002000 r-xp 00001000 fd:01 42 /odd root\\012 \t\\x\xff/g1-lib.so\n";
        let wanted = escape(b"/odd root\n \t\\x\xff/g1-lib.so");
        assert_eq!(wanted, b"/odd root\\012 \t\\x\xff/g1-lib.so");
        assert!(parse(maps, &wanted).code);
        assert!(!parse(maps, b"/odd root\n \t\\x\xff/g1-lib.so").code);
        let odd = std::ffi::OsStr::from_bytes(b"/odd root\n \t\\x\xff/g1-lib.so");
        assert!(MappedCode::parse(maps).contains(Path::new(odd)));
    }
}
