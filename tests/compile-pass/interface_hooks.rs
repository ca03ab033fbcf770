// An interface with every lifecycle hook, in a crate that forbids `unsafe`: the macro
// implements `Hooks` for it (and for an interface without hooks, which offers none).
#![forbid(unsafe_code)]

use plugin_runtime::interface::{ConfigPlan, Hooks, PluginError};

#[plugin_runtime::interface(kind = "counter", major = 1)]
pub trait Counter {
    fn next(&mut self) -> u64;
    #[optional]
    #[hook(save_state)]
    fn save(&self, out: &mut [u8]) -> Result<u64, PluginError>;
    #[optional]
    #[hook(load_state)]
    fn load(&mut self, state: &[u8]) -> Result<(), PluginError>;
    #[optional]
    #[hook(plan_config)]
    fn plan(&self, config: &[u8]) -> Result<ConfigPlan, PluginError>;
    #[since(1)]
    #[optional]
    #[hook(apply_config)]
    fn apply(&mut self, config: &[u8]) -> Result<(), PluginError>;
}

#[plugin_runtime::interface(kind = "plain", major = 1)]
pub trait Plain {
    fn next(&mut self) -> u64;
}

fn hooked<C: Hooks>() {}

fn main() {
    hooked::<CounterInterface>();
    hooked::<PlainInterface>();
    assert!(<CounterInterface as plugin_runtime::Capability>::LAYOUT
        .contains("0? plan(&self, &[u8]) -> Result<ConfigPlan, PluginError>"));
}
