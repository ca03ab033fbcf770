//! The executable specification of the generation core.
//!
//! [`model::Model`] is a small reference model of the lifecycle rules written with
//! vectors and linear scans. [`harness::Run`] drives the real
//! [`Lifecycle`](plugin_runtime::generation::Lifecycle), inside the
//! [`Router`](plugin_runtime::routing::Router) the runtime's actor uses, and the model
//! with the same [`op::Op`]s. It performs the router's actions as the actor does, against
//! a [`SimulatedLoader`](plugin_runtime::loader::simulated::SimulatedLoader), and after
//! every step checks that the two agree, that the invariants I1 to I8 of the design
//! brief hold, that every outcome, notice and drain stall reaches its destination, and
//! that every published event record is the one the model predicts, field by field, in
//! the documented order. [`foreign::OtherCore`] is a second core whose keys a run hands to the
//! core under test. `tests/lifecycle.rs` feeds it random sequences; the `commands`
//! target of the workspace's `fuzz/` crate feeds it sequences decoded from a fuzzer's
//! bytes ([`bytes`]), with the same checks.

pub mod bytes;
pub mod foreign;
pub mod harness;
pub mod model;
pub mod op;
