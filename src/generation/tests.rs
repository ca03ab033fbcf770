//! Scenarios of the core on one thread with a virtual clock, one per rule.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::module::{CapabilityInfo, CloseOutcome, ModuleInfo};
use crate::owner::{InstanceKey, OwnerKey, ReserveError, Subscription, Ticket, TicketError};

pub(super) const TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn module(plugin_id: &str, version: &str) -> ModuleInfo {
    ModuleInfo {
        digest: None,
        plugin_id: plugin_id.to_owned(),
        version: version.to_owned(),
        display_name: plugin_id.to_owned(),
        abi_major: 1,
        abi_minor: 0,
        capabilities: vec![CapabilityInfo {
            kind: "decoder".to_owned(),
            type_id: "wav".to_owned(),
            interface_version: 1,
            interface_minor: 0,
            layout_id: 0,
            layout: String::new(),
            vtable_size: 0,
            display_name: "WAV".to_owned(),
            default_config: Vec::new(),
        }],
    }
}

/// The command that loads the library at `path`, which must hold `expected_plugin_id` if
/// one is given.
pub(super) fn load_command(path: &str, expected_plugin_id: Option<&str>) -> Command {
    Command::Load {
        path: path.into(),
        expected_plugin_id: expected_plugin_id.map(str::to_owned),
    }
}

pub(super) fn reload(plugin_id: &str) -> Command {
    Command::Reload {
        plugin_id: plugin_id.into(),
    }
}

pub(super) fn unload(plugin_id: &str) -> Command {
    Command::Unload {
        plugin_id: plugin_id.into(),
    }
}

pub(super) fn set_enabled(plugin_id: &str, enabled: bool) -> Command {
    Command::SetEnabled {
        plugin_id: plugin_id.into(),
        enabled,
    }
}

/// One core, its virtual clock, and the effects seen so far.
pub(super) struct Harness {
    pub(super) core: Lifecycle,
    pub(super) now: Instant,
    pub(super) next_request: u64,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self {
            core: Lifecycle::new(CoreConfig {
                drain_timeout: TIMEOUT,
                max_stall_interval: Duration::from_secs(40),
            }),
            now: Instant::now(),
            next_request: 0,
        }
    }

    pub(super) fn effects(&mut self) -> Vec<Effect> {
        std::iter::from_fn(|| self.core.poll_effect()).collect()
    }

    pub(super) fn submit(&mut self, command: Command) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.core.submit(self.now, id, None, command);
        id
    }

    /// Submits a command that opens a library and returns the load to answer.
    pub(super) fn start_load(&mut self, command: Command) -> LoadKey {
        self.submit(command);
        let effects = self.effects();
        // Only what the command asked for comes last: its load request, then its open.
        match effects.as_slice() {
            [
                ..,
                Effect::Event(Event::LoadRequested { .. }),
                Effect::Open { load, .. },
            ] => *load,
            other => panic!("expected one load request and its open, got {other:?}"),
        }
    }

    pub(super) fn finish(
        &mut self,
        load: LoadKey,
        result: Result<ModuleInfo, LoadFailure>,
    ) -> Vec<Effect> {
        self.core.load_finished(self.now, load, result).unwrap();
        self.effects()
    }

    /// Answers `load` with `module`: the generation made of it, whether it serves or not,
    /// and the effects.
    pub(super) fn finish_generation(
        &mut self,
        load: LoadKey,
        module: ModuleInfo,
    ) -> (GenerationKey, Vec<Effect>) {
        let generation = self.core.load_finished(self.now, load, Ok(module)).unwrap();
        (generation.unwrap(), self.effects())
    }

    /// Loads `plugin_id` from its own path and returns its active generation.
    pub(super) fn load(&mut self, plugin_id: &str, version: &str) -> GenerationKey {
        let path = format!("/plugins/{plugin_id}.so");
        let load = self.start_load(load_command(&path, Some(plugin_id)));
        self.finish(load, Ok(module(plugin_id, version)));
        self.core.active_generation(plugin_id).unwrap()
    }

    pub(super) fn reload(
        &mut self,
        plugin_id: &str,
        version: &str,
    ) -> (GenerationKey, Vec<Effect>) {
        let load = self.start_load(reload(plugin_id));
        let effects = self.finish(load, Ok(module(plugin_id, version)));
        (self.core.active_generation(plugin_id).unwrap(), effects)
    }

    /// Reserves a ticket of `owner` for the WAV decoder of `plugin_id`.
    pub(super) fn ticket(&mut self, owner: OwnerKey, plugin_id: &str) -> Ticket {
        self.core
            .reserve_ticket(self.now, owner, plugin_id, "decoder", "wav", 1)
            .unwrap()
    }

    pub(super) fn instance(&mut self, owner: OwnerKey, plugin_id: &str) -> InstanceKey {
        let ticket = self.ticket(owner, plugin_id);
        self.core.ticket_created(self.now, ticket.key).unwrap()
    }

    /// Registers an owner, loads `plugin_id` and has the owner hold one instance of it:
    /// the owner, the generation it holds, and the instance.
    pub(super) fn load_held(&mut self, plugin_id: &str) -> (OwnerKey, GenerationKey, InstanceKey) {
        let owner = self.core.register_owner("audio.decode");
        let generation = self.load(plugin_id, "1");
        let instance = self.instance(owner, plugin_id);
        (owner, generation, instance)
    }

    /// Submits a shutdown that gives up `within` from now.
    pub(super) fn shutdown(&mut self, within: Duration) -> RequestId {
        self.submit(Command::Shutdown { timeout: within })
    }

    /// Answers each close of `tokens`: the code is unmapped.
    pub(super) fn unmap(&mut self, tokens: impl IntoIterator<Item = CloseToken>) {
        for token in tokens {
            self.core
                .closed(self.now, token, CloseOutcome::Unmapped)
                .unwrap();
        }
    }

    pub(super) fn state(&self, generation: GenerationKey) -> GenerationState {
        self.core.generation(generation).unwrap().state
    }
}

pub(super) fn close_tokens(effects: Vec<Effect>) -> Vec<CloseToken> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Close(token) => Some(token),
            _ => None,
        })
        .collect()
}

/// The one close among `effects`: exactly one generation is collected.
pub(super) fn only_close(effects: Vec<Effect>) -> CloseToken {
    let mut tokens = close_tokens(effects);
    assert_eq!(tokens.len(), 1, "one close: {tokens:?}");
    tokens.pop().unwrap()
}

/// The report of the shutdown `request`, if it completed among `effects`.
pub(super) fn shutdown_report(
    effects: &[Effect],
    request: RequestId,
) -> Option<Vec<StalledGeneration>> {
    effects.iter().find_map(|e| match e {
        Effect::Complete {
            request_id,
            outcome: Outcome::ShutDown { stalled },
            ..
        } if *request_id == request => Some(stalled.clone()),
        _ => None,
    })
}

pub(super) fn outcomes(effects: &[Effect]) -> Vec<&Outcome> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Complete { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect()
}

pub(super) fn notified(effects: &[Effect]) -> Vec<OwnerKey> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify { owner, .. } => Some(*owner),
            _ => None,
        })
        .collect()
}

#[test]
fn first_load_becomes_active_and_completes() {
    let mut h = Harness::new();
    let load = h.start_load(load_command("/plugins/a.so", None));
    let effects = h.finish(load, Ok(module("a", "1")));
    let generation = h.core.active_generation("a").unwrap();
    assert_eq!(h.state(generation), GenerationState::Active);
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: None, .. }]
    ));
    assert!(h.core.resolve("a", "decoder", "wav").is_some());
    assert_eq!(h.core.list().count(), 1);
}

#[test]
fn reload_activates_the_new_generation_only_after_it_loaded() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let load = h.start_load(reload("a"));
    // Until the load is answered, the old generation keeps serving.
    assert_eq!(h.core.active_generation("a"), Some(old));
    let effects = h.finish(load, Ok(module("a", "2")));
    let new = h.core.active_generation("a").unwrap();
    assert_ne!(new, old);
    // Nothing held the old generation: it is collected in the same step.
    assert_eq!(h.state(old), GenerationState::Closing);
    assert_eq!(only_close(effects).generation(), old);
}

#[test]
fn failed_reload_leaves_the_old_generation_active() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let load = h.start_load(reload("a"));
    let failure = LoadFailure {
        step: "open".into(),
        message: "truncated".into(),
    };
    let effects = h.finish(load, Err(failure.clone()));
    assert_eq!(h.core.active_generation("a"), Some(old));
    assert_eq!(h.state(old), GenerationState::Active);
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Load(failure))]
    );
    assert!(close_tokens(effects).is_empty());
}

#[test]
fn a_draining_generation_is_collected_when_its_last_instance_goes() {
    let mut h = Harness::new();
    let (_, old, instance) = h.load_held("a");
    let (_, effects) = h.reload("a", "2");
    assert!(close_tokens(effects).is_empty());
    assert!(matches!(h.state(old), GenerationState::Draining { .. }));
    h.core.release_instance(h.now, instance).unwrap();
    let tokens = close_tokens(h.effects());
    assert_eq!(tokens.len(), 1, "collected in the same step as the release");
    assert_eq!(h.state(old), GenerationState::Closing);
}

#[test]
fn a_ticket_pins_its_generation_across_a_reload() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    let old = h.load("a", "1");
    let ticket = h.ticket(owner, "a");
    assert_eq!(ticket.generation, old);
    let (_, effects) = h.reload("a", "2");
    assert!(close_tokens(effects).is_empty(), "the ticket holds it");
    let instance = h.core.ticket_created(h.now, ticket.key).unwrap();
    assert_eq!(h.core.instance(instance).unwrap().generation, old);
    assert!(close_tokens(h.effects()).is_empty());
    h.core.release_instance(h.now, instance).unwrap();
    assert_eq!(close_tokens(h.effects()).len(), 1);
}

#[test]
fn dropped_and_failed_tickets_release_their_hold() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    let old = h.load("a", "1");
    let first = h.ticket(owner, "a");
    let second = h.ticket(owner, "a");
    h.reload("a", "2");
    assert_eq!(h.core.generation(old).unwrap().holds.tickets, 2);
    h.core.ticket_failed(h.now, first.key).unwrap();
    assert!(close_tokens(h.effects()).is_empty());
    h.core.ticket_dropped(h.now, second.key).unwrap();
    assert_eq!(close_tokens(h.effects()).len(), 1);
    assert_eq!(
        h.core.ticket_created(h.now, second.key),
        Err(TicketError::NotFound(NotFoundError::Ticket(second.key)))
    );
}

#[test]
fn an_in_flight_pin_holds_its_generation() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let (pin, pinned) = h.core.pin(h.now, None, "a").unwrap();
    assert_eq!(pinned, old);
    h.submit(unload("a"));
    assert!(close_tokens(h.effects()).is_empty());
    h.core.unpin(h.now, pin).unwrap();
    assert_eq!(close_tokens(h.effects()).len(), 1);
    assert!(matches!(
        h.core.unpin(h.now, pin),
        Err(UnpinError::NotFound(NotFoundError::Pin(_)))
    ));
}

#[test]
fn reserving_reports_typed_errors() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    let now = h.now;
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "wav", 1),
        Err(ReserveError::UnknownPlugin { .. })
    ));
    h.load("a", "1");
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "flac", 1),
        Err(ReserveError::NoCapability { .. })
    ));
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "wav", 2),
        Err(ReserveError::InterfaceVersion {
            expected: 2,
            found: 1,
            ..
        })
    ));
    h.submit(set_enabled("a", false));
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "wav", 1),
        Err(ReserveError::Disabled { .. })
    ));
    h.core.unregister_owner(now, owner).unwrap();
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "wav", 1),
        Err(ReserveError::Owner(NotFoundError::Owner(_)))
    ));
}

#[test]
fn only_holders_and_subscribers_are_notified() {
    let mut h = Harness::new();
    let holder = h.core.register_owner("audio.decode");
    let bystander = h.core.register_owner("metadata");
    let watcher = h.core.register_owner("ui");
    let other_watcher = h.core.register_owner("ui.other");
    h.core
        .subscribe(watcher, Subscription::Plugin("a".into()))
        .unwrap();
    h.core
        .subscribe(other_watcher, Subscription::Plugin("b".into()))
        .unwrap();
    let old = h.load("a", "1");
    h.load("b", "1");
    h.instance(holder, "a");
    h.instance(bystander, "b");
    let (new, effects) = h.reload("a", "2");
    assert_eq!(notified(&effects), [holder, watcher]);
    let notice = effects.iter().find_map(|e| match e {
        Effect::Notify { notice, .. } => Some(notice.clone()),
        _ => None,
    });
    assert_eq!(
        notice,
        Some(Notice {
            plugin_id: "a".into(),
            old,
            new: Some(new),
            reason: DrainReason::Replaced,
        })
    );
}

#[test]
fn draining_notices_coalesce_what_an_owner_holds_or_subscribes_to() {
    let mut h = Harness::new();
    let holder = h.core.register_owner("audio.decode");
    let watcher = h.core.register_owner("ui");
    let bystander = h.core.register_owner("metadata");
    h.core.subscribe(watcher, Subscription::All).unwrap();
    let first = h.load("a", "1");
    h.instance(holder, "a");
    let (second, _) = h.reload("a", "2");
    h.instance(holder, "a");
    // Many reloads the holder holds nothing of: they drain and are collected at once.
    for version in 3..10 {
        h.reload("a", &version.to_string());
    }
    let active = h.core.active_generation("a");
    h.load("b", "1");
    h.instance(bystander, "b");

    let expected = |old| Notice {
        plugin_id: "a".into(),
        old,
        new: active,
        reason: DrainReason::Replaced,
    };
    // One notice per draining generation, not one per reload, naming what is active now.
    assert_eq!(
        h.core.draining_notices(holder).unwrap(),
        [expected(first), expected(second)]
    );
    assert_eq!(
        h.core.draining_notices(watcher).unwrap(),
        [expected(first), expected(second)]
    );
    assert_eq!(h.core.draining_notices(bystander).unwrap(), []);

    // An unload leaves nothing to recreate from.
    h.submit(unload("b"));
    let notices = h.core.draining_notices(bystander).unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        (notices[0].new, notices[0].reason),
        (None, DrainReason::Unloaded)
    );

    h.core.unregister_owner(h.now, bystander).unwrap();
    assert_eq!(
        h.core.draining_notices(bystander),
        Err(NotFoundError::Owner(bystander))
    );
}

#[test]
fn a_stalled_drain_is_reported_with_backoff_and_never_closed() {
    let mut h = Harness::new();
    let (owner, old, _) = h.load_held("a");
    h.instance(owner, "a");
    h.reload("a", "2");
    let start = h.now;
    assert_eq!(h.core.poll_timeout(), Some(start + TIMEOUT));
    h.core
        .handle_timeout(start + TIMEOUT - Duration::from_millis(1));
    assert!(h.effects().is_empty(), "nothing is due before the deadline");
    let mut reports = Vec::new();
    // 5 s, then waits of 10, 20, 40 and 40 (capped) seconds.
    for at in [5, 15, 35, 75, 115] {
        let now = start + Duration::from_secs(at);
        assert_eq!(h.core.poll_timeout(), Some(now));
        h.core.handle_timeout(now);
        for effect in h.effects() {
            match effect {
                Effect::Event(Event::DrainStalled {
                    plugin_id,
                    generation,
                    holders,
                    report,
                    ..
                }) => reports.push((
                    StalledGeneration {
                        generation,
                        plugin_id,
                        holders,
                    },
                    report,
                )),
                other => panic!("a stalled drain produced {other:?}"),
            }
        }
    }
    assert_eq!(reports.len(), 5);
    assert_eq!(reports.last().unwrap().1, 5);
    let (stalled, _) = &reports[0];
    assert_eq!(stalled.generation, old);
    assert_eq!(stalled.holders.len(), 1);
    assert_eq!(stalled.holders[0].owner, Some(owner));
    assert_eq!(
        stalled.holders[0].owner_name.as_deref(),
        Some("audio.decode")
    );
    assert_eq!(stalled.holders[0].holds.instances, 2);
    assert!(matches!(
        h.state(old),
        GenerationState::Draining { stalls: 5, .. }
    ));
}

#[test]
fn shutdown_completes_once_everything_is_collected_and_closed() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    let a = h.load("a", "1");
    let b = h.load("b", "1");
    let instance = h.instance(owner, "a");
    let request = h.shutdown(Duration::from_secs(60));
    let tokens = close_tokens(h.effects());
    assert_eq!(
        tokens
            .iter()
            .map(CloseToken::generation)
            .collect::<Vec<_>>(),
        [b]
    );
    assert!(matches!(h.state(a), GenerationState::Draining { .. }));
    h.unmap(tokens);
    assert!(outcomes(&h.effects()).is_empty(), "a is still held");
    h.core.release_instance(h.now, instance).unwrap();
    let tokens = close_tokens(h.effects());
    h.unmap(tokens);
    assert_eq!(shutdown_report(&h.effects(), request), Some(Vec::new()));
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn shutdown_at_its_deadline_reports_who_holds_what_and_closes_nothing() {
    let mut h = Harness::new();
    let (_, a, _) = h.load_held("a");
    let deadline = h.now + Duration::from_secs(2);
    let request = h.shutdown(Duration::from_secs(2));
    h.effects();
    assert_eq!(h.core.poll_timeout(), Some(deadline));
    h.core.handle_timeout(deadline);
    let effects = h.effects();
    let stalled = shutdown_report(&effects, request).unwrap();
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].generation, a);
    assert_eq!(stalled[0].holders[0].holds.instances, 1);
    assert!(close_tokens(effects).is_empty());
    assert!(matches!(h.state(a), GenerationState::Draining { .. }));
    assert_eq!(
        h.core.pin(h.now, None, "a"),
        Err(PinError::ShuttingDown),
        "no new work after shutdown"
    );
}

#[test]
fn closes_record_what_the_os_did_and_cleanup_forgets_the_key() {
    let mut h = Harness::new();
    let first = h.load("a", "1");
    let (second, effects) = h.reload("a", "2");
    let token = close_tokens(effects).pop().unwrap();
    h.core
        .closed(h.now, token, CloseOutcome::StillMapped)
        .unwrap();
    h.effects();
    assert_eq!(
        h.state(first),
        GenerationState::PinnedByLoader {
            reason: PinnedReason::StillMapped
        }
    );
    let (_, effects) = h.reload("a", "3");
    let token = close_tokens(effects).pop().unwrap();
    assert_eq!(token.generation(), second);
    let reason = "deinit failed".to_owned();
    h.core
        .closed(
            h.now,
            token,
            CloseOutcome::KeptLoaded {
                reason: reason.clone(),
            },
        )
        .unwrap();
    assert_eq!(
        h.state(second),
        GenerationState::PinnedByLoader {
            reason: PinnedReason::KeptLoaded { reason }
        }
    );
    // Code still mapped keeps its record: cleanup refuses it, and only the news that
    // the code is gone removes it. Code kept loaded keeps its record for good.
    assert_eq!(h.core.cleanup(first), Err(CleanupError::NotClosed(first)));
    assert_eq!(h.core.cleanup(second), Err(CleanupError::NotClosed(second)));
    assert_eq!(
        h.core.unmapped_later(second),
        Err(CleanupError::NotClosed(second))
    );
    h.effects();
    h.core.unmapped_later(first).unwrap();
    assert!(matches!(
        h.effects().as_slice(),
        [
            Effect::Event(Event::Unmapped { generation: a, .. }),
            Effect::Event(Event::CleanedUp { generation: b, .. }),
        ] if *a == first && *b == first
    ));
    assert!(matches!(
        h.core.generation(first),
        Err(NotFoundError::Generation(_))
    ));
    assert!(matches!(
        h.core.cleanup(first),
        Err(CleanupError::NotFound(_))
    ));
    let active = h.core.active_generation("a").unwrap();
    assert_eq!(h.core.cleanup(active), Err(CleanupError::NotClosed(active)));
}

#[test]
fn unregistering_an_owner_releases_everything_it_holds() {
    let mut h = Harness::new();
    let (owner, old, instance) = h.load_held("a");
    let ticket = h.ticket(owner, "a");
    h.core.pin(h.now, Some(owner), "a").unwrap();
    h.reload("a", "2");
    let released = h.core.unregister_owner(h.now, owner).unwrap();
    assert_eq!(
        (released.instances, released.tickets, released.pins),
        (1, 1, 1)
    );
    assert_eq!(only_close(h.effects()).generation(), old);
    assert!(h.core.instance(instance).is_err());
    assert!(h.core.ticket_dropped(h.now, ticket.key).is_err());
    assert!(h.core.owner_name(owner).is_err());
}

#[test]
fn disable_drains_and_enable_reopens_from_the_recorded_path() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    h.submit(set_enabled("a", false));
    assert_eq!(close_tokens(h.effects()).len(), 1);
    assert_eq!(h.core.active_generation("a"), None);
    assert_eq!(h.state(old), GenerationState::Closing);
    h.submit(set_enabled("a", true));
    let effects = h.effects();
    let Some(Effect::Open { load, path, .. }) =
        effects.iter().find(|e| matches!(e, Effect::Open { .. }))
    else {
        panic!("enable opens the library: {effects:?}");
    };
    assert_eq!(path, &PathBuf::from("/plugins/a.so"));
    let effects = h.finish(*load, Ok(module("a", "1")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Enabled { .. }]
    ));
    assert!(h.core.active_generation("a").is_some());
}

#[test]
fn an_unload_overtaking_a_reload_cancels_it() {
    let mut h = Harness::new();
    h.load("a", "1");
    let load = h.start_load(reload("a"));
    h.submit(unload("a"));
    assert_eq!(close_tokens(h.effects()).len(), 1);
    let effects = h.finish(load, Ok(module("a", "2")));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Cancelled)]
    );
    assert_eq!(
        close_tokens(effects).len(),
        1,
        "the late generation never serves"
    );
    assert_eq!(h.core.active_generation("a"), None);
}

/// Two loads of plugin `a` in flight at once: `older` submitted first, `newer` second.
fn two_loads_of_one_plugin(h: &mut Harness) -> (LoadKey, LoadKey) {
    let older = h.start_load(load_command("/plugins/a-1.so", None));
    h.now += Duration::from_millis(1);
    let newer = h.start_load(load_command("/plugins/a-2.so", None));
    (older, newer)
}

#[test]
fn an_older_load_that_finishes_last_never_becomes_active() {
    let mut h = Harness::new();
    let (older, newer) = two_loads_of_one_plugin(&mut h);
    h.now += Duration::from_millis(1);
    let effects = h.finish(newer, Ok(module("a", "2")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: None, .. }]
    ));
    let active = h.core.active_generation("a").unwrap();

    // The older build's init took longer: it finishes last.
    h.now += Duration::from_secs(3);
    let effects = h.finish(older, Ok(module("a", "1")));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Superseded {
            plugin_id: "a".into()
        })]
    );
    assert_eq!(
        h.core.active_generation("a"),
        Some(active),
        "the newer stays"
    );
    assert_eq!(h.state(active), GenerationState::Active);
    assert_eq!(h.core.generation(active).unwrap().module.version, "2");
    // The older one never served: drained with its own reason, collected at once.
    let drained: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(Event::Draining {
                generation, reason, ..
            }) => Some((*generation, *reason)),
            _ => None,
        })
        .collect();
    let superseded = only_close(effects).generation();
    assert_eq!(drained, [(superseded, DrainReason::Superseded)]);
    assert_ne!(superseded, active);
    assert_eq!(h.state(superseded), GenerationState::Closing);
}

#[test]
fn loads_of_one_plugin_finishing_in_order_replace_each_other() {
    let mut h = Harness::new();
    let (older, newer) = two_loads_of_one_plugin(&mut h);
    h.finish(older, Ok(module("a", "1")));
    let first = h.core.active_generation("a").unwrap();
    let effects = h.finish(newer, Ok(module("a", "2")));
    let second = h.core.active_generation("a").unwrap();
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Loaded {
            plugin_id: "a".into(),
            generation: second,
            replaced: Some(first),
        }]
    );
}

#[test]
fn an_older_load_still_serves_when_the_newer_one_failed() {
    let mut h = Harness::new();
    let (older, newer) = two_loads_of_one_plugin(&mut h);
    let failure = LoadFailure {
        step: "init".into(),
        message: "timed out".into(),
    };
    h.finish(newer, Err(failure));
    let effects = h.finish(older, Ok(module("a", "1")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: None, .. }]
    ));
    assert!(h.core.active_generation("a").is_some());
}

#[test]
fn an_older_load_finishing_after_a_newer_one_and_an_unload_stays_out() {
    let mut h = Harness::new();
    let (older, newer) = two_loads_of_one_plugin(&mut h);
    h.finish(newer, Ok(module("a", "2")));
    h.submit(unload("a"));
    h.effects();
    // The older load named no plugin, so the unload could not cancel it; it is still
    // older than the load that made `a` active before the unload.
    let effects = h.finish(older, Ok(module("a", "1")));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Superseded {
            plugin_id: "a".into()
        })]
    );
    assert_eq!(h.core.active_generation("a"), None);
}

#[test]
fn the_order_of_loads_is_per_plugin() {
    let mut h = Harness::new();
    let a = h.start_load(load_command("/plugins/a.so", None));
    let b = h.start_load(load_command("/plugins/b.so", None));
    h.finish(b, Ok(module("b", "1")));
    let effects = h.finish(a, Ok(module("a", "1")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: None, .. }]
    ));
    assert!(h.core.active_generation("a").is_some());
    assert!(h.core.active_generation("b").is_some());
}

#[test]
fn a_library_with_another_plugin_id_is_rejected() {
    let mut h = Harness::new();
    let load = h.start_load(load_command("/plugins/a.so", Some("a")));
    let effects = h.finish(load, Ok(module("b", "1")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Failed(CommandError::PluginIdMismatch { .. })]
    ));
    assert_eq!(close_tokens(effects).len(), 1);
    assert_eq!(h.core.active_generation("b"), None);
}

#[test]
fn many_generations_of_one_plugin_drain_at_once() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    h.load("a", "1");
    let mut instances = Vec::new();
    for version in 2..6 {
        instances.push(h.instance(owner, "a"));
        h.reload("a", &version.to_string());
    }
    let draining = h
        .core
        .generations()
        .filter(|(_, s)| matches!(s, GenerationState::Draining { .. }))
        .count();
    assert_eq!(draining, 4);
    for instance in instances {
        h.core.release_instance(h.now, instance).unwrap();
        assert_eq!(close_tokens(h.effects()).len(), 1);
    }
}

#[test]
fn loading_an_active_plugin_again_is_a_reload_from_the_new_path() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let load = h.start_load(load_command("/elsewhere/a.so", None));
    let effects = h.finish(load, Ok(module("a", "2")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: Some(r), .. }] if *r == old
    ));
    assert_eq!(
        h.core.snapshot(h.now).plugins[0].path,
        PathBuf::from("/elsewhere/a.so")
    );
}

#[test]
fn every_command_completes_once_with_its_submitter() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("control");
    h.core.submit(
        h.now,
        RequestId(7),
        Some(owner),
        Command::Reload {
            plugin_id: "missing".into(),
        },
    );
    let effects = h.effects();
    assert!(matches!(
        effects.as_slice(),
        [Effect::Complete {
            request_id: RequestId(7),
            owner: Some(o),
            outcome: Outcome::Failed(CommandError::UnknownPlugin { .. }),
        }] if *o == owner
    ));
}

#[test]
fn an_unloaded_plugin_that_still_drains_is_draining_only() {
    let mut h = Harness::new();
    let (owner, _, instance) = h.load_held("a");
    h.submit(unload("a"));
    assert!(matches!(
        h.core
            .reserve_ticket(h.now, owner, "a", "decoder", "wav", 1),
        Err(ReserveError::DrainingOnly { .. })
    ));
    assert!(matches!(
        h.core.pin(h.now, None, "a"),
        Err(PinError::DrainingOnly { .. })
    ));
    h.core.release_instance(h.now, instance).unwrap();
    assert!(matches!(
        h.core.pin(h.now, None, "a"),
        Err(PinError::UnknownPlugin { .. })
    ));
}

#[test]
fn a_zero_drain_timeout_cannot_make_stalled_reports_spin() {
    let now = Instant::now();
    let core = Lifecycle::new(CoreConfig {
        drain_timeout: Duration::ZERO,
        max_stall_interval: Duration::ZERO,
    });
    assert_eq!(core.config().drain_timeout, Duration::from_millis(1));
    let mut h = Harness {
        core,
        now,
        next_request: 0,
    };
    h.load_held("a");
    h.reload("a", "2");
    let first = h.core.poll_timeout().unwrap();
    assert!(first > now);
    h.core.handle_timeout(first);
    assert!(h.core.poll_timeout().unwrap() > first);
}

/// One of every kind of key, and a close token, of one core.
struct Keys {
    owner: OwnerKey,
    generation: GenerationKey,
    closing: GenerationKey,
    load: LoadKey,
    ticket: crate::owner::TicketKey,
    instance: crate::owner::InstanceKey,
    pin: PinKey,
    token: CloseToken,
}

/// Makes one record of every kind, in the same order in every core, so two cores built
/// this way have records at the same slots.
fn one_of_each(h: &mut Harness) -> Keys {
    let owner = h.core.register_owner("audio.decode");
    h.load("a", "1");
    let (generation, effects) = h.reload("a", "2");
    let token = close_tokens(effects).pop().unwrap();
    let closing = token.generation();
    let instance = h.instance(owner, "a");
    let ticket = h.ticket(owner, "a").key;
    let (pin, _) = h.core.pin(h.now, Some(owner), "a").unwrap();
    let load = h.start_load(reload("a"));
    Keys {
        owner,
        generation,
        closing,
        load,
        ticket,
        instance,
        pin,
        token,
    }
}

#[test]
fn keys_and_close_tokens_of_another_core_are_refused() {
    use super::keys::CoreKey;
    use crate::owner::{OwnerError, ReleaseError};
    use ForeignKeyError as Foreign;

    let (mut a, mut b) = (Harness::new(), Harness::new());
    assert_ne!(a.core.id(), b.core.id());
    let ka = one_of_each(&mut a);
    let kb = one_of_each(&mut b);
    // The same slots in both cores: without the core's id, each key of `a` would name
    // the record of `b` at its slot.
    assert_eq!(
        (ka.owner.slot(), ka.generation.slot(), ka.instance.slot()),
        (kb.owner.slot(), kb.generation.slot(), kb.instance.slot())
    );
    assert_ne!(ka.generation, kb.generation);
    assert_eq!(ka.generation.core(), a.core.id());
    let before = b.core.snapshot(b.now);
    let now = b.now;
    let core = &mut b.core;
    let foreign = NotFoundError::Foreign;

    let generation = foreign(Foreign::Generation(ka.generation));
    assert_eq!(core.generation(ka.generation).err(), Some(generation));
    assert_eq!(core.capability(ka.generation, 0).err(), Some(generation));
    assert_eq!(
        core.cleanup(ka.closing),
        Err(CleanupError::NotFound(foreign(Foreign::Generation(
            ka.closing
        ))))
    );
    assert_eq!(
        core.closed(now, ka.token, CloseOutcome::Unmapped),
        Err(ClosedError::Foreign(Foreign::Generation(ka.closing)))
    );

    let module = module("a", "3");
    assert_eq!(
        core.load_finished(now, ka.load, Ok(module)),
        Err(LoadFinishedError::NotFound(foreign(Foreign::Load(ka.load))))
    );

    assert_eq!(
        core.unpin(now, ka.pin),
        Err(UnpinError::NotFound(foreign(Foreign::Pin(ka.pin))))
    );

    let owner = foreign(Foreign::Owner(ka.owner));
    assert_eq!(core.owner_name(ka.owner), Err(owner));
    assert_eq!(
        core.subscribe(ka.owner, Subscription::All),
        Err(OwnerError::NotFound(owner))
    );
    assert_eq!(
        core.reserve_ticket(now, ka.owner, "a", "decoder", "wav", 1),
        Err(ReserveError::Owner(owner))
    );
    assert_eq!(
        core.pin(now, Some(ka.owner), "a"),
        Err(PinError::Owner(owner))
    );
    assert_eq!(
        core.unregister_owner(now, ka.owner),
        Err(OwnerError::NotFound(owner))
    );

    let ticket = TicketError::NotFound(foreign(Foreign::Ticket(ka.ticket)));
    assert_eq!(core.ticket_created(now, ka.ticket), Err(ticket.clone()));
    assert_eq!(core.ticket_failed(now, ka.ticket), Err(ticket.clone()));
    assert_eq!(core.ticket_dropped(now, ka.ticket), Err(ticket));

    let instance = foreign(Foreign::Instance(ka.instance));
    assert_eq!(core.instance(ka.instance), Err(instance));
    assert_eq!(
        core.release_instance(now, ka.instance),
        Err(ReleaseError::NotFound(instance))
    );

    assert!(b.effects().is_empty(), "a refused key changed nothing");
    assert_eq!(b.core.snapshot(b.now), before);

    // A command submitted by an owner of another core is refused, with its one completion.
    b.core
        .submit(now, RequestId(9), Some(ka.owner), Command::Snapshot);
    let effects = b.effects();
    assert!(matches!(
        effects.as_slice(),
        [Effect::Complete {
            request_id: RequestId(9),
            outcome: Outcome::Failed(CommandError::ForeignOwner(Foreign::Owner(key))),
            ..
        }] if *key == ka.owner
    ));

    // Every key of `b` still names its own record.
    assert_eq!(b.core.owner_name(kb.owner), Ok("audio.decode"));
    assert_eq!(b.state(kb.generation), GenerationState::Active);
    b.core.release_instance(now, kb.instance).unwrap();
    b.core.ticket_created(now, kb.ticket).unwrap();
    b.core.unpin(now, kb.pin).unwrap();
    b.core
        .load_finished(
            now,
            kb.load,
            Err(LoadFailure {
                step: "open".into(),
                message: "test".into(),
            }),
        )
        .unwrap();
    b.core
        .closed(now, kb.token, CloseOutcome::Unmapped)
        .unwrap();
    b.core.cleanup(kb.closing).unwrap();
    // ... and a stale key of `b` is still a plain not-found, not a foreign one.
    assert_eq!(
        b.core.generation(kb.closing).err(),
        Some(NotFoundError::Generation(kb.closing))
    );

    // A foreign owner is refused as such even where a shutdown refuses everything else.
    b.shutdown(Duration::ZERO);
    let owner = NotFoundError::Foreign(Foreign::Owner(ka.owner));
    assert_eq!(
        b.core
            .reserve_ticket(now, ka.owner, "a", "decoder", "wav", 1),
        Err(ReserveError::Owner(owner))
    );
    assert_eq!(
        b.core.pin(now, Some(ka.owner), "a"),
        Err(PinError::Owner(owner))
    );
    assert_eq!(
        b.core
            .reserve_ticket(now, kb.owner, "a", "decoder", "wav", 1),
        Err(ReserveError::ShuttingDown)
    );
}
