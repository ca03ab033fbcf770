//! The loader threads: a small pool that opens and closes libraries, so that the actor
//! never waits for the file system, `dlopen`, `init` or `deinit`, and one slow `init` or
//! `deinit` never holds up another plugin's load or close.

use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender};

use crate::loader::{
    CloseOutcome, CloseReport, DescriptorCache, LibraryLoader, LoadedLibrary, MappedCode,
    scan_directory,
};

use super::error::StartError;
use super::protocol::{LoaderDone, LoaderJob};
use super::still_mapped::StillMapped;

/// What the loader threads share.
struct Shared {
    /// `Sync`: its loads and closes run concurrently and share only an atomic counter.
    loader: LibraryLoader,
    /// Locked only after a close, for one read of the maps, and held while that close's
    /// result is sent (see [`work`]).
    still_mapped: Mutex<StillMapped>,
    /// What directory syncs learned of each library digest, kept across syncs; locked
    /// for a lookup or an insertion, never while a library is read or described.
    descriptors: DescriptorCache,
}

/// Spawns `threads` loader threads taking jobs from `jobs` until the actor drops its
/// end, each sending its results to `done`.
///
/// Jobs run in parallel, one per thread, so results may come back in another order than
/// the jobs went out; the core decides what a late result means (see
/// [`Lifecycle::load_finished`](crate::generation::Lifecycle::load_finished)). A job
/// takes at most the loader's deadline for its lifecycle call plus the file and OS
/// loader work, so `threads` slow plugins delay others by at most one deadline.
///
/// # Errors
///
/// [`StartError::Spawn`] if a thread cannot be created; those already started end once
/// `jobs` is dropped.
pub(crate) fn spawn(
    loader: LibraryLoader,
    threads: usize,
    jobs: Receiver<LoaderJob>,
    done: Sender<LoaderDone>,
) -> Result<(), StartError> {
    let shared = Arc::new(Shared {
        loader,
        still_mapped: Mutex::new(StillMapped::default()),
        descriptors: DescriptorCache::default(),
    });
    // `RuntimeConfig::validate` bounded `threads` to 1..=MAX_LOADER_THREADS.
    for _ in 0..threads {
        let (shared, jobs, done) = (Arc::clone(&shared), jobs.clone(), done.clone());
        std::thread::Builder::new()
            .name("plugrt-loader".into())
            .spawn(move || work(&shared, &jobs, &done))
            .map_err(|source| StartError::Spawn {
                thread: "loader",
                source,
            })?;
    }
    Ok(())
}

/// One loader thread's loop: runs until the actor drops its end of `jobs`.
fn work(shared: &Shared, jobs: &Receiver<LoaderJob>, done: &Sender<LoaderDone>) {
    for job in jobs {
        let sent = match job {
            LoaderJob::Open {
                load,
                path,
                expected_plugin_id,
            } => done.send(LoaderDone::Opened {
                load,
                result: shared
                    .loader
                    .load(&path, expected_plugin_id.as_deref())
                    .map(Arc::new),
            }),
            LoaderJob::Scan { sync, dir } => done.send(LoaderDone::Scanned {
                sync,
                result: scan_directory(&shared.loader, &dir, &shared.descriptors)
                    .map_err(|e| e.to_string()),
            }),
            LoaderJob::Close { token, library } => {
                let report = close(&shared.loader, library);
                // A panic while the lock was held cannot leave the list half-changed.
                let mut still_mapped = shared
                    .still_mapped
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if report.outcome == CloseOutcome::StillMapped {
                    still_mapped.add(token.generation(), report.shadow_path.clone());
                }
                let unmapped = still_mapped.recheck(MappedCode::read);
                // Sent under the lock: a generation is on the list only once its own
                // close is on its way, so the actor always hears of the close before
                // another thread's recheck reports the generation unmapped.
                done.send(LoaderDone::Closed {
                    token,
                    report,
                    unmapped,
                })
            }
        };
        if sent.is_err() {
            // The actor is gone (it panicked): stop without touching anything else.
            break;
        }
    }
}

fn close(loader: &LibraryLoader, library: Arc<LoadedLibrary>) -> CloseReport {
    match Arc::try_unwrap(library) {
        Ok(library) => loader.close(library),
        Err(shared) => {
            // The core proved nothing holds the generation, yet a clone of the library
            // is alive: keep it loaded rather than trust either.
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
    }
}
