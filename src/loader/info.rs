//! The report of one close, as the loader gives it.

use std::path::PathBuf;

use crate::module::CloseOutcome;

/// The report of one close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReport {
    /// The plugin id of the closed module.
    pub plugin_id: String,
    /// The shadow copy the library was loaded from.
    pub shadow_path: PathBuf,
    /// What the OS did.
    pub outcome: CloseOutcome,
    /// Whether the shadow copy was removed (it is kept while the library is kept loaded
    /// on platforms that cannot delete a loaded file).
    pub shadow_removed: bool,
}
