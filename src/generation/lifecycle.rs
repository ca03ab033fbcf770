//! The [`Lifecycle`] core: its state, its configuration and the helpers its inputs share.
//!
//! The inputs live by concept: `commands.rs`, `loads.rs`, `queries.rs`, and the files of
//! the drain, collect, pin, owner and shutdown rules.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::arena::Arena;
use super::effect::{CommandError, Effect, Outcome, RequestId};
use super::holders::HoldCounts;
use super::keys::{CoreId, GenerationKey, LoadKey, PinKey};
use super::pins::PinRecord;
use super::restart::RestartState;
use super::serving::ServingCause;
use super::shutdown::ShutdownState;
use super::state::{GenerationRecord, GenerationState, Stage};
use super::sync::{PendingSync, SyncKey};
use crate::module::Digest;
use crate::module::ModuleInfo;
use crate::owner::{InstanceKey, InstanceRecord, OwnerKey, OwnerRecord, TicketKey, TicketRecord};

/// The shortest drain timeout used, whatever the configuration says.
const MIN_DRAIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The core's tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// How long a generation may drain before the first stalled-drain report. At least
    /// one millisecond is used, so stalled reports can never spin; a timeout too long
    /// for the clock (up to [`Duration::MAX`]) means no report, in practice.
    pub drain_timeout: Duration,
    /// The longest wait between two stalled-drain reports of one generation; the wait
    /// doubles after each report up to this. Never less than the drain timeout; any
    /// value up to [`Duration::MAX`] is accepted.
    pub max_stall_interval: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(5),
            max_stall_interval: Duration::from_secs(300),
        }
    }
}

/// The lifecycle state machine: every plugin, generation, owner, ticket, instance record
/// and in-flight pin, with the rules that move them.
///
/// It performs no I/O and reads no clock (sans-IO): every input takes `now`, and what
/// must happen outside is queued as an [`Effect`].
///
/// # How to drive it
///
/// * **Inputs.** Control-plane commands go through [`submit`](Self::submit); each one
///   yields exactly one [`Effect::Complete`]. The caller answers the effects it performed
///   with [`load_finished`](Self::load_finished) (after an [`Effect::Open`]) and
///   [`closed`](Self::closed) (after an [`Effect::Close`]). Owners and their holds are
///   synchronous: [`register_owner`](Self::register_owner),
///   [`unregister_owner`](Self::unregister_owner), [`subscribe`](Self::subscribe),
///   [`reserve_ticket`](Self::reserve_ticket) then exactly one of
///   [`ticket_created`](Self::ticket_created), [`ticket_failed`](Self::ticket_failed) or
///   [`ticket_dropped`](Self::ticket_dropped), then
///   [`release_instance`](Self::release_instance); [`pin`](Self::pin) then
///   [`unpin`](Self::unpin). Time passes through [`handle_timeout`](Self::handle_timeout).
/// * **Outputs.** After any input, drain [`poll_effect`](Self::poll_effect) until it
///   returns `None` and perform each effect, then ask
///   [`poll_timeout`](Self::poll_timeout) when to call
///   [`handle_timeout`](Self::handle_timeout) next (it changes after any input).
/// * **Queries** ([`resolve`](Self::resolve), [`list`](Self::list),
///   [`generation`](Self::generation), [`instance`](Self::instance),
///   [`capability`](Self::capability), [`snapshot`](Self::snapshot)) never change state.
///
/// # Invariants
///
/// * At most one active generation per plugin; a failed load leaves it serving.
/// * A generation is collected (its [`CloseToken`](super::CloseToken) emitted) only while draining with no
///   instance, ticket or pin, and in the same input that released its last hold.
/// * A key to a removed record yields a [`NotFoundError`](super::NotFoundError), never another record.
/// * A key (or [`CloseToken`](super::CloseToken)) of another core yields [`NotFoundError::Foreign`](super::NotFoundError::Foreign) (or
///   the operation's own `Foreign` variant) before any lookup, never a record of this
///   core: every core has its own [`CoreId`], carried by every key it hands out.
///
/// # Examples
///
/// One load, one instance, a reload that drains the old generation, and the release that
/// collects it:
///
/// ```
/// use std::time::Instant;
/// use plugin_runtime::generation::{Command, CoreConfig, Effect, Lifecycle, RequestId};
/// use plugin_runtime::loader::{CapabilityInfo, CloseOutcome, ModuleInfo};
///
/// let module = ModuleInfo {
///     digest: None,
///     plugin_id: "wav".into(),
///     version: "1".into(),
///     display_name: "WAV".into(),
///     abi_major: 2,
///     abi_minor: 0,
///     capabilities: vec![CapabilityInfo {
///         kind: "decoder".into(),
///         type_id: "wav".into(),
///         interface_version: 1,
///         interface_minor: 0,
///         layout_id: 0,
///         layout: String::new(),
///         vtable_size: 0,
///         display_name: "WAV decoder".into(),
///         default_config: Vec::new(),
///     }],
/// };
/// let now = Instant::now();
/// let mut core = Lifecycle::new(CoreConfig::default());
/// let owner = core.register_owner("audio.decode");
///
/// // The actor's loop: perform each effect, answer the ones that need an answer.
/// let mut run = |core: &mut Lifecycle, closes: &mut usize| {
///     while let Some(effect) = core.poll_effect() {
///         match effect {
///             Effect::Open { load, .. } => {
///                 core.load_finished(now, load, Ok(module.clone())).unwrap();
///             }
///             Effect::Close(token) => {
///                 *closes += 1;
///                 core.closed(now, token, CloseOutcome::Unmapped).unwrap();
///             }
///             _ => {}
///         }
///     }
/// };
/// let mut closes = 0;
/// let load = Command::Load { path: "/plugins/wav.so".into(), expected_plugin_id: None };
/// core.submit(now, RequestId(1), Some(owner), load);
/// run(&mut core, &mut closes);
///
/// let ticket = core.reserve_ticket(now, owner, "wav", "decoder", "wav", 1).unwrap();
/// // ... the owner calls the capability's create on its own thread ...
/// let instance = core.ticket_created(now, ticket.key).unwrap();
///
/// core.submit(now, RequestId(2), Some(owner), Command::Reload { plugin_id: "wav".into() });
/// run(&mut core, &mut closes);
/// assert_eq!(closes, 0, "the old generation drains while the instance lives");
///
/// core.release_instance(now, instance).unwrap();
/// run(&mut core, &mut closes);
/// assert_eq!(closes, 1, "collected by the release itself");
/// ```
#[derive(Debug)]
pub struct Lifecycle {
    pub(crate) id: CoreId,
    pub(crate) config: CoreConfig,
    pub(crate) plugins: HashMap<String, PluginRecord>,
    pub(crate) generations: Arena<GenerationKey, GenerationRecord>,
    pub(crate) loads: Arena<LoadKey, PendingLoad>,
    pub(crate) owners: Arena<OwnerKey, OwnerRecord>,
    pub(crate) tickets: Arena<TicketKey, TicketRecord>,
    pub(crate) instances: Arena<InstanceKey, InstanceRecord>,
    /// The instance records made by [`record_created`](Self::record_created), by the key
    /// of the ticket each was made from: the key their owners know them by.
    pub(crate) aliases: HashMap<TicketKey, InstanceKey>,
    /// The live configuration of each `(plugin id, type id)` ever configured, with its
    /// revision; kept across unloads so that revisions only grow.
    pub(crate) configs: HashMap<(String, String), super::configure::LiveConfig>,
    pub(crate) pins: Arena<PinKey, PinRecord>,
    pub(crate) effects: VecDeque<Effect>,
    pub(crate) shutdown: ShutdownState,
    /// The hot restart in progress, if any.
    pub(crate) restart: Option<RestartState>,
    /// The submission number the next load gets (see [`PendingLoad::order`]).
    pub(crate) next_load: u64,
    /// Per plugin id, the submission number of the newest load that made a generation
    /// of it active; a load submitted before it is superseded when it finishes. Cleared
    /// whenever no load is pending, since every later load is newer than all of them.
    pub(crate) newest_active: HashMap<String, u64>,
    /// The number the next owner or generation record gets (see
    /// [`GenerationRecord::made`]).
    pub(crate) next_record: u64,
    /// Directory syncs waiting for their scan or their loads.
    pub(crate) syncs: Arena<SyncKey, PendingSync>,
}

/// A read-only view of one generation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GenerationView<'a> {
    /// The plugin id.
    pub plugin_id: &'a str,
    /// The installed path it was loaded from.
    pub path: &'a std::path::Path,
    /// The validated module, with its capabilities.
    pub module: &'a ModuleInfo,
    /// Its state.
    pub state: GenerationState,
    /// When it entered that state.
    pub since: Instant,
    /// What holds it, summed over owners.
    pub holds: HoldCounts,
}

/// One known plugin.
#[derive(Debug)]
pub(crate) struct PluginRecord {
    pub(crate) path: PathBuf,
    pub(crate) enabled: bool,
    /// `None` while disabled, during shutdown, or never (a record is made by a load).
    pub(crate) active: Option<GenerationKey>,
    /// The SHA-256 digest of the library its active (or last active) generation was
    /// loaded from, if known: what a directory sync compares a file with.
    pub(crate) digest: Option<Digest>,
    /// Why the plugin serves: set whenever it goes from no active generation to one,
    /// kept across reloads. Meaningless while `active` is `None`.
    pub(crate) serving_cause: ServingCause,
}

/// A library the caller was asked to open.
#[derive(Debug)]
pub(crate) struct PendingLoad {
    pub(crate) request_id: RequestId,
    pub(crate) owner: Option<OwnerKey>,
    pub(crate) path: PathBuf,
    pub(crate) expected_plugin_id: Option<String>,
    pub(crate) purpose: LoadPurpose,
    /// Set when an unload, disable or shutdown overtook the load.
    pub(crate) cancelled: bool,
    /// Its place among all loads, in the order they were submitted.
    pub(crate) order: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadPurpose {
    Load,
    Enable,
    /// Entry `entry` of directory sync `sync`: the load answers the sync, not a command.
    Sync {
        sync: SyncKey,
        entry: usize,
    },
    /// One plugin's load of a hot restart: its outcome goes to the restart.
    Restart,
}

impl Lifecycle {
    /// A core with nothing loaded, with an id no other core of this process has.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` cores were already made in this process (see [`CoreId`]).
    pub fn new(mut config: CoreConfig) -> Self {
        config.drain_timeout = config.drain_timeout.max(MIN_DRAIN_TIMEOUT);
        config.max_stall_interval = config.max_stall_interval.max(config.drain_timeout);
        let id = CoreId::next();
        Self {
            id,
            config,
            plugins: HashMap::new(),
            generations: Arena::new(id),
            loads: Arena::new(id),
            owners: Arena::new(id),
            tickets: Arena::new(id),
            instances: Arena::new(id),
            aliases: HashMap::new(),
            configs: HashMap::new(),
            pins: Arena::new(id),
            effects: VecDeque::new(),
            shutdown: ShutdownState::Running,
            restart: None,
            next_load: 0,
            newest_active: HashMap::new(),
            next_record: 0,
            syncs: Arena::new(id),
        }
    }

    /// The configuration the core was made with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// This core's id, carried by every key it hands out.
    pub fn id(&self) -> CoreId {
        self.id
    }

    /// A number for a new owner or generation record, larger than every earlier one.
    pub(crate) fn next_record(&mut self) -> u64 {
        let made = self.next_record;
        self.next_record += 1;
        made
    }

    /// The next effect to perform, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub(crate) fn complete(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        outcome: Outcome,
    ) {
        self.effects.push_back(Effect::Complete {
            request_id,
            owner,
            outcome,
        });
    }

    pub(super) fn fail(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        error: CommandError,
    ) {
        self.complete(request_id, owner, Outcome::Failed(error));
    }

    /// Whether some generation of `plugin_id` drains. Scans every generation: only the
    /// error paths of reserving and pinning an unknown plugin ask.
    pub(crate) fn drains(&self, plugin_id: &str) -> bool {
        self.generations
            .values()
            .any(|g| g.plugin_id == plugin_id && matches!(g.stage, Stage::Draining(_)))
    }
}
