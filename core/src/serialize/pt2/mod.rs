//! PyTorch's own `.pt2` archives (schema 8.x, as `torch.export.save` of PyTorch 2.15
//! writes them). `schema.rs` holds PyTorch's JSON types; `save.rs` writes a program in
//! that format (`save_graph.rs`: the graph, `sym_values.rs`: sizes as sympy expressions
//! and named SymInt values, `extras.rs`: what ferrex keeps beside PyTorch's fields).

mod extras;
mod save;
mod save_graph;
pub mod schema;
mod sym_values;

pub use extras::{Extras, EXTRAS_KEY};
pub use save::{program_json, save, to_bytes, TORCH_VERSION};
pub use save_graph::pytorch_target;
pub use sym_values::srepr;

#[cfg(test)]
mod tests;
