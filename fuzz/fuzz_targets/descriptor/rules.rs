//! The oracle: the ABI's rules for a module descriptor, written from its documentation
//! (`docs/design.md`, "The ABI" and "Loading, step by step", and `src/abi/layout.rs`)
//! and independently of the loader's validation. It reads the arena by the ABI's
//! offsets and says whether a loader must accept the descriptor, and what it must copy.

use std::collections::HashSet;
use std::mem::offset_of;

use plugin_runtime::abi::{CapabilityDescriptor, ModuleDescriptor, ModuleHeader};
use plugin_runtime::module::{CapabilityInfo, ModuleInfo};

/// The bound on the number of capabilities.
pub const MAX_CAPABILITIES: usize = 4096;
/// The bound on a string's or a configuration's length, in bytes.
pub const MAX_FIELD_LEN: usize = 1 << 20;
/// The bound on one capability descriptor's size (the stride).
pub const MAX_CAPABILITY_SIZE: u32 = 1 << 16;
/// The bound on the number of vtable slots.
pub const MAX_SLOTS: usize = 4096;
/// The ABI major this host reads.
pub const ABI_MAJOR: u32 = 2;
/// `"PLRTMOD\0"`, little endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"PLRTMOD\0");

/// Offsets in a module descriptor (`#[repr(C)]` on a 64-bit target).
pub mod desc {
    pub const MAGIC: usize = 0;
    pub const ABI_MAJOR: usize = 8;
    pub const ABI_MINOR: usize = 12;
    pub const DESCRIPTOR_SIZE: usize = 16;
    pub const CAPABILITY_SIZE: usize = 20;
    pub const PLUGIN_ID: usize = 24;
    pub const PLUGIN_VERSION: usize = 40;
    pub const DISPLAY_NAME: usize = 56;
    pub const CAPABILITIES: usize = 72;
    pub const CAPABILITY_COUNT: usize = 80;
    pub const INIT: usize = 88;
    pub const DEINIT: usize = 96;
    /// The prefix this host reads.
    pub const SIZE: usize = 104;
}

/// Offsets in a capability descriptor.
pub mod cap {
    pub const KIND: usize = 0;
    pub const TYPE_ID: usize = 16;
    pub const INTERFACE_VERSION: usize = 32;
    pub const INTERFACE_MINOR: usize = 36;
    pub const LAYOUT_ID: usize = 40;
    pub const LAYOUT: usize = 48;
    pub const DISPLAY_NAME: usize = 64;
    pub const DEFAULT_CONFIG: usize = 80;
    pub const VTABLE: usize = 96;
    pub const VTABLE_SIZE: usize = 104;
    pub const CREATE: usize = 112;
    pub const DESTROY: usize = 120;
    /// The prefix this host reads.
    pub const SIZE: usize = 128;
}

// The offsets above are the library's `#[repr(C)]` types', so the arena is laid out as
// a real plugin's descriptor is.
const _: () = {
    assert!(offset_of!(ModuleHeader, magic) == desc::MAGIC);
    assert!(offset_of!(ModuleHeader, abi_major) == desc::ABI_MAJOR);
    assert!(offset_of!(ModuleHeader, abi_minor) == desc::ABI_MINOR);
    assert!(offset_of!(ModuleHeader, descriptor_size) == desc::DESCRIPTOR_SIZE);
    assert!(offset_of!(ModuleHeader, capability_size) == desc::CAPABILITY_SIZE);
    assert!(offset_of!(ModuleDescriptor, plugin_id) == desc::PLUGIN_ID);
    assert!(offset_of!(ModuleDescriptor, plugin_version) == desc::PLUGIN_VERSION);
    assert!(offset_of!(ModuleDescriptor, display_name) == desc::DISPLAY_NAME);
    assert!(offset_of!(ModuleDescriptor, capabilities) == desc::CAPABILITIES);
    assert!(offset_of!(ModuleDescriptor, capability_count) == desc::CAPABILITY_COUNT);
    assert!(offset_of!(ModuleDescriptor, init) == desc::INIT);
    assert!(offset_of!(ModuleDescriptor, deinit) == desc::DEINIT);
    assert!(size_of::<ModuleDescriptor>() == desc::SIZE);
    assert!(offset_of!(CapabilityDescriptor, kind) == cap::KIND);
    assert!(offset_of!(CapabilityDescriptor, type_id) == cap::TYPE_ID);
    assert!(offset_of!(CapabilityDescriptor, interface_version) == cap::INTERFACE_VERSION);
    assert!(offset_of!(CapabilityDescriptor, interface_minor) == cap::INTERFACE_MINOR);
    assert!(offset_of!(CapabilityDescriptor, layout_id) == cap::LAYOUT_ID);
    assert!(offset_of!(CapabilityDescriptor, layout) == cap::LAYOUT);
    assert!(offset_of!(CapabilityDescriptor, display_name) == cap::DISPLAY_NAME);
    assert!(offset_of!(CapabilityDescriptor, default_config) == cap::DEFAULT_CONFIG);
    assert!(offset_of!(CapabilityDescriptor, vtable) == cap::VTABLE);
    assert!(offset_of!(CapabilityDescriptor, vtable_size) == cap::VTABLE_SIZE);
    assert!(offset_of!(CapabilityDescriptor, create) == cap::CREATE);
    assert!(offset_of!(CapabilityDescriptor, destroy) == cap::DESTROY);
    assert!(size_of::<CapabilityDescriptor>() == cap::SIZE);
};

/// What the rules say a loader must copy out of an accepted descriptor.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub info: ModuleInfo,
    /// Per capability: vtable, `create` and `destroy` addresses.
    pub capabilities: Vec<(usize, usize, usize)>,
    /// `init` and `deinit` addresses (0 when absent).
    pub init: usize,
    pub deinit: usize,
}

/// The arena as the rules read it: bytes at an address.
pub struct View<'a> {
    pub base: usize,
    pub bytes: &'a [u8],
}

impl View<'_> {
    /// `len` bytes at `address`. The harness keeps everything the rules read inside the
    /// arena; anything else is a bug of the harness.
    fn read(&self, address: usize, len: usize) -> &[u8] {
        address
            .checked_sub(self.base)
            .and_then(|offset| self.bytes.get(offset..offset.checked_add(len)?))
            .unwrap_or_else(|| {
                panic!("harness: a read of {len} bytes at {address:#x} is outside the arena")
            })
    }

    fn u32(&self, address: usize) -> u32 {
        u32::from_le_bytes(self.read(address, 4).try_into().unwrap())
    }

    fn u64(&self, address: usize) -> u64 {
        u64::from_le_bytes(self.read(address, 8).try_into().unwrap())
    }

    fn word(&self, address: usize) -> usize {
        self.u64(address) as usize
    }

    /// A `(pointer, length)` pair at `address`: at most the bound, not null unless empty.
    fn field(&self, address: usize) -> Result<Vec<u8>, &'static str> {
        let pointer = self.word(address);
        let len = self.word(address + 8);
        if len > MAX_FIELD_LEN {
            return Err("a field is longer than the bound");
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        if pointer == 0 {
            return Err("a non-empty field is null");
        }
        Ok(self.read(pointer, len).to_vec())
    }

    /// A field that must be UTF-8.
    fn text(&self, address: usize) -> Result<String, &'static str> {
        String::from_utf8(self.field(address)?).map_err(|_| "a string is not UTF-8")
    }
}

/// Whether validation walks capability descriptors of this size.
pub fn stride_ok(size: u32) -> bool {
    size as usize >= cap::SIZE && size <= MAX_CAPABILITY_SIZE && size.is_multiple_of(8)
}

/// The rules, applied to the descriptor at `descriptor` for a load expecting `expected`.
pub fn check(
    view: &View<'_>,
    descriptor: usize,
    expected: Option<&str>,
) -> Result<Accepted, &'static str> {
    if descriptor == 0 {
        return Err("null descriptor");
    }
    if !descriptor.is_multiple_of(8) {
        return Err("misaligned descriptor");
    }
    let d = descriptor;
    if view.u64(d + desc::MAGIC) != MAGIC {
        return Err("magic");
    }
    let abi_major = view.u32(d + desc::ABI_MAJOR);
    if abi_major != ABI_MAJOR {
        return Err("another ABI major");
    }
    let abi_minor = view.u32(d + desc::ABI_MINOR);
    if (view.u32(d + desc::DESCRIPTOR_SIZE) as usize) < desc::SIZE {
        return Err("descriptor smaller than the prefix");
    }
    let stride = view.u32(d + desc::CAPABILITY_SIZE);
    if !stride_ok(stride) {
        return Err("capability size");
    }
    let plugin_id = view.text(d + desc::PLUGIN_ID)?;
    if plugin_id.is_empty() {
        return Err("empty plugin id");
    }
    let version = view.text(d + desc::PLUGIN_VERSION)?;
    let display_name = view.text(d + desc::DISPLAY_NAME)?;
    let count = view.word(d + desc::CAPABILITY_COUNT);
    if count > MAX_CAPABILITIES {
        return Err("too many capabilities");
    }
    let array = view.word(d + desc::CAPABILITIES);
    if count > 0 && (array == 0 || !array.is_multiple_of(8)) {
        return Err("capability array null or misaligned");
    }
    let mut capabilities = Vec::new();
    let mut raw = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..count {
        let (info, entry) = capability(view, array + i * stride as usize)?;
        if !seen.insert((info.kind.clone(), info.type_id.clone())) {
            return Err("duplicate capability");
        }
        capabilities.push(info);
        raw.push(entry);
    }
    if expected.is_some_and(|e| e != plugin_id) {
        return Err("another plugin id than expected");
    }
    Ok(Accepted {
        info: ModuleInfo {
            digest: None,
            plugin_id,
            version,
            display_name,
            abi_major,
            abi_minor,
            capabilities,
        },
        capabilities: raw,
        init: view.word(d + desc::INIT),
        deinit: view.word(d + desc::DEINIT),
    })
}

fn capability(
    view: &View<'_>,
    c: usize,
) -> Result<(CapabilityInfo, (usize, usize, usize)), &'static str> {
    let kind = view.text(c + cap::KIND)?;
    if kind.is_empty() {
        return Err("empty kind");
    }
    let type_id = view.text(c + cap::TYPE_ID)?;
    if type_id.is_empty() {
        return Err("empty type id");
    }
    let display_name = view.text(c + cap::DISPLAY_NAME)?;
    let default_config = view.field(c + cap::DEFAULT_CONFIG)?;
    let layout = view.text(c + cap::LAYOUT)?;
    let vtable = view.word(c + cap::VTABLE);
    if vtable == 0 {
        return Err("null vtable");
    }
    let create = view.word(c + cap::CREATE);
    let destroy = view.word(c + cap::DESTROY);
    if create == 0 || destroy == 0 {
        return Err("missing create or destroy");
    }
    let lines = lines(&layout).ok_or("a layout line does not parse")?;
    let interface_version = view.u32(c + cap::INTERFACE_VERSION);
    let layout_id = view.u64(c + cap::LAYOUT_ID);
    if layout_id != self::layout_id(&kind, interface_version, &layout) {
        return Err("layout id is not the layout's");
    }
    let vtable_size = view.word(c + cap::VTABLE_SIZE);
    if lines.len() > MAX_SLOTS || vtable_size != lines.len() * 8 || !vtable.is_multiple_of(8) {
        return Err("vtable shape");
    }
    for (i, optional) in lines.iter().enumerate() {
        if !optional && view.word(vtable + i * 8) == 0 {
            return Err("a required slot is null");
        }
    }
    let info = CapabilityInfo {
        kind,
        type_id,
        interface_version,
        interface_minor: view.u32(c + cap::INTERFACE_MINOR),
        layout_id,
        layout,
        vtable_size,
        display_name,
        default_config,
    };
    Ok((info, (vtable, create, destroy)))
}

/// A layout line, as `docs/design.md` ("Layouts and versions") writes it:
/// `<minor>[?] <name>(<parameters>) -> <return type>`, the minor a decimal number
/// without leading zeros that fits in 32 bits, the name ASCII letters, digits and `_`.
/// Returns its minor and whether it is optional.
fn line(line: &str) -> Option<(u32, bool)> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let (minor, rest) = line.split_at(digits);
    if minor.is_empty() || (minor.len() > 1 && minor.starts_with('0')) {
        return None;
    }
    let minor: u32 = minor.parse().ok()?;
    let (optional, rest) = match rest.strip_prefix('?') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.strip_prefix(' ')?;
    let open = rest.find('(')?;
    let name = &rest[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (_, ret) = rest[open..].split_once(") -> ")?;
    if ret.is_empty() {
        return None;
    }
    Some((minor, optional))
}

/// The lines of a layout (none for an empty one), each one's "optional" mark; `None`
/// if one does not parse.
fn lines(layout: &str) -> Option<Vec<bool>> {
    if layout.is_empty() {
        return Some(Vec::new());
    }
    layout
        .split('\n')
        .map(|l| line(l).map(|(_, optional)| optional))
        .collect()
}

/// The base layout's id: FNV-1a (64 bits) over the kind, a NUL, the major (little
/// endian), and each line of minor 0 followed by a newline.
pub fn layout_id(kind: &str, major: u32, layout: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(kind.as_bytes());
    eat(&[0]);
    eat(&major.to_le_bytes());
    if !layout.is_empty() {
        for l in layout.split('\n') {
            if line(l).is_some_and(|(minor, _)| minor == 0) {
                eat(l.as_bytes());
                eat(b"\n");
            }
        }
    }
    hash
}
