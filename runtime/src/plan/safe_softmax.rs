//! PyTorch's safe softmax, as its decomposition of attention writes it:
//! `where(logical_not(any(logical_not(eq(x, -inf)), dim, True)), full_like(s, 0), s)`
//! with `s = softmax(x, dim)` — rows that are entirely `-inf` give zeros. The chain is
//! found before lowering; its softmax step runs the kernel's safe form and the other
//! nodes get no step (the `where` is the softmax's buffer).
//!
//! The softmax is found by its capability (`Lowering::Softmax`); the mask chain by op
//! names, deliberately: it is a pattern over five particular ops as one decomposition
//! writes them, not something any op could declare.

use ferrex::graph::{Arg, Graph, NodeKind};
use ferrex::ops::Lowering;

use super::fuse::lowering_of;

use super::{Builder, V};

/// One safe softmax of the graph.
pub(super) struct SafeSoftmax {
    /// The `where` node, whose value is the softmax's.
    pub result: V,
    pub softmax: V,
    /// The mask and fill nodes, computed by nothing.
    pub chain: Vec<V>,
}

/// The call `v`'s op name and arguments.
fn call(graph: &Graph, v: V) -> Option<(String, &[Arg])> {
    match &graph.nodes.get(v)?.kind {
        NodeKind::Call { op, args } => Some((op.name(), args)),
        _ => None,
    }
}

fn tensor(a: Option<&Arg>) -> Option<V> {
    match a {
        Some(Arg::Tensor(n)) => Some(n.0),
        _ => None,
    }
}

fn int(a: Option<&Arg>) -> Option<i64> {
    match a {
        Some(Arg::Int(s)) => s.as_int(),
        _ => None,
    }
}

/// Every safe softmax whose intermediate values nothing else reads.
pub(super) fn find(graph: &Graph, users: &[usize], in_output: &[bool]) -> Vec<SafeSoftmax> {
    (0..graph.nodes.len())
        .filter_map(|v| matches(graph, v, users, in_output))
        .collect()
}

fn matches(graph: &Graph, w: V, users: &[usize], in_output: &[bool]) -> Option<SafeSoftmax> {
    let (name, args) = call(graph, w)?;
    if name != "aten::where.self" {
        return None;
    }
    let (c, f, s) = (
        tensor(args.first())?,
        tensor(args.get(1))?,
        tensor(args.get(2))?,
    );
    // The softmax by its capability; the mask chain below by its ops' names (see the
    // module's doc).
    let NodeKind::Call { op, args: sargs } = &graph.nodes.get(s)?.kind else {
        return None;
    };
    let Some(Lowering::Softmax {
        input: x,
        dim,
        log: false,
        ..
    }) = lowering_of(op, sargs)
    else {
        return None;
    };
    let rank = i64::try_from(graph.nodes.get(x)?.meta.first()?.rank()).ok()?;
    let norm = |d: i64| if d < 0 { d + rank } else { d };
    let dim = norm(dim);
    let (fl, fargs) = call(graph, f)?;
    let zero = matches!(fargs.get(1), Some(Arg::Int(z)) if z.as_int() == Some(0))
        || matches!(fargs.get(1), Some(Arg::Float(z)) if *z == 0.0);
    let default_dtype = matches!(fargs.get(2), None | Some(Arg::None));
    if fl != "aten::full_like.default" || tensor(fargs.first())? != s || !zero || !default_dtype {
        return None;
    }
    let step = |v: V, want: &str| -> Option<(V, &[Arg])> {
        let (n, a) = call(graph, v)?;
        (n == want).then(|| tensor(a.first()).map(|i| (i, a)))?
    };
    let (any, _) = step(c, "aten::logical_not.default")?;
    let (not_eq, aargs) = step(any, "aten::any.dim")?;
    if norm(int(aargs.get(1))?) != dim || !matches!(aargs.get(2), Some(Arg::Bool(true))) {
        return None;
    }
    let (eq, _) = step(not_eq, "aten::logical_not.default")?;
    let (eq_x, eargs) = step(eq, "aten::eq.Scalar")?;
    let neg_inf = matches!(eargs.get(1), Some(Arg::Float(v)) if *v == f64::NEG_INFINITY);
    if eq_x != x || !neg_inf {
        return None;
    }
    let chain = vec![eq, not_eq, any, c, f];
    let private = |v: V| users.get(v) == Some(&1) && !in_output.get(v).copied().unwrap_or(true);
    if !chain.iter().all(|&v| private(v)) || users.get(s) != Some(&2) || in_output[s] {
        return None;
    }
    Some(SafeSoftmax {
        result: w,
        softmax: s,
        chain,
    })
}

impl Builder<'_> {
    /// Marks the graph's safe softmaxes whose softmax the runtime plans: the softmax
    /// step runs the safe form, the chain's nodes get no step.
    pub(super) fn mark_safe_softmaxes(&mut self) {
        for m in find(self.graph, &self.users, &self.in_output) {
            let NodeKind::Call { op, args } = &self.graph.nodes[m.softmax].kind else {
                continue;
            };
            if self.try_softmax(m.softmax, op, args).is_none() {
                continue;
            }
            self.safe_softmax[m.softmax] = true;
            self.safe_result.insert(m.result, m.softmax);
            for v in m.chain {
                self.skip[v] = true;
            }
        }
    }
}
