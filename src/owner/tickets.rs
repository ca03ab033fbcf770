//! Owners, tickets and instance records: the operations of
//! [`Lifecycle`] on them.

use std::time::Instant;

use super::error::{OwnerError, ReleaseError, ReserveError, TicketError};
use super::records::{InstanceRecord, InstanceView, OwnerRecord, OwnerReleased, Subscription};
use super::records::{Ticket, TicketRecord};
use super::{InstanceKey, OwnerKey, TicketKey};
use crate::generation::{Hold, Lifecycle, NotFoundError};

impl Lifecycle {
    /// Registers an owner: a named role bound to one thread.
    pub fn register_owner(&mut self, name: impl Into<String>) -> OwnerKey {
        self.insert_owner(name.into(), None)
    }

    /// Registers an owner and the thread it runs on, which snapshots show.
    pub fn register_owner_on(
        &mut self,
        name: impl Into<String>,
        thread: impl Into<String>,
    ) -> OwnerKey {
        self.insert_owner(name.into(), Some(thread.into()))
    }

    fn insert_owner(&mut self, name: String, thread: Option<String>) -> OwnerKey {
        let made = self.next_record();
        self.owners.insert(OwnerRecord {
            made,
            name,
            thread,
            subscriptions: Vec::new(),
        })
    }

    /// Unregisters an owner, releasing every instance record, ticket and pin it holds;
    /// generations that drain and were held only by it are collected now.
    ///
    /// # Errors
    ///
    /// [`OwnerError::NotFound`] if the owner is not registered or its key belongs to
    /// another core.
    pub fn unregister_owner(
        &mut self,
        now: Instant,
        owner: OwnerKey,
    ) -> Result<OwnerReleased, OwnerError> {
        self.owners.find(owner).map_err(OwnerError::NotFound)?;
        let mut released = OwnerReleased::default();
        let instances: Vec<InstanceKey> = self
            .instances
            .iter()
            .filter(|(_, record)| record.owner == owner)
            .map(|(key, _)| key)
            .collect();
        for key in instances {
            // The key was listed from the arena just above and nothing removed it since.
            if self.release_instance(now, key).is_ok() {
                released.instances += 1;
            }
        }
        let tickets: Vec<TicketKey> = self
            .tickets
            .iter()
            .filter(|(_, record)| record.owner == owner)
            .map(|(key, _)| key)
            .collect();
        for key in tickets {
            if self.ticket_dropped(now, key).is_ok() {
                released.tickets += 1;
            }
        }
        let pins: Vec<_> = self
            .pins
            .iter()
            .filter(|(_, record)| record.owner == Some(owner))
            .map(|(key, _)| key)
            .collect();
        for key in pins {
            if self.unpin(now, key).is_ok() {
                released.pins += 1;
            }
        }
        self.owners.remove(owner);
        Ok(released)
    }

    /// Asks for notices about a plugin (or all plugins) besides those of the
    /// generations the owner holds.
    ///
    /// # Errors
    ///
    /// [`OwnerError::NotFound`] if the owner is not registered or its key belongs to
    /// another core.
    pub fn subscribe(
        &mut self,
        owner: OwnerKey,
        subscription: Subscription,
    ) -> Result<(), OwnerError> {
        let record = self.owners.find_mut(owner).map_err(OwnerError::NotFound)?;
        if !record.subscriptions.contains(&subscription) {
            record.subscriptions.push(subscription);
        }
        Ok(())
    }

    /// The name an owner was registered with.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Owner`] if the owner is not registered,
    /// [`NotFoundError::Foreign`] if its key belongs to another core.
    pub fn owner_name(&self, owner: OwnerKey) -> Result<&str, NotFoundError> {
        self.owners.find(owner).map(|record| record.name.as_str())
    }

    /// Phase one of creating an instance: reserves a slot for `owner` and pins the
    /// plugin's active generation, which offers the capability `(kind, type_id)` at
    /// `interface_version`.
    ///
    /// The owner then calls the capability's create on its own thread and reports with
    /// exactly one of [`ticket_created`](Self::ticket_created),
    /// [`ticket_failed`](Self::ticket_failed) or [`ticket_dropped`](Self::ticket_dropped).
    ///
    /// # Errors
    ///
    /// A [`ReserveError`] if the runtime shuts down, the owner is not registered (or its
    /// key belongs to another core), the plugin is unknown, disabled or has no active
    /// generation, or its active generation lacks the capability or has it at another
    /// interface version.
    pub fn reserve_ticket(
        &mut self,
        _now: Instant,
        owner: OwnerKey,
        plugin_id: &str,
        kind: &str,
        type_id: &str,
        interface_version: u32,
    ) -> Result<Ticket, ReserveError> {
        // Another core's key is refused whatever the state of this one.
        self.owners.check_core(owner).map_err(ReserveError::Owner)?;
        if !self.shutdown.accepts_commands() {
            return Err(ReserveError::ShuttingDown);
        }
        self.owners.find(owner).map_err(ReserveError::Owner)?;
        let Some(plugin) = self.plugins.get(plugin_id) else {
            let plugin_id = plugin_id.to_owned();
            return Err(if self.drains(&plugin_id) {
                ReserveError::DrainingOnly { plugin_id }
            } else {
                ReserveError::UnknownPlugin { plugin_id }
            });
        };
        if !plugin.enabled {
            return Err(ReserveError::Disabled {
                plugin_id: plugin_id.to_owned(),
            });
        }
        let not_active = || ReserveError::DrainingOnly {
            plugin_id: plugin_id.to_owned(),
        };
        let generation = plugin.active.ok_or_else(not_active)?;
        let record = self
            .generations
            .get_mut(generation)
            .ok_or_else(not_active)?;
        let (index, capability) = record
            .module
            .capabilities
            .iter()
            .enumerate()
            .find(|(_, c)| c.kind == kind && c.type_id == type_id)
            .ok_or_else(|| ReserveError::NoCapability {
                plugin_id: plugin_id.to_owned(),
                kind: kind.to_owned(),
                type_id: type_id.to_owned(),
            })?;
        if capability.interface_version != interface_version {
            return Err(ReserveError::InterfaceVersion {
                kind: kind.to_owned(),
                type_id: type_id.to_owned(),
                expected: interface_version,
                found: capability.interface_version,
            });
        }
        let found_version = capability.interface_version;
        let Ok(capability) = u32::try_from(index) else {
            // A validated module lists far fewer capabilities than `u32::MAX`.
            return Err(ReserveError::NoCapability {
                plugin_id: plugin_id.to_owned(),
                kind: kind.to_owned(),
                type_id: type_id.to_owned(),
            });
        };
        record.holders.add(Some(owner), Hold::Ticket);
        let key = self.tickets.insert(TicketRecord {
            generation,
            owner,
            capability,
        });
        Ok(Ticket {
            key,
            generation,
            capability: index,
            interface_version: found_version,
        })
    }

    /// Phase two succeeded: the owner created the instance; the ticket becomes its
    /// instance record, which keeps holding the same generation.
    ///
    /// # Errors
    ///
    /// [`TicketError::NotFound`] if the ticket was already finished or belongs to another
    /// core.
    pub fn ticket_created(
        &mut self,
        _now: Instant,
        ticket: TicketKey,
    ) -> Result<InstanceKey, TicketError> {
        self.convert_ticket(ticket, None)
    }

    /// Turns a ticket into an instance record that keeps holding the same generation;
    /// with `alias`, the record is also reachable by the ticket's key.
    pub(crate) fn convert_ticket(
        &mut self,
        ticket: TicketKey,
        alias: Option<TicketKey>,
    ) -> Result<InstanceKey, TicketError> {
        let record = self.tickets.take(ticket).map_err(TicketError::NotFound)?;
        if let Some(generation) = self.generations.get_mut(record.generation) {
            // Add before removing so the generation is never seen unheld in between.
            generation.holders.add(Some(record.owner), Hold::Instance);
            generation.holders.remove(Some(record.owner), Hold::Ticket);
        }
        let instance = self.instances.insert(InstanceRecord {
            generation: record.generation,
            owner: record.owner,
            capability: record.capability,
            alias,
        });
        if let Some(alias) = alias {
            self.aliases.insert(alias, instance);
        }
        Ok(instance)
    }

    /// Phase two failed: the capability's create returned an error. The ticket is
    /// released like [`ticket_dropped`](Self::ticket_dropped).
    ///
    /// # Errors
    ///
    /// [`TicketError::NotFound`] if the ticket was already finished or belongs to another
    /// core.
    pub fn ticket_failed(&mut self, now: Instant, ticket: TicketKey) -> Result<(), TicketError> {
        self.ticket_dropped(now, ticket)
    }

    /// The ticket was never used; its hold on the generation is released, and the
    /// generation is collected now if it drains and that was its last hold.
    ///
    /// # Errors
    ///
    /// [`TicketError::NotFound`] if the ticket was already finished or belongs to another
    /// core.
    pub fn ticket_dropped(&mut self, now: Instant, ticket: TicketKey) -> Result<(), TicketError> {
        let record = self.tickets.take(ticket).map_err(TicketError::NotFound)?;
        self.release_hold(now, record.generation, Some(record.owner), Hold::Ticket);
        Ok(())
    }

    /// The owner destroyed the instance; its hold on the generation is released, and
    /// the generation is collected now if it drains and that was its last hold.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotFound`] if the instance was already released or belongs to
    /// another core.
    pub fn release_instance(
        &mut self,
        now: Instant,
        instance: InstanceKey,
    ) -> Result<(), ReleaseError> {
        let record = self
            .instances
            .take(instance)
            .map_err(ReleaseError::NotFound)?;
        if let Some(alias) = record.alias {
            self.aliases.remove(&alias);
        }
        self.release_hold(now, record.generation, Some(record.owner), Hold::Instance);
        Ok(())
    }

    /// A view of one instance record.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Instance`] if the instance was released,
    /// [`NotFoundError::Foreign`] if its key belongs to another core.
    pub fn instance(&self, instance: InstanceKey) -> Result<InstanceView, NotFoundError> {
        self.instances.find(instance).map(|record| InstanceView {
            generation: record.generation,
            owner: record.owner,
            capability: record.capability as usize,
        })
    }
}
