//! Verification: the invariants every exported graph keeps. A failure is a bug in
//! ferrex, reported instead of producing a wrong program.

use std::collections::HashSet;

use crate::graph::{inline_sym_arg, is_size_node, Graph, Node, NodeKind};
use crate::tensor::TensorMeta;

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
        verify_sym_values(graph, node)?;
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
            NodeKind::HigherOrder { .. } => {
                seen_call = true;
                verify_higher_order(graph, node)?;
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

/// SymInt / SymBool values: an argument naming one names a node whose value is one
/// (a SymInt where a size is read), and a node computed from sizes alone has its
/// symbolic value as its meta.
fn verify_sym_values(graph: &Graph, node: &Node) -> Result<(), String> {
    if let NodeKind::Call { .. } = node.kind {
        if is_size_node(node) && !matches!(node.meta.as_slice(), [m] if m.sym.is_some()) {
            return Err(format!(
                "node `{}` computes a SymInt or SymBool but has no symbolic value",
                node.name
            ));
        }
    }
    if let NodeKind::Call { args, .. }
    | NodeKind::HigherOrder { args, .. }
    | NodeKind::Output { args } = &node.kind
    {
        for a in args {
            inline_sym_arg(graph, a).map_err(|e| format!("node `{}`: {e}", node.name))?;
        }
    }
    Ok(())
}

/// A higher-order node: its subgraphs exist and verify, take as many inputs as the node
/// passes, and produce what the node's meta promises (the op's meta rule).
fn verify_higher_order(graph: &Graph, node: &Node) -> Result<(), String> {
    let NodeKind::HigherOrder {
        op,
        args,
        subgraphs,
    } = &node.kind
    else {
        return Ok(());
    };
    if subgraphs.len() != op.subgraph_roles().len() {
        return Err(format!(
            "`{}` has {} subgraphs, {} takes {}",
            node.name,
            subgraphs.len(),
            op.name(),
            op.subgraph_roles().len()
        ));
    }
    let inputs = op.subgraph_inputs(args);
    let input_metas: Vec<TensorMeta> = inputs
        .iter()
        .filter_map(|n| graph.nodes.get(n.0).and_then(|n| n.meta.first().cloned()))
        .collect();
    let mut outputs = Vec::new();
    for index in subgraphs {
        let sub = graph
            .subgraphs
            .get(*index)
            .ok_or_else(|| format!("`{}` names missing subgraph {index}", node.name))?;
        verify(&sub.graph).map_err(|e| format!("in {}: {e}", sub.name))?;
        let n_inputs = sub.graph.placeholders().count();
        if n_inputs != inputs.len() {
            return Err(format!(
                "`{}` passes {} values to {}, which takes {n_inputs}",
                node.name,
                inputs.len(),
                sub.name
            ));
        }
        let metas: Vec<TensorMeta> = sub
            .graph
            .outputs()
            .iter()
            .filter_map(|a| a.as_tensor())
            .filter_map(|n| {
                sub.graph
                    .nodes
                    .get(n.0)
                    .and_then(|n| n.meta.first().cloned())
            })
            .collect();
        if metas.len() != sub.graph.outputs().len() {
            return Err(format!("{} returns a value that is not a tensor", sub.name));
        }
        outputs.push(metas);
    }
    let expected = op
        .meta(&input_metas, &outputs)
        .map_err(|e| format!("`{}`: {e}", node.name))?;
    let same = expected.len() == node.meta.len()
        && expected.iter().zip(&node.meta).all(|(a, b)| a.same_as(b));
    if !same {
        return Err(format!(
            "`{}` records outputs that its subgraphs do not produce",
            node.name
        ));
    }
    Ok(())
}
