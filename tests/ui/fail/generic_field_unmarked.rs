// A field of a generic type: a submodule or configuration? The macro cannot tell, and asks.
use ferrex::prelude::*;

#[export_module]
struct Wrapper<M> {
    inner: M,
}

fn main() {}
