//! The run-time safety net of strict mode: `forward` is traced a second time and the two
//! programs are compared. Strict mode proves from syntax that `forward` captures into one
//! graph; what syntax cannot decide (state hidden behind a helper the proof trusted, a
//! value read from outside the model) shows up here as two different programs, because
//! such a value is read while tracing and baked into the graph.
//!
//! Compared: every node (op, arguments, dtype and shape, source location) of the graph and
//! its subgraphs, the signature, the constants (values included), the guards and the
//! ranges of symbolic sizes. Non-strict exports are traced once: they specialise
//! whatever `forward` reads, by design.

use crate::error::{ExportError, SourceLocation};
use crate::graph::{Graph, Node, NodeKind};
use crate::program::ExportedProgram;

/// `Ok` when both traces produced the same program; otherwise the error naming the first
/// difference.
pub(crate) fn compare(
    first: &ExportedProgram,
    second: &ExportedProgram,
) -> Result<(), ExportError> {
    if let Some((a, b)) = first_node_difference(first.graph(), second.graph()) {
        let at = a.and_then(|n| n.source).or(b.and_then(|n| n.source));
        let what = match (a, b) {
            (Some(a), Some(b)) => format!("node `{}` differs: {}", a.name, difference(a, b)),
            (Some(a), None) => format!("node `{}` is in the first trace only", a.name),
            (None, Some(b)) => format!("node `{}` is in the second trace only", b.name),
            (None, None) => "the graphs differ".to_string(),
        };
        return Err(impure(first, at, what));
    }
    let differs = |what: &str| Err(impure(first, None, what.to_string()));
    if format!("{:?}", first.graph_signature()) != format!("{:?}", second.graph_signature()) {
        return differs("the graph signatures differ");
    }
    if let Some(name) = first_constant_difference(first, second) {
        return differs(&format!("the constant `{name}` differs"));
    }
    if first.guards() != second.guards() {
        return differs("the guards differ");
    }
    if format!("{:?}", first.range_constraints()) != format!("{:?}", second.range_constraints()) {
        return differs("the ranges of the symbolic sizes differ");
    }
    Ok(())
}

fn impure(ep: &ExportedProgram, at: Option<SourceLocation>, what: String) -> ExportError {
    let code = at
        .map(|at| crate::trace::code_at(ep.sources(), at))
        .unwrap_or_default();
    ExportError::Impure {
        location: at,
        code,
        what,
    }
}

/// What differs between two nodes, for the message: the first differing argument of the
/// same op, or the ops, or the metas.
fn difference(a: &Node, b: &Node) -> String {
    match (&a.kind, &b.kind) {
        (NodeKind::Call { op: x, args: xs }, NodeKind::Call { op: y, args: ys })
            if std::ptr::eq(*x, *y) && xs.len() == ys.len() =>
        {
            let first = xs
                .iter()
                .zip(ys)
                .position(|(p, q)| format!("{p:?}") != format!("{q:?}"));
            match first {
                Some(i) => format!(
                    "argument {i} of `{}` is `{:?}`, then `{:?}`",
                    x.name(),
                    xs[i],
                    ys[i]
                ),
                None => format!("`{}` gives `{:?}`, then `{:?}`", x.name(), a.meta, b.meta),
            }
        }
        (NodeKind::Call { op: x, .. }, NodeKind::Call { op: y, .. }) => {
            format!("`{}`, then `{}`", x.name(), y.name())
        }
        (x, y) => format!("`{x:?}`, then `{y:?}`"),
    }
}

type NodePair<'a> = (Option<&'a Node>, Option<&'a Node>);

/// Whether two nodes are the same: name, source, op (by identity), arguments and meta.
/// Arguments and meta have no `PartialEq`; their `Debug` text is compared, written into
/// reused buffers.
fn same_node(x: &Node, y: &Node, bufs: &mut (String, String)) -> bool {
    use std::fmt::Write;
    if x.name != y.name || x.source != y.source || x.meta.len() != y.meta.len() {
        return false;
    }
    let (a, b) = bufs;
    a.clear();
    b.clear();
    for (n, out) in [(x, &mut *a), (y, &mut *b)] {
        let _ = match &n.kind {
            NodeKind::Call { op, args } => {
                write!(out, "{:p}{args:?}", *op as *const crate::ops::OpDef)
            }
            other => write!(out, "{other:?}"),
        };
        for m in &n.meta {
            let _ = write!(out, "{m:?}");
        }
    }
    a == b
}

/// The first pair of nodes that differ, in order, subgraphs after their parent graph.
fn first_node_difference<'a>(a: &'a Graph, b: &'a Graph) -> Option<NodePair<'a>> {
    let mut bufs = (String::new(), String::new());
    let n = a.nodes.len().max(b.nodes.len());
    for i in 0..n {
        let (x, y) = (a.nodes.get(i), b.nodes.get(i));
        let same = match (x, y) {
            (Some(x), Some(y)) => same_node(x, y, &mut bufs),
            _ => false,
        };
        if !same {
            return Some((x, y));
        }
    }
    if a.subgraphs.len() != b.subgraphs.len() {
        return Some((a.nodes.last(), None));
    }
    a.subgraphs
        .iter()
        .zip(&b.subgraphs)
        .find_map(|(x, y)| first_node_difference(&x.graph, &y.graph))
}

fn first_constant_difference(a: &ExportedProgram, b: &ExportedProgram) -> Option<String> {
    let names = |ep: &ExportedProgram| {
        ep.constants()
            .keys()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if names(a) != names(b) {
        return Some(
            names(a)
                .into_iter()
                .chain(names(b))
                .next()
                .unwrap_or_default(),
        );
    }
    a.constants().iter().find_map(|(name, t)| {
        let other = b.constants().get(name)?;
        // `{:#?}` prints every element (the plain form elides large arrays).
        let value = |t: &crate::Tensor| t.try_storage().map(|s| format!("{s:#?}")).ok();
        (value(t) != value(other)).then(|| name.to_string())
    })
}
