//! Fixture: plugin `fixture.echo`, version 1.0.0. Instances answer tag 1 and scale by 1.

use fixture_api::{AccumulateFn, Echo, accumulate_shim};

plugin_runtime_sdk::export_module! {
    id: "fixture.echo",
    version: "1.0.0",
    name: "Echo (build 1)",
    capabilities: [Echo<1>],
}

/// The very function the vtable's `accumulate` points to, exported so that a benchmark
/// can call it through a raw `libloading` symbol and through an instance side by side.
#[unsafe(no_mangle)]
pub static fixture_echo_accumulate: AccumulateFn = accumulate_shim::<Echo<1>>;
