//! The command protocol: bytes decoded into a sequence of the property suite's
//! operations (JSON commands as a UI sends them, valid and damaged; owners, tickets,
//! instances, pins, time, and the loader's answers), applied to the core in its router
//! with the simulated loader. After every step the suite's checks run: the core agrees
//! with the reference model, the invariants hold, every outcome and record is the one
//! predicted. At the end every owner lets go and the run shuts down: nothing may leak.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_runtime_proptests::harness::Run;
use plugin_runtime_proptests::{bytes, op};

fuzz_target!(|data: &[u8]| {
    let mut sequence = op::prelude();
    sequence.extend(bytes::ops(data));
    Run::replay(&sequence);
});
