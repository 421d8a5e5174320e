//! Rule: `unsafe` blocks in forward. Strict export cannot tell what unsafe code does to
//! tensors or to the model.

use super::{graph_break, non_strict_fix};

pub fn error(u: &syn::ExprUnsafe, function: &str) -> syn::Error {
    graph_break(
        u.unsafe_token,
        &format!("`unsafe` block in `{function}`"),
        "strict export proves forward free of graph breaks by reading it, and cannot tell \
         what unsafe code does",
        &[
            "move the unsafe code into an op: an eager kernel registered with its meta \
             function is recorded in the graph as one node"
                .to_string(),
            non_strict_fix("traces the ops the block runs"),
        ],
    )
}
