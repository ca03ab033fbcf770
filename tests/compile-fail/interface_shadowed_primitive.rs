// Hole: the macro once matched primitive names as written and emitted them as written,
// so a crate shadowing `f32` got the layout line of `&mut [f32]` (the id hosts and
// plugins compare) with the ABI of `&mut [f64]`. The expansion now names
// `::core::primitive::f32`, which no longer matches the trait's own signature.
#![forbid(unsafe_code)]
#![allow(non_camel_case_types)]

type f32 = f64;

use plugin_runtime::interface::PluginError;

#[plugin_runtime::interface(kind = "gain", major = 1)]
pub trait Gain {
    fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
}

fn main() {}
