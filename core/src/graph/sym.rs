//! SymInt and SymBool values in a graph. A node whose value is a symbolic scalar has
//! it as its meta (`Sym(s0 + 1)`, `Sym(s0 > 2)`); an argument that names such a node
//! (`Argument::Sym`, `Argument::SymInts`) stands for that value. Runners read it from
//! the meta with the symbols they bound ([`inline_sym_arg`], then `Evaluator::size`),
//! so the nodes computed from sizes alone ([`is_size_node`]) never run.

use std::borrow::Cow;

use super::{Arg, Argument, Graph, Node, NodeId, NodeKind, SymIntArg};
use crate::ops::sym::sym_op;
use crate::symbolic::{SymInt, SymScalar, Symbol};

/// The symbolic value of node `id`, if its value is a SymInt or SymBool.
pub fn sym_value(graph: &Graph, id: NodeId) -> Option<&SymScalar> {
    graph.nodes.get(id.0)?.meta.first()?.sym.as_ref()
}

/// Whether the node's value is a function of sizes alone (`aten::sym_size.int`,
/// `_operator.add`, `_operator.gt`, …): its meta is its value, nothing runs.
pub fn is_size_node(node: &Node) -> bool {
    node.op().and_then(sym_op).is_some()
}

fn sym_int(graph: &Graph, id: NodeId) -> Result<SymInt, String> {
    match sym_value(graph, id) {
        Some(SymScalar::Int(v)) => Ok(v.clone()),
        _ => Err(format!(
            "`{}` is read as a SymInt but is not one",
            name(graph, id)
        )),
    }
}

fn name(graph: &Graph, id: NodeId) -> &str {
    graph.nodes.get(id.0).map_or("?", |n| n.name.as_str())
}

/// `a` with the SymInt / SymBool values it names replaced by their expressions: the
/// inline form a call receives (`Int(s0 + 1)`, `IntList([2*s0, 3])`, `SymBool(s0 > 2)`).
pub fn inline_sym_arg<'a>(graph: &Graph, a: &'a Arg) -> Result<Cow<'a, Arg>, String> {
    Ok(match a {
        Argument::Sym(id) => Cow::Owned(match sym_value(graph, *id) {
            Some(SymScalar::Int(v)) => Argument::Int(v.clone()),
            Some(SymScalar::Bool(b)) => Argument::SymBool(b.clone()),
            None => {
                return Err(format!(
                    "`{}` is read as a SymInt or SymBool but is neither",
                    name(graph, *id)
                ))
            }
        }),
        Argument::SymInts(l) => Cow::Owned(Argument::IntList(
            l.iter()
                .map(|e| match e {
                    SymIntArg::Int(v) => Ok(v.clone()),
                    SymIntArg::Sym(id) => sym_int(graph, *id),
                })
                .collect::<Result<_, _>>()?,
        )),
        other => Cow::Borrowed(other),
    })
}

/// [`inline_sym_arg`] for every argument of a call.
pub fn inline_sym_args(graph: &Graph, args: &[Arg]) -> Result<Vec<Arg>, String> {
    args.iter()
        .map(|a| inline_sym_arg(graph, a).map(Cow::into_owned))
        .collect()
}

/// Calls `f` on every symbol of the graph's metas and size arguments, subgraphs
/// included.
pub fn for_each_symbol(graph: &Graph, f: &mut dyn FnMut(Symbol)) {
    let mut size = |s: &SymInt| {
        if let SymInt::Sym { expr, .. } = s {
            expr.symbols().into_iter().for_each(&mut *f);
        }
    };
    for node in &graph.nodes {
        for meta in &node.meta {
            meta.sizes.iter().for_each(&mut size);
            if let Some(SymScalar::Int(v)) = &meta.sym {
                size(v);
            }
        }
        let args = match &node.kind {
            NodeKind::Call { args, .. }
            | NodeKind::HigherOrder { args, .. }
            | NodeKind::Output { args } => args.as_slice(),
            NodeKind::Placeholder | NodeKind::GetItem { .. } => &[],
        };
        for arg in args {
            match arg {
                Arg::Int(s) => size(s),
                Arg::IntList(l) => l.iter().for_each(&mut size),
                Arg::SymInts(l) => l.iter().for_each(|e| {
                    if let SymIntArg::Int(v) = e {
                        size(v);
                    }
                }),
                _ => {}
            }
        }
    }
    for sub in &graph.subgraphs {
        for_each_symbol(&sub.graph, f);
    }
}
