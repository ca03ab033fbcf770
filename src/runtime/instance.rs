//! `Instance<C>`: one plugin object owned by one thread, called without the actor.

use std::rc::Rc;

use crate::abi::{Capability, DestroyFn, InstanceHandle};
use crate::generation::GenerationKey;
use crate::loader::{CallError, call_with_error};
use crate::owner::InstanceKey;

use super::owner::OwnerBinding;
use super::protocol::Release;

/// One instance of capability `C`, owned by the thread of the [`Owner`](super::Owner)
/// that created it.
///
/// `!Send` and `!Sync`, so it cannot reach another thread. Calls go straight through the
/// plugin's vtable: [`vtable`](Self::vtable) and [`handle`](Self::handle) are plain
/// field reads, so a call costs what a raw function-pointer call costs, with no atomic,
/// lock, allocation or channel. Debug builds assert the owner thread on every
/// `vtable()`; release builds check it at creation and drop only.
///
/// The instance record pins its generation: the library cannot be closed while the
/// instance exists. Dropping it calls the plugin's `destroy` on this thread and then
/// tells the actor, without waiting.
///
/// ```compile_fail
/// fn must_be_send<T: Send>() {}
/// # use plugin_runtime::abi::Capability;
/// # struct C;
/// # // SAFETY: a doctest that must not compile.
/// # unsafe impl Capability for C { const KIND: &'static str = "k"; const INTERFACE_VERSION: u32 = 1; type VTable = (); }
/// must_be_send::<plugin_runtime::Instance<C>>();
/// ```
#[derive(Debug)]
pub struct Instance<C: Capability> {
    vtable: *const C::VTable,
    handle: InstanceHandle,
    destroy: DestroyFn,
    key: InstanceKey,
    generation: GenerationKey,
    owner: Rc<OwnerBinding>,
}

static_assertions::assert_not_impl_any!(Instance<crate::runtime::instance::tests_support::Nothing>: Send, Sync);

impl<C: Capability> Instance<C> {
    /// # Safety
    ///
    /// `handle` was made by the `create` of a capability of kind `C::KIND` and version
    /// `C::INTERFACE_VERSION` whose vtable is `vtable` and destroy is `destroy`, on this
    /// thread, and the instance record `key` pins `generation`, whose library holds them.
    pub(crate) unsafe fn new(
        owner: Rc<OwnerBinding>,
        key: InstanceKey,
        generation: GenerationKey,
        handle: InstanceHandle,
        vtable: *const C::VTable,
        destroy: DestroyFn,
    ) -> Self {
        debug_assert!(owner.on_owner_thread());
        debug_assert!(!vtable.is_null() && !handle.0.is_null());
        Self {
            vtable,
            handle,
            destroy,
            key,
            generation,
            owner,
        }
    }

    /// The plugin's vtable for this capability.
    ///
    /// # Panics
    ///
    /// In debug builds, if called on another thread than the owner's (which only unsafe
    /// code elsewhere could arrange, since the instance is `!Send`).
    #[inline]
    pub fn vtable(&self) -> &C::VTable {
        #[cfg(debug_assertions)]
        self.assert_owner_thread();
        // SAFETY: the vtable belongs to the generation this instance's record pins, so
        // its library stays mapped for as long as `self` exists; `C`'s `Capability` impl
        // promises the layout, checked by kind and interface version at creation.
        unsafe { &*self.vtable }
    }

    /// The opaque handle to pass to the vtable's functions.
    #[inline]
    pub fn handle(&self) -> InstanceHandle {
        self.handle
    }

    /// The instance's key.
    pub fn key(&self) -> InstanceKey {
        self.key
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
        // and is destroyed once, here; the record still pins the generation.
        if let Err(e) = unsafe { Self::destroy_raw(self.handle, self.destroy) } {
            tracing::warn!(owner = %self.owner.name, error = %e, "the plugin's destroy failed");
        }
        self.owner
            .runtime
            .shared
            .release(Release::Instance { instance: self.key });
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
        type VTable = ();
    }
}
