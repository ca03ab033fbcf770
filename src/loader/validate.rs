//! Reading and validating a module descriptor before anything of it is published.
//!
//! This is the only code that dereferences pointers a plugin hands over at load time.
//! It reads the fixed header first, refuses what it cannot read (wrong magic, another ABI
//! major, a prefix smaller than this host's), and then copies every string into owned
//! memory after checking pointers, lengths and UTF-8.

use std::collections::HashSet;
use std::ffi::c_void;
use std::mem::{align_of, size_of};

use super::error::{DescriptorError, LoadError};
use crate::abi::layout::layout_lines;
use crate::abi::{
    ABI_VERSION_MAJOR, BytesRef, CapabilityDescriptor, CreateFn, DeinitFn, DestroyFn, InitFn,
    MODULE_MAGIC, ModuleDescriptor, ModuleHeader, StrRef, layout_id,
};
use crate::module::{CapabilityInfo, ModuleInfo};

/// More capabilities than this is a corrupt count, not a module.
const MAX_CAPABILITIES: usize = 4096;
/// Longer strings or configurations than this are corrupt lengths.
const MAX_FIELD_LEN: usize = 1 << 20;
/// A capability descriptor larger than this is a corrupt stride, not a newer ABI.
const MAX_CAPABILITY_SIZE: u32 = 1 << 16;
/// More vtable slots than this is a corrupt layout, not an interface.
const MAX_SLOTS: usize = 4096;

/// The function pointers of one capability, in the order of `ModuleInfo::capabilities`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawCapability {
    pub(crate) vtable: *const c_void,
    pub(crate) create: CreateFn,
    pub(crate) destroy: DestroyFn,
}

/// A validated descriptor: the owned description and the raw entry points.
#[derive(Debug)]
pub(crate) struct ValidatedModule {
    pub(crate) info: ModuleInfo,
    pub(crate) capabilities: Vec<RawCapability>,
    pub(crate) init: Option<InitFn>,
    pub(crate) deinit: Option<DeinitFn>,
}

/// Validates the descriptor the entry symbol returned.
///
/// # Safety
///
/// `descriptor` is what the library's entry symbol returned, and the library stays loaded
/// while this runs. If the pointer is not null, aligned, and starts with the magic, it must
/// point to a readable descriptor of at least the size its header claims; that is the
/// ABI's promise, and a library breaking it is outside what the host can defend against.
pub(crate) unsafe fn validate(
    descriptor: *const ModuleDescriptor,
    expected_plugin_id: Option<&str>,
) -> Result<ValidatedModule, LoadError> {
    if descriptor.is_null() {
        return Err(LoadError::Magic { found: 0 });
    }
    if !descriptor.cast::<ModuleHeader>().is_aligned() {
        return Err(DescriptorError::Misaligned.into());
    }
    // SAFETY: non-null and aligned (checked above); every ABI version starts with the
    // header, and the caller's promise covers reading it.
    let header = unsafe { descriptor.cast::<ModuleHeader>().read() };
    if header.magic != MODULE_MAGIC {
        return Err(LoadError::Magic {
            found: header.magic,
        });
    }
    if header.abi_major != ABI_VERSION_MAJOR {
        return Err(LoadError::AbiVersion {
            found: header.abi_major,
            expected: ABI_VERSION_MAJOR,
        });
    }
    let needed = size_of::<ModuleDescriptor>() as u32;
    if header.descriptor_size < needed {
        return Err(DescriptorError::TooSmall {
            found: header.descriptor_size,
            needed,
        }
        .into());
    }
    let needed = size_of::<CapabilityDescriptor>() as u32;
    if header.capability_size < needed {
        return Err(DescriptorError::CapabilityTooSmall {
            found: header.capability_size,
            needed,
        }
        .into());
    }
    if header.capability_size > MAX_CAPABILITY_SIZE {
        return Err(DescriptorError::TooLarge {
            field: "capability_size".into(),
            value: header.capability_size as usize,
        }
        .into());
    }
    if !(header.capability_size as usize).is_multiple_of(align_of::<CapabilityDescriptor>()) {
        return Err(DescriptorError::Misaligned.into());
    }

    // SAFETY: the header says the descriptor has at least the prefix this host reads
    // (checked above); the caller's promise covers the rest.
    let module = unsafe { &*descriptor };
    // SAFETY: each string pair is part of the static descriptor (caller's promise).
    let plugin_id = unsafe { read_str(module.plugin_id, "plugin_id") }?;
    if plugin_id.is_empty() {
        return Err(empty("plugin_id"));
    }
    // SAFETY: as above.
    let version = unsafe { read_str(module.plugin_version, "plugin_version") }?;
    // SAFETY: as above.
    let display_name = unsafe { read_str(module.display_name, "display_name") }?;

    let count = module.capability_count;
    if count > MAX_CAPABILITIES {
        return Err(DescriptorError::TooLarge {
            field: "capability_count".into(),
            value: count,
        }
        .into());
    }
    if count > 0 && module.capabilities.is_null() {
        return Err(null("capabilities"));
    }
    if count > 0 && !module.capabilities.is_aligned() {
        return Err(DescriptorError::Misaligned.into());
    }

    let mut infos = Vec::with_capacity(count);
    let mut raws = Vec::with_capacity(count);
    let mut seen = HashSet::with_capacity(count);
    for i in 0..count {
        let stride = header.capability_size as usize;
        // SAFETY: `capabilities` points to `count` descriptors `stride` bytes apart (the
        // ABI's promise); `stride` is at least our descriptor's size and a multiple of its
        // alignment, and the base is aligned (all checked above).
        let cap = unsafe {
            &*module
                .capabilities
                .cast::<u8>()
                .add(i * stride)
                .cast::<CapabilityDescriptor>()
        };
        // SAFETY: the capability's strings are static data of the library.
        let (info, raw) = unsafe { read_capability(cap, i) }?;
        if !seen.insert((info.kind.clone(), info.type_id.clone())) {
            return Err(DescriptorError::DuplicateCapability {
                kind: info.kind,
                type_id: info.type_id,
            }
            .into());
        }
        infos.push(info);
        raws.push(raw);
    }

    if let Some(expected) = expected_plugin_id
        && expected != plugin_id
    {
        return Err(LoadError::PluginIdMismatch {
            expected: expected.to_owned(),
            found: plugin_id,
        });
    }

    Ok(ValidatedModule {
        info: ModuleInfo {
            digest: None,
            plugin_id,
            version,
            display_name,
            abi_major: header.abi_major,
            abi_minor: header.abi_minor,
            capabilities: infos,
        },
        capabilities: raws,
        init: module.init,
        deinit: module.deinit,
    })
}

/// # Safety
///
/// `cap`'s pointers follow the ABI (static data of a loaded library).
unsafe fn read_capability(
    cap: &CapabilityDescriptor,
    index: usize,
) -> Result<(CapabilityInfo, RawCapability), LoadError> {
    let field = |name: &str| format!("capabilities[{index}].{name}");
    // SAFETY: forwarded from the caller.
    let kind = unsafe { read_str(cap.kind, &field("kind")) }?;
    if kind.is_empty() {
        return Err(empty(&field("kind")));
    }
    // SAFETY: forwarded from the caller.
    let type_id = unsafe { read_str(cap.type_id, &field("type_id")) }?;
    if type_id.is_empty() {
        return Err(empty(&field("type_id")));
    }
    // SAFETY: forwarded from the caller.
    let display_name = unsafe { read_str(cap.display_name, &field("display_name")) }?;
    // SAFETY: forwarded from the caller.
    let default_config = unsafe { read_bytes(cap.default_config, &field("default_config")) }?;
    // SAFETY: forwarded from the caller.
    let layout = unsafe { read_str(cap.layout, &field("layout")) }?;
    if cap.vtable.is_null() {
        return Err(DescriptorError::NullVtable { kind, type_id }.into());
    }
    let Some(create) = cap.create else {
        return Err(missing(kind, type_id, "create"));
    };
    let Some(destroy) = cap.destroy else {
        return Err(missing(kind, type_id, "destroy"));
    };
    let lines = match layout_lines(&layout) {
        Ok(lines) => lines,
        Err(line) => {
            return Err(DescriptorError::MalformedLayout {
                kind,
                type_id,
                line,
            }
            .into());
        }
    };
    let computed = layout_id(&kind, cap.interface_version, &layout);
    if computed != cap.layout_id {
        return Err(DescriptorError::LayoutId {
            kind,
            type_id,
            found: cap.layout_id,
            computed,
        }
        .into());
    }
    let slots = lines.len();
    if slots > MAX_SLOTS
        || Some(cap.vtable_size) != slots.checked_mul(size_of::<usize>())
        || !cap.vtable.cast::<usize>().is_aligned()
    {
        return Err(DescriptorError::VtableShape {
            kind,
            type_id,
            size: cap.vtable_size,
            slots,
        }
        .into());
    }
    for (i, line) in lines.iter().enumerate() {
        // SAFETY: the vtable is aligned for pointers and `vtable_size` bytes long, one
        // pointer per line (checked above); the ABI makes it static data of the library.
        let slot = unsafe { cap.vtable.cast::<*const c_void>().add(i).read() };
        if slot.is_null() && !line.optional {
            let method = line.name.to_owned();
            return Err(DescriptorError::NullSlot {
                kind,
                type_id,
                method,
            }
            .into());
        }
    }
    Ok((
        CapabilityInfo {
            kind,
            type_id,
            interface_version: cap.interface_version,
            interface_minor: cap.interface_minor,
            layout_id: cap.layout_id,
            layout,
            vtable_size: cap.vtable_size,
            display_name,
            default_config,
        },
        RawCapability {
            vtable: cap.vtable,
            create,
            destroy,
        },
    ))
}

/// # Safety
///
/// A non-null `s.ptr` points to `s.len` readable bytes.
unsafe fn read_str(s: StrRef, field: &str) -> Result<String, LoadError> {
    // SAFETY: same pair, same promise.
    let bytes = unsafe {
        read_bytes(
            BytesRef {
                ptr: s.ptr,
                len: s.len,
            },
            field,
        )
    }?;
    String::from_utf8(bytes).map_err(|_| {
        DescriptorError::InvalidUtf8 {
            field: field.to_owned(),
        }
        .into()
    })
}

/// # Safety
///
/// A non-null `b.ptr` points to `b.len` readable bytes.
unsafe fn read_bytes(b: BytesRef, field: &str) -> Result<Vec<u8>, LoadError> {
    if b.len > MAX_FIELD_LEN {
        return Err(DescriptorError::TooLarge {
            field: field.to_owned(),
            value: b.len,
        }
        .into());
    }
    if b.len > 0 && b.ptr.is_null() {
        return Err(null(field));
    }
    // SAFETY: non-null with a plausible length (checked above); the caller promises
    // the bytes are readable.
    Ok(unsafe { b.as_slice() }.to_vec())
}

fn null(field: &str) -> LoadError {
    DescriptorError::NullPointer {
        field: field.to_owned(),
    }
    .into()
}

fn empty(field: &str) -> LoadError {
    DescriptorError::Empty {
        field: field.to_owned(),
    }
    .into()
}

fn missing(kind: String, type_id: String, function: &'static str) -> LoadError {
    DescriptorError::MissingFunction {
        kind,
        type_id,
        function,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{ErrorBuf, InstanceHandle, Status};

    unsafe extern "C" fn create(_: BytesRef, _: *mut InstanceHandle, _: *mut ErrorBuf) -> Status {
        Status::UNSUPPORTED
    }

    unsafe extern "C" fn destroy(_: InstanceHandle, _: *mut ErrorBuf) -> Status {
        Status::UNSUPPORTED
    }

    static VTABLE: u64 = 0;

    fn capability(kind: &'static str, type_id: &'static str) -> CapabilityDescriptor {
        CapabilityDescriptor {
            kind: StrRef::new(kind),
            type_id: StrRef::new(type_id),
            interface_version: 3,
            interface_minor: 0,
            layout_id: layout_id(kind, 3, ""),
            layout: StrRef::EMPTY,
            display_name: StrRef::new("d"),
            default_config: BytesRef::new(b"cfg"),
            vtable: (&VTABLE as *const u64).cast(),
            vtable_size: 0,
            create: Some(create),
            destroy: Some(destroy),
        }
    }

    fn module(capabilities: &[CapabilityDescriptor]) -> ModuleDescriptor {
        ModuleDescriptor {
            header: ModuleHeader {
                magic: MODULE_MAGIC,
                abi_major: ABI_VERSION_MAJOR,
                abi_minor: 7,
                descriptor_size: size_of::<ModuleDescriptor>() as u32,
                capability_size: size_of::<CapabilityDescriptor>() as u32,
            },
            plugin_id: StrRef::new("test.module"),
            plugin_version: StrRef::new("9.9"),
            display_name: StrRef::new("Test"),
            capabilities: capabilities.as_ptr(),
            capability_count: capabilities.len(),
            init: None,
            deinit: None,
        }
    }

    fn check(m: &ModuleDescriptor) -> Result<ValidatedModule, LoadError> {
        // SAFETY: `m` is a live descriptor whose pointers reach live data in this test.
        unsafe { validate(m, None) }
    }

    #[test]
    fn a_good_descriptor_is_copied_whole() {
        let caps = [capability("dsp", "a"), capability("dsp", "b")];
        let v = check(&module(&caps)).unwrap();
        assert_eq!(v.info.plugin_id, "test.module");
        assert_eq!(v.info.abi_minor, 7);
        assert_eq!(v.info.capabilities.len(), 2);
        assert_eq!(v.info.capabilities[1].type_id, "b");
        assert_eq!(v.info.capabilities[1].default_config, b"cfg");
        assert_eq!(v.info.capabilities[1].interface_version, 3);
    }

    #[test]
    fn a_newer_and_larger_capability_stride_is_read_by_its_prefix() {
        #[repr(C)]
        struct Wider {
            cap: CapabilityDescriptor,
            appended: u64,
        }
        let caps = [
            Wider {
                cap: capability("dsp", "a"),
                appended: 1,
            },
            Wider {
                cap: capability("dsp", "b"),
                appended: 2,
            },
        ];
        let mut m = module(&[]);
        m.header.capability_size = size_of::<Wider>() as u32;
        m.capabilities = caps.as_ptr().cast();
        m.capability_count = 2;
        let v = check(&m).unwrap();
        assert_eq!(v.info.capabilities[1].type_id, "b");
    }

    #[test]
    fn each_defect_has_its_own_error() {
        let caps = [capability("dsp", "a")];
        let mut m = module(&caps);
        m.header.magic = 7;
        assert!(matches!(check(&m), Err(LoadError::Magic { found: 7 })));

        let mut m = module(&caps);
        m.header.abi_major = 9;
        assert!(matches!(
            check(&m),
            Err(LoadError::AbiVersion { found: 9, .. })
        ));

        let mut m = module(&caps);
        m.header.descriptor_size = 8;
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::TooSmall { .. }))
        ));

        let mut m = module(&caps);
        m.header.capability_size = 8;
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(
                DescriptorError::CapabilityTooSmall { .. }
            ))
        ));

        let mut m = module(&caps);
        m.plugin_id = StrRef::EMPTY;
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::Empty { .. }))
        ));

        let mut m = module(&caps);
        m.plugin_version = StrRef {
            ptr: std::ptr::null(),
            len: 3,
        };
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::NullPointer { ref field })) if field == "plugin_version"
        ));

        let mut m = module(&caps);
        m.capabilities = std::ptr::null();
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::NullPointer { .. }))
        ));

        let mut m = module(&caps);
        m.header.capability_size = MAX_CAPABILITY_SIZE + 8;
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::TooLarge { ref field, .. })) if field == "capability_size"
        ));

        let mut m = module(&caps);
        m.capability_count = MAX_CAPABILITIES + 1;
        assert!(matches!(
            check(&m),
            Err(LoadError::Descriptor(DescriptorError::TooLarge { .. }))
        ));

        let no_create = [CapabilityDescriptor {
            create: None,
            ..capability("dsp", "a")
        }];
        assert!(matches!(
            check(&module(&no_create)),
            Err(LoadError::Descriptor(DescriptorError::MissingFunction {
                function: "create",
                ..
            }))
        ));
        let no_destroy = [CapabilityDescriptor {
            destroy: None,
            ..capability("dsp", "a")
        }];
        assert!(matches!(
            check(&module(&no_destroy)),
            Err(LoadError::Descriptor(DescriptorError::MissingFunction {
                function: "destroy",
                ..
            }))
        ));
        let empty_kind = [capability("", "a")];
        assert!(matches!(
            check(&module(&empty_kind)),
            Err(LoadError::Descriptor(DescriptorError::Empty { .. }))
        ));
        // The same type id under two kinds is two capabilities, not a duplicate.
        let two_kinds = [capability("dsp", "a"), capability("decoder", "a")];
        assert!(check(&module(&two_kinds)).is_ok());

        // The layout checks: a description that does not parse, an id that is not the
        // description's, a size that is not one pointer per slot, a null required slot.
        static SLOTS: [usize; 2] = [0, 0];
        let with_layout = |layout: &'static str, size: usize| CapabilityDescriptor {
            layout: StrRef::new(layout),
            layout_id: layout_id("dsp", 3, layout),
            vtable: (&SLOTS as *const [usize; 2]).cast(),
            vtable_size: size,
            ..capability("dsp", "a")
        };
        let malformed = [with_layout("0 a(&self) -> u32\nnot a line", 16)];
        assert!(matches!(
            check(&module(&malformed)),
            Err(LoadError::Descriptor(DescriptorError::MalformedLayout {
                line: 1,
                ..
            }))
        ));
        let wrong_id = [CapabilityDescriptor {
            layout_id: 42,
            ..with_layout("0? a(&self) -> u32", 8)
        }];
        assert!(matches!(
            check(&module(&wrong_id)),
            Err(LoadError::Descriptor(DescriptorError::LayoutId {
                found: 42,
                ..
            }))
        ));
        let wrong_size = [with_layout("0? a(&self) -> u32", 16)];
        assert!(matches!(
            check(&module(&wrong_size)),
            Err(LoadError::Descriptor(DescriptorError::VtableShape {
                size: 16,
                slots: 1,
                ..
            }))
        ));
        let null_required = [with_layout("0? a(&self) -> u32\n0 b(&self) -> u32", 16)];
        assert!(matches!(
            check(&module(&null_required)),
            Err(LoadError::Descriptor(DescriptorError::NullSlot { ref method, .. })) if method == "b"
        ));
        // Null optional slots are fine.
        let optional = [with_layout("0? a(&self) -> u32\n1? b(&self) -> u32", 16)];
        assert!(check(&module(&optional)).is_ok());

        assert!(matches!(
            // SAFETY: a null descriptor is never dereferenced.
            unsafe { validate(std::ptr::null(), None) },
            Err(LoadError::Magic { found: 0 })
        ));
    }

    /// Found by the `descriptor` fuzz target: layout lines outside the documented form
    /// were accepted, a minor with a leading zero (minor 0 to the parser, yet left out
    /// of the layout id, which knows base lines by their text) and a line without a
    /// return type. The first layout is the one of the fuzzer's input, with its id
    /// computed as a plugin would.
    #[test]
    fn layout_lines_the_fuzzer_found_are_malformed() {
        static SLOTS: [usize; 4] = [1, 1, 1, 1];
        for layout in [
            "00 b_2(&self) -> \n00 b_2(&self) -> \n\
             00 process(&mut self, &mut [f32]) -> Result<(), PluginError>\n\
             0 process(&mut self, &mut [f32]) -> Result<(), PluginError>",
            "00 a(&self) -> u32",
            "0 a(&self) -> ",
        ] {
            let caps = [CapabilityDescriptor {
                layout: StrRef::new(layout),
                layout_id: layout_id("dsp", 3, layout),
                vtable: (&SLOTS as *const [usize; 4]).cast(),
                vtable_size: layout.split('\n').count() * size_of::<usize>(),
                ..capability("dsp", "a")
            }];
            assert!(
                matches!(
                    check(&module(&caps)),
                    Err(LoadError::Descriptor(DescriptorError::MalformedLayout {
                        line: 0,
                        ..
                    }))
                ),
                "{layout:?}"
            );
        }
    }
}
