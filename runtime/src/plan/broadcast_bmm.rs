//! A batched product whose right operand is one matrix broadcast over the batch:
//! `bmm(a, expand(w, [B, K, N]))` with `w` of `[K, N]` (what PyTorch's decomposition of
//! `matmul` of a strided 3-D input and a 2-D weight writes, `linear` on a transposed
//! input among them: `nn.MultiheadAttention`'s projections in the core IR). It is one
//! GEMM of `a`'s `B * M` rows with `w` (packed once when `w` is constant); the expand
//! and the reshapes around it get no step — materialized, the expand of a constant
//! weight was `B` copies of it, folded into the plan, and `B` products packing it anew.
//!
//! Found by op names, as the safe softmax: a pattern over the view ops one
//! decomposition writes.

use ferrex::graph::{Arg, Graph, NodeKind};

use super::{Builder, V};

/// The call `v`'s op name and first tensor argument.
fn view_input(graph: &Graph, v: V) -> Option<(String, V)> {
    match &graph.nodes.get(v)?.kind {
        NodeKind::Call { op, args } => match args.first() {
            Some(Arg::Tensor(n)) => Some((op.name(), n.0)),
            _ => None,
        },
        _ => None,
    }
}

/// Sizes of `v`'s one value, as hints.
fn sizes(graph: &Graph, v: V) -> Option<Vec<i64>> {
    let meta = graph.nodes.get(v)?.meta.first()?;
    Some(meta.sizes.iter().map(|s| s.hint()).collect())
}

const RESHAPES: [&str; 3] = [
    "aten::view.default",
    "aten::reshape.default",
    "aten::_unsafe_view.default",
];

/// For `bmm(a, b)` (`b` given): the `[K, N]` matrix `b` broadcasts, and the nodes from
/// it to `b` that only this product reads.
fn broadcast_matrix(
    graph: &Graph,
    b: V,
    users: &[usize],
    in_output: &[bool],
) -> Option<(V, Vec<V>)> {
    let want = sizes(graph, b)?;
    let [_, k, n] = want[..] else {
        return None;
    };
    let private = |v: V| users.get(v) == Some(&1) && !in_output.get(v).copied().unwrap_or(true);
    let mut chain = Vec::new();
    let mut v = b;
    // Reshapes to the same sizes after the expand.
    loop {
        let (name, input) = view_input(graph, v)?;
        if !private(v) {
            return None;
        }
        chain.push(v);
        if name == "aten::expand.default" {
            v = input;
            break;
        }
        if !RESHAPES.contains(&name.as_str()) || sizes(graph, input)? != want {
            return None;
        }
        v = input;
    }
    // The expanded value: `[K, N]`, or `[1, K, N]` made of a `[K, N]` one.
    match sizes(graph, v)?[..] {
        [kk, nn] if (kk, nn) == (k, n) => Some((v, chain)),
        [1, kk, nn] if (kk, nn) == (k, n) => {
            let (name, input) = view_input(graph, v)?;
            let lifts = RESHAPES.contains(&name.as_str()) || name == "aten::unsqueeze.default";
            if !lifts || !private(v) || sizes(graph, input)? != [k, n] {
                return None;
            }
            chain.push(v);
            Some((input, chain))
        }
        _ => None,
    }
}

impl Builder<'_> {
    /// Marks the graph's `bmm`s of a broadcast matrix (see the module's doc): their
    /// right operand's chain gets no step, and the product is planned as one GEMM.
    pub(super) fn mark_broadcast_bmms(&mut self) {
        for v in 0..self.graph.nodes.len() {
            let NodeKind::Call { op, args } = &self.graph.nodes[v].kind else {
                continue;
            };
            if op.name() != "aten::bmm.default" {
                continue;
            }
            let Some(Arg::Tensor(b)) = args.get(1) else {
                continue;
            };
            if let Some((w, chain)) =
                broadcast_matrix(self.graph, b.0, &self.users, &self.in_output)
            {
                self.broadcast_b.insert(v, w);
                for c in chain {
                    self.skip[c] = true;
                }
            }
        }
    }
}
