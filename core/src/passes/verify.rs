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
                // Only ops that return nothing (`aten::_assert_scalar`) have no output.
                if node.meta.is_empty()
                    && op
                        .parsed()
                        .is_ok_and(|s| s.returns.iter().any(|r| !r.is_empty()))
                {
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
            NodeKind::Cond {
                true_graph,
                false_graph,
                operands,
                ..
            } => {
                seen_call = true;
                for index in [*true_graph, *false_graph] {
                    let sub = graph
                        .subgraphs
                        .get(index)
                        .ok_or_else(|| format!("`{}` names missing subgraph {index}", node.name))?;
                    verify(&sub.graph).map_err(|e| format!("in {}: {e}", sub.name))?;
                    let n_inputs = sub.graph.placeholders().count();
                    if n_inputs != operands.len() {
                        return Err(format!(
                            "`{}` passes {} operands to {}, which takes {n_inputs}",
                            node.name,
                            operands.len(),
                            sub.name
                        ));
                    }
                    if sub.graph.outputs().len() != node.meta.len() {
                        return Err(format!(
                            "{} returns {} values, `{}` expects {}",
                            sub.name,
                            sub.graph.outputs().len(),
                            node.name,
                            node.meta.len()
                        ));
                    }
                }
            }
            NodeKind::Map {
                body,
                mapped,
                operands,
            } => {
                seen_call = true;
                let sub = graph
                    .subgraphs
                    .get(*body)
                    .ok_or_else(|| format!("`{}` names missing subgraph {body}", node.name))?;
                verify(&sub.graph).map_err(|e| format!("in {}: {e}", sub.name))?;
                let n_inputs = sub.graph.placeholders().count();
                if n_inputs != mapped.len() + operands.len() {
                    return Err(format!(
                        "`{}` passes {} values to {}, which takes {n_inputs}",
                        node.name,
                        mapped.len() + operands.len(),
                        sub.name
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
