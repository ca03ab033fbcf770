//! The key types of the generation arenas.

slotmap::new_key_type! {
    /// A generational key to one generation: one load of one plugin's library.
    ///
    /// A key to a generation whose record was removed never reaches another generation;
    /// lookups return [`NotFoundError`](super::NotFoundError).
    pub struct GenerationKey;

    /// A generational key to one pending load: a library the caller was asked to open and
    /// has not answered for yet.
    pub struct LoadKey;

    /// A generational key to one in-flight pin: a scoped module-level call that keeps its
    /// generation from closing.
    pub struct PinKey;
}
