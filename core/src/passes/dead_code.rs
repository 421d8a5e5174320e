//! Dead-code elimination: calls whose results nobody reads are dropped (every op in the
//! graph is functional after functionalization), except random ops, whose only effect
//! may be to advance the generator, calls that return nothing (`aten::_assert_scalar`),
//! which are made for their effect, and calls whose value is a symbolic scalar
//! (`aten::item` → `u0`), which later nodes read through the symbol, not the node.

use crate::graph::{Graph, NodeId, NodeKind};

pub fn eliminate_dead_code(graph: &mut Graph) {
    for sub in &mut graph.subgraphs {
        eliminate_dead_code(&mut sub.graph);
    }
    let n = graph.nodes.len();
    let mut live = vec![false; n];
    for i in (0..n).rev() {
        let node = &graph.nodes[i];
        let keep = match &node.kind {
            NodeKind::Placeholder | NodeKind::Output { .. } => true,
            NodeKind::Call { op, .. }
                if op.nondeterministic
                    || node.meta.is_empty()
                    || node.meta.iter().any(|m| m.sym.is_some()) =>
            {
                true
            }
            _ => live[i],
        };
        if keep {
            live[i] = true;
            for input in node.inputs() {
                live[input.0] = true;
            }
        }
    }
    if live.iter().all(|&l| l) {
        return;
    }
    let order: Vec<NodeId> = (0..n).filter(|&i| live[i]).map(NodeId).collect();
    graph.reorder(&order);
}
