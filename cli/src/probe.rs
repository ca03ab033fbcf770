//! `plugin-runtime-probe`: loads one library for `plugin-runtime inspect` in a process of
//! its own, so that a library that crashes takes only this process down.
//!
//! Its arguments and output belong to `plugin_runtime::loader::probe`, which starts it.

use std::process::ExitCode;

fn main() -> ExitCode {
    plugin_runtime::loader::probe::serve(std::env::args_os().skip(1), &mut std::io::stdout())
}
