// Hole: a host reaching an instance's vtable to copy a slot out of it. `Instance` gives
// no `&VTable` (there is no `vtable()`), only a hidden raw pointer for the generated
// calls, which safe code cannot dereference.
#![forbid(unsafe_code)]

use fixture_api::ProbeInterface;
use plugin_runtime::Instance;

fn main() {}

fn through_a_reference(instance: &Instance<ProbeInterface>) {
    let _tag = instance.vtable().tag;
}

fn through_the_hidden_pointer(instance: &Instance<ProbeInterface>) {
    let vtable = instance.__vtable();
    let _tag = (*vtable).tag;
}
