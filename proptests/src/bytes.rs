//! Operations read from raw bytes, for the `commands` fuzz target: the same [`Op`]s the
//! property suite generates, decoded from whatever a fuzzer hands over, so both drive
//! one [`Run`](crate::harness::Run) and share every check.
//!
//! The format is small enough to write seeds by hand. Each operation is a tag byte
//! (taken modulo the number of operations) followed by its argument bytes; a missing
//! argument byte reads as 0, and the input ends at the first missing tag. A route byte
//! has bit 0 for "sent by an owner" and bit 1 for "a caller waits".
//!
//! | tag | operation | arguments |
//! | --- | --- | --- |
//! | 0 | `Load` | path, expect (`% 3`: nothing, right, wrong), route |
//! | 1, 2 | `Reload`, `Unload` | plugin, route |
//! | 3 | `SetEnabled` | plugin, enabled (bit 0), route |
//! | 4 | `Snapshot` | route |
//! | 5 | `Shutdown` | seconds, route |
//! | 6 to 9 | `LeaveWaiter`, `FinishLoad`, `FinishLoadUnchecked`, `FinishClose` | which |
//! | 10 | `SetFailure` | path, fail (bit 0) |
//! | 11 | `SetCloseOutcome` | path, outcome |
//! | 12 | `RegisterOwner` | |
//! | 13 | `UnregisterOwner` | owner |
//! | 14 | `Subscribe` | owner, plugin (`% 4`, 3 for all) |
//! | 15 | `Reserve` | owner, plugin, capability |
//! | 16 to 19 | `Create`, `FailTicket`, `DropTicket`, `Release` | which |
//! | 20 | `Pin` | owner (255 for none), plugin |
//! | 21 | `Unpin` | which |
//! | 22 | `Advance` | milliseconds, two bytes little endian |
//! | 23 | `Wake` | |
//! | 24 to 26 | `Cleanup`, `Stale`, `Foreign` | which |
//! | 27 | `Json`, text as given | length n, n bytes of text (lossy UTF-8), route |
//! | 28 | `Json`, from [`json_text`] | form, argument, damage, position, route |

use crate::op::{Expect, Op, Route, json_text};

/// The number of operation tags.
const TAGS: u8 = 29;

/// The most operations one input makes, so that every input runs in bounded time.
pub const MAX_OPS: usize = 400;

/// The operations `data` encodes, at most [`MAX_OPS`].
pub fn ops(data: &[u8]) -> Vec<Op> {
    let mut reader = Reader { data };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Some(tag) = reader.next() else { break };
        ops.push(reader.op(tag % TAGS));
    }
    ops
}

/// A cursor over the input.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn next(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }

    /// The next byte, or 0 past the end.
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn route(&mut self) -> Route {
        let route = self.byte();
        Route {
            owner: route & 1 != 0,
            waiter: route & 2 != 0,
        }
    }

    fn op(&mut self, tag: u8) -> Op {
        match tag {
            0 => Op::Load {
                path: self.byte(),
                expect: match self.byte() % 3 {
                    0 => Expect::Nothing,
                    1 => Expect::Right,
                    _ => Expect::Wrong,
                },
                route: self.route(),
            },
            1 => Op::Reload {
                plugin: self.byte(),
                route: self.route(),
            },
            2 => Op::Unload {
                plugin: self.byte(),
                route: self.route(),
            },
            3 => Op::SetEnabled {
                plugin: self.byte(),
                enabled: self.byte() & 1 != 0,
                route: self.route(),
            },
            4 => Op::Snapshot {
                route: self.route(),
            },
            5 => Op::Shutdown {
                after_secs: self.byte(),
                route: self.route(),
            },
            6 => Op::LeaveWaiter { which: self.byte() },
            7 => Op::FinishLoad { which: self.byte() },
            8 => Op::FinishLoadUnchecked { which: self.byte() },
            9 => Op::FinishClose { which: self.byte() },
            10 => Op::SetFailure {
                path: self.byte(),
                fail: self.byte() & 1 != 0,
            },
            11 => Op::SetCloseOutcome {
                path: self.byte(),
                outcome: self.byte(),
            },
            12 => Op::RegisterOwner,
            13 => Op::UnregisterOwner { owner: self.byte() },
            14 => Op::Subscribe {
                owner: self.byte(),
                plugin: Some(self.byte() % 4).filter(|&p| p < 3),
            },
            15 => Op::Reserve {
                owner: self.byte(),
                plugin: self.byte(),
                capability: self.byte(),
            },
            16 => Op::Create {
                ticket: self.byte(),
            },
            17 => Op::FailTicket {
                ticket: self.byte(),
            },
            18 => Op::DropTicket {
                ticket: self.byte(),
            },
            19 => Op::Release {
                instance: self.byte(),
            },
            20 => Op::Pin {
                owner: Some(self.byte()).filter(|&o| o != u8::MAX),
                plugin: self.byte(),
            },
            21 => Op::Unpin { pin: self.byte() },
            22 => Op::Advance {
                millis: u16::from_le_bytes([self.byte(), self.byte()]),
            },
            23 => Op::Wake,
            24 => Op::Cleanup {
                generation: self.byte(),
            },
            25 => Op::Stale { which: self.byte() },
            26 => Op::Foreign { which: self.byte() },
            27 => {
                let len = usize::from(self.byte()).min(self.data.len());
                let (text, rest) = self.data.split_at(len);
                self.data = rest;
                Op::Json {
                    text: String::from_utf8_lossy(text).into_owned(),
                    route: self.route(),
                }
            }
            _ => Op::Json {
                text: json_text([self.byte(), self.byte(), self.byte(), self.byte()]),
                route: self.route(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tag_reads_its_arguments_in_order() {
        let text = br#"{"command":"snapshot"}"#;
        let mut data = vec![0, 1, 1, 3, 22, 0x10, 0x27, 27, text.len() as u8];
        data.extend_from_slice(text);
        data.extend([2, 20, 255, 1, 12 + TAGS]);
        assert_eq!(
            ops(&data),
            [
                Op::Load {
                    path: 1,
                    expect: Expect::Right,
                    route: Route {
                        owner: true,
                        waiter: true
                    },
                },
                Op::Advance { millis: 10_000 },
                Op::Json {
                    text: String::from_utf8_lossy(text).into_owned(),
                    route: Route {
                        owner: false,
                        waiter: true
                    },
                },
                Op::Pin {
                    owner: None,
                    plugin: 1
                },
                Op::RegisterOwner,
            ]
        );
    }

    #[test]
    fn a_cut_input_reads_zeros_and_stops() {
        assert_eq!(
            ops(&[15, 1]),
            [Op::Reserve {
                owner: 1,
                plugin: 0,
                capability: 0
            }]
        );
        assert!(ops(&[]).is_empty());
        assert_eq!(ops(&[23; 1000]).len(), MAX_OPS);
    }
}
