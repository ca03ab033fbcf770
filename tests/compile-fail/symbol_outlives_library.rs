// Hole: a raw symbol outliving its library. `raw_symbol` returns a `Symbol` that borrows
// the `LoadedLibrary`, so the library cannot be closed while the symbol is still used.
// (The `unsafe` is the call's own contract on the symbol's type; the point is the
// lifetime.)

use fixture_api::AccumulateFn;
use plugin_runtime::loader::LibraryLoader;

fn main() {}

fn after_close(loader: &mut LibraryLoader) -> u64 {
    let library = loader.load("libfixture.so".as_ref(), None).unwrap();
    // SAFETY: fixture-echo-v1 exports `fixture_echo_accumulate`, a static of this type.
    let accumulate = unsafe { library.raw_symbol::<*const AccumulateFn>("fixture_echo_accumulate") }.unwrap();
    loader.close(library);
    let handle = plugin_runtime::abi::InstanceHandle(std::ptr::null_mut());
    // SAFETY: none: this must not compile.
    unsafe { (**accumulate)(handle, 1) }
}
