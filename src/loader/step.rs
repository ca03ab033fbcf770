//! The steps of a load and a close, in the order the loader takes them.

use std::fmt;

/// One step of loading or closing a library, named so that a process that dies during
/// it can be told about afterwards (see [`probe`](super::probe)).
///
/// The names are those the loader's errors start with, plus `path check` (where the
/// `roots` and `permissions` refusals of a [`Lockdown`](super::Lockdown) come from),
/// `validate` (where the `version`, `magic` and `descriptor` refusals come from),
/// `deinit` and `close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Resolving the path and checking it against the plugin roots and the permission
    /// rule of a [`Lockdown`](super::Lockdown); taken only when one of those is on.
    PathCheck,
    /// Copying the installed file into the shadow directory.
    Copy,
    /// Computing the SHA-256 digest of the copy, and checking it against the
    /// [`Allowlist`](super::Allowlist) if there is one.
    Digest,
    /// The loader's own check of the copy's ELF headers.
    ElfCheck,
    /// `dlopen` of the copy. The library's ELF constructors run here.
    Open,
    /// Looking up and calling the entry symbol.
    EntrySymbol,
    /// Reading and validating the module descriptor.
    Validate,
    /// The module's `init`.
    Init,
    /// The module's `deinit`.
    Deinit,
    /// `dlclose` (the library's ELF destructors run here) and the check that it left.
    Close,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 10] = [
        Step::PathCheck,
        Step::Copy,
        Step::Digest,
        Step::ElfCheck,
        Step::Open,
        Step::EntrySymbol,
        Step::Validate,
        Step::Init,
        Step::Deinit,
        Step::Close,
    ];

    /// The step's name, such as `"entry symbol"`.
    pub fn name(self) -> &'static str {
        match self {
            Step::PathCheck => "path check",
            Step::Copy => "copy",
            Step::Digest => "digest",
            Step::ElfCheck => "elf check",
            Step::Open => "open",
            Step::EntrySymbol => "entry symbol",
            Step::Validate => "validate",
            Step::Init => "init",
            Step::Deinit => "deinit",
            Step::Close => "close",
        }
    }

    /// The step called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.name() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for step in Step::ALL {
            assert_eq!(Step::from_name(step.name()), Some(step));
        }
        assert_eq!(Step::from_name("nothing"), None);
    }
}
