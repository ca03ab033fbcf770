//! A library file rewritten in place while the loader loads it: every load is either a
//! whole build or a typed refusal, never a torn copy inside `dlopen`.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixture_api::ProbeInterface;
use fixture_api::build::fixtures;
use plugin_runtime::loader::{LibraryLoader, LoadError, LoaderConfig};

/// Loads go on until this many whole builds loaded, or for this long at most.
const WHOLE_LOADS: usize = 12;
const TIME_LIMIT: Duration = Duration::from_secs(15);

/// The size of each write of a rewrite.
const PIECE: usize = 1024 * 1024;

/// Rewrites `path` in place with each build in turn until `stop`, pausing between
/// rewrites so that some copies find the file still.
///
/// Each rewrite truncates the file, sets it to its new length at once (as installers
/// that preallocate do) and writes it in pieces: a copy that began on the old build reads
/// on into the new one without meeting an early end, which is how a torn copy gets one
/// build's headers and another's body.
fn rewrite_in_place(path: &Path, builds: &[Vec<u8>], stop: &AtomicBool) -> usize {
    let mut rewrites = 0;
    while !stop.load(Ordering::Relaxed) {
        let bytes = &builds[rewrites % builds.len()];
        let file = File::create(path).expect("the installed file can be truncated");
        file.set_len(bytes.len() as u64)
            .expect("the installed file can be extended");
        // Last piece first, the headers last, as a writer that fills a preallocated file
        // in any order may: a torn copy is then whole but for its middle.
        for (index, piece) in bytes.chunks(PIECE).enumerate().rev() {
            file.write_all_at(piece, (index * PIECE) as u64)
                .expect("the installed file can be written");
            std::thread::yield_now();
        }
        drop(file);
        rewrites += 1;
        // Longer than the loader waits for a file to fall quiet (20 ms), so that some
        // copies find the file still.
        std::thread::sleep(Duration::from_millis(60));
    }
    rewrites
}

/// The tag an instance of the loaded library's `echo` answers: which build it runs.
fn tag_of(library: &plugin_runtime::loader::LoadedLibrary) -> u32 {
    let cap = library.capability::<ProbeInterface>("echo").unwrap();
    let handle = cap.__create_unrecorded(b"").unwrap();
    // SAFETY: a live handle of this capability, used on this thread only.
    let tag = unsafe { ((*cap.__vtable().0).tag)(handle) };
    // SAFETY: destroyed once, on the thread that created it.
    unsafe { cap.__destroy_unrecorded(handle) }.unwrap();
    tag
}

#[test]
fn a_file_rewritten_in_place_loads_whole_or_is_refused() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("plugin-runtime-torn-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let loader =
        LibraryLoader::new(LoaderConfig::default().with_shadow_root(root.join("shadow"))).unwrap();
    let builds = [
        fs::read(fixtures().path("fixture-echo-v1")).unwrap(),
        fs::read(fixtures().path("fixture-echo-v2")).unwrap(),
    ];
    let install = root.join("installed");
    fs::create_dir_all(&install).unwrap();
    let installed = install.join("libecho.so");
    fs::write(&installed, &builds[0]).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let builds = Arc::new(builds);
    let writer = {
        let (installed, stop, builds) = (installed.clone(), Arc::clone(&stop), Arc::clone(&builds));
        std::thread::spawn(move || rewrite_in_place(&installed, &builds[..], &stop))
    };

    let started = Instant::now();
    let (mut whole, mut changed, mut half_written) = (0, 0, 0);
    while whole < WHOLE_LOADS && started.elapsed() < TIME_LIMIT {
        match loader.load(&installed, Some("fixture.echo")) {
            Ok(library) => {
                // The bytes the host opened are one whole build, and it runs as that one.
                let opened = fs::read(library.shadow_path()).unwrap();
                let Some(build) = builds.iter().position(|b| *b == opened) else {
                    panic!(
                        "a torn copy was opened: {} bytes, {} of them like build 1 at the start",
                        opened.len(),
                        opened
                            .iter()
                            .zip(&builds[0])
                            .take_while(|(a, b)| a == b)
                            .count()
                    );
                };
                let expected = match library.module().version.as_str() {
                    "1.0.0" => 1u32,
                    "2.0.0" => 2,
                    other => panic!("a load of version {other}"),
                };
                assert_eq!(expected as usize, build + 1, "descriptor and file disagree");
                assert_eq!(tag_of(&library), expected, "descriptor and code disagree");
                assert!(loader.close(library).outcome.is_unmapped());
                whole += 1;
            }
            Err(e @ LoadError::SourceChanged { .. }) => {
                assert_eq!(e.step(), "copy");
                assert!(e.to_string().contains("libecho.so"), "{e}");
                changed += 1;
            }
            // A copy of a file caught half-written that held still for the whole copy:
            // a consistent prefix of one build, which the ELF check refuses.
            Err(LoadError::ElfCheck { .. }) => {
                half_written += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("a load failed with neither a whole build nor a refusal: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rewrites = writer.join().unwrap();
    assert!(rewrites > 1, "the writer never rewrote the file");
    assert!(
        whole > 0,
        "no load succeeded ({changed} changed, {half_written} half-written)"
    );
    let left: Vec<_> = fs::read_dir(loader.shadow_dir()).unwrap().collect();
    assert!(left.is_empty(), "shadow copies left behind: {left:?}");
    drop(loader);
    fs::remove_dir_all(&root).unwrap();
}
