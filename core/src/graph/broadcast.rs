//! A batched product whose right operand is one matrix broadcast over the batch:
//! `bmm(a, expand(w, [B, K, N]))` with `w` of `[K, N]` — what PyTorch's decomposition of
//! `matmul` of a strided 3-D input and a 2-D weight writes, `linear` on a transposed
//! input among them (`nn.MultiheadAttention`'s projections in the core IR). It is one
//! product of `a`'s `B * M` rows with `w`: materialized, the expand is `B` copies of the
//! matrix. Both runners take it so: the compiled plan as one GEMM (the expand and the
//! reshapes around it get no step), the interpreter by its schedule
//! ([`super::CallFacts::BroadcastMat2`]).
//!
//! Found by op names, as the safe softmax: a pattern over the view ops one decomposition
//! writes.

use super::{Arg, Graph, NodeKind};

/// A `bmm` of a broadcast matrix: the product's node, the `[K, N]` matrix's, and the
/// nodes from the matrix to the product's right operand (the expand, reshapes to the
/// same sizes after it, and a lift of the matrix to `[1, K, N]` before it), which only
/// this product reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastBmm {
    pub bmm: usize,
    pub matrix: usize,
    pub chain: Vec<usize>,
}

/// The call `v`'s op name and first tensor argument.
fn view_input(graph: &Graph, v: usize) -> Option<(String, usize)> {
    match &graph.nodes.get(v)?.kind {
        NodeKind::Call { op, args } => match args.first() {
            Some(Arg::Tensor(n)) => Some((op.name(), n.0)),
            _ => None,
        },
        _ => None,
    }
}

/// Sizes of `v`'s one value, as hints.
fn sizes(graph: &Graph, v: usize) -> Option<Vec<i64>> {
    let meta = graph.nodes.get(v)?.meta.first()?;
    Some(meta.sizes.iter().map(|s| s.hint()).collect())
}

const RESHAPES: [&str; 3] = [
    "aten::view.default",
    "aten::reshape.default",
    "aten::_unsafe_view.default",
];

/// For `bmm(a, b)` (`b` given): the `[K, N]` matrix `b` broadcasts, and the nodes from
/// it to `b` that only this product reads (`users`: readers per node, the output node
/// included).
fn broadcast_matrix(graph: &Graph, b: usize, users: &[usize]) -> Option<(usize, Vec<usize>)> {
    let want = sizes(graph, b)?;
    let [_, k, n] = want[..] else {
        return None;
    };
    let private = |v: usize| users.get(v) == Some(&1) && !graph.outputs_read(v);
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

/// The graph's `bmm`s of a broadcast matrix (see the module's doc), in node order.
pub fn broadcast_bmms(graph: &Graph) -> Vec<BroadcastBmm> {
    let users = graph.user_counts();
    let mut found = Vec::new();
    for (v, node) in graph.nodes.iter().enumerate() {
        let NodeKind::Call { op, args } = &node.kind else {
            continue;
        };
        if op.name() != "aten::bmm.default" {
            continue;
        }
        let Some(Arg::Tensor(b)) = args.get(1) else {
            continue;
        };
        if let Some((matrix, chain)) = broadcast_matrix(graph, b.0, &users) {
            found.push(BroadcastBmm {
                bmm: v,
                matrix,
                chain,
            });
        }
    }
    found
}
