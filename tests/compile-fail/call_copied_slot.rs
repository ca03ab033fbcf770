// Hole: a host copying a function out of a plugin's vtable and calling it after the
// instance is gone, when the library may be unloaded. Every vtable slot is an
// `unsafe extern "C" fn`, so a copied slot cannot be called from safe code.
#![forbid(unsafe_code)]

use fixture_api::{Echo, ProbeInterface};
use plugin_runtime::Owner;
use plugin_runtime::interface::__private::VTableFor;

fn main() {}

fn late_call(owner: &Owner) -> u32 {
    let instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    let tag = <ProbeInterface as VTableFor<Echo<1>>>::VTABLE.tag;
    let handle = instance.handle();
    drop(instance);
    tag(handle)
}
