//! The generations the OS loader kept mapped after their close, rechecked together.

use std::io;
use std::path::PathBuf;

use crate::generation::GenerationKey;
use crate::loader::MappedCode;

/// Generations closed as [`StillMapped`](crate::loader::CloseOutcome::StillMapped), with
/// their shadow copies, until `/proc/self/maps` shows their code gone.
///
/// glibc keeps a library mapped while a live thread holds one of its thread-local
/// destructors, and unmaps it at a later `dlclose` once those threads have ended; a close
/// is therefore the moment to look again. All of them are checked against one read of
/// the maps, so a close costs the same however many generations stay mapped.
#[derive(Debug, Default)]
pub(crate) struct StillMapped {
    entries: Vec<(GenerationKey, PathBuf)>,
}

impl StillMapped {
    /// Watches `generation`, whose library was closed but whose code at `shadow` stays.
    pub(crate) fn add(&mut self, generation: GenerationKey, shadow: PathBuf) {
        self.entries.push((generation, shadow));
    }

    /// Removes and returns the generations whose code is gone, asking `read` for the
    /// maps at most once (not at all when nothing is watched). If the maps cannot be
    /// read, nothing is proven gone and nothing is removed.
    pub(crate) fn recheck(
        &mut self,
        read: impl FnOnce() -> io::Result<MappedCode>,
    ) -> Vec<GenerationKey> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let mapped = match read() {
            Ok(mapped) => mapped,
            Err(error) => {
                tracing::warn!(%error, "cannot read /proc/self/maps; generations kept mapped stay so");
                return Vec::new();
            }
        };
        let mut gone = Vec::new();
        self.entries.retain(|(generation, shadow)| {
            let mapped = mapped.contains(shadow);
            if !mapped {
                gone.push(*generation);
            }
            mapped
        });
        gone
    }

    /// How many generations are watched.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;
    use crate::generation::{Command, CoreConfig, Effect, Lifecycle, RequestId};
    use crate::loader::{CapabilityInfo, ModuleInfo};

    /// `n` generation keys of one core.
    fn generations(n: usize) -> Vec<GenerationKey> {
        let mut core = Lifecycle::new(CoreConfig::default());
        let now = std::time::Instant::now();
        (0..n)
            .map(|i| {
                let path = PathBuf::from(format!("/plugins/p{i}.so"));
                core.submit(
                    now,
                    RequestId(i as u64),
                    None,
                    Command::Load {
                        path,
                        expected_plugin_id: None,
                    },
                );
                let Some(load) = std::iter::from_fn(|| core.poll_effect()).find_map(|e| match e {
                    Effect::Open { load, .. } => Some(load),
                    _ => None,
                }) else {
                    panic!("a load opens");
                };
                let module = ModuleInfo {
                    digest: None,
                    plugin_id: format!("p{i}"),
                    version: "1".into(),
                    display_name: String::new(),
                    abi_major: 2,
                    abi_minor: 0,
                    capabilities: Vec::<CapabilityInfo>::new(),
                };
                let generation = core.load_finished(now, load, Ok(module)).unwrap().unwrap();
                while core.poll_effect().is_some() {}
                generation
            })
            .collect()
    }

    #[test]
    fn four_hundred_generations_are_rechecked_with_one_read() {
        let keys = generations(400);
        let mut watched = StillMapped::default();
        for (i, key) in keys.iter().enumerate() {
            watched.add(*key, PathBuf::from(format!("/shadow/g{i:06}-lib.so")));
        }
        // Every third one is still mapped (as code); the others are gone or data only.
        let mut maps = String::new();
        for i in 0..400 {
            let perms = if i % 3 == 0 { "r-xp" } else { "r--p" };
            if i % 2 == 0 || i % 3 == 0 {
                writeln!(maps, "7f{i:010x}000-7f{i:010x}fff {perms} 00000000 fd:01 {i} /shadow/g{i:06}-lib.so (deleted)").unwrap();
            }
        }
        let mut reads = 0;
        let gone = watched.recheck(|| {
            reads += 1;
            Ok(MappedCode::parse(maps.as_bytes()))
        });
        assert_eq!(reads, 1);
        let expected: Vec<GenerationKey> =
            (0..400).filter(|i| i % 3 != 0).map(|i| keys[i]).collect();
        assert_eq!(gone, expected);
        assert_eq!(watched.len(), 134);

        let gone = watched.recheck(|| Err(io::Error::other("no procfs")));
        assert!(gone.is_empty(), "an unreadable map proves nothing gone");
        assert_eq!(watched.len(), 134);
    }

    #[test]
    fn nothing_watched_reads_nothing() {
        let mut watched = StillMapped::default();
        let gone = watched.recheck(|| panic!("no read when nothing is watched"));
        assert!(gone.is_empty());
    }
}
