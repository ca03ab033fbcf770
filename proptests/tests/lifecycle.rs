//! The model-based property suite of the generation core.
//!
//! `PLUGIN_RUNTIME_PROPTEST_CASES` sets the number of sequences (default 256, a few
//! seconds in debug); `PLUGIN_RUNTIME_PROPTEST_LEN` the longest sequence (default 80).

use plugin_runtime_proptests::harness::Run;
use plugin_runtime_proptests::op::{Op, ops};
use proptest::prelude::*;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: env("PLUGIN_RUNTIME_PROPTEST_CASES", 256),
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    }
}

fn run(sequence: &[Op]) {
    let mut run = Run::new();
    for op in sequence {
        run.step(op);
    }
    run.finish();
}

proptest! {
    #![proptest_config(config())]

    /// After every step the core agrees with the model and I1 to I8 hold; once every
    /// owner lets go, nothing drains, nothing leaks, and every library closes once.
    #[test]
    fn core_agrees_with_the_model(sequence in ops(env("PLUGIN_RUNTIME_PROPTEST_LEN", 80) as usize)) {
        run(&sequence);
    }
}
