// An interface whose parameters have the names the macro's generated bodies use for
// their own locals (`out`, `error`, `handle`, `this`, `f`), and an optional method whose
// default body uses its parameter. Guards the expansion's hygiene: a parameter name must
// neither collide with nor be shadowed by the macro's locals.
#![forbid(unsafe_code)]

use plugin_runtime::interface::PluginError;

#[plugin_runtime::interface(kind = "names", major = 1)]
pub trait Names {
    /// Writes into `out`.
    fn fill(&self, out: &mut [u8]) -> Result<usize, PluginError>;
    /// Every parameter named like one of the macro's locals.
    fn mix(&mut self, handle: u32, this: u64, f: f32, error: bool, out: &str) -> u32;
    /// A default body that uses its parameter.
    #[optional]
    fn scale(&self, x: u32) -> u32 {
        x * 2
    }
}

fn main() {}
