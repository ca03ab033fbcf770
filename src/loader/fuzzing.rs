//! The loader's private checks, reachable by the fuzz targets of the workspace's `fuzz/`
//! crate. This module exists only when the crate is built with `--cfg fuzzing` (as
//! `cargo fuzz` does); a normal build has no such module and no such API.
//!
//! The library re-exports it as `plugin_runtime::fuzzing`.

use std::ffi::c_void;

use super::error::LoadError;
use crate::abi::{CreateFn, DeinitFn, DestroyFn, InitFn, ModuleDescriptor};
use crate::module::ModuleInfo;

/// What descriptor validation accepted: the owned description and, per capability in
/// the same order, the raw vtable pointer and entry points it keeps.
#[derive(Debug)]
pub struct Validated {
    /// The copied description.
    pub info: ModuleInfo,
    /// Per capability: vtable, `create` and `destroy`.
    pub capabilities: Vec<(*const c_void, CreateFn, DestroyFn)>,
    /// The module's `init`.
    pub init: Option<InitFn>,
    /// The module's `deinit`.
    pub deinit: Option<DeinitFn>,
}

/// Runs the loader's descriptor validation, as a load does after the entry symbol.
///
/// # Safety
///
/// As for the loader's own call: if `descriptor` is not null, aligned, and starts with
/// the magic, it points to a readable descriptor of at least this host's prefix, and
/// every pointer and length in it that validation reads stays inside readable memory.
pub unsafe fn validate_descriptor(
    descriptor: *const ModuleDescriptor,
    expected_plugin_id: Option<&str>,
) -> Result<Validated, LoadError> {
    // SAFETY: forwarded from the caller.
    let module = unsafe { super::validate::validate(descriptor, expected_plugin_id) }?;
    Ok(Validated {
        info: module.info,
        capabilities: module
            .capabilities
            .iter()
            .map(|c| (c.vtable, c.create, c.destroy))
            .collect(),
        init: module.init,
        deinit: module.deinit,
    })
}

/// Runs the loader's ELF pre-check on a file's bytes, as a load does on the shadow copy
/// it is about to open; `Err` says what is wrong.
pub fn check_elf(bytes: &[u8]) -> Result<(), String> {
    super::elf::check_bytes(bytes)
}
