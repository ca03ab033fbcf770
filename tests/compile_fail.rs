//! Compile-fail cases for the host side and for interface declarations: what safe host
//! code must not be able to do with a plugin's code, which interface declarations the
//! `interface` macro refuses, and host and interface code written the intended way that
//! must compile under `#![forbid(unsafe_code)]`. The plugin side's cases are in the SDK's
//! `tests/compile_fail.rs`.
//!
//! Regenerate a snapshot with `TRYBUILD=overwrite cargo test -p plugin-runtime --test
//! compile_fail`, then read it: each error must be the intended one.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.pass("tests/compile-pass/*.rs");
    t.compile_fail("tests/compile-fail/*.rs");
}
