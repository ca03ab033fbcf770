//! Fixture: plugin `fixture.echo`, version 2.0.0. Instances answer tag 2 and scale by 2;
//! it also offers `echo-next` at interface version 2.

use fixture_api::{Echo, EchoNext};

plugin_runtime_sdk::export_module! {
    id: "fixture.echo",
    version: "2.0.0",
    name: "Echo (build 2)",
    capabilities: [Echo<2>, EchoNext],
}
