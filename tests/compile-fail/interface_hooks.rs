// Hole: a lifecycle hook the runtime would call with the wrong signature, or a hook a
// plugin could not leave out. The `interface` macro refuses each, spanned at the method
// (or the hook's name), and `ConfigPlan` crosses only inside `Result`.
#![forbid(unsafe_code)]
#![allow(unused_imports)]

use plugin_runtime::interface::{ConfigPlan, PluginError};

#[plugin_runtime::interface(kind = "a", major = 1)]
pub trait NotOptional {
    #[hook(save_state)]
    fn save_state(&self, out: &mut [u8]) -> Result<u64, PluginError>;
}

#[plugin_runtime::interface(kind = "b", major = 1)]
pub trait MutableSave {
    #[optional]
    #[hook(save_state)]
    fn save_state(&mut self, out: &mut [u8]) -> Result<u64, PluginError>;
}

#[plugin_runtime::interface(kind = "c", major = 1)]
pub trait PlanAsNumber {
    #[optional]
    #[hook(plan_config)]
    fn plan(&self, config: &[u8]) -> Result<u32, PluginError>;
}

#[plugin_runtime::interface(kind = "d", major = 1)]
pub trait LoadFromText {
    #[optional]
    #[hook(load_state)]
    fn load(&mut self, state: &str) -> Result<(), PluginError>;
}

#[plugin_runtime::interface(kind = "e", major = 1)]
pub trait UnknownHook {
    #[optional]
    #[hook(reset_state)]
    fn reset(&mut self) -> Result<(), PluginError>;
}

#[plugin_runtime::interface(kind = "f", major = 1)]
pub trait TwiceTheSameHook {
    #[optional]
    #[hook(apply_config)]
    fn apply(&mut self, config: &[u8]) -> Result<(), PluginError>;
    #[optional]
    #[hook(apply_config)]
    fn apply_again(&mut self, config: &[u8]) -> Result<(), PluginError>;
}

#[plugin_runtime::interface(kind = "g", major = 1)]
pub trait BarePlan {
    fn plan(&self) -> ConfigPlan;
}

#[plugin_runtime::interface(kind = "h", major = 1)]
pub trait PlanArgument {
    fn take(&self, plan: ConfigPlan) -> u32;
}

fn main() {}
