//! Graph passes run by `export`, in order: functionalize → dead code → SymInt / SymBool
//! values → naming → verify.
//! One pass per file.

mod dead_code;
mod functionalize;
mod naming;
mod sym_values;
mod verify;

pub use dead_code::eliminate_dead_code;
pub use functionalize::functionalize;
pub use naming::assign_names;
pub use sym_values::{has_inline_sizes, keep_sym_names, name_sym_values};
pub use verify::verify;
