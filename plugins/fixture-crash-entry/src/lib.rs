//! Fixture: a library whose entry symbol crashes the process with `SIGSEGV`, for hosts
//! that must survive inspecting it.

/// The entry symbol, under the name `plugin_runtime::abi::ENTRY_SYMBOL` has today.
///
/// The name is the one thing to change when the ABI major moves: the CLI's test
/// `a_crash_in_the_entry_symbol_is_reported_and_the_next_library_inspected` expects the
/// crash at step `entry symbol`, and sees `version` instead when this name is stale. It
/// never returns, so its return type is immaterial.
#[unsafe(export_name = "plugin_runtime_module_v2")]
pub extern "C" fn entry() -> *const u8 {
    // The lowest page is never mapped (Linux's `vm.mmap_min_addr`), so this store faults.
    // A real fault, not `raise(SIGSEGV)`: Rust's runtime in the host catches a raised
    // SIGSEGV, finds no stack overflow and returns, and the process would go on.
    let unmapped = std::ptr::without_provenance_mut::<u8>(8);
    // SAFETY: none; this is the deliberate crash the fixture exists for. The volatile
    // store keeps the compiler from removing or reordering it.
    unsafe { unmapped.write_volatile(1) };
    unreachable!("the store above faults")
}
