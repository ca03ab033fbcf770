// Hole: a plugin giving its type another type's vtable, or passing its own vtable off as
// an interface the host knows, by implementing the traits that vouch for them.
// `VTableFor` and `Capability` are `unsafe` traits that only the `interface` macro
// implements, so safe plugin code cannot implement them.
#![forbid(unsafe_code)]

use fixture_api::{Echo, ProbeInterface, ProbeVTable};
use plugin_runtime::abi::Capability;
use plugin_runtime::interface::__private::VTableFor;

struct Small(u8);

unsafe impl VTableFor<Small> for ProbeInterface {
    const VTABLE: &'static ProbeVTable = <ProbeInterface as VTableFor<Echo<1>>>::VTABLE;
}

enum FakeProbe {}

unsafe impl Capability for FakeProbe {
    const KIND: &'static str = ProbeInterface::KIND;
    const INTERFACE_VERSION: u32 = ProbeInterface::INTERFACE_VERSION;
    const INTERFACE_MINOR: u32 = ProbeInterface::INTERFACE_MINOR;
    const LAYOUT: &'static str = ProbeInterface::LAYOUT;
    const LAYOUT_ID: u64 = ProbeInterface::LAYOUT_ID;
    type VTable = [usize; 1];
}

fn main() {}
