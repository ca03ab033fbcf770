//! Fixture: a valid shared library that exports no plugin-runtime entry symbol.

/// Some unrelated export.
#[unsafe(no_mangle)]
pub extern "C" fn fixture_not_a_plugin() -> u32 {
    7
}
