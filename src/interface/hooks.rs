//! Lifecycle hooks: the optional methods through which the runtime carries an instance's
//! state into its replacement and applies a new configuration.
//!
//! An interface marks an `#[optional]` method as a hook with `#[hook(name)]`; the
//! [`interface`](macro@crate::interface) macro then implements [`Hooks`] for the
//! interface's marker type so that the runtime (its [slots](crate::runtime::Slot)) can
//! call it without knowing the interface. Every interface gets the impl; a hook it does
//! not mark reports "not offered" (`None`). The signatures are fixed, and a marked method
//! with another signature is a compile error:
//!
//! | hook | signature |
//! | --- | --- |
//! | `save_state` | `fn(&self, out: &mut [u8]) -> Result<u64, PluginError>` |
//! | `load_state` | `fn(&mut self, state: &[u8]) -> Result<(), PluginError>` |
//! | `plan_config` | `fn(&self, config: &[u8]) -> Result<ConfigPlan, PluginError>` |
//! | `apply_config` | `fn(&mut self, config: &[u8]) -> Result<(), PluginError>` |
//!
//! State crosses only through buffers the host owns: `save_state` writes up to
//! `out.len()` bytes and returns the state's full length; when that is more than it could
//! write, the host calls again with a buffer of that length (a few times at most, up to
//! [`MAX_STATE_LEN`]). `load_state` reads the bytes during the call. Nothing the plugin
//! allocates crosses.
//!
//! ```
//! use plugin_runtime::interface::{ConfigPlan, PluginError};
//!
//! #[plugin_runtime::interface(kind = "counter", major = 1)]
//! pub trait Counter {
//!     fn next(&mut self) -> u64;
//!     #[optional]
//!     #[hook(save_state)]
//!     fn save_state(&self, out: &mut [u8]) -> Result<u64, PluginError>;
//!     #[optional]
//!     #[hook(load_state)]
//!     fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError>;
//!     #[optional]
//!     #[hook(plan_config)]
//!     fn plan_config(&self, config: &[u8]) -> Result<ConfigPlan, PluginError>;
//!     #[optional]
//!     #[hook(apply_config)]
//!     fn apply_config(&mut self, config: &[u8]) -> Result<(), PluginError>;
//! }
//! # fn main() {}
//! ```

use super::CallError;
use super::lower::Returned;
use crate::abi::{Capability, Status};
use crate::runtime::Instance;

/// The largest state [`Hooks::save_state`] may report: 64 MiB. A larger one is refused
/// rather than allocated.
pub const MAX_STATE_LEN: usize = 64 << 20;

/// How an instance wants a new configuration applied, as its `plan_config` hook answers.
///
/// Crosses the boundary as a `u32` (1 and 2); any other value a plugin returns is a
/// [`CallError`] on the host, never undefined behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigPlan {
    /// The instance can take it as it is: the runtime calls `apply_config`.
    InPlace,
    /// The instance must be replaced: the runtime creates a new one with the new
    /// configuration (carrying the state over) and swaps it in.
    Recreate,
}

impl ConfigPlan {
    const IN_PLACE: u32 = 1;
    const RECREATE: u32 = 2;
}

// SAFETY: crosses as a plain `u32`; `lift_checked` maps the two values `lower` makes back
// to their variants and every other value to an error.
unsafe impl Returned for ConfigPlan {
    type Abi = u32;

    #[inline]
    fn lower(self) -> u32 {
        match self {
            ConfigPlan::InPlace => Self::IN_PLACE,
            ConfigPlan::Recreate => Self::RECREATE,
        }
    }

    #[inline]
    fn lift_checked(abi: u32) -> Result<Self, CallError> {
        match abi {
            Self::IN_PLACE => Ok(ConfigPlan::InPlace),
            Self::RECREATE => Ok(ConfigPlan::Recreate),
            other => Err(CallError {
                status: Status::INVALID_ARGUMENT,
                message: format!("the plugin returned {other}, which is no ConfigPlan"),
            }),
        }
    }
}

/// The lifecycle hooks of an interface, as the runtime calls them; implemented by the
/// [`interface`](macro@crate::interface) macro for every interface's marker type.
///
/// Each method returns `None` when the hook is not offered: the interface does not mark
/// it, or the plugin's vtable lacks it (the plugin left the optional method out, or was
/// built against an older minor). The defaults offer nothing, so a capability written by
/// hand may implement only what it has.
pub trait Hooks: Capability + Sized {
    /// Writes the instance's state into `out` (up to its length) and returns the state's
    /// full length.
    fn save_state(_instance: &Instance<Self>, _out: &mut [u8]) -> Option<Result<u64, CallError>> {
        None
    }

    /// Replaces the instance's state with `state`, as another instance's `save_state`
    /// wrote it (possibly a build of another version).
    fn load_state(_instance: &mut Instance<Self>, _state: &[u8]) -> Option<Result<(), CallError>> {
        None
    }

    /// How the instance wants `config` applied; an error rejects it.
    fn plan_config(
        _instance: &Instance<Self>,
        _config: &[u8],
    ) -> Option<Result<ConfigPlan, CallError>> {
        None
    }

    /// Applies `config` in place.
    fn apply_config(
        _instance: &mut Instance<Self>,
        _config: &[u8],
    ) -> Option<Result<(), CallError>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_crosses_as_one_or_two_and_nothing_else_lifts() {
        for plan in [ConfigPlan::InPlace, ConfigPlan::Recreate] {
            assert_eq!(ConfigPlan::lift_checked(plan.lower()), Ok(plan));
        }
        for bad in [0, 3, u32::MAX] {
            let error = ConfigPlan::lift_checked(bad).unwrap_err();
            assert_eq!(error.status, Status::INVALID_ARGUMENT);
            assert!(error.message.contains(&bad.to_string()));
        }
    }
}
