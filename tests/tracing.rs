//! Every event record is also a `tracing` event, and every command runs in a span: a
//! recording subscriber installed for this test process sees them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fixture_api::build::fixtures;
use plugin_runtime::events::{EventFilter, EventKind};
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::{Runtime, RuntimeConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One `tracing` event as recorded: its target, its fields, and the fields of the span
/// it happened in.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    level: tracing::Level,
    fields: HashMap<String, String>,
    span: Option<HashMap<String, String>>,
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Records every event and span of every thread; spans are entered per thread.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, HashMap<String, String>>>,
    current: Mutex<HashMap<std::thread::ThreadId, Vec<u64>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("plugin_runtime")
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::default();
        span.record(&mut fields);
        fields
            .0
            .insert("name".into(), span.metadata().name().into());
        self.spans.lock().unwrap().insert(id, fields.0);
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let thread = std::thread::current().id();
        let span = self
            .current
            .lock()
            .unwrap()
            .get(&thread)
            .and_then(|stack| stack.last().copied())
            .and_then(|id| self.spans.lock().unwrap().get(&id).cloned());
        self.seen.lock().unwrap().push(Seen {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields: fields.0,
            span,
        });
    }

    fn enter(&self, span: &Id) {
        let thread = std::thread::current().id();
        let mut current = self.current.lock().unwrap();
        current.entry(thread).or_default().push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let thread = std::thread::current().id();
        let mut current = self.current.lock().unwrap();
        if let Some(stack) = current.get_mut(&thread)
            && let Some(at) = stack.iter().rposition(|id| *id == span.into_u64())
        {
            stack.remove(at);
        }
    }
}

#[test]
fn every_record_is_a_tracing_event_and_commands_run_in_spans() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        seen: Arc::clone(&seen),
        ..Recorder::default()
    };
    // This test binary has this one test: the global subscriber is its own.
    tracing::subscriber::set_global_default(recorder).unwrap();

    let root = std::env::temp_dir().join(format!("plugin-runtime-tracing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = RuntimeConfig::default()
        .with_loader(LoaderConfig::default().with_shadow_root(root.join("shadow")));
    let runtime = Runtime::start(config).unwrap();
    let mut listener = runtime.listen(EventFilter::all()).unwrap();
    let wait = Duration::from_secs(30);
    let load = Command::Load {
        path: fixtures().path("fixture-echo-v1"),
        expected_plugin_id: None,
    };
    let Outcome::Loaded { plugin_id, .. } = runtime.call(load, wait).unwrap() else {
        panic!("the load failed");
    };
    let failed = Command::Load {
        path: root.join("missing.so"),
        expected_plugin_id: None,
    };
    assert!(matches!(
        runtime.call(failed, wait).unwrap(),
        Outcome::Failed(_)
    ));
    runtime.call(Command::Unload { plugin_id }, wait).unwrap();
    drop(runtime);

    let mut records = Vec::new();
    while let Ok(record) = listener.recv_timeout(wait) {
        records.push(record);
    }
    let seen = seen.lock().unwrap().clone();
    let logged: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.target == "plugin_runtime::events")
        .collect();
    assert_eq!(logged.len(), records.len(), "one tracing event per record");
    for (record, log) in records.iter().zip(&logged) {
        assert_eq!(log.fields["seq"], record.seq.to_string());
        assert_eq!(log.fields["topic"], record.event.topic().name());
        assert_eq!(log.fields["event"], record.event.name());
        let fields: serde_json::Value = serde_json::from_str(&log.fields["fields"]).unwrap();
        let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(
            fields,
            json["fields"],
            "the fields of {}",
            record.event.name()
        );
        let level = match record.event.kind() {
            EventKind::LoadFailed | EventKind::DrainStalled => tracing::Level::WARN,
            EventKind::RuntimePoisoned => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        assert_eq!(log.level, level, "{}", record.event.name());
    }
    // A load's records come back from the loader thread inside its command's span.
    for log in &logged {
        if matches!(
            log.fields["event"].as_str(),
            "plugin_loaded" | "load_failed" | "command_submitted"
        ) {
            let span = log
                .span
                .as_ref()
                .unwrap_or_else(|| panic!("{log:?} is in no span"));
            assert_eq!(span["name"], "command");
            assert!(
                span.contains_key("request_id") && span.contains_key("command"),
                "{span:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
