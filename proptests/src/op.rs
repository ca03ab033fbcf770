//! The inputs of a run and their random generation.
//!
//! Operations name what they act on by index into the live entities (taken modulo their
//! number), so every sequence stays meaningful while proptest shrinks it.

use std::path::PathBuf;
use std::time::Duration;

use plugin_runtime::generation::Command;
use proptest::prelude::*;

use crate::model;

/// The plugin ids of the run: two real ones and one nobody installed.
pub const PLUGINS: [&str; 3] = ["a", "b", "zz"];

/// The type ids a [`Op::Configure`] names: two offered, one offered by no module.
pub const TYPE_IDS: [&str; 3] = ["wav", "gain", "echo"];

/// The number of installed paths; the path past them is not installed.
pub const INSTALLED_PATHS: usize = 4;

/// Which plugin id a load expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// None: the plugin id is learned from the library.
    Nothing,
    /// The id of the plugin installed at the path.
    Right,
    /// Another plugin's id: the loader refuses it.
    Wrong,
}

/// Who sends a command and who hears its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Sent by the newest live owner (if any), or by no owner.
    pub owner: bool,
    /// A caller waits for the outcome (`Action::Reply`); otherwise it goes to the
    /// submitting owner's mailbox (`Action::Complete`), or nowhere without one.
    pub waiter: bool,
}

impl Route {
    /// Sent by no owner, awaited by its caller.
    pub const CALLER: Route = Route {
        owner: false,
        waiter: true,
    };
}

/// One input of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Command::Load` of path `path % 5`.
    Load {
        /// The path index.
        path: u8,
        /// Which id it expects.
        expect: Expect,
        /// Its routing.
        route: Route,
    },
    /// `Command::Reload`.
    Reload {
        /// The plugin index.
        plugin: u8,
        /// Its routing.
        route: Route,
    },
    /// `Command::Unload`.
    Unload {
        /// The plugin index.
        plugin: u8,
        /// Its routing.
        route: Route,
    },
    /// `Command::SetEnabled`.
    SetEnabled {
        /// The plugin index.
        plugin: u8,
        /// Enable or disable.
        enabled: bool,
        /// Its routing.
        route: Route,
    },
    /// `Command::Snapshot`.
    Snapshot {
        /// Its routing.
        route: Route,
    },
    /// `Command::Shutdown` with a timeout of this many seconds.
    Shutdown {
        /// Seconds until the deadline.
        after_secs: u8,
        /// Its routing.
        route: Route,
    },
    /// `Command::Sync` of the run's directory, whose scan will find `files`: per path
    /// index, 0 nothing, 1 an unreadable file, 2 and 3 a library with content variant
    /// `n - 2` (paths 0 and 2, and 1 and 3, hold one plugin: both present is a duplicate;
    /// path 4 is listed but not installed, so its load fails).
    Sync {
        /// What the scan finds at each path.
        files: [u8; INSTALLED_PATHS + 1],
        /// The directory cannot be listed.
        unreadable_dir: bool,
        /// Bit `i` lists plugin `i` as disabled.
        disabled: u8,
        /// Reconcile or additive.
        reconcile: bool,
        /// Its routing.
        route: Route,
    },
    /// The actor answers one pending scan with its scripted listing.
    FinishScan {
        /// Which pending scan.
        which: u8,
    },
    /// `Command::Restart` with a timeout of this many seconds.
    Restart {
        /// Seconds until the deadline.
        after_secs: u8,
        /// Its routing.
        route: Route,
    },
    /// The caller waiting for one outstanding command leaves: its outcome goes to the
    /// submitting owner instead, or nowhere.
    LeaveWaiter {
        /// Which awaited command, oldest first.
        which: u8,
    },
    /// The actor answers one pending open with what the simulated loader did.
    FinishLoad {
        /// Which pending open.
        which: u8,
    },
    /// A faulty actor answers one pending open without letting the loader check the
    /// expected plugin id: the core must reject a module of another plugin itself.
    FinishLoadUnchecked {
        /// Which pending open.
        which: u8,
    },
    /// The actor closes one collected generation's library and answers.
    FinishClose {
        /// Which pending close.
        which: u8,
    },
    /// Loads of a path start or stop failing.
    SetFailure {
        /// The path index.
        path: u8,
        /// Fail or succeed.
        fail: bool,
    },
    /// What closing a path's libraries reports: unmapped, still mapped or kept loaded.
    SetCloseOutcome {
        /// The path index.
        path: u8,
        /// 0 unmapped, 1 still mapped, 2 kept loaded.
        outcome: u8,
    },
    /// A new owner.
    RegisterOwner,
    /// An owner leaves, releasing everything.
    UnregisterOwner {
        /// Which live owner.
        owner: u8,
    },
    /// An owner subscribes to a plugin (or all).
    Subscribe {
        /// Which live owner.
        owner: u8,
        /// The plugin index, or all.
        plugin: Option<u8>,
    },
    /// An owner reserves a ticket: 0 `decoder/wav` v1, 1 `decoder/wav` v2, 2 `dsp/gain`
    /// v1, 3 `dsp/wav` v1 (offered by no module, but sharing a kind and a type id with
    /// capabilities that are).
    Reserve {
        /// Which live owner.
        owner: u8,
        /// The plugin index.
        plugin: u8,
        /// The capability asked for.
        capability: u8,
    },
    /// A ticket's create succeeded.
    Create {
        /// Which live ticket.
        ticket: u8,
    },
    /// A ticket's create failed.
    FailTicket {
        /// Which live ticket.
        ticket: u8,
    },
    /// A ticket's create succeeded, reported without an answer: the instance is
    /// known by the ticket's key (`record_created`).
    Record {
        /// Which live ticket.
        ticket: u8,
    },
    /// An instance recorded without an answer is released by its ticket key
    /// (`release_created`); an instance recorded with one is released by its key.
    ReleaseRecorded {
        /// Which live instance.
        instance: u8,
    },
    /// `Command::Configure` of a capability: 0 `wav`, 1 `gain`, 2 `echo` (offered by no
    /// module).
    Configure {
        /// The plugin index.
        plugin: u8,
        /// The type id.
        type_id: u8,
        /// Its routing.
        route: Route,
    },
    /// An owner reports what it did with a configuration for one of its instances.
    ReportConfig {
        /// Which live instance.
        instance: u8,
        /// 0 applied, 1 recreated, 2 rejected, 3 failed.
        result: u8,
        /// Revisions skipped.
        skipped: u8,
    },
    /// A ticket was dropped unused.
    DropTicket {
        /// Which live ticket.
        ticket: u8,
    },
    /// An instance was destroyed.
    Release {
        /// Which live instance.
        instance: u8,
    },
    /// A pin is taken, by an owner or none.
    Pin {
        /// Which live owner, if any.
        owner: Option<u8>,
        /// The plugin index.
        plugin: u8,
    },
    /// A pin is released.
    Unpin {
        /// Which live pin.
        pin: u8,
    },
    /// Virtual time passes, then the core handles its timeout.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// Virtual time jumps exactly to the core's next timeout, as the actor's loop does.
    Wake,
    /// The actor removes the record of a generation whose code is gone: `cleanup` for
    /// one closed unmapped, `unmapped_later` for one the OS loader kept mapped (as when a
    /// later close finds its code gone). Any other generation refuses both (a kept-loaded
    /// one stays for the life of the process).
    Cleanup {
        /// Which generation ever made.
        generation: u8,
    },
    /// A removed key is used again.
    Stale {
        /// Which removed key.
        which: u8,
    },
    /// A key or close token of another core is handed to the core.
    Foreign {
        /// Which kind of key: generation, load, owner, ticket, instance, pin or token.
        which: u8,
    },
    /// A command as JSON text, as a UI or a remote control sends it: what parses is
    /// submitted (and must read back from its own JSON form), what does not never
    /// reaches the core.
    Json {
        /// The text, valid or not.
        text: String,
        /// Its routing.
        route: Route,
    },
}

/// A command's routing.
fn route() -> impl Strategy<Value = Route> {
    (any::<bool>(), any::<bool>()).prop_map(|(owner, waiter)| Route { owner, waiter })
}

/// A plugin index: mostly the two installed plugins, sometimes the unknown one.
fn plugin() -> impl Strategy<Value = u8> {
    prop_oneof![8 => 0..2u8, 1 => Just(2u8)]
}

/// What a scan finds at each path: at paths 0 and 1 mostly a library of one of two
/// contents; at the others (a second library of the same plugin, or a path nobody
/// installed) mostly nothing; anywhere, sometimes an unreadable file.
fn sync_files() -> impl Strategy<Value = [u8; INSTALLED_PATHS + 1]> {
    let usual = || prop_oneof![2 => Just(0u8), 1 => Just(1u8), 5 => 2..4u8];
    let rare = || prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => 2..4u8];
    (usual(), usual(), rare(), rare(), rare()).prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
}

/// One random operation.
pub fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        4 => Just(Expect::Right),
        2 => Just(Expect::Nothing),
        1 => Just(Expect::Wrong),
    ];
    prop_oneof![
        4 => (0..5u8, expect, route()).prop_map(|(path, expect, route)| Op::Load { path, expect, route }),
        3 => (plugin(), route()).prop_map(|(plugin, route)| Op::Reload { plugin, route }),
        1 => (plugin(), route()).prop_map(|(plugin, route)| Op::Unload { plugin, route }),
        2 => (plugin(), any::<bool>(), route())
            .prop_map(|(plugin, enabled, route)| Op::SetEnabled { plugin, enabled, route }),
        1 => route().prop_map(|route| Op::Snapshot { route }),
        1 => (0..20u8, route()).prop_map(|(after_secs, route)| Op::Shutdown { after_secs, route }),
        2 => (0..6u8, route()).prop_map(|(after_secs, route)| Op::Restart { after_secs, route }),
        1 => any::<u8>().prop_map(|which| Op::LeaveWaiter { which }),
        4 => (sync_files(), proptest::bool::weighted(0.05), prop_oneof![3 => Just(0u8), 1 => 0..8u8], any::<bool>(), route())
            .prop_map(|(files, unreadable_dir, disabled, reconcile, route)| Op::Sync {
                files,
                unreadable_dir,
                disabled,
                reconcile,
                route,
            }),
        4 => any::<u8>().prop_map(|which| Op::FinishScan { which }),
        8 => any::<u8>().prop_map(|which| Op::FinishLoad { which }),
        1 => any::<u8>().prop_map(|which| Op::FinishLoadUnchecked { which }),
        5 => any::<u8>().prop_map(|which| Op::FinishClose { which }),
        1 => (0..5u8, any::<bool>()).prop_map(|(path, fail)| Op::SetFailure { path, fail }),
        1 => (0..5u8, 0..3u8).prop_map(|(path, outcome)| Op::SetCloseOutcome { path, outcome }),
        2 => Just(Op::RegisterOwner),
        1 => any::<u8>().prop_map(|owner| Op::UnregisterOwner { owner }),
        2 => (any::<u8>(), proptest::option::of(0..3u8))
            .prop_map(|(owner, plugin)| Op::Subscribe { owner, plugin }),
        10 => (any::<u8>(), plugin(), 0..4u8).prop_map(|(owner, plugin, capability)| Op::Reserve {
            owner,
            plugin,
            capability
        }),
        8 => any::<u8>().prop_map(|ticket| Op::Create { ticket }),
        1 => any::<u8>().prop_map(|ticket| Op::FailTicket { ticket }),
        1 => any::<u8>().prop_map(|ticket| Op::DropTicket { ticket }),
        4 => any::<u8>().prop_map(|ticket| Op::Record { ticket }),
        2 => any::<u8>().prop_map(|instance| Op::ReleaseRecorded { instance }),
        3 => (plugin(), 0..3u8, route()).prop_map(|(plugin, type_id, route)| Op::Configure {
            plugin,
            type_id,
            route
        }),
        2 => (any::<u8>(), 0..4u8, 0..3u8).prop_map(|(instance, result, skipped)| Op::ReportConfig {
            instance,
            result,
            skipped
        }),
        4 => any::<u8>().prop_map(|instance| Op::Release { instance }),
        3 => (proptest::option::of(any::<u8>()), plugin())
            .prop_map(|(owner, plugin)| Op::Pin { owner, plugin }),
        3 => any::<u8>().prop_map(|pin| Op::Unpin { pin }),
        3 => (0..20_000u16).prop_map(|millis| Op::Advance { millis }),
        2 => Just(Op::Wake),
        1 => any::<u8>().prop_map(|generation| Op::Cleanup { generation }),
        1 => any::<u8>().prop_map(|which| Op::Stale { which }),
        1 => any::<u8>().prop_map(|which| Op::Foreign { which }),
        3 => (any::<[u8; 4]>(), route()).prop_map(|(choice, route)| Op::Json {
            text: json_text(choice),
            route
        }),
    ]
}

/// The plugin ids JSON commands name: the run's, and a few odd ones nobody installs.
const JSON_PLUGINS: [&str; 6] = ["a", "b", "zz", "", "a ", "\u{e9}\n"];

/// The paths JSON commands name beyond the run's own: never installed, or an installed
/// one spelled another way.
const JSON_PATHS: [&str; 4] = ["/elsewhere/x.so", "relative.so", "/plugins//1.so", ""];

/// The JSON text of a command a UI would send, chosen by `choice`: `[form, argument,
/// damage, position]`. Every form of the protocol, naming the run's plugins and paths
/// and some it does not know; then, by the damage byte, kept whole (most often) or
/// damaged at the position: cut, a byte dropped or replaced, an unknown field, a wrong
/// case, a number out of its type, an array around it, two objects, spaces.
pub fn json_text([form, argument, damage, position]: [u8; 4]) -> String {
    let plugin_id = JSON_PLUGINS[usize::from(argument) % JSON_PLUGINS.len()].to_owned();
    let path = usize::from(argument >> 3) % (INSTALLED_PATHS + 1 + JSON_PATHS.len());
    let path = match path.checked_sub(INSTALLED_PATHS + 1) {
        None => model::path(path),
        Some(other) => PathBuf::from(JSON_PATHS[other]),
    };
    let command = match form % 7 {
        0 => Command::Load {
            path,
            expected_plugin_id: None,
        },
        1 => Command::Load {
            path,
            expected_plugin_id: Some(plugin_id),
        },
        2 => Command::Reload { plugin_id },
        3 => Command::Unload { plugin_id },
        4 => Command::SetEnabled {
            plugin_id,
            enabled: argument & 0x80 != 0,
        },
        5 => Command::Snapshot,
        _ => {
            let millis = [0, 1, 250, 5_000, 60_000, u64::MAX][usize::from(argument) % 6];
            Command::Shutdown {
                timeout: Duration::from_millis(millis),
            }
        }
    };
    let text = serde_json::to_string(&command).expect("a command always encodes");
    damaged(text, damage, position)
}

/// `text` damaged as `damage` says, at byte `position` (modulo its length).
fn damaged(mut text: String, damage: u8, position: u8) -> String {
    let at = |text: &str| {
        let mut at = usize::from(position) % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match damage % 16 {
        0..=6 => {}
        7 => text.truncate(at(&text)),
        8 => {
            let i = at(&text);
            if let Some(c) = text[i..].chars().next() {
                text.replace_range(i..i + c.len_utf8(), "");
            }
        }
        9 => {
            let i = at(&text);
            let with = [
                "{", "}", "[", "]", "\"", ",", ":", "0", " ", "\\", "null", "\u{0}",
            ];
            let with = with[usize::from(position) % with.len()];
            let end = text[i..].chars().next().map_or(i, |c| i + c.len_utf8());
            text.replace_range(i..end, with);
        }
        10 => text = text.replacen('{', "{\"extra\":1,", 1),
        11 => {
            let upper = text.replacen("\"command\":\"", "\"command\":\"X", 1);
            text = if position & 1 == 0 {
                upper
            } else {
                text.to_uppercase()
            };
        }
        12 => {
            let with = [
                "-1",
                "1.5",
                "1e3",
                "\"5\"",
                "18446744073709551616",
                "null",
                "true",
            ];
            let with = with[usize::from(position) % with.len()];
            text = match text.find("\"deadline_ms\":") {
                Some(i) => {
                    let start = i + "\"deadline_ms\":".len();
                    let end = text[start..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(text.len(), |n| start + n);
                    format!("{}{with}{}", &text[..start], &text[end..])
                }
                None => text.replacen("\"enabled\":", &format!("\"enabled\":{with},\"x\":"), 1),
            };
        }
        13 => text = format!("[{text}]"),
        14 => text = format!("{text}{text}"),
        _ => text.insert_str(at(&text), " \n\t "),
    }
    text
}

/// The operations every sequence starts with, so that most of a sequence acts on
/// loaded plugins: two owners, and both plugins loaded. Shrinking keeps them.
pub fn prelude() -> Vec<Op> {
    vec![
        Op::RegisterOwner,
        Op::RegisterOwner,
        Op::Load {
            path: 0,
            expect: Expect::Right,
            route: Route::CALLER,
        },
        Op::Load {
            path: 1,
            expect: Expect::Right,
            route: Route {
                owner: true,
                waiter: false,
            },
        },
        Op::FinishLoad { which: 0 },
        Op::FinishLoad { which: 0 },
    ]
}

/// A random sequence of up to `max_len` operations after the [`prelude`].
pub fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..max_len).prop_map(|random| {
        let mut sequence = prelude();
        sequence.extend(random);
        sequence
    })
}
