//! Recording an instance without an answer: the owner learns no instance key, and names
//! its instance by the key of the ticket it was made from.
//!
//! [`ticket_created`](Lifecycle::ticket_created) answers with the instance record's key,
//! so an owner that uses it must wait for the answer before it can ever release the
//! instance. [`record_created`](Lifecycle::record_created) needs no answer: the owner
//! builds its instance as soon as the plugin's `create` returned, reports it, and later
//! releases it with [`release_created`](Lifecycle::release_created) under the same ticket
//! key. The core keeps the ticket key as an alias of the record until the release.
//!
//! # Why the generation stays pinned at every moment
//!
//! * From [`reserve_ticket`](Lifecycle::reserve_ticket) until the core reads the report,
//!   the ticket holds the generation ([`Hold::Ticket`](crate::generation::Hold)), whether
//!   or not the plugin's `create` has run.
//! * [`record_created`](Lifecycle::record_created) adds the instance's hold before it
//!   removes the ticket's, in one input: the generation is never seen unheld in between.
//! * The instance record holds it until [`release_created`](Lifecycle::release_created),
//!   which the owner sends only after the plugin's `destroy` returned.
//! * The runtime sends the report and the release from the owner's thread on one FIFO
//!   queue, in that order, so the core never reads the release first. If it ever did (a
//!   caller that breaks this order), the release fails with a not-found error and the
//!   ticket keeps holding the generation: a leak, never an early close.

use std::time::Instant;

use super::error::{ReleaseError, TicketError};
use super::{InstanceKey, TicketKey};
use crate::generation::{Lifecycle, NotFoundError};

impl Lifecycle {
    /// Phase two succeeded, reported without waiting for an answer: the ticket becomes
    /// an instance record that keeps holding the same generation, and the ticket's key
    /// stays its alias, by which its owner releases it with
    /// [`release_created`](Self::release_created).
    ///
    /// # Errors
    ///
    /// [`TicketError::NotFound`] if the ticket was already finished or belongs to another
    /// core.
    pub fn record_created(
        &mut self,
        _now: Instant,
        ticket: TicketKey,
    ) -> Result<InstanceKey, TicketError> {
        self.convert_ticket(ticket, Some(ticket))
    }

    /// The instance record made from `ticket` by
    /// [`record_created`](Self::record_created).
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Ticket`] if no live instance record has this alias (never
    /// recorded, or released), [`NotFoundError::Foreign`] if the key belongs to another
    /// core.
    pub fn instance_of(&self, ticket: TicketKey) -> Result<InstanceKey, NotFoundError> {
        self.tickets.check_core(ticket)?;
        self.aliases
            .get(&ticket)
            .copied()
            .ok_or(NotFoundError::Ticket(ticket))
    }

    /// The owner destroyed the instance it recorded with
    /// [`record_created`](Self::record_created) from `ticket`; as
    /// [`release_instance`](Self::release_instance).
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotFound`] if no live instance record has this alias, or the key
    /// belongs to another core.
    pub fn release_created(&mut self, now: Instant, ticket: TicketKey) -> Result<(), ReleaseError> {
        let instance = self.instance_of(ticket).map_err(ReleaseError::NotFound)?;
        self.release_instance(now, instance)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::generation::{Command, CoreConfig, Effect, Lifecycle, NotFoundError, RequestId};
    use crate::module::{CapabilityInfo, CloseOutcome, ModuleInfo};
    use crate::owner::{ReleaseError, TicketError};

    fn module(version: &str) -> ModuleInfo {
        ModuleInfo {
            digest: None,
            plugin_id: "wav".into(),
            version: version.into(),
            display_name: "WAV".into(),
            abi_major: 1,
            abi_minor: 0,
            capabilities: vec![CapabilityInfo {
                kind: "decoder".into(),
                type_id: "wav".into(),
                interface_version: 1,
                interface_minor: 0,
                layout_id: 0,
                layout: String::new(),
                vtable_size: 0,
                display_name: "WAV".into(),
                default_config: Vec::new(),
            }],
        }
    }

    /// Runs the core's effects, answering opens with `module(version)` and closes as
    /// unmapped; returns how many closes it answered.
    fn run(core: &mut Lifecycle, now: Instant, version: &str) -> usize {
        let mut closes = 0;
        while let Some(effect) = core.poll_effect() {
            match effect {
                Effect::Open { load, .. } => {
                    core.load_finished(now, load, Ok(module(version))).unwrap();
                }
                Effect::Close(token) => {
                    closes += 1;
                    core.closed(now, token, CloseOutcome::Unmapped).unwrap();
                }
                _ => {}
            }
        }
        closes
    }

    fn loaded() -> (Lifecycle, Instant) {
        let now = Instant::now();
        let mut core = Lifecycle::new(CoreConfig::default());
        let load = Command::Load {
            path: "/plugins/wav.so".into(),
            expected_plugin_id: None,
        };
        core.submit(now, RequestId(1), None, load);
        run(&mut core, now, "1");
        (core, now)
    }

    #[test]
    fn a_recorded_instance_is_released_by_its_ticket_key_and_its_drain_collects_then() {
        let (mut core, now) = loaded();
        let owner = core.register_owner("audio");
        let ticket = core
            .reserve_ticket(now, owner, "wav", "decoder", "wav", 1)
            .unwrap();
        let instance = core.record_created(now, ticket.key).unwrap();
        assert_eq!(core.instance_of(ticket.key), Ok(instance));
        assert_eq!(
            core.instance(instance).unwrap().generation,
            ticket.generation
        );
        let holds = core.generation(ticket.generation).unwrap().holds;
        assert_eq!((holds.instances, holds.tickets), (1, 0));

        core.submit(
            now,
            RequestId(2),
            None,
            Command::Reload {
                plugin_id: "wav".into(),
            },
        );
        assert_eq!(
            run(&mut core, now, "2"),
            0,
            "the recorded instance holds the old one"
        );

        core.release_created(now, ticket.key).unwrap();
        assert_eq!(
            run(&mut core, now, "2"),
            1,
            "collected by the release itself"
        );
        assert_eq!(
            core.instance_of(ticket.key),
            Err(NotFoundError::Ticket(ticket.key))
        );
        assert_eq!(
            core.release_created(now, ticket.key),
            Err(ReleaseError::NotFound(NotFoundError::Ticket(ticket.key)))
        );
    }

    #[test]
    fn a_release_read_before_its_report_fails_and_the_ticket_keeps_holding() {
        let (mut core, now) = loaded();
        let owner = core.register_owner("audio");
        let ticket = core
            .reserve_ticket(now, owner, "wav", "decoder", "wav", 1)
            .unwrap();
        core.submit(
            now,
            RequestId(2),
            None,
            Command::Reload {
                plugin_id: "wav".into(),
            },
        );
        run(&mut core, now, "2");
        assert!(core.release_created(now, ticket.key).is_err());
        assert_eq!(run(&mut core, now, "2"), 0, "never an early close");
        assert_eq!(core.generation(ticket.generation).unwrap().holds.tickets, 1);
        core.record_created(now, ticket.key).unwrap();
        assert_eq!(
            core.record_created(now, ticket.key),
            Err(TicketError::NotFound(NotFoundError::Ticket(ticket.key))),
            "a ticket is recorded once"
        );
        core.release_created(now, ticket.key).unwrap();
        assert_eq!(run(&mut core, now, "2"), 1);
    }

    #[test]
    fn unregistering_the_owner_forgets_the_aliases_of_its_instances() {
        let (mut core, now) = loaded();
        let owner = core.register_owner("audio");
        let ticket = core
            .reserve_ticket(now, owner, "wav", "decoder", "wav", 1)
            .unwrap();
        core.record_created(now, ticket.key).unwrap();
        let released = core.unregister_owner(now, owner).unwrap();
        assert_eq!(released.instances, 1);
        assert!(core.aliases.is_empty());
        assert!(core.instance_of(ticket.key).is_err());
    }

    #[test]
    fn a_foreign_ticket_key_is_refused_as_foreign() {
        let (mut core, now) = loaded();
        let (mut other, _) = loaded();
        let owner = other.register_owner("elsewhere");
        let ticket = other
            .reserve_ticket(now, owner, "wav", "decoder", "wav", 1)
            .unwrap();
        other.record_created(now, ticket.key).unwrap();
        assert!(matches!(
            core.instance_of(ticket.key),
            Err(NotFoundError::Foreign(_))
        ));
        assert!(matches!(
            core.record_created(now, ticket.key),
            Err(TicketError::NotFound(NotFoundError::Foreign(_)))
        ));
    }
}
