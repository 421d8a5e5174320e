//! Verification: the invariants every exported graph keeps. A failure is a bug in
//! ferrex, reported instead of producing a wrong program.

use std::collections::HashSet;

use crate::graph::{Graph, NodeKind};

pub fn verify(graph: &Graph) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut seen_call = false;
    let last = graph
        .nodes
        .len()
        .checked_sub(1)
        .ok_or("the graph has no output node")?;
    for (i, node) in graph.nodes.iter().enumerate() {
        if !names.insert(node.name.as_str()) {
            return Err(format!("two nodes are named `{}`", node.name));
        }
        for input in node.inputs() {
            if input.0 >= i {
                return Err(format!(
                    "node `{}` reads a node defined after it",
                    node.name
                ));
            }
        }
        match &node.kind {
            NodeKind::Placeholder if seen_call => {
                return Err(format!("placeholder `{}` comes after a call", node.name))
            }
            NodeKind::Placeholder => {}
            NodeKind::Call { op, .. } => {
                seen_call = true;
                if op.functional.is_some() {
                    return Err(format!(
                        "node `{}` is an in-place op after functionalization",
                        node.name
                    ));
                }
                if node.meta.is_empty() {
                    return Err(format!("node `{}` has no meta", node.name));
                }
            }
            NodeKind::GetItem { source, index } => {
                let src = graph.node(*source);
                if src.meta.len() <= *index {
                    return Err(format!(
                        "`{}` reads output {index} of `{}`, which has {}",
                        node.name,
                        src.name,
                        src.meta.len()
                    ));
                }
            }
            NodeKind::Output { .. } if i != last => {
                return Err("the output node is not last".into())
            }
            NodeKind::Output { .. } => {}
        }
    }
    if !matches!(graph.nodes[last].kind, NodeKind::Output { .. }) {
        return Err("the graph does not end with an output node".into());
    }
    Ok(())
}
