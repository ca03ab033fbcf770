//! A pre-flight check of an ELF file before `dlopen` maps it.
//!
//! `dlopen` maps a library's segments as its program headers describe them, and a
//! segment that reaches past the end of a truncated file faults with `SIGBUS` on first
//! touch instead of failing the load. So the loader checks, on the very copy it will
//! open, that the file is an ELF shared object for this machine's word size and byte
//! order and that its program headers, section headers and loadable segments all lie
//! inside the file.

use std::fs;
use std::path::Path;

const PT_LOAD: u32 = 1;
const ET_DYN: u16 = 3;

/// Checks the ELF headers of the file at `path`; `Err` says what is wrong in words.
pub(crate) fn check(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read the copy: {e}"))?;
    check_bytes(&bytes)
}

pub(super) fn check_bytes(bytes: &[u8]) -> Result<(), String> {
    let file_len = bytes.len() as u64;
    if bytes.len() < 16 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        other => return Err(format!("unknown ELF class {other}")),
    };
    if wide != cfg!(target_pointer_width = "64") {
        return Err("an ELF file for another word size".into());
    }
    let little = match bytes[5] {
        1 => true,
        2 => false,
        other => return Err(format!("unknown ELF byte order {other}")),
    };
    if little != cfg!(target_endian = "little") {
        return Err("an ELF file for another byte order".into());
    }
    let r = Reader { bytes, little };
    let e_type = r.u16(16).ok_or("truncated ELF header")?;
    if e_type != ET_DYN {
        return Err(format!("ELF type {e_type} is not a shared object"));
    }
    let (phoff, phentsize, phnum) = if wide {
        (r.u64(32), r.u16(54), r.u16(56))
    } else {
        (r.u32(28).map(u64::from), r.u16(42), r.u16(44))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return Err("truncated ELF header".into());
    };
    check_table("program headers", phoff, phentsize, phnum, file_len)?;
    let (shoff, shentsize, shnum) = if wide {
        (r.u64(40), r.u16(58), r.u16(60))
    } else {
        (r.u32(32).map(u64::from), r.u16(46), r.u16(48))
    };
    let (Some(shoff), Some(shentsize), Some(shnum)) = (shoff, shentsize, shnum) else {
        return Err("truncated ELF header".into());
    };
    check_table("section headers", shoff, shentsize, shnum, file_len)?;
    for i in 0..u64::from(phnum) {
        let at =
            usize::try_from(phoff + i * u64::from(phentsize)).map_err(|_| "offset overflow")?;
        let (p_type, offset, filesz) = if wide {
            (r.u32(at), r.u64(at + 8), r.u64(at + 32))
        } else {
            (
                r.u32(at),
                r.u32(at + 4).map(u64::from),
                r.u32(at + 16).map(u64::from),
            )
        };
        let (Some(p_type), Some(offset), Some(filesz)) = (p_type, offset, filesz) else {
            return Err(format!("truncated program header {i}"));
        };
        if p_type == PT_LOAD && offset.checked_add(filesz).is_none_or(|end| end > file_len) {
            return Err(format!(
                "truncated: segment {i} ends past the file's {file_len} bytes"
            ));
        }
    }
    Ok(())
}

/// Refuses a header table (`count` entries of `entry_size` bytes at `offset`) that does
/// not end inside the file. An empty table is fine wherever it points.
fn check_table(
    name: &str,
    offset: u64,
    entry_size: u16,
    count: u16,
    file_len: u64,
) -> Result<(), String> {
    let end = u64::from(entry_size)
        .checked_mul(u64::from(count))
        .and_then(|n| n.checked_add(offset));
    if count > 0 && end.is_none_or(|end| end > file_len) {
        return Err(format!(
            "truncated: the {name} end past the file's {file_len} bytes"
        ));
    }
    Ok(())
}

/// Reads integers of the file's byte order; `None` past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.array(at)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.array(at)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let b = self.array(at)?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_library() -> Vec<u8> {
        // The C library this test binary links is a shared object of this machine.
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        let libc = maps
            .lines()
            .filter_map(|l| l.find('/').map(|i| &l[i..]))
            .find(|p| p.contains("libc.so") || p.contains("libc-"))
            .expect("the test binary maps the C library");
        fs::read(libc).unwrap()
    }

    #[test]
    fn a_real_shared_object_passes() {
        check_bytes(&own_library()).unwrap();
    }

    #[test]
    fn every_truncation_is_refused() {
        let whole = own_library();
        for len in [
            0,
            3,
            15,
            40,
            64,
            200,
            4096,
            whole.len() / 2,
            whole.len() - 1,
        ] {
            assert!(check_bytes(&whole[..len]).is_err(), "{len} bytes passed");
        }
    }

    #[test]
    fn text_and_executables_are_refused() {
        assert!(check_bytes(b"hello, this is plainly not an ELF file").is_err());
        let mut exe = own_library();
        exe[16] = 2; // ET_EXEC
        exe[17] = 0;
        assert!(
            check_bytes(&exe)
                .unwrap_err()
                .contains("not a shared object")
        );
    }
}
