//! Functionalization: every in-place op (`relu_`, `add_`) becomes its functional form.
//! Tracing already made later uses read the in-place op's result (the tensor handle was
//! updated), and export turned the final values of mutated buffers and inputs into
//! BUFFER_MUTATION / USER_INPUT_MUTATION outputs; what remains is to retarget the calls.

use crate::graph::{Graph, NodeKind};

pub fn functionalize(graph: &mut Graph) {
    for sub in &mut graph.subgraphs {
        functionalize(&mut sub.graph);
    }
    for node in &mut graph.nodes {
        if let NodeKind::Call { op, .. } = &mut node.kind {
            if let Some(functional) = op.functional {
                *op = functional;
            }
        }
    }
}
