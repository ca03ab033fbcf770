//! A loader without libraries, for the property tests and the fuzzer.
//!
//! Each installed path holds a [`ModuleInfo`] and scripted behaviour: loads of it can be
//! made to fail, and closes of it can report the library as still mapped or kept loaded.
//! Every open makes a new [`SimulatedLibrary`] with its own id, and the loader counts the
//! closes of each id, so a test can check that every library was closed exactly once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{CloseOutcome, CloseReport, LoadError, ModuleInfo, ModuleLoader};

/// A loader whose libraries are plain data.
#[derive(Debug, Default)]
pub struct SimulatedLoader {
    installed: HashMap<PathBuf, Installed>,
    next_id: u64,
    /// Closes per library id, for every library ever opened.
    closes: HashMap<u64, u32>,
}

/// What is installed at one path.
#[derive(Debug, Clone)]
struct Installed {
    module: ModuleInfo,
    failure: Option<String>,
    close: CloseOutcome,
}

/// One simulated load: an id unique in its loader, and the module it carries.
#[derive(Debug)]
pub struct SimulatedLibrary {
    id: u64,
    path: PathBuf,
    module: ModuleInfo,
}

impl SimulatedLibrary {
    /// The id of this load, unique in its loader.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl SimulatedLoader {
    /// A loader with nothing installed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `module` at `path`, replacing what was there; loads of it succeed and
    /// closes unmap it until told otherwise.
    pub fn install(&mut self, path: impl Into<PathBuf>, module: ModuleInfo) {
        self.installed.insert(
            path.into(),
            Installed {
                module,
                failure: None,
                close: CloseOutcome::Unmapped,
            },
        );
    }

    /// Makes loads of `path` fail with `message` (at the `open` step), or succeed again
    /// with `None`. Does nothing if nothing is installed there.
    pub fn set_failure(&mut self, path: &Path, message: Option<String>) {
        if let Some(installed) = self.installed.get_mut(path) {
            installed.failure = message;
        }
    }

    /// What closing a library loaded from `path` reports from now on, whenever it was
    /// opened. Does nothing if
    /// nothing is installed there.
    pub fn set_close_outcome(&mut self, path: &Path, outcome: CloseOutcome) {
        if let Some(installed) = self.installed.get_mut(path) {
            installed.close = outcome;
        }
    }

    /// How many times the library with this id was closed (0 for an unknown id).
    pub fn closes(&self, id: u64) -> u32 {
        self.closes.get(&id).copied().unwrap_or(0)
    }

    /// How many libraries were opened so far.
    pub fn opened(&self) -> u64 {
        self.next_id
    }
}

impl ModuleLoader for SimulatedLoader {
    type Library = SimulatedLibrary;

    fn open(
        &mut self,
        path: &Path,
        expected_plugin_id: Option<&str>,
    ) -> Result<SimulatedLibrary, LoadError> {
        let installed = self.installed.get(path).ok_or_else(|| LoadError::Copy {
            path: path.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        if let Some(message) = &installed.failure {
            return Err(LoadError::Open {
                path: path.to_owned(),
                message: message.clone(),
            });
        }
        if let Some(expected) = expected_plugin_id
            && expected != installed.module.plugin_id
        {
            return Err(LoadError::PluginIdMismatch {
                expected: expected.to_owned(),
                found: installed.module.plugin_id.clone(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.closes.insert(id, 0);
        Ok(SimulatedLibrary {
            id,
            path: path.to_owned(),
            module: installed.module.clone(),
        })
    }

    fn module<'a>(&self, library: &'a SimulatedLibrary) -> &'a ModuleInfo {
        &library.module
    }

    fn close(&mut self, library: SimulatedLibrary) -> CloseReport {
        *self.closes.entry(library.id).or_insert(0) += 1;
        let outcome = self
            .installed
            .get(&library.path)
            .map_or(CloseOutcome::Unmapped, |installed| installed.close.clone());
        CloseReport {
            plugin_id: library.module.plugin_id,
            shadow_removed: outcome.is_unmapped(),
            shadow_path: library.path,
            outcome,
        }
    }
}
