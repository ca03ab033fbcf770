// Hole: an interface method whose types cannot cross the C ABI (owned, allocated or
// generic types). The `interface` macro refuses each with an error naming the type.
#![forbid(unsafe_code)]

#[plugin_runtime::interface(kind = "a", major = 1)]
pub trait OwnedArgument {
    fn f(&self, s: String);
}

#[plugin_runtime::interface(kind = "b", major = 1)]
pub trait MutableStr {
    fn f(&self, s: &mut str);
}

#[plugin_runtime::interface(kind = "c", major = 1)]
pub trait SliceOfStrings {
    fn f(&self, s: &[String]);
}

#[plugin_runtime::interface(kind = "d", major = 1)]
pub trait UnitArgument {
    fn f(&self, u: ());
}

#[plugin_runtime::interface(kind = "e", major = 1)]
pub trait OwnedReturn {
    fn f(&self) -> Vec<u8>;
}

#[plugin_runtime::interface(kind = "f", major = 1)]
pub trait OwnedResult {
    fn f(&self) -> Result<String, plugin_runtime::interface::PluginError>;
}

#[plugin_runtime::interface(kind = "g", major = 1)]
pub trait OptionReturn {
    fn f(&self) -> Option<u32>;
}

#[plugin_runtime::interface(kind = "h", major = 1)]
pub trait ForeignError {
    fn f(&self) -> Result<u32, String>;
}

#[plugin_runtime::interface(kind = "i", major = 1)]
pub trait BorrowedReturn {
    fn f(&self) -> &str;
}

fn main() {}
