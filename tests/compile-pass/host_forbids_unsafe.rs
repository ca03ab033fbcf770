// A host written the intended way, in a crate that forbids `unsafe`: it creates an
// instance of an interface and calls it through the generated `...Calls` trait. Guards
// that calling a plugin never needs `unsafe` in host code.
#![forbid(unsafe_code)]

use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::Owner;
use plugin_runtime::interface::CallError;

fn run(owner: &Owner) -> Result<u64, CallError> {
    let mut echo = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .expect("the fixture is loaded");
    let mut block = [0.5_f32; 64];
    echo.process(&mut block)?;
    Ok(u64::from(echo.tag()) + echo.accumulate(3))
}

fn main() {
    // Only the types matter here; running it would need a loaded plugin.
    let _: fn(&Owner) -> Result<u64, CallError> = run;
}
