// An interface declared the intended way, in a crate that forbids `unsafe`. Guards that
// the `interface` macro's expansion (the vtable's `unsafe extern "C" fn` slots, the
// `unsafe impl`s, the shims' `unsafe` blocks) never makes an interface crate give up
// `#![forbid(unsafe_code)]`.
#![forbid(unsafe_code)]

use plugin_runtime::interface::PluginError;

#[plugin_runtime::interface(kind = "counter", major = 1)]
pub trait Counter {
    /// Advances and returns the count.
    fn next(&mut self) -> u64;
    /// Jumps to `at`.
    fn seek(&mut self, at: u64) -> Result<(), PluginError>;
    /// Names the counter into `out`.
    fn label(&self, prefix: &str, out: &mut [u8]) -> Result<usize, PluginError>;
    /// A method a plugin may leave out.
    #[optional]
    fn reset(&mut self) -> Result<(), PluginError>;
    /// Appended by minor 1.
    #[since(1)]
    fn step(&self) -> u32;
}

fn main() {
    assert_eq!(
        <CounterInterface as plugin_runtime::Capability>::INTERFACE_MINOR,
        1
    );
}
