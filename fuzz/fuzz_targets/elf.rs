//! The ELF pre-check: arbitrary and mutated files (seeded with real fixture libraries
//! and cut copies of them) through the loader's check of a shadow copy's headers, as
//! bytes, never opened. It must never crash, and an independent reading of the rules
//! (`docs/design.md`, "Loading, step by step", step 2) is the oracle: the check accepts
//! exactly the files the rules accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_runtime::fuzzing::check_elf;

const PT_LOAD: u32 = 1;

/// The rules: the ELF magic, 64 bits, little endian (this machine), a shared object
/// (`ET_DYN`), and the program header table, the section header table and every
/// loadable segment inside the file; each program header is read whole.
fn rules(file: &[u8]) -> Result<(), &'static str> {
    let len = file.len() as u128;
    let u16_at = |at: u128| -> Option<u16> {
        let at = usize::try_from(at).ok()?;
        Some(u16::from_le_bytes(
            file.get(at..at.checked_add(2)?)?.try_into().ok()?,
        ))
    };
    let u32_at = |at: u128| -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        Some(u32::from_le_bytes(
            file.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let u64_at = |at: u128| -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        Some(u64::from_le_bytes(
            file.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    if file.get(..4) != Some(b"\x7fELF") {
        return Err("magic");
    }
    if file.get(4) != Some(&2) || file.get(5) != Some(&1) {
        return Err("not 64-bit little endian");
    }
    if u16_at(16) != Some(3) {
        return Err("not a shared object");
    }
    let header = |off, size, num| -> Option<(u128, u128, u128)> {
        Some((
            u128::from(u64_at(off)?),
            u128::from(u16_at(size)?),
            u128::from(u16_at(num)?),
        ))
    };
    let (phoff, phentsize, phnum) = header(32, 54, 56).ok_or("header cut")?;
    let (shoff, shentsize, shnum) = header(40, 58, 60).ok_or("header cut")?;
    if phnum > 0 && phoff + phentsize * phnum > len {
        return Err("program headers outside the file");
    }
    if shnum > 0 && shoff + shentsize * shnum > len {
        return Err("section headers outside the file");
    }
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let (Some(kind), Some(offset), Some(size)) = (u32_at(at), u64_at(at + 8), u64_at(at + 32))
        else {
            return Err("a program header is cut");
        };
        if kind == PT_LOAD && u128::from(offset) + u128::from(size) > len {
            return Err("a loadable segment outside the file");
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    match (check_elf(data), rules(data)) {
        (Ok(()), Ok(())) | (Err(_), Err(_)) => {}
        (Ok(()), Err(rule)) => panic!("the ELF check accepted a file that breaks a rule: {rule}"),
        (Err(error), Ok(())) => panic!("the ELF check refused a file the rules accept: {error}"),
    }
});
