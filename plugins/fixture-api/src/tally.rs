//! [`Tally`]: a stateful counter interface with every lifecycle hook, and the plugin
//! `fixture.tally` in two builds (`Counter<1>`, `Counter<2>`) whose state formats differ:
//! build 2 reads build 1's state, so a slot carries the count across a reload from 1 to 2.
//!
//! # Configuration
//!
//! Empty (setting 0) or `inplace:N`, `recreate:N`, `reject`, `fail`, `badcreate`:
//!
//! | config | `plan_config` | then |
//! | --- | --- | --- |
//! | `inplace:N` | in place | `apply_config` sets the setting to N |
//! | `recreate:N` | recreate | `create` makes an instance with setting N |
//! | `reject` | an error: rejected | |
//! | `fail` | in place | `apply_config` fails |
//! | `badcreate` | recreate | `create` fails |
//!
//! # State
//!
//! Build 1 writes `T`, `1`, the count (u64 little endian): 10 bytes. Build 2 writes `T`,
//! `2`, the count, the setting (u64 little endian each), then 300 bytes of padding, so
//! that its state does not fit a slot's first buffer and the host must ask again. Build 2
//! reads both formats; build 1 only its own.

use plugin_runtime_sdk::interface::ConfigPlan;
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

/// The `Tally` interface, major 1.
#[plugin_runtime_sdk::interface(kind = "tally", major = 1)]
pub trait Tally {
    /// Which build answers (1 or 2).
    fn build(&self) -> u32;
    /// Counts one more; returns the count.
    fn tick(&mut self) -> u64;
    /// The count.
    fn count(&self) -> u64;
    /// The setting of the configuration it runs with.
    fn setting(&self) -> u64;
    /// Writes the state (see the module documentation).
    #[optional]
    #[hook(save_state)]
    fn save_state(&self, out: &mut [u8]) -> Result<u64, PluginError>;
    /// Reads a state another build wrote.
    #[optional]
    #[hook(load_state)]
    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError>;
    /// Plans a configuration by its text.
    #[optional]
    #[hook(plan_config)]
    fn plan_config(&self, config: &[u8]) -> Result<ConfigPlan, PluginError>;
    /// Applies an in-place configuration.
    #[optional]
    #[hook(apply_config)]
    fn apply_config(&mut self, config: &[u8]) -> Result<(), PluginError>;
}

/// Padding build 2 appends to its state.
pub const PADDING: usize = 300;

/// The plugin `fixture.tally` as build `BUILD`.
#[derive(Debug)]
pub struct Counter<const BUILD: u32> {
    count: u64,
    setting: u64,
}

/// What a configuration asks for.
enum Parsed {
    InPlace(u64),
    Recreate(u64),
    Reject,
    Fail,
    BadCreate,
}

fn parse(config: &[u8]) -> Result<Parsed, PluginError> {
    let text = std::str::from_utf8(config)
        .map_err(|_| PluginError::invalid_argument("the configuration is not UTF-8"))?;
    let number = |n: &str| {
        n.parse::<u64>()
            .map_err(|_| PluginError::invalid_argument(format!("`{n}` is not a number")))
    };
    match text {
        "" => Ok(Parsed::InPlace(0)),
        "reject" => Ok(Parsed::Reject),
        "fail" => Ok(Parsed::Fail),
        "badcreate" => Ok(Parsed::BadCreate),
        _ => {
            if let Some(n) = text.strip_prefix("inplace:") {
                Ok(Parsed::InPlace(number(n)?))
            } else if let Some(n) = text.strip_prefix("recreate:") {
                Ok(Parsed::Recreate(number(n)?))
            } else {
                Err(PluginError::invalid_argument(format!(
                    "unknown configuration `{text}`"
                )))
            }
        }
    }
}

impl<const BUILD: u32> CapabilityImpl for Counter<BUILD> {
    type Interface = TallyInterface;
    const TYPE_ID: &'static str = "counter";
    const DISPLAY_NAME: &'static str = "Counter";

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        let setting = match parse(config)? {
            Parsed::InPlace(n) | Parsed::Recreate(n) => n,
            Parsed::Reject | Parsed::Fail => 0,
            Parsed::BadCreate => return Err(PluginError::new("told to fail at create")),
        };
        Ok(Self { count: 0, setting })
    }
}

impl<const BUILD: u32> Tally for Counter<BUILD> {
    const HAS_SAVE_STATE: bool = true;
    const HAS_LOAD_STATE: bool = true;
    const HAS_PLAN_CONFIG: bool = true;
    const HAS_APPLY_CONFIG: bool = true;

    fn build(&self) -> u32 {
        BUILD
    }

    fn tick(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn setting(&self) -> u64 {
        self.setting
    }

    fn save_state(&self, out: &mut [u8]) -> Result<u64, PluginError> {
        let mut state = vec![b'T', BUILD as u8];
        state.extend_from_slice(&self.count.to_le_bytes());
        if BUILD >= 2 {
            state.extend_from_slice(&self.setting.to_le_bytes());
            state.resize(state.len() + PADDING, 0xab);
        }
        if let Some(room) = out.get_mut(..state.len()) {
            room.copy_from_slice(&state);
        }
        Ok(state.len() as u64)
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError> {
        let count = |bytes: &[u8]| u64::from_le_bytes(bytes[2..10].try_into().unwrap_or_default());
        match state {
            [b'T', 1, ..] if state.len() == 10 => self.count = count(state),
            [b'T', 2, ..] if BUILD >= 2 && state.len() == 18 + PADDING => {
                self.count = count(state);
            }
            _ => {
                return Err(PluginError::invalid_argument(format!(
                    "build {BUILD} cannot read a state of {} bytes",
                    state.len()
                )));
            }
        }
        Ok(())
    }

    fn plan_config(&self, config: &[u8]) -> Result<ConfigPlan, PluginError> {
        match parse(config)? {
            Parsed::InPlace(_) | Parsed::Fail => Ok(ConfigPlan::InPlace),
            Parsed::Recreate(_) | Parsed::BadCreate => Ok(ConfigPlan::Recreate),
            Parsed::Reject => Err(PluginError::invalid_argument(
                "this configuration is refused",
            )),
        }
    }

    fn apply_config(&mut self, config: &[u8]) -> Result<(), PluginError> {
        match parse(config)? {
            Parsed::InPlace(n) => {
                self.setting = n;
                Ok(())
            }
            _ => Err(PluginError::new("told to fail while applying")),
        }
    }
}
