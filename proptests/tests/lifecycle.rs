//! The model-based property suite of the generation core.
//!
//! `PLUGIN_RUNTIME_PROPTEST_CASES` sets the number of sequences (default 512, about
//! ten seconds in debug); `PLUGIN_RUNTIME_PROPTEST_LEN` the longest sequence (default 100).

use plugin_runtime_proptests::harness::{Run, Stats};
use plugin_runtime_proptests::op::{Op, ops};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: env("PLUGIN_RUNTIME_PROPTEST_CASES", 512),
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    }
}

fn run(sequence: &[Op]) -> Stats {
    Run::replay(sequence)
}

/// Prints what the default sequences reach, to show the suite exercises every rule:
/// `cargo test -p plugin-runtime-proptests -- --ignored --nocapture reach`.
#[test]
#[ignore = "a report, not a check"]
fn reach() {
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let strategy = ops(env("PLUGIN_RUNTIME_PROPTEST_LEN", 100) as usize);
    let mut total = Stats::default();
    for _ in 0..config().cases {
        let sequence = strategy
            .new_tree(&mut runner)
            .expect("the strategy never rejects")
            .current();
        total += run(&sequence);
    }
    println!("{} sequences: {total:#?}", config().cases);
}

proptest! {
    #![proptest_config(config())]

    /// After every step the core agrees with the model and I1 to I8 hold; once every
    /// owner lets go, nothing drains, nothing leaks, and every library closes once.
    #[test]
    fn core_agrees_with_the_model(sequence in ops(env("PLUGIN_RUNTIME_PROPTEST_LEN", 100) as usize)) {
        let _ = run(&sequence);
    }
}

/// A shutdown whose `deadline_ms` is `u64::MAX`, sent as JSON, and a wake at that
/// deadline: the clock passes `u64::MAX` microseconds and the records' `t_micros`
/// saturate instead of wrapping (found by the suite once JSON commands joined it).
#[test]
fn a_far_shutdown_deadline_saturates_record_time() {
    let mut sequence = plugin_runtime_proptests::op::prelude();
    sequence.push(Op::Json {
        text: r#"{"command":"shutdown","deadline_ms":18446744073709551615}"#.into(),
        route: plugin_runtime_proptests::op::Route {
            owner: false,
            waiter: false,
        },
    });
    sequence.push(Op::Wake);
    let stats = run(&sequence);
    assert_eq!(stats.json_commands, 1);
}
