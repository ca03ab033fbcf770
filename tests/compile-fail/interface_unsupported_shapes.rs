// Hole: interface methods whose shape has no vtable slot: `self` by value, no receiver,
// a generic method or interface, an `unsafe` method. The `interface` macro refuses each
// with an error saying what an interface method may be.
#![forbid(unsafe_code)]

#[plugin_runtime::interface(kind = "a", major = 1)]
pub trait ByValue {
    fn f(self) -> u32;
}

#[plugin_runtime::interface(kind = "b", major = 1)]
pub trait Boxed {
    fn f(self: Box<Self>) -> u32;
}

#[plugin_runtime::interface(kind = "c", major = 1)]
pub trait NoReceiver {
    fn f(x: u32) -> u32;
}

#[plugin_runtime::interface(kind = "d", major = 1)]
pub trait GenericMethod {
    fn f<T: Copy>(&self, x: T) -> u32;
}

#[plugin_runtime::interface(kind = "e", major = 1)]
pub trait GenericInterface<T> {
    fn f(&self, x: u32) -> u32;
}

#[plugin_runtime::interface(kind = "f", major = 1)]
pub trait UnsafeMethod {
    unsafe fn f(&self) -> u32;
}

#[plugin_runtime::interface(kind = "g", major = 1)]
pub trait RawName {
    fn r#type(&self) -> u32;
}

fn main() {}
