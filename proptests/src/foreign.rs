//! A second core whose keys and close tokens a run hands to the core under test, which
//! must refuse them with the typed foreign-key errors and change nothing.
//!
//! The second core makes its records in the order a run's prelude does (owners first,
//! then generations), so its keys share slots (index and version) with live records of
//! the core under test: a core that looked only at the slot would act on those.

use std::time::Instant;

use plugin_runtime::generation::{
    CloseToken, Command, CoreConfig, Effect, GenerationKey, Lifecycle, LoadKey, PinKey, RequestId,
};
use plugin_runtime::owner::{InstanceKey, OwnerKey, TicketKey};

use crate::model;

/// One of every key of another core, and the means to make its close tokens.
#[derive(Debug)]
pub struct OtherCore {
    core: Lifecycle,
    now: Instant,
    /// A registered owner.
    pub owner: OwnerKey,
    /// The generation its instance, ticket and pin hold.
    pub generation: GenerationKey,
    /// A load never answered.
    pub load: LoadKey,
    /// A reserved ticket.
    pub ticket: TicketKey,
    /// A live instance.
    pub instance: InstanceKey,
    /// An in-flight pin.
    pub pin: PinKey,
}

impl OtherCore {
    /// A core with one record of every kind.
    pub fn new(now: Instant) -> Self {
        let mut core = Lifecycle::new(CoreConfig::default());
        let owner = core.register_owner("other.owner");
        core.register_owner("other.bystander");
        let generation = load(&mut core, now, 0);
        let (instance, ticket, pin) = {
            let (kind, type_id, version) = model::capability(0);
            let plugin = model::plugin_at(0);
            let first = core
                .reserve_ticket(now, owner, plugin, kind, type_id, version)
                .expect("the other core serves its plugin");
            let instance = core
                .ticket_created(now, first.key)
                .expect("the ticket was just reserved");
            let ticket = core
                .reserve_ticket(now, owner, plugin, kind, type_id, version)
                .expect("the other core serves its plugin");
            let (pin, _) = core
                .pin(now, Some(owner), plugin)
                .expect("the other core serves its plugin");
            (instance, ticket.key, pin)
        };
        core.submit(
            now,
            RequestId(0),
            None,
            Command::Reload {
                plugin_id: model::plugin_at(0).to_owned(),
            },
        );
        let load = open(&mut core).expect("a reload opens its library");
        Self {
            core,
            now,
            owner,
            generation,
            load,
            ticket,
            instance,
            pin,
        }
    }

    /// A fresh close token of the other core: a generation of its second plugin, loaded
    /// and unloaded while nothing holds it.
    pub fn token(&mut self) -> CloseToken {
        load(&mut self.core, self.now, 1);
        self.core.submit(
            self.now,
            RequestId(0),
            None,
            Command::Unload {
                plugin_id: model::plugin_at(1).to_owned(),
            },
        );
        let effects: Vec<Effect> = std::iter::from_fn(|| self.core.poll_effect()).collect();
        effects
            .into_iter()
            .find_map(|effect| match effect {
                Effect::Close(token) => Some(token),
                _ => None,
            })
            .expect("an unheld generation is collected when it is unloaded")
    }
}

/// Loads the module installed at `path` and returns its generation.
fn load(core: &mut Lifecycle, now: Instant, path: usize) -> GenerationKey {
    let command = Command::Load {
        path: model::path(path),
        expected_plugin_id: None,
    };
    core.submit(now, RequestId(0), None, command);
    let load = open(core).expect("a load opens its library");
    core.load_finished(now, load, Ok(model::module(path)))
        .expect("the load is pending")
        .expect("the load succeeded")
}

/// The load of the `Effect::Open` among the effects, draining them all.
fn open(core: &mut Lifecycle) -> Option<LoadKey> {
    std::iter::from_fn(|| core.poll_effect())
        .filter_map(|effect| match effect {
            Effect::Open { load, .. } => Some(load),
            _ => None,
        })
        .last()
}
