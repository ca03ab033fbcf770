//! `Instance<C>`: one plugin object owned by one thread, called without the actor.

use std::rc::Rc;

use crate::abi::{Capability, DestroyFn, InstanceHandle};
use crate::generation::GenerationKey;
use crate::loader::{CallError, call_with_error};
use crate::owner::TicketKey;

use super::owner::OwnerBinding;
use super::protocol::Release;

/// One instance of capability `C`, owned by the thread of the [`Owner`](super::Owner)
/// that created it.
///
/// `!Send` and `!Sync`, so it cannot reach another thread. Host code calls it through
/// the safe extension trait its [interface](mod@crate::interface) generates (for an
/// interface `Dsp`, `DspCalls`): a call reads the vtable pointer and the slot and calls
/// the plugin, which costs what a raw function-pointer call costs, with no atomic, lock,
/// allocation or channel. Debug builds assert the owner thread on every call; release
/// builds check it at creation and drop only.
///
/// The instance record pins its generation: the library cannot be closed while the
/// instance exists. Dropping it calls the plugin's `destroy` on this thread and then
/// tells the actor, without waiting.
///
/// Dropping is control plane, not real-time safe: `destroy` is plugin code, and the
/// release may allocate and wake the actor. Drop instances at the owner's safe point.
///
/// ```compile_fail
/// fn must_be_send<T: Send>() {}
/// # use plugin_runtime::abi::Capability;
/// # struct C;
/// # // SAFETY: a doctest that must not compile.
/// # unsafe impl Capability for C { const KIND: &'static str = "k"; const INTERFACE_VERSION: u32 = 1; const INTERFACE_MINOR: u32 = 0; const LAYOUT: &'static str = ""; const LAYOUT_ID: u64 = 0; type VTable = (); }
/// must_be_send::<plugin_runtime::Instance<C>>();
/// ```
#[derive(Debug)]
pub struct Instance<C: Capability> {
    vtable: *const C::VTable,
    /// The size of the plugin's vtable in bytes, which may be smaller than `C::VTable`
    /// (an older plugin) or larger (a newer one).
    vtable_size: usize,
    handle: InstanceHandle,
    destroy: DestroyFn,
    /// The ticket it was made from: the key the core knows it by.
    ticket: TicketKey,
    generation: GenerationKey,
    owner: Rc<OwnerBinding>,
}

static_assertions::assert_not_impl_any!(Instance<crate::runtime::instance::tests_support::Nothing>: Send, Sync);

impl<C: Capability> Instance<C> {
    /// # Safety
    ///
    /// `handle` was made by the `create` of a capability resolved as `C` (kind, major
    /// and layout checked), whose vtable is `vtable` (`vtable_size` bytes, holding every
    /// base slot of `C`'s layout, non-null) and destroy is `destroy`, on this thread, and
    /// `ticket` pins `generation`, whose library holds them, until the core has made it
    /// this instance's record, which pins it from then on (see `owner/deferred.rs`).
    pub(crate) unsafe fn new(
        owner: Rc<OwnerBinding>,
        ticket: TicketKey,
        generation: GenerationKey,
        handle: InstanceHandle,
        (vtable, vtable_size): (*const C::VTable, usize),
        destroy: DestroyFn,
    ) -> Self {
        debug_assert!(owner.on_owner_thread());
        debug_assert!(!vtable.is_null() && !handle.0.is_null());
        Self {
            vtable,
            vtable_size,
            handle,
            destroy,
            ticket,
            generation,
            owner,
        }
    }

    /// The plugin's vtable, for the calls the interface macro generates.
    ///
    /// A raw pointer, never a reference: the plugin's vtable may be shorter than
    /// `C::VTable` (a plugin of an older minor), so only the slots that
    /// [`__covers`](Self::__covers) may be read. Every slot is an `unsafe fn`, so nothing
    /// read from it can be called from safe code after the instance is gone.
    ///
    /// # Panics
    ///
    /// In debug builds, if called on another thread than the owner's (which only unsafe
    /// code elsewhere could arrange, since the instance is `!Send`).
    #[doc(hidden)]
    #[inline(always)]
    pub fn __vtable(&self) -> *const C::VTable {
        #[cfg(debug_assertions)]
        self.assert_owner_thread();
        self.vtable
    }

    /// Whether the plugin's vtable holds the pointer-sized slot at byte `offset`.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __covers(&self, offset: usize) -> bool {
        offset
            .checked_add(size_of::<usize>())
            .is_some_and(|end| end <= self.vtable_size)
    }

    /// The opaque handle to pass to the vtable's functions.
    #[inline]
    pub fn handle(&self) -> InstanceHandle {
        self.handle
    }

    /// The key of the ticket this instance was made from, which names it to the core:
    /// see [`Lifecycle::instance_of`](crate::generation::Lifecycle::instance_of).
    pub fn ticket(&self) -> TicketKey {
        self.ticket
    }

    /// The generation this instance was created from.
    pub fn generation(&self) -> GenerationKey {
        self.generation
    }

    /// The name of the owner this instance belongs to.
    pub fn owner_name(&self) -> &str {
        &self.owner.name
    }

    #[cfg(debug_assertions)]
    fn assert_owner_thread(&self) {
        if !self.owner.on_owner_thread() {
            wrong_thread(&self.owner.name);
        }
    }

    /// Calls `destroy` on a handle.
    ///
    /// # Safety
    ///
    /// `handle` is live, was made by the capability whose `destroy` this is, and is
    /// destroyed exactly once, on its owner's thread, while its library is loaded.
    pub(crate) unsafe fn destroy_raw(
        handle: InstanceHandle,
        destroy: DestroyFn,
    ) -> Result<(), CallError> {
        // SAFETY: forwarded from the caller.
        call_with_error(|error| unsafe { destroy(handle, error) })
    }
}

impl<C: Capability> Drop for Instance<C> {
    fn drop(&mut self) {
        if !self.owner.on_owner_thread() {
            // Only unsafe code elsewhere can get here. Destroying on the wrong thread
            // would break the plugin's threading contract, so the instance is leaked
            // and its generation stays pinned: never unloaded, never misused.
            tracing::error!(owner = %self.owner.name, "an instance was dropped off its owner's thread; leaking it");
            return;
        }
        // SAFETY: the handle was made by this capability on this thread (checked above)
        // and is destroyed once, here; the ticket or the record made of it still pins the
        // generation, since its release is sent only below.
        if let Err(e) = unsafe { Self::destroy_raw(self.handle, self.destroy) } {
            tracing::warn!(owner = %self.owner.name, error = %e, "the plugin's destroy failed");
        }
        self.owner.runtime.shared.release(Release::Destroyed {
            ticket: self.ticket,
        });
    }
}

#[cold]
#[inline(never)]
#[cfg(debug_assertions)]
fn wrong_thread(owner: &str) -> ! {
    panic!("an instance of owner `{owner}` was used off its owner's thread");
}

pub(crate) mod tests_support {
    /// A capability type for compile-time assertions.
    #[derive(Debug)]
    pub(crate) struct Nothing;

    // SAFETY: never loaded; only used to instantiate `Instance` in type assertions.
    unsafe impl crate::abi::Capability for Nothing {
        const KIND: &'static str = "nothing";
        const INTERFACE_VERSION: u32 = 0;
        const INTERFACE_MINOR: u32 = 0;
        const LAYOUT: &'static str = "";
        const LAYOUT_ID: u64 = 0;
        type VTable = ();
    }

    impl crate::interface::Hooks for Nothing {}
}
