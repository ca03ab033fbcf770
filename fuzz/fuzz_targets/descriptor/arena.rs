//! Lays a module descriptor out in an arena this target owns, from the fuzzer's bytes.
//!
//! The bytes are read as a small program; each field has a selector byte whose 0 (what
//! a missing byte reads as) is the well-formed choice, so an empty input is a valid
//! descriptor and every mutation breaks one rule or another. Fields are written at the
//! ABI's offsets ([`crate::rules`]), pointers as absolute addresses into the arena.
//!
//! The arena holds everything validation may read: the descriptor's prefix, `count`
//! capability descriptors at the header's stride (when that stride is one validation
//! walks), every string and configuration, and every vtable of the size its
//! descriptor claims (up to 32 KiB, the largest that can match 4096 slots). Pointers
//! outside it are only null, misaligned ones next to a region (refused before any
//! read), or dangling with a length of 0 (never read). A `count` field that is not the
//! number of descriptors written is either smaller or above the bound of 4096.

use std::ptr::addr_of;

use plugin_runtime::abi::{ABI_VERSION_MAJOR, MODULE_MAGIC};

use crate::rules::{self, cap, desc};

/// The arena and where the descriptor is in it.
pub struct Built {
    /// Backing storage; `start` is the first 8-aligned byte.
    storage: Vec<u8>,
    start: usize,
    len: usize,
    /// The descriptor's address (0 for null).
    pub descriptor: usize,
    /// The plugin id the load expects.
    pub expected: Option<String>,
}

impl Built {
    /// The arena's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The arena's address.
    pub fn base(&self) -> usize {
        self.bytes().as_ptr() as usize
    }
}

/// Entry points that are never called: validation only checks they are there.
extern "C" fn dummy() {}

/// What a non-null vtable slot points to.
static SLOT_TARGET: u64 = 0;

/// The length of the one region longer than the field bound, shared by every field
/// that asks for it.
const LONG_FIELD: usize = rules::MAX_FIELD_LEN + 1;

/// Strings a field may name by index: ids, kinds, versions, odd ones.
const WORDS: [&str; 12] = [
    "test.module",
    "1.0.0",
    "dsp",
    "decoder",
    "gain",
    "wav",
    "Gain",
    "a",
    "b",
    "\u{e9}",
    "\0",
    "x y",
];

/// The minor numbers of layout lines: canonical, not, too large, not numbers.
const SINCE: [&str; 11] = [
    "0",
    "1",
    "2",
    "00",
    "01",
    "10",
    "4294967295",
    "4294967296",
    "",
    "x",
    "-1",
];

/// Method names: plain, empty, not ASCII letters.
const NAMES: [&str; 8] = [
    "process", "latency", "tail", "reset", "b_2", "", "bad-name", "\u{e9}",
];

/// What follows a method's name: the canonical spellings and broken ones.
const SIGNATURES: [&str; 9] = [
    "(&mut self, &mut [f32]) -> Result<(), PluginError>",
    "(&self) -> u32",
    "(&mut self, &[u8], u64) -> Result<u32, PluginError>",
    "(&self) -> ",
    "(&self)",
    " (&self) -> u32",
    "(&self) ->u32",
    "(&self -> u32",
    "() -> ()",
];

/// A reference as laid out: into the arena, or an absolute address.
#[derive(Clone, Copy)]
enum Ref {
    Arena { offset: usize, len: usize },
    Absolute { address: usize, len: usize },
}

/// The arena while it is built: bytes, and where arena addresses go once it has one.
struct Image {
    bytes: Vec<u8>,
    /// `(at, offset)`: the arena's address plus `offset` is written at `at`.
    fixups: Vec<(usize, usize)>,
    long_field: Option<usize>,
}

impl Image {
    fn reserve(&mut self, len: usize, align: usize) -> usize {
        let at = self.bytes.len().next_multiple_of(align);
        self.bytes.resize(at + len, 0);
        at
    }

    fn push(&mut self, data: &[u8]) -> usize {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(data);
        at
    }

    fn put_u32(&mut self, at: usize, value: u32) {
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn put_u64(&mut self, at: usize, value: u64) {
        self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn put_address(&mut self, at: usize, address: usize) {
        self.put_u64(at, address as u64);
    }

    fn put_pointer(&mut self, at: usize, offset: usize) {
        self.fixups.push((at, offset));
    }

    fn put_ref(&mut self, at: usize, r: Ref) {
        let len = match r {
            Ref::Arena { offset, len } => {
                self.put_pointer(at, offset);
                len
            }
            Ref::Absolute { address, len } => {
                self.put_address(at, address);
                len
            }
        };
        self.put_u64(at + 8, len as u64);
    }

    fn long_field(&mut self) -> usize {
        match self.long_field {
            Some(at) => at,
            None => {
                let at = self.reserve(LONG_FIELD, 1);
                self.long_field = Some(at);
                at
            }
        }
    }

    fn finish(self, descriptor: Option<usize>, expected: Option<String>) -> Built {
        let len = self.bytes.len();
        let mut storage = vec![0u8; len + 8];
        let start = storage.as_ptr().align_offset(8);
        storage[start..start + len].copy_from_slice(&self.bytes);
        let base = storage[start..].as_ptr() as usize;
        for (at, offset) in self.fixups {
            let at = start + at;
            storage[at..at + 8].copy_from_slice(&((base + offset) as u64).to_le_bytes());
        }
        Built {
            storage,
            start,
            len,
            descriptor: descriptor.map_or(0, |offset| base + offset),
            expected,
        }
    }
}

/// A cursor over the input; past its end every byte reads as 0.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn word(&mut self) -> &'static str {
        WORDS[usize::from(self.byte()) % WORDS.len()]
    }
}

/// Lays out the descriptor `data` describes.
pub fn build(data: &[u8]) -> Built {
    let mut input = Input { data };
    let mut image = Image {
        bytes: Vec::new(),
        fixups: Vec::new(),
        long_field: None,
    };

    // The header.
    let magic = match input.byte() & 1 {
        0 => MODULE_MAGIC,
        _ => input.u64(),
    };
    let major = match input.byte() & 1 {
        0 => ABI_VERSION_MAJOR,
        _ => input.u32(),
    };
    let minor = input.u32();
    let descriptor_size = sized(&mut input, desc::SIZE as u32);
    let capability_size = sized(&mut input, cap::SIZE as u32);
    let placement = input.byte();

    // The descriptor itself: its prefix and as much of a larger claimed size as is
    // plausible, one word of slack for a misaligned placement.
    let room = (descriptor_size as usize).clamp(desc::SIZE, 4096) + 8;
    let area = image.reserve(room, 8);
    let descriptor = match placement {
        u8::MAX => None,
        p if p & 1 == 1 => Some(area + 1 + usize::from(p >> 1) % 7),
        _ => Some(area),
    };
    let d = descriptor.unwrap_or(area);
    image.put_u64(d + desc::MAGIC, magic);
    image.put_u32(d + desc::ABI_MAJOR, major);
    image.put_u32(d + desc::ABI_MINOR, minor);
    image.put_u32(d + desc::DESCRIPTOR_SIZE, descriptor_size);
    image.put_u32(d + desc::CAPABILITY_SIZE, capability_size);

    let (plugin_id, plugin_id_text) = string(&mut input, &mut image);
    image.put_ref(d + desc::PLUGIN_ID, plugin_id);
    let (version, _) = string(&mut input, &mut image);
    image.put_ref(d + desc::PLUGIN_VERSION, version);
    let (display_name, _) = string(&mut input, &mut image);
    image.put_ref(d + desc::DISPLAY_NAME, display_name);

    // The capability array: `written` descriptors at the stride validation walks when
    // the header's is one it accepts.
    let count_selector = input.byte();
    let written = usize::from(count_selector & 0x0f);
    let count = if count_selector & 0x80 == 0 {
        written as u64
    } else {
        let raw = input.u64();
        if raw <= written as u64 || raw > rules::MAX_CAPABILITIES as u64 {
            raw
        } else {
            written as u64
        }
    };
    let stride = if rules::stride_ok(capability_size) {
        capability_size as usize
    } else {
        cap::SIZE
    };
    let array = image.reserve(written * stride, 8);
    // Appended fields of a newer ABI: never read, but present.
    for i in 0..written {
        let tail = array + i * stride + cap::SIZE..array + (i + 1) * stride;
        image.bytes[tail].fill(0xaa);
    }
    let array_pointer = match input.byte() % 4 {
        1 => None,
        2 => Some(array + 4),
        _ => Some(array),
    };
    match array_pointer {
        Some(offset) => image.put_pointer(d + desc::CAPABILITIES, offset),
        None => image.put_address(d + desc::CAPABILITIES, 0),
    }
    image.put_u64(d + desc::CAPABILITY_COUNT, count);
    let entries = input.byte();
    let entry = |present: bool| {
        if present {
            dummy as *const () as usize
        } else {
            0
        }
    };
    image.put_address(d + desc::INIT, entry(entries & 1 != 0));
    image.put_address(d + desc::DEINIT, entry(entries & 2 != 0));

    let expected = match input.byte() % 3 {
        0 => None,
        1 => plugin_id_text,
        _ => Some(input.word().to_owned()),
    };

    for i in 0..written {
        capability(&mut input, &mut image, array + i * stride);
    }
    image.finish(descriptor, expected)
}

/// A size field: the prefix plus a few appended words, or any value.
fn sized(input: &mut Input<'_>, prefix: u32) -> u32 {
    let selector = input.byte();
    match selector & 1 {
        0 => prefix + 8 * u32::from((selector >> 1) & 7),
        _ => input.u32(),
    }
}

/// A string or byte field: a word, raw bytes, empty, null with a length, dangling
/// with none, or a region at or past the length bound. Returns its text when it is a
/// readable UTF-8 string.
fn string(input: &mut Input<'_>, image: &mut Image) -> (Ref, Option<String>) {
    let text_of = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_owned);
    match input.byte() % 8 {
        0 => {
            let word = input.word();
            let offset = image.push(word.as_bytes());
            let r = Ref::Arena {
                offset,
                len: word.len(),
            };
            (r, Some(word.to_owned()))
        }
        1 => {
            let n = usize::from(input.byte());
            let bytes = input.bytes(n).to_vec();
            let offset = image.push(&bytes);
            let r = Ref::Arena {
                offset,
                len: bytes.len(),
            };
            (r, text_of(&bytes))
        }
        2 => (Ref::Absolute { address: 0, len: 0 }, Some(String::new())),
        3 => {
            let len = usize::from(input.byte()) + 1;
            (Ref::Absolute { address: 0, len }, None)
        }
        4 => {
            let len = input.u64() as usize;
            (Ref::Absolute { address: 0, len }, None)
        }
        5 => (Ref::Absolute { address: 1, len: 0 }, Some(String::new())),
        6 => {
            let offset = image.long_field();
            let len = rules::MAX_FIELD_LEN + usize::from(input.byte() & 1);
            (Ref::Arena { offset, len }, None)
        }
        _ => {
            let line = layout(input);
            let offset = image.push(line.as_bytes());
            let r = Ref::Arena {
                offset,
                len: line.len(),
            };
            (r, Some(line))
        }
    }
}

/// A layout description: lines of a minor, an optional mark, a separator, a name and a
/// signature, each picked from well-formed and broken spellings.
fn layout(input: &mut Input<'_>) -> String {
    let lines = usize::from(input.byte() % 8);
    let mut text = String::new();
    for i in 0..lines {
        if i > 0 {
            text.push('\n');
        }
        let shape = input.byte();
        let since = if shape & 0xf0 == 0 {
            SINCE[usize::from(shape & 1)]
        } else {
            SINCE[usize::from(shape >> 4) % SINCE.len()]
        };
        text.push_str(since);
        if shape & 2 != 0 {
            text.push('?');
        }
        text.push_str(match (shape >> 2) & 3 {
            0 | 1 => " ",
            2 => "",
            _ => "  ",
        });
        let names = input.byte();
        text.push_str(NAMES[usize::from(names & 0x0f) % NAMES.len()]);
        text.push_str(SIGNATURES[usize::from(names >> 4) % SIGNATURES.len()]);
    }
    match input.byte() % 16 {
        14 => text.push('\n'),
        15 => text = text.replace('\n', "\r\n"),
        _ => {}
    }
    text
}

/// One capability descriptor at `at`.
fn capability(input: &mut Input<'_>, image: &mut Image, at: usize) {
    let (kind, kind_text) = string(input, image);
    image.put_ref(at + cap::KIND, kind);
    let (type_id, _) = string(input, image);
    image.put_ref(at + cap::TYPE_ID, type_id);
    let major = u32::from(input.byte() % 4);
    image.put_u32(at + cap::INTERFACE_VERSION, major);
    let minor = input.u32();
    image.put_u32(at + cap::INTERFACE_MINOR, minor);

    // The layout: mostly generated lines, sometimes any field.
    let (layout, layout_text) = match input.byte() % 4 {
        0 | 1 => {
            let text = layout(input);
            let offset = image.push(text.as_bytes());
            let r = Ref::Arena {
                offset,
                len: text.len(),
            };
            (r, Some(text))
        }
        _ => string(input, image),
    };
    image.put_ref(at + cap::LAYOUT, layout);
    let layout_id = match input.byte() & 1 {
        0 => rules::layout_id(
            kind_text.as_deref().unwrap_or(""),
            major,
            layout_text.as_deref().unwrap_or(""),
        ),
        _ => input.u64(),
    };
    image.put_u64(at + cap::LAYOUT_ID, layout_id);

    let (display_name, _) = string(input, image);
    image.put_ref(at + cap::DISPLAY_NAME, display_name);
    let (config, _) = string(input, image);
    image.put_ref(at + cap::DEFAULT_CONFIG, config);

    // The vtable: one slot per line, or any size; null slots by a bit pattern.
    let lines = match layout_text.as_deref() {
        None | Some("") => 0,
        Some(text) => text.split('\n').count(),
    };
    let size = match input.byte() & 1 {
        0 => lines * 8,
        _ => input.u64() as usize,
    };
    let vtable_choice = input.byte();
    let nulls = input.byte();
    if size <= 8 * rules::MAX_SLOTS {
        let region = image.reserve(size, 8);
        for slot in 0..size / 8 {
            if nulls >> (slot % 8) & 1 == 0 {
                image.put_address(region + slot * 8, addr_of!(SLOT_TARGET) as usize);
            }
        }
        match vtable_choice % 4 {
            1 => image.put_address(at + cap::VTABLE, 0),
            2 => image.put_pointer(at + cap::VTABLE, region + 4),
            3 if lines == 0 => image.put_address(at + cap::VTABLE, 8),
            _ => image.put_pointer(at + cap::VTABLE, region),
        }
    } else {
        // No vtable of this size can match; any pointer is refused before a read.
        let address = if vtable_choice & 1 == 0 { 8 } else { 0 };
        image.put_address(at + cap::VTABLE, address);
    }
    image.put_u64(at + cap::VTABLE_SIZE, size as u64);

    let functions = input.byte();
    let entry = |missing: bool| {
        if missing {
            0
        } else {
            dummy as *const () as usize
        }
    };
    image.put_address(at + cap::CREATE, entry(functions & 1 != 0));
    image.put_address(at + cap::DESTROY, entry(functions & 2 != 0));
}
