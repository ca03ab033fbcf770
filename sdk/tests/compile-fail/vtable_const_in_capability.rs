// Hole: a capability naming its own vtable. `CapabilityImpl` once had a safe associated
// `const VTABLE`, so a plugin type could export another type's vtable and the host would
// run that type's methods on this type's instances. The item is gone: the SDK always
// exports `<T::Interface as VTableFor<T>>::VTABLE` for the very `T` it boxes.
#![forbid(unsafe_code)]

use fixture_api::{Echo, ProbeInterface, ProbeVTable};
use plugin_runtime::interface::__private::VTableFor;
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

struct Small(u8);

impl CapabilityImpl for Small {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "small";
    const DISPLAY_NAME: &'static str = "Small";
    const VTABLE: &'static ProbeVTable = <ProbeInterface as VTableFor<Echo<1>>>::VTABLE;

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Small(0))
    }
}

fn main() {}
