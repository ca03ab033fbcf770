//! Fixture: plugin `fixture.tally`, version 1.0.0: a counter whose state build 2 reads
//! from build 1, and whose configuration plans follow its text (see `fixture_api::tally`).

use fixture_api::tally::Counter;

plugin_runtime_sdk::export_module! {
    id: "fixture.tally",
    version: "1.0.0",
    name: "Tally (build 1)",
    capabilities: [Counter<1>],
}
