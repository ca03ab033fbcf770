//! Compile-fail cases for the plugin side: what a plugin author writing safe code must
//! not be able to do, and a plugin written the intended way that must compile under
//! `#![forbid(unsafe_code)]`.
//!
//! Regenerate a snapshot with `TRYBUILD=overwrite cargo test -p plugin-runtime-sdk
//! --test compile_fail`, then read it: each error must be the intended one.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.pass("tests/compile-pass/*.rs");
    t.compile_fail("tests/compile-fail/*.rs");
}
