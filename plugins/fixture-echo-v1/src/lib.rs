//! Fixture: plugin `fixture.echo`, version 1.0.0. Instances answer tag 1 and scale by 1.

use fixture_api::{AccumulateFn, Echo, ProbeInterface};
use plugin_runtime_sdk::interface::__private::VTableFor;

plugin_runtime_sdk::export_module! {
    id: "fixture.echo",
    version: "1.0.0",
    name: "Echo (build 1)",
    capabilities: [Echo<1>],
}

/// The very function the vtable's `accumulate` slot points to, exported so that a
/// benchmark can call it through a raw `libloading` symbol and through an instance side
/// by side. (It reaches the generated vtable through the macro's hidden support module,
/// as only a benchmark fixture should.)
#[unsafe(no_mangle)]
pub static fixture_echo_accumulate: AccumulateFn =
    <ProbeInterface as VTableFor<Echo<1>>>::VTABLE.accumulate;
