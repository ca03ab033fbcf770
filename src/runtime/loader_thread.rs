//! The loader thread: opens and closes libraries so that the actor never waits for the
//! file system, `dlopen`, `init` or `deinit`.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::loader::{CloseOutcome, CloseReport, LibraryLoader};

use super::protocol::{LoaderDone, LoaderJob};

/// Runs until the actor drops its end of `jobs`.
pub(crate) fn run(mut loader: LibraryLoader, jobs: Receiver<LoaderJob>, done: Sender<LoaderDone>) {
    for job in jobs {
        let result = match job {
            LoaderJob::Open {
                load,
                path,
                expected_plugin_id,
            } => LoaderDone::Opened {
                load,
                result: loader
                    .load(&path, expected_plugin_id.as_deref())
                    .map(Arc::new),
            },
            LoaderJob::Close { token, library } => {
                let report = match Arc::try_unwrap(library) {
                    Ok(library) => loader.close(library),
                    Err(shared) => {
                        // The core proved nothing holds the generation, yet a clone of
                        // the library is alive: keep it loaded rather than trust either.
                        let report = CloseReport {
                            plugin_id: shared.module().plugin_id.clone(),
                            shadow_path: shared.shadow_path().to_owned(),
                            outcome: CloseOutcome::KeptLoaded {
                                reason: "the library was still referenced at close".into(),
                            },
                            shadow_removed: false,
                        };
                        tracing::error!(plugin_id = %report.plugin_id, "library still referenced at close; kept loaded");
                        std::mem::forget(shared);
                        report
                    }
                };
                LoaderDone::Closed { token, report }
            }
        };
        if done.send(result).is_err() {
            // The actor is gone (it panicked): stop without touching anything else.
            break;
        }
    }
}
