//! Fixture: a library whose entry symbol never returns (it sleeps in a loop), for hosts
//! that must give up on inspecting it.

use std::time::Duration;

/// The entry symbol, under the name `plugin_runtime::abi::ENTRY_SYMBOL` has today.
///
/// The name is the one thing to change when the ABI major moves: the CLI's test
/// `a_probe_that_hangs_in_the_entry_symbol_is_killed_at_its_deadline` expects the
/// deadline at step `entry symbol`, and sees `version` instead when this name is stale.
/// It never returns, so its return type is immaterial.
#[unsafe(export_name = "plugin_runtime_module_v2")]
pub extern "C" fn entry() -> *const u8 {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}
