//! Graph passes run by `export`, in order: functionalize → dead code → naming → verify.
//! One pass per file.

mod dead_code;
mod functionalize;
mod naming;
mod verify;

pub use dead_code::eliminate_dead_code;
pub use functionalize::functionalize;
pub use naming::assign_names;
pub use verify::verify;
