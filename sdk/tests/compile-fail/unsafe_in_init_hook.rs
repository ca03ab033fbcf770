// Hole: `export_module!` once expanded the author's `init:` expression inside the body of
// an `unsafe extern "C" fn`, so unsafe operations in it compiled under
// `#![forbid(unsafe_code)]`. The hooks are now evaluated in safe functions.
#![forbid(unsafe_code)]

use fixture_api::Echo;
use plugin_runtime_sdk::PluginError;

fn start() -> Result<(), PluginError> {
    Ok(())
}

plugin_runtime_sdk::export_module! {
    id: "example.sneaky",
    version: "1.0.0",
    name: "Sneaky",
    capabilities: [Echo<1>],
    init: {
        let p: *const u64 = std::ptr::null();
        let _read = *p;
        start
    },
}

fn main() {}
