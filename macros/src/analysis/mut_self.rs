//! Rule: `&mut self` in forward (or a method it calls) — model attribute mutation.

use super::graph_break;

pub fn error(receiver: &syn::Receiver, method: &syn::Ident) -> syn::Error {
    graph_break(
        receiver,
        &format!("`{method}` takes `&mut self`"),
        "mutating model attributes in forward is a side effect the graph cannot hold; \
         `ferrex::export` calls forward through `&self`",
        &[
            "take `&self`; keep the state that forward updates in a `#[buffer]` tensor and \
             update it with an in-place op (`self.steps.add_(1.0)`): the update is exported \
             as a BUFFER_MUTATION output"
                .to_string(),
        ],
    )
}
