//! Two minors of one interface, `gauge` major 1, and a conflicting declaration, for the
//! versioning tests: `fixture-gauge-old` implements [`v1_0`], `fixture-gauge-new`
//! implements [`v1_1`], and a host may speak either, or [`other`].

/// Minor 0: a level, and an optional reset.
pub mod v1_0 {
    use plugin_runtime_sdk::PluginError;

    /// The gauge interface as minor 0 declares it.
    #[plugin_runtime_sdk::interface(kind = "gauge", major = 1)]
    pub trait Gauge {
        /// The current level.
        fn level(&self) -> u32;
        /// Sets the level back to zero; a plugin may leave it out.
        #[optional]
        fn reset(&mut self) -> Result<(), PluginError>;
    }
}

/// Minor 1: appends `peak`.
pub mod v1_1 {
    use plugin_runtime_sdk::PluginError;

    /// The gauge interface as minor 1 declares it.
    #[plugin_runtime_sdk::interface(kind = "gauge", major = 1)]
    pub trait Gauge {
        /// The current level.
        fn level(&self) -> u32;
        /// Sets the level back to zero; a plugin may leave it out.
        #[optional]
        fn reset(&mut self) -> Result<(), PluginError>;
        /// The highest level seen; appended by minor 1.
        #[since(1)]
        fn peak(&self) -> u32;
    }
}

/// Another declaration under the same kind and major, with another base layout: hosts
/// speaking it must be refused by both gauge fixtures.
pub mod other {
    /// A gauge whose level is 64 bits wide.
    #[plugin_runtime_sdk::interface(kind = "gauge", major = 1)]
    pub trait Gauge {
        /// The current level.
        fn level(&self) -> u64;
    }
}
