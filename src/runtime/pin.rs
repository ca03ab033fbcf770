//! Scoped in-flight pins: module-level calls from a thread without an instance.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::generation::{GenerationKey, PinKey};
use crate::loader::LoadedLibrary;
use std::rc::Rc;

use super::owner::OwnerBinding;

use super::error::PinRequestError;
use super::handle::RuntimeHandle;
use super::protocol::{PinGrant, Release, Request};

/// A pin on a plugin's generation: while it lives, the generation cannot close, and
/// [`library`](Self::library) may be used for module-level calls (resolving
/// capabilities, probing metadata, calling exported functions).
///
/// `!Send`: it is released on the thread that took it.
#[derive(Debug)]
pub struct ModulePin {
    pin: PinKey,
    generation: GenerationKey,
    library: Option<Arc<LoadedLibrary>>,
    runtime: RuntimeHandle,
    /// The owner the pin was taken for: its binding stays alive as long as the pin, so
    /// the owner cannot be unregistered (releasing the pin) while the pin is in use.
    _owner: Option<Rc<OwnerBinding>>,
    _not_send: PhantomData<*const ()>,
}

static_assertions::assert_not_impl_any!(ModulePin: Send, Sync);

impl ModulePin {
    pub(crate) fn take(
        runtime: &RuntimeHandle,
        owner: Option<Rc<OwnerBinding>>,
        plugin_id: &str,
    ) -> Result<Self, PinRequestError> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        runtime.shared.send(Request::Pin {
            owner: owner.as_ref().map(|binding| binding.key),
            plugin_id: plugin_id.to_owned(),
            reply: reply_tx,
        })?;
        let PinGrant {
            pin,
            generation,
            library,
        } = runtime.shared.answer(&reply_rx)??;
        Ok(Self {
            pin,
            generation,
            library: Some(library),
            runtime: runtime.clone(),
            _owner: owner,
            _not_send: PhantomData,
        })
    }

    /// The pinned generation.
    pub fn generation(&self) -> GenerationKey {
        self.generation
    }

    /// The pinned generation's library.
    pub fn library(&self) -> &LoadedLibrary {
        // Some until drop (the invariant of this type).
        self.library
            .as_deref()
            .expect("a module pin holds its library until dropped")
    }
}

impl Drop for ModulePin {
    fn drop(&mut self) {
        // Our reference goes before the actor hears of the release, so the actor holds the
        // only one when the generation may close.
        drop(self.library.take());
        self.runtime
            .shared
            .release(Release::Unpin { pin: self.pin });
    }
}
