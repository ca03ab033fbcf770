//! The schema against the code and the documentation.

use std::path::PathBuf;
use std::time::Duration;

use super::event::{Event, EventKind, EventRecord, Topic};
use super::filter::EventFilter;
use super::schema::SCHEMA;
use crate::generation::{
    Command, CommandError, DrainReason, Effect, GenerationKey, HoldCounts, HolderReport, Lifecycle,
    LoadFailure, Outcome, PluginRestart, RequestId, RestartResult, Snapshot, StalledGeneration,
    SyncMode,
};
use crate::module::{CapabilityInfo, ModuleInfo};

/// Keys made by a real core, so that their text form is a real one.
fn keys() -> (GenerationKey, crate::owner::OwnerKey) {
    let now = std::time::Instant::now();
    let mut core = Lifecycle::new(Default::default());
    let owner = core.register_owner("audio");
    let path = PathBuf::from("plugins/libexample_gain.so");
    let load = Command::Load {
        path,
        expected_plugin_id: None,
    };
    core.submit(now, RequestId(1), None, load);
    let load = std::iter::from_fn(|| core.poll_effect())
        .find_map(|effect| match effect {
            Effect::Open { load, .. } => Some(load),
            _ => None,
        })
        .expect("a load opens a library");
    let module = ModuleInfo {
        digest: None,
        plugin_id: "example.gain".into(),
        version: "1.0.0".into(),
        display_name: "Gain".into(),
        abi_major: 2,
        abi_minor: 0,
        capabilities: vec![capability()],
    };
    let generation = core.load_finished(now, load, Ok(module)).unwrap().unwrap();
    (generation, owner)
}

/// An instance key made by a real core.
fn instance_key() -> crate::owner::InstanceKey {
    let now = std::time::Instant::now();
    let mut core = Lifecycle::new(Default::default());
    let owner = core.register_owner("audio");
    core.submit(
        now,
        RequestId(1),
        None,
        Command::Load {
            path: PathBuf::from("plugins/libexample_gain.so"),
            expected_plugin_id: None,
        },
    );
    let load = std::iter::from_fn(|| core.poll_effect())
        .find_map(|effect| match effect {
            Effect::Open { load, .. } => Some(load),
            _ => None,
        })
        .expect("a load opens a library");
    let module = ModuleInfo {
        digest: None,
        plugin_id: "example.gain".into(),
        version: "1.0.0".into(),
        display_name: "Gain".into(),
        abi_major: 2,
        abi_minor: 0,
        capabilities: vec![capability()],
    };
    core.load_finished(now, load, Ok(module)).unwrap();
    let ticket = core
        .reserve_ticket(now, owner, "example.gain", "dsp", "gain", 1)
        .unwrap();
    core.ticket_created(now, ticket.key).unwrap()
}

fn capability() -> CapabilityInfo {
    CapabilityInfo {
        kind: "dsp".into(),
        type_id: "gain".into(),
        interface_version: 1,
        interface_minor: 2,
        layout_id: 0xfeed_beef_0000_0001,
        layout: "0 process(&mut self, &mut [f32]) -> Result<(), PluginError>".into(),
        vtable_size: 24,
        display_name: "Gain".into(),
        default_config: b"1.0".to_vec(),
    }
}

/// One event of every kind, with every optional field set in some and unset in others.
pub(crate) fn one_of_each() -> Vec<Event> {
    let (g, owner) = keys();
    let plugin = || "example.gain".to_owned();
    let path = || PathBuf::from("plugins/libexample_gain.so");
    let holders = vec![
        HolderReport {
            owner: Some(owner),
            owner_name: Some("audio".into()),
            holds: HoldCounts {
                instances: 2,
                tickets: 1,
                pins: 0,
            },
        },
        HolderReport {
            owner: None,
            owner_name: None,
            holds: HoldCounts {
                instances: 0,
                tickets: 0,
                pins: 1,
            },
        },
    ];
    let stalled = StalledGeneration {
        generation: g,
        plugin_id: plugin(),
        holders: holders.clone(),
    };
    let events = vec![
        Event::LoadRequested {
            request_id: RequestId(3),
            plugin_id: None,
            path: path(),
        },
        Event::Loaded {
            plugin_id: plugin(),
            generation: g,
            version: "1.0.0".into(),
            path: path(),
            capabilities: vec![capability()],
        },
        Event::Reloaded {
            plugin_id: plugin(),
            old: g,
            new: g,
            version: "1.1.0".into(),
            path: path(),
            capabilities: vec![],
        },
        Event::LoadFailed {
            request_id: RequestId(4),
            plugin_id: Some(plugin()),
            path: path(),
            step: "descriptor".into(),
            message: "bad".into(),
        },
        Event::Enabled {
            plugin_id: plugin(),
        },
        Event::Disabled {
            plugin_id: plugin(),
        },
        Event::Unloaded {
            plugin_id: plugin(),
        },
        Event::Draining {
            plugin_id: plugin(),
            generation: g,
            reason: DrainReason::Replaced,
            successor: Some(g),
        },
        Event::DrainStalled {
            plugin_id: plugin(),
            generation: g,
            reason: DrainReason::Shutdown,
            draining_for: Duration::from_micros(1_500_000),
            report: 2,
            holders,
        },
        Event::Collected {
            plugin_id: plugin(),
            generation: g,
        },
        Event::Closed {
            plugin_id: plugin(),
            generation: g,
        },
        Event::Unmapped {
            plugin_id: plugin(),
            generation: g,
        },
        Event::StillMapped {
            plugin_id: plugin(),
            generation: g,
        },
        Event::KeptLoaded {
            plugin_id: plugin(),
            generation: g,
            reason: "deinit panicked".into(),
        },
        Event::CleanedUp {
            plugin_id: plugin(),
            generation: g,
        },
        Event::DirectorySynced {
            request_id: RequestId(6),
            dir: PathBuf::from("plugins"),
            mode: SyncMode::Reconcile,
            new: 1,
            changed: 2,
            unchanged: 3,
            gone: 1,
            unreadable: 0,
            loaded: 3,
            unloaded: 1,
            disabled: 0,
            failed: 0,
        },
        Event::InstanceConfigured {
            plugin_id: plugin(),
            type_id: "gain".into(),
            owner,
            instance: instance_key(),
            revision: 3,
            result: crate::generation::ConfigResult::Rejected,
            skipped: 1,
            message: "gain out of range".into(),
        },
        Event::ShutdownStarted {
            timeout: Duration::from_millis(2_000),
        },
        Event::ShutdownFinished {
            stalled: vec![stalled.clone()],
        },
        Event::RuntimePoisoned {
            message: "boom".into(),
        },
        Event::RestartStarted {
            plugins: vec![plugin(), "example.echo".into(), "example.tls".into()],
            timeout: Duration::from_millis(5_000),
        },
        Event::RestartFinished {
            plugins: vec![
                PluginRestart {
                    plugin_id: plugin(),
                    result: RestartResult::Reloaded {
                        generation: g,
                        replaced: Some(g),
                    },
                },
                PluginRestart {
                    plugin_id: "example.echo".into(),
                    result: RestartResult::Failed {
                        error: CommandError::Load(LoadFailure {
                            step: "validate".into(),
                            message: "not an ELF file".into(),
                        }),
                    },
                },
                PluginRestart {
                    plugin_id: "example.tls".into(),
                    result: RestartResult::Loading,
                },
            ],
            stalled: vec![stalled],
        },
        Event::CommandSubmitted {
            request_id: RequestId(5),
            owner: Some(owner),
            command: Command::Shutdown {
                timeout: Duration::from_millis(250),
            },
        },
        Event::CommandCompleted {
            request_id: RequestId(5),
            owner: None,
            outcome: Outcome::Failed(CommandError::Load(LoadFailure {
                step: "open".into(),
                message: "no such file".into(),
            })),
        },
    ];
    let kinds: Vec<EventKind> = events.iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        EventKind::ALL,
        "one event of each kind, in schema order"
    );
    events
}

#[test]
fn kinds_names_and_topics_match_the_schema() {
    for (kind, schema) in EventKind::ALL.iter().zip(SCHEMA) {
        assert_eq!(kind.name(), schema.event);
        assert_eq!(kind.topic().name(), schema.topic);
        assert_eq!(EventKind::from_name(schema.event), Some(*kind));
    }
    let mut names: Vec<_> = SCHEMA.iter().map(|s| s.event).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SCHEMA.len(), "event names are unique");
    assert!(
        Topic::ALL
            .iter()
            .all(|t| SCHEMA.iter().any(|s| s.topic == t.name()))
    );
}

#[test]
fn filters_select_by_topic_kind_and_plugin() {
    let events = one_of_each();
    let lifecycle = EventFilter::all().topic(Topic::Lifecycle);
    let stalls = EventFilter::all().kind(EventKind::DrainStalled);
    let other_plugin = EventFilter::all().plugin("other");
    let this_plugin = EventFilter::all().plugin("example.gain");
    for event in &events {
        assert!(EventFilter::all().matches(event));
        assert_eq!(lifecycle.matches(event), event.topic() == Topic::Lifecycle);
        assert_eq!(
            stalls.matches(event),
            event.kind() == EventKind::DrainStalled
        );
        assert!(!other_plugin.matches(event), "{event:?}");
        assert_eq!(
            this_plugin.matches(event),
            event.plugin_id() == Some("example.gain")
        );
    }
}

#[test]
fn a_follower_takes_records_with_absurd_numbers_without_panicking() {
    // Records may come from outside (a log, a UI bridge): numbers at the edge of `u64`
    // count as gaps, saturating, and never overflow.
    let mut follower = super::Follower::default();
    let unloaded = || Event::Unloaded {
        plugin_id: "never.loaded".into(),
    };
    for (seq, dropped) in [(u64::MAX, u64::MAX), (u64::MAX, 1), (1, u64::MAX)] {
        follower.apply(&EventRecord {
            seq,
            t_micros: u64::MAX,
            dropped,
            event: unloaded(),
        });
    }
    assert_eq!(follower.gaps(), u64::MAX);
}

#[cfg(feature = "serde")]
mod json {
    use super::*;

    fn record(seq: u64, event: Event) -> EventRecord {
        EventRecord {
            seq,
            t_micros: seq * 10,
            dropped: seq % 3,
            event,
        }
    }

    #[test]
    fn every_event_round_trips_through_json() {
        for (i, event) in one_of_each().into_iter().enumerate() {
            let record = record(i as u64 + 1, event);
            let line = record.to_json();
            assert!(!line.contains('\n'));
            let back: EventRecord = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{line} does not parse back: {e}"));
            assert_eq!(back, record, "{line}");
        }
    }

    #[test]
    fn the_fields_written_are_the_fields_documented() {
        for (event, schema) in one_of_each().into_iter().zip(SCHEMA) {
            let value = serde_json::to_value(record(1, event)).unwrap();
            assert_eq!(value["topic"], schema.topic);
            assert_eq!(value["event"], schema.event);
            let fields = value["fields"].as_object().expect("fields is an object");
            let written: Vec<&str> = fields.keys().map(String::as_str).collect();
            let documented: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
            let (mut w, mut d) = (written.clone(), documented.clone());
            w.sort_unstable();
            d.sort_unstable();
            assert_eq!(w, d, "fields of {}", schema.event);
            for field in schema.fields {
                let v = &fields[field.name];
                let ok = match field.ty.trim_end_matches('?') {
                    _ if field.ty.ends_with('?') && v.is_null() => true,
                    "string" | "path" | "key" | "drain_reason" | "sync_mode" | "config_result" => {
                        v.is_string()
                    }
                    "u64" | "u32" => v.is_u64(),
                    "command" | "outcome" => v.is_object(),
                    t if t.starts_with('[') => v.is_array(),
                    other => panic!("undocumented type {other}"),
                };
                assert!(
                    ok,
                    "{}.{} is {v}, not {}",
                    schema.event, field.name, field.ty
                );
            }
        }
    }

    #[test]
    fn a_configuration_crosses_as_text_when_it_is_utf8_else_as_bytes() {
        let text = Command::Configure {
            plugin_id: "example.gain".into(),
            type_id: "gain".into(),
            config: b"gain=0.5".to_vec(),
        };
        let json = serde_json::to_value(&text).unwrap();
        assert_eq!(json["command"], "configure");
        assert_eq!(json["config"], "gain=0.5");
        let bytes = Command::Configure {
            plugin_id: "example.gain".into(),
            type_id: "gain".into(),
            config: vec![0xff, 0, 7],
        };
        let json = serde_json::to_value(&bytes).unwrap();
        assert_eq!(json["config"], serde_json::json!([255, 0, 7]));
        for command in [text, bytes] {
            let line = serde_json::to_string(&command).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&line).unwrap(), command);
        }
        let sent = r#"{"command": "configure", "plugin_id": "p", "type_id": "t", "config": "x"}"#;
        assert!(matches!(
            serde_json::from_str::<Command>(sent).unwrap(),
            Command::Configure { config, .. } if config == b"x"
        ));
        let outcome = Outcome::Configured {
            plugin_id: "p".into(),
            type_id: "t".into(),
            revision: 4,
            instances: 2,
        };
        let line = serde_json::to_string(&outcome).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&line).unwrap(), outcome);
    }

    #[test]
    fn keys_are_written_one_way() {
        let (g, _) = keys();
        let text = serde_json::to_string(&g).unwrap();
        assert_eq!(text, format!("\"{g}\""));
        let (core, rest) = g
            .to_string()
            .split_once(':')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        assert!(core.parse::<u32>().is_ok());
        assert!(rest.contains('v'));
        assert_eq!(serde_json::from_str::<GenerationKey>(&text).unwrap(), g);
        for bad in [
            "\"\"",
            "\"1:2\"",
            "\"1:2v2\"",
            "\"x:2v1\"",
            "\"1:2v1 \"",
            "7",
        ] {
            assert!(serde_json::from_str::<GenerationKey>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_with_the_wrong_topic_is_refused() {
        let line = r#"{"seq":1,"t_micros":0,"topic":"runtime","event":"plugin_enabled","fields":{"plugin_id":"x"}}"#;
        let error = serde_json::from_str::<EventRecord>(line).unwrap_err();
        assert!(error.to_string().contains("topic"), "{error}");
    }

    #[test]
    fn commands_cross_as_json_with_relative_durations() {
        let commands = [
            r#"{"command":"load","path":"plugins/libx.so","expected_plugin_id":null}"#,
            r#"{"command":"reload","plugin_id":"x"}"#,
            r#"{"command":"unload","plugin_id":"x"}"#,
            r#"{"command":"set_enabled","plugin_id":"x","enabled":false}"#,
            r#"{"command":"snapshot"}"#,
            r#"{"command":"shutdown","deadline_ms":1500}"#,
            r#"{"command":"sync","dir":"plugins"}"#,
            r#"{"command":"sync","dir":"plugins","disabled":["x"],"mode":"reconcile"}"#,
            r#"{"command":"restart","deadline_ms":2000}"#,
        ];
        for line in commands {
            let command: Command =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let again = serde_json::to_string(&command).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&again).unwrap(), command);
        }
        let shutdown: Command =
            serde_json::from_str(r#"{"command":"shutdown","deadline_ms":18446744073709551615}"#)
                .unwrap();
        assert_eq!(
            shutdown,
            Command::Shutdown {
                timeout: Duration::from_millis(u64::MAX)
            }
        );
        for bad in [
            r#"{"command":"shutdown","deadline":{"secs":1}}"#,
            r#"{"command":"explode"}"#,
            r#"{"command":"reload"}"#,
        ] {
            assert!(serde_json::from_str::<Command>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sync_outcome_round_trips_with_every_action() {
        use crate::generation::{
            FileError, Fingerprint, SyncAction, SyncChange, SyncEntry, SyncError,
        };
        let (g, _) = keys();
        let fingerprint = Fingerprint {
            size_bytes: 4096,
            mtime_unix_ns: 1_700_000_000_123_456_789,
            digest: crate::module::Digest::of_bytes(b"library"),
        };
        let actions = [
            SyncAction::Loaded {
                generation: g,
                replaced: Some(g),
            },
            SyncAction::Nothing,
            SyncAction::Skipped,
            SyncAction::Disabled { draining: Some(g) },
            SyncAction::Unloaded { draining: None },
            SyncAction::Failed {
                error: SyncError::File(FileError::Describe {
                    step: "entry symbol".into(),
                    message: "missing".into(),
                }),
            },
            SyncAction::Failed {
                error: SyncError::Duplicate {
                    plugin_id: "y".into(),
                    paths: vec![PathBuf::from("plugins/a.so"), PathBuf::from("plugins/b.so")],
                },
            },
            SyncAction::Failed {
                error: SyncError::Load(CommandError::Superseded {
                    plugin_id: "y".into(),
                }),
            },
        ];
        let entries = actions
            .into_iter()
            .map(|action| SyncEntry {
                path: PathBuf::from("plugins/a.so"),
                plugin_id: Some("x".into()),
                change: SyncChange::Changed,
                fingerprint: Some(fingerprint),
                action,
            })
            .collect();
        let outcome = Outcome::Synced {
            dir: PathBuf::from("plugins"),
            mode: SyncMode::Additive,
            entries,
        };
        let text = serde_json::to_string(&outcome).unwrap();
        assert_eq!(
            serde_json::from_str::<Outcome>(&text).unwrap(),
            outcome,
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        // The entry's plugin and an error's plugin are not one member.
        assert_eq!(value["entries"][7]["plugin_id"], "x");
        assert_eq!(value["entries"][7]["error"]["plugin_id"], "y");
        assert_eq!(value["entries"][6]["error"]["plugin_id"], "y");
        assert_eq!(
            value["entries"][0]["fingerprint"]["digest"],
            crate::module::Digest::of_bytes(b"library").to_string()
        );
    }

    #[test]
    fn a_snapshot_round_trips() {
        let snapshot = Snapshot::default();
        let outcome = Outcome::Snapshot(snapshot);
        let text = serde_json::to_string(&outcome).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), outcome);
    }

    /// A topic, an event and its fields with their types.
    type Documented = (String, String, Vec<(String, String)>);

    /// `docs/events.md` documents exactly the schema: every topic and event, every field
    /// with its type, in order.
    #[test]
    fn the_documentation_lists_the_schema() {
        let doc = include_str!("../../docs/events.md");
        let mut documented: Vec<Documented> = Vec::new();
        for line in doc.lines() {
            if let Some(heading) = line.strip_prefix("#### `") {
                let (topic, rest) = heading.split_once("` / `").expect("### `topic` / `event`");
                let event = rest.trim_end_matches('`');
                documented.push((topic.into(), event.into(), Vec::new()));
            } else if let Some(row) = line.strip_prefix("| `")
                && let Some(last) = documented.last_mut()
            {
                let cells: Vec<&str> = row.split(" | ").collect();
                let name = cells[0].trim_end_matches('`');
                let ty = cells[1].trim_matches('`');
                last.2.push((name.into(), ty.into()));
            }
        }
        let code: Vec<Documented> = SCHEMA
            .iter()
            .map(|s| {
                let fields = s
                    .fields
                    .iter()
                    .map(|f| (f.name.into(), f.ty.into()))
                    .collect();
                (s.topic.into(), s.event.into(), fields)
            })
            .collect();
        assert_eq!(documented, code);
    }
}
