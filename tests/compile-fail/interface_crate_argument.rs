// Hole: the macro once took `crate = path`, and its `unsafe` blocks called the lowering
// traits through that path, so a safe crate could point it at a module of its own whose
// `Arg::lower` lied about a slice's length. The argument is gone.
#![forbid(unsafe_code)]

use plugin_runtime::interface::PluginError;

mod fake {}

#[plugin_runtime::interface(kind = "gain", major = 1, crate = crate::fake)]
pub trait Gain {
    fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
}

fn main() {}
