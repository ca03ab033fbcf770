//! The loaded libraries, by generation. The only way to take one out for closing is to
//! show the core's `CloseToken` for it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::generation::{CloseToken, GenerationKey};
use crate::loader::LoadedLibrary;

/// The actor's libraries. Tickets and pins get clones of the `Arc` only for the span of
/// a `create` or a module-level call; the close takes the last one.
#[derive(Debug, Default)]
pub(crate) struct Libraries {
    by_generation: HashMap<GenerationKey, Arc<LoadedLibrary>>,
}

impl Libraries {
    pub(crate) fn insert(&mut self, generation: GenerationKey, library: Arc<LoadedLibrary>) {
        self.by_generation.insert(generation, library);
    }

    pub(crate) fn get(&self, generation: GenerationKey) -> Option<&Arc<LoadedLibrary>> {
        self.by_generation.get(&generation)
    }

    /// Takes the library the core decided to close.
    pub(crate) fn take(&mut self, token: &CloseToken) -> Option<Arc<LoadedLibrary>> {
        self.by_generation.remove(&token.generation())
    }

    /// How many libraries are held.
    pub(crate) fn len(&self) -> usize {
        self.by_generation.len()
    }
}
