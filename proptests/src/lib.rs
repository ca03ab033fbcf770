//! The executable specification of the generation core.
//!
//! [`model::Model`] is a small reference model of the lifecycle rules written with
//! vectors and linear scans. [`harness::Run`] drives the real
//! [`Lifecycle`](plugin_runtime::generation::Lifecycle) and the model with the same
//! [`op::Op`]s, plays the actor against a
//! [`SimulatedLoader`](plugin_runtime::loader::simulated::SimulatedLoader), and after
//! every step checks that the two agree and that the invariants I1 to I8 of the design
//! brief hold. [`foreign::OtherCore`] is a second core whose keys a run hands to the
//! core under test. `tests/lifecycle.rs` feeds it random sequences.

pub mod foreign;
pub mod harness;
pub mod model;
pub mod op;
