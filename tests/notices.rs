//! Serving notices on real libraries: subscribed owners hear a plugin's first load and
//! its enable, unsubscribed ones do not, and a lagging owner finds them in `Lagged`;
//! listeners with a plugin filter hear the same moments as records.

use std::time::Duration;

#[allow(dead_code)] // shared by the test files; each uses part of it
mod common;

use common::{Setup, WAIT};
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::events::{Event, EventFilter, EventKind, EventRecord};
use plugin_runtime::generation::{Command, GenerationKey, Outcome, ServingCause, ServingNotice};
use plugin_runtime::owner::Subscription;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Listener, Owner, RuntimeConfig};

const ECHO: &str = "fixture.echo";

fn serving(owner: &Owner) -> ServingNotice {
    match owner.recv_timeout(WAIT) {
        Some(OwnerEvent::Serving(notice)) => notice,
        other => panic!("expected a serving notice, got {other:?}"),
    }
}

/// The lifecycle records a listener has heard so far, up to and including the first
/// `plugin_loaded` of `generation`.
fn heard_until_loaded(listener: &mut Listener, generation: GenerationKey) -> Vec<EventRecord> {
    let mut heard = Vec::new();
    loop {
        let record = listener.recv_timeout(WAIT).expect("the plugin's records");
        let done = matches!(record.event, Event::Loaded { generation: g, .. } if g == generation);
        heard.push(record);
        if done {
            return heard;
        }
    }
}

fn kinds(records: &[EventRecord]) -> Vec<EventKind> {
    records.iter().map(|r| r.event.kind()).collect()
}

#[test]
fn a_subscribed_owner_hears_a_first_load_and_an_enable_and_others_do_not() {
    let setup = Setup::with_config("notices", RuntimeConfig::default());
    let fan = setup.runtime.register_owner("ui.slot").unwrap();
    fan.subscribe(Subscription::Plugin(ECHO.into())).unwrap();
    let everything = setup.runtime.register_owner("ui.debug").unwrap();
    everything.subscribe(Subscription::All).unwrap();
    let other = setup.runtime.register_owner("ui.other").unwrap();
    other
        .subscribe(Subscription::Plugin("fixture.threaded".into()))
        .unwrap();
    let bystander = setup.runtime.register_owner("audio").unwrap();
    let mut listener = setup
        .runtime
        .listen(
            EventFilter::all()
                .topic(plugin_runtime::events::Topic::Lifecycle)
                .plugin(ECHO),
        )
        .unwrap();

    // A first load.
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let first = setup.load(&path);
    let notice = serving(&fan);
    assert_eq!(
        notice,
        ServingNotice {
            plugin_id: ECHO.into(),
            generation: first,
            cause: ServingCause::FirstLoad,
        }
    );
    assert_eq!(serving(&everything), notice);
    // As a slot fills itself: create from the generation the notice names.
    let instance = fan
        .create::<ProbeInterface>(&notice.plugin_id, "echo", b"")
        .unwrap();
    assert_eq!((instance.generation(), instance.tag()), (first, 1));
    // (The load named no plugin id, so its `load_requested` is about no plugin.)
    assert_eq!(
        kinds(&heard_until_loaded(&mut listener, first)),
        [EventKind::Loaded]
    );

    // A reload is told as a drain naming the new generation, never as a serving notice.
    let second = setup.reload(ECHO);
    match fan.recv_timeout(WAIT) {
        Some(OwnerEvent::Draining(notice)) => {
            assert_eq!((notice.old, notice.new), (first, Some(second)))
        }
        other => panic!("{other:?}"),
    }
    drop(instance);

    // Disable: a drain with nothing to recreate from. Enable: a serving notice.
    let outcome = setup.call(Command::SetEnabled {
        plugin_id: ECHO.into(),
        enabled: false,
    });
    assert!(matches!(outcome, Outcome::Disabled { .. }), "{outcome:?}");
    match fan.recv_timeout(WAIT) {
        Some(OwnerEvent::Draining(notice)) => assert_eq!((notice.old, notice.new), (second, None)),
        other => panic!("{other:?}"),
    }
    let Outcome::Enabled {
        generation: third, ..
    } = setup.call(Command::SetEnabled {
        plugin_id: ECHO.into(),
        enabled: true,
    })
    else {
        panic!("the enable did not load");
    };
    assert_eq!(
        serving(&fan),
        ServingNotice {
            plugin_id: ECHO.into(),
            generation: third,
            cause: ServingCause::Enabled,
        }
    );
    let instance = fan.create::<ProbeInterface>(ECHO, "echo", b"").unwrap();
    assert_eq!(instance.generation(), third);
    // The listener with the plugin filter heard the enable, then the load.
    let heard = kinds(&heard_until_loaded(&mut listener, third));
    let enabled = heard.iter().position(|k| *k == EventKind::Enabled);
    assert!(
        enabled.is_some() && enabled < heard.iter().position(|k| *k == EventKind::Loaded),
        "{heard:?}"
    );

    // Subscribers of another plugin, and owners that subscribed to nothing, heard
    // nothing at all.
    assert_eq!(other.recv_timeout(Duration::from_millis(100)), None);
    assert_eq!(bystander.try_recv(), None);
    // `everything` heard the same serving notices as `fan`, between its drain notices.
    let mut causes = vec![ServingCause::FirstLoad];
    while let Some(event) = everything.try_recv() {
        if let OwnerEvent::Serving(notice) = event {
            causes.push(notice.cause);
        }
    }
    assert_eq!(causes, [ServingCause::FirstLoad, ServingCause::Enabled]);
}

#[test]
fn a_lagging_subscribed_owner_finds_every_serving_plugin_in_lagged() {
    // Two completions and two notices: the third notice finds no room.
    let setup = Setup::with_config(
        "notices-lagged",
        RuntimeConfig::default().with_mailbox_capacity(4),
    );
    let owner = setup.runtime.register_owner("ui.slots").unwrap();
    owner.subscribe(Subscription::All).unwrap();
    let mut loaded = Vec::new();
    for (fixture, name) in [
        ("fixture-echo-v1", "libecho.so"),
        ("fixture-threaded", "libthreaded.so"),
        ("example-gain", "libgain.so"),
    ] {
        let path = setup.install(fixture, name);
        loaded.push(setup.load(&path));
    }
    assert!(owner.pending() <= 4);

    // The two notices that fit, then one `Lagged` naming every serving plugin.
    let first = serving(&owner);
    let second = serving(&owner);
    assert_eq!(
        (first.generation, second.generation),
        (loaded[0], loaded[1])
    );
    let Some(OwnerEvent::Lagged {
        missed,
        draining,
        serving,
        configs,
    }) = owner.recv_timeout(WAIT)
    else {
        panic!("expected to hear that notices were missed");
    };
    assert_eq!(missed, 1);
    assert!(draining.is_empty());
    assert!(configs.is_empty());
    // In plugin-id order.
    let named: Vec<(String, GenerationKey, ServingCause)> = serving
        .into_iter()
        .map(|n| (n.plugin_id, n.generation, n.cause))
        .collect();
    assert_eq!(
        named,
        [
            (
                "example.gain".to_owned(),
                loaded[2],
                ServingCause::FirstLoad
            ),
            (ECHO.to_owned(), loaded[0], ServingCause::FirstLoad),
            (
                "fixture.threaded".to_owned(),
                loaded[1],
                ServingCause::FirstLoad
            ),
        ]
    );
}
