//! What the loader's preflight costs: a load and close of one fixture with and without
//! first opening its shadow copy in a probe process. And what the SHA-256 digest every
//! load computes of its copy costs: `load_and_close/digest` hashes the same file alone.
//!
//! `cargo bench -p plugin-runtime-cli --bench preflight`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fixture_api::build::fixtures;
use plugin_runtime::loader::{LibraryLoader, LoaderConfig};
use plugin_runtime::module::Digest;

fn load_and_close(c: &mut Criterion) {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-bench-preflight-{}",
        std::process::id()
    ));
    let path = fixtures().path("fixture-echo-v1");
    let mut group = c.benchmark_group("load_and_close");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for preflight in [false, true] {
        let config = LoaderConfig::default()
            .with_shadow_root(&root)
            .with_probe(env!("CARGO_BIN_EXE_plugin-runtime-probe"))
            .with_preflight(preflight);
        let loader = LibraryLoader::new(config).unwrap();
        let name = if preflight { "preflight" } else { "plain" };
        group.bench_function(name, |b| {
            b.iter(|| {
                let library = loader.load(&path, None).unwrap();
                loader.close(library)
            })
        });
    }
    group.bench_function("digest", |b| {
        b.iter(|| Digest::of_reader(std::fs::File::open(&path).unwrap()).unwrap())
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, load_and_close);
criterion_main!(benches);
