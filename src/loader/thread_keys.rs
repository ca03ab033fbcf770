//! The process's thread keys (`pthread_key_t`), and the ones a library's code left
//! behind.
//!
//! A Rust plugin carries its own copy of the standard library, and that copy creates
//! pthread keys with destructors in the plugin's code: `thread::current()` (which
//! spawning, panicking and more also reach) sets one on the calling thread, so that the
//! thread's handle is dropped when the thread exits. glibc's `dlclose` counts only
//! `__cxa_thread_atexit_impl` destructors when it decides whether a library may leave,
//! so a library whose key destructor is still set on a live host thread is unmapped, and
//! when that thread exits glibc calls the destructor in unmapped code. And the keys are
//! never deleted: glibc has 1,024 of them (`PTHREAD_KEYS_MAX`), so about a thousand
//! generations of a plugin that starts a thread exhaust the process.
//!
//! POSIX has no call that lists keys or their destructors. glibc keeps them in one table,
//! `__pthread_keys`, an array of `struct pthread_key_struct { uintptr_t seq; void
//! (*destr)(void *); }` where an odd `seq` marks a key in use. The symbol is
//! `GLIBC_PRIVATE`, but its layout is published for debuggers: libthread_db reads it
//! through the descriptors `_thread_db___pthread_keys` (element size in bits, element
//! count, offset), `_thread_db_sizeof_pthread_key_struct` and
//! `_thread_db_pthread_key_struct_{seq,destr}` (field size in bits, count, offset), which
//! this module checks against what it reads before it trusts the table
//! ([`KeyTable::glibc`]). Before a library is closed, the loader deletes every key in use
//! whose destructor lies in that library ([`release_keys_of`]). `pthread_key_delete`
//! runs no destructor; values that live threads still hold for the key are leaked
//! (memory of the plugin's own, dying standard library) and later ignored, because glibc
//! compares each value's sequence number with the key's.
//!
//! If the table cannot be found or its layout is not the one described here, nothing is
//! deleted and the caller keeps the library loaded instead, saying why.

use std::ffi::{CStr, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many of the process's thread keys are in use, as glibc's key table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadKeyUsage {
    /// Keys in use.
    pub in_use: usize,
    /// How many keys the process can have at once (`PTHREAD_KEYS_MAX`, 1,024 on glibc).
    pub limit: usize,
}

/// How many of the process's thread keys are in use, read from glibc's key table.
///
/// The loader deletes a library's keys when it closes it, so in a host that only loads
/// and closes plugins this stays flat. `None` if glibc's table cannot be found or its
/// layout is not the one glibc describes for debuggers; the loader then keeps every
/// library it closes loaded ([`CloseOutcome::KeptLoaded`](super::CloseOutcome::KeptLoaded)).
pub fn thread_key_usage() -> Option<ThreadKeyUsage> {
    KeyTable::glibc().ok().map(KeyTable::usage)
}

/// One entry of glibc's `__pthread_keys`, read with atomic loads because other threads
/// create and delete keys concurrently: glibc claims and frees a slot with
/// compare-and-swap on `seq`, and stores `destr` with a plain store after claiming it.
#[repr(C)]
struct Entry {
    seq: AtomicUsize,
    destr: AtomicUsize,
}

/// A verified view of a key table.
#[derive(Debug)]
pub(crate) struct KeyTable {
    entries: &'static [Entry],
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .field("destr", &self.destr.load(Ordering::Relaxed))
            .finish()
    }
}

impl KeyTable {
    /// glibc's key table, found and verified once per process.
    ///
    /// # Errors
    ///
    /// Why the table cannot be used: a symbol is missing, or a descriptor disagrees with
    /// the layout this module reads.
    pub(crate) fn glibc() -> Result<&'static KeyTable, &'static str> {
        static TABLE: OnceLock<Result<KeyTable, String>> = OnceLock::new();
        TABLE
            .get_or_init(find_glibc_table)
            .as_ref()
            .map_err(String::as_str)
    }

    /// How many keys are in use.
    pub(crate) fn usage(&self) -> ThreadKeyUsage {
        ThreadKeyUsage {
            in_use: self
                .entries
                .iter()
                .filter(|e| in_use(e.seq.load(Ordering::Acquire)))
                .count(),
            limit: self.entries.len(),
        }
    }

    /// The keys in use whose destructor address satisfies `owned`, with that address.
    ///
    /// An entry is taken only if its sequence number reads the same before and after its
    /// destructor, so a key deleted during the read is not mistaken. A key created
    /// during the read is not fully excluded: between glibc's claim of a slot (its `seq`
    /// becomes odd) and its store of the new destructor, the slot shows the previous
    /// key's destructor. The loader narrows that window by checking each entry again
    /// just before it deletes it (`unchanged`); it cannot close it, as glibc takes no
    /// lock (see "Thread keys" in the design document).
    pub(crate) fn keys_where(&self, owned: impl Fn(usize) -> bool) -> Vec<OwnedKey> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let seq = entry.seq.load(Ordering::Acquire);
                let destr = entry.destr.load(Ordering::Acquire);
                let stable = entry.seq.load(Ordering::Acquire) == seq;
                (stable && in_use(seq) && destr != 0 && owned(destr)).then_some(OwnedKey {
                    key: index,
                    seq,
                    destr,
                })
            })
            .collect()
    }

    /// Whether `key` is still the key that [`keys_where`](Self::keys_where) found.
    fn unchanged(&self, key: &OwnedKey) -> bool {
        let entry = &self.entries[key.key];
        entry.seq.load(Ordering::Acquire) == key.seq
            && entry.destr.load(Ordering::Acquire) == key.destr
    }
}

/// A key in use, with the sequence number and destructor it was found with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnedKey {
    /// The key (its index in the table).
    pub(crate) key: usize,
    seq: usize,
    destr: usize,
}

/// Deletes every thread key in use whose destructor lies in the loaded object that
/// contains `anchor` (any address of the library's code), and returns how many it
/// deleted.
///
/// Call it after the library's `deinit` and right before `dlclose`, when none of the
/// library's code runs: its own threads are joined and no instance or call pins it. A
/// host thread that is exiting at this very moment may already have fetched the
/// destructor; glibc offers no lock that closes that window (it is the same one any
/// library's key has).
///
/// # Errors
///
/// Why glibc's key table cannot be used; nothing was deleted.
pub(crate) fn release_keys_of(anchor: *const c_void) -> Result<usize, &'static str> {
    let table = KeyTable::glibc()?;
    let Some(base) = object_base(anchor) else {
        return Err("the library's own address belongs to no loaded object");
    };
    let mut deleted = 0;
    for key in table.keys_where(|destr| object_base(destr as *const c_void) == Some(base)) {
        if !table.unchanged(&key) {
            continue;
        }
        let raw = libc::pthread_key_t::try_from(key.key)
            .expect("table indices are below PTHREAD_KEYS_MAX, which fits pthread_key_t");
        // SAFETY: deleting a key runs no destructor and touches no thread's data; glibc
        // ignores values that threads still hold for it. The key is in use, and its
        // destructor is in this library, whose code no longer runs (see above), so no
        // one else deletes it between the check and this call.
        if unsafe { libc::pthread_key_delete(raw) } == 0 {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The start address of the loaded object (executable or library) containing `address`.
fn object_base(address: *const c_void) -> Option<usize> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `dladdr` only reads the loader's own tables for `address` (any value is
    // allowed) and writes `info`, which is valid for writes.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    // SAFETY: `info` was zeroed, and `dladdr` fills it in when it returns non-zero.
    let info = unsafe { info.assume_init() };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

fn in_use(seq: usize) -> bool {
    seq & 1 == 1
}

/// What glibc tells libthread_db about its key table: each descriptor is `{size in bits,
/// count, offset}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    table: [u32; 3],
    entry_size: u32,
    seq: [u32; 3],
    destr: [u32; 3],
}

impl Layout {
    /// The layout of [`Entry`]: 1,024-ish entries of two pointer-sized fields.
    const BITS: u32 = usize::BITS;

    /// Checks the layout against [`Entry`] and `keys_max` (`sysconf(_SC_THREAD_KEYS_MAX)`)
    /// and returns the number of entries.
    fn verify(&self, keys_max: libc::c_long) -> Result<usize, &'static str> {
        let entry_bytes = size_of::<Entry>() as u32;
        if self.table[0] != entry_bytes * 8 || self.entry_size != entry_bytes {
            return Err("glibc's key entries are not two pointers wide");
        }
        if self.table[2] != 0 {
            return Err("glibc's key table does not start at its symbol");
        }
        if self.seq != [Self::BITS, 1, 0] {
            return Err("glibc's key sequence number is not the first pointer-sized field");
        }
        if self.destr != [Self::BITS, 1, Self::BITS / 8] {
            return Err("glibc's key destructor is not the second pointer-sized field");
        }
        let count = self.table[1] as usize;
        if count == 0 || libc::c_long::try_from(count).ok() != Some(keys_max) {
            return Err("glibc's key table size is not PTHREAD_KEYS_MAX");
        }
        Ok(count)
    }
}

fn find_glibc_table() -> Result<KeyTable, String> {
    let layout = Layout {
        table: descriptor(c"_thread_db___pthread_keys")?,
        entry_size: descriptor::<1>(c"_thread_db_sizeof_pthread_key_struct")?[0],
        seq: descriptor(c"_thread_db_pthread_key_struct_seq")?,
        destr: descriptor(c"_thread_db_pthread_key_struct_destr")?,
    };
    // SAFETY: `sysconf` has no preconditions.
    let keys_max = unsafe { libc::sysconf(libc::_SC_THREAD_KEYS_MAX) };
    let count = layout
        .verify(keys_max)
        .map_err(|why| format!("{why} ({layout:?}, PTHREAD_KEYS_MAX {keys_max})"))?;
    let table = symbol(c"__pthread_keys")?.cast::<Entry>();
    if !table.is_aligned() {
        return Err("glibc's key table is misaligned".into());
    }
    // SAFETY: glibc's `__pthread_keys` is a static array of `count` entries (checked
    // against its debugger description and PTHREAD_KEYS_MAX above), laid out as
    // `Entry`, that lives as long as the process. glibc takes no lock for it:
    // `pthread_key_create` claims a slot by compare-and-swap on `seq` and then stores
    // `destr` with a plain store; `pthread_key_delete` is a compare-and-swap on `seq`.
    // `Entry` reads both words only with atomic loads. A plain C store racing an atomic
    // load is not defined by Rust's model; on the targets this builds for (aligned word
    // stores and loads, which cannot tear) it reads either value, and `keys_where`
    // guards against the stale one as far as glibc allows (see there).
    let entries = unsafe { std::slice::from_raw_parts(table, count) };
    Ok(KeyTable { entries })
}

/// A `GLIBC_PRIVATE` debugger descriptor of `N` words.
fn descriptor<const N: usize>(name: &CStr) -> Result<[u32; N], String> {
    let address = symbol(name)?.cast::<[u32; N]>();
    if !address.is_aligned() {
        return Err(format!("{} is misaligned", name.to_string_lossy()));
    }
    // SAFETY: glibc defines these descriptors as `const uint32_t name[N]` (3 words, or 1
    // for the `sizeof` ones); the address is aligned and the data is read-only.
    Ok(unsafe { address.read() })
}

/// The address of a symbol of the process's global scope (glibc's own).
fn symbol(name: &CStr) -> Result<*const c_void, String> {
    // SAFETY: `dlsym` with `RTLD_DEFAULT` searches the global scope for a NUL-terminated
    // name; it has no other preconditions.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if address.is_null() {
        Err(format!("no `{}` in this process", name.to_string_lossy()))
    } else {
        Ok(address.cast_const())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLIBC: Layout = Layout {
        table: [128, 1024, 0],
        entry_size: 16,
        seq: [64, 1, 0],
        destr: [64, 1, 8],
    };

    fn entries(raw: &[(usize, usize)]) -> &'static [Entry] {
        raw.iter()
            .map(|&(seq, destr)| Entry {
                seq: AtomicUsize::new(seq),
                destr: AtomicUsize::new(destr),
            })
            .collect::<Vec<_>>()
            .leak()
    }

    #[test]
    fn the_described_glibc_layout_is_accepted() {
        assert_eq!(GLIBC.verify(1024), Ok(1024));
    }

    #[test]
    fn any_other_layout_is_refused() {
        let mut wide = GLIBC;
        wide.entry_size = 24;
        wide.table[0] = 192;
        let mut swapped = GLIBC;
        (swapped.seq, swapped.destr) = (GLIBC.destr, GLIBC.seq);
        let mut offset = GLIBC;
        offset.table[2] = 8;
        for layout in [wide, swapped, offset] {
            assert!(layout.verify(1024).is_err(), "{layout:?}");
        }
        assert!(GLIBC.verify(512).is_err(), "a table of another size");
    }

    #[test]
    fn only_keys_in_use_count_and_match() {
        let table = KeyTable {
            entries: entries(&[(1, 0x1000), (2, 0x1000), (3, 0x2000), (0, 0), (5, 0)]),
        };
        assert_eq!(
            table.usage(),
            ThreadKeyUsage {
                in_use: 3,
                limit: 5
            }
        );
        let found = table.keys_where(|d| d == 0x1000);
        assert_eq!(found.iter().map(|k| k.key).collect::<Vec<_>>(), [0]);
        // A key without a destructor belongs to no one this module can name.
        assert_eq!(table.keys_where(|_| true).len(), 2);
        assert!(table.unchanged(&found[0]));
        table.entries[0].seq.store(2, Ordering::Release);
        assert!(!table.unchanged(&found[0]), "deleted since it was found");
    }

    unsafe extern "C" fn local_destructor(_: *mut c_void) {}

    #[test]
    fn glibcs_table_is_found_and_sees_a_key_created_here() {
        let table = KeyTable::glibc().expect("glibc's key table is readable on glibc 2.36");
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is valid for writes; the destructor is a function of this binary.
        let created = unsafe { libc::pthread_key_create(&mut key, Some(local_destructor)) };
        assert_eq!(created, 0);
        let ours = local_destructor as *const () as usize;
        let found = table.keys_where(|d| d == ours);
        assert_eq!(
            found.iter().map(|k| k.key).collect::<Vec<_>>(),
            [key as usize]
        );
        assert!(thread_key_usage().unwrap().in_use >= 1);
        // The test binary is one object: the destructor is found by its base too.
        let base = object_base(ours as *const c_void).unwrap();
        assert_eq!(object_base(the_anchor as *const c_void), Some(base));
        // SAFETY: the key was created above and is deleted once.
        assert_eq!(unsafe { libc::pthread_key_delete(key) }, 0);
        assert!(table.keys_where(|d| d == ours).is_empty());
    }

    fn the_anchor() {}
}
