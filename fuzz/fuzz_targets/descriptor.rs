//! Descriptor validation: the fuzzer's bytes are laid out as a module descriptor in an
//! arena this target owns (header, strings, capability array, vtables and their sizes,
//! interface ids and layouts; every pointer and length that validation may read inside
//! the arena), then run through the loader's validation. It must never crash, and an
//! independent checker of the ABI's rules (`rules.rs`) is the oracle: validation
//! accepts exactly what the rules accept, and copies exactly what they say.
#![no_main]

#[path = "descriptor/arena.rs"]
mod arena;
#[path = "descriptor/rules.rs"]
mod rules;

use libfuzzer_sys::fuzz_target;
use plugin_runtime::abi::ModuleDescriptor;
use plugin_runtime::fuzzing::validate_descriptor;

fuzz_target!(|data: &[u8]| {
    let built = arena::build(data);
    let expected = built.expected.as_deref();
    let descriptor = built.descriptor as *const ModuleDescriptor;
    // SAFETY: `arena::build` keeps every pointer and length that validation may read
    // inside the arena (see its documentation), which lives until the end of this
    // closure; null and misaligned pointers are refused before any read.
    let validated = unsafe { validate_descriptor(descriptor, expected) };
    let view = rules::View {
        base: built.base(),
        bytes: built.bytes(),
    };
    let ruled = rules::check(&view, built.descriptor, expected);
    match (validated, ruled) {
        (Ok(validated), Ok(accepted)) => {
            let copied = rules::Accepted {
                info: validated.info,
                capabilities: validated
                    .capabilities
                    .iter()
                    .map(|&(vtable, create, destroy)| {
                        (vtable as usize, create as usize, destroy as usize)
                    })
                    .collect(),
                init: validated.init.map_or(0, |f| f as usize),
                deinit: validated.deinit.map_or(0, |f| f as usize),
            };
            assert_eq!(copied, accepted, "validation copied another module");
        }
        (Err(_), Err(_)) => {}
        (Ok(validated), Err(rule)) => {
            panic!("validation accepted a descriptor that breaks a rule ({rule}): {validated:?}")
        }
        (Err(error), Ok(accepted)) => {
            panic!("validation refused a descriptor the rules accept: {error}: {accepted:?}")
        }
    }
});
