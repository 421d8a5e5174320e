//! Naming: placeholders get their signature names (`p_lin_weight`, `b_count`, `x`); call
//! nodes are named after their op (`add`, `add_1`, `t`, `addmm`), multi-output
//! projections `getitem`, `getitem_1`. Names that are Python builtins get a suffix
//! (`sum_1`, `slice_1`), as in PyTorch, so graphs compare line by line.

use std::collections::{HashMap, HashSet};

use crate::graph::{Arg, Graph, NodeKind};

const PYTHON_RESERVED: &[&str] = &[
    "abs", "all", "any", "bool", "dict", "float", "id", "input", "int", "iter", "len", "list",
    "map", "max", "min", "next", "object", "pow", "range", "round", "set", "slice", "sum", "type",
    "zip", "and", "as", "del", "from", "global", "if", "import", "in", "is", "lambda", "not", "or",
    "pass", "return", "while", "with",
];

pub fn assign_names(graph: &mut Graph, placeholder_names: &[String]) {
    let mut used: HashSet<String> = HashSet::new();
    let mut counters: HashMap<String, usize> = HashMap::new();
    let mut next_placeholder = placeholder_names.iter();
    for node in &mut graph.nodes {
        let base = match &node.kind {
            NodeKind::Placeholder => match next_placeholder.next() {
                Some(name) => name.clone(),
                None => "arg".to_string(),
            },
            NodeKind::Call { op, .. } => call_base_name(op),
            NodeKind::GetItem { .. } => "getitem".to_string(),
            NodeKind::HigherOrder { op, .. } => op.name().to_string(),
            NodeKind::Output { .. } => "output".to_string(),
        };
        let name = unique(&base, &mut used, &mut counters);
        node.name = name;
    }
    // Subgraphs are named by the cond / map nodes that use them, in order; their
    // placeholders after the values passed in.
    let name_of = |a: &Arg| match a {
        Arg::Tensor(n) => graph.nodes[n.0].name.clone(),
        _ => "arg".to_string(),
    };
    let mut jobs: Vec<(usize, String, Vec<String>)> = Vec::new();
    // Subgraphs are numbered per role (`true_graph_0`, `body_graph_0`), in graph order.
    let mut counters_by_role: HashMap<&str, usize> = HashMap::new();
    for node in &graph.nodes {
        if let NodeKind::HigherOrder {
            op,
            args,
            subgraphs,
        } = &node.kind
        {
            let names: Vec<String> = op
                .subgraph_inputs(args)
                .into_iter()
                .map(|n| name_of(&Arg::Tensor(n)))
                .collect();
            for (role, index) in op.subgraph_roles().iter().zip(subgraphs) {
                let k = counters_by_role.entry(role).or_default();
                jobs.push((*index, format!("{role}_{k}"), names.clone()));
                *k += 1;
            }
        }
    }
    for (index, name, names) in jobs {
        if let Some(sub) = graph.subgraphs.get_mut(index) {
            sub.name = name;
            assign_names(&mut sub.graph, &names);
        }
    }
}

/// `base` or `base_1`, `base_2`, … : the first name not in `used` (and takes it), for a
/// node added to a graph that is already named.
pub(super) fn fresh_name(base: &str, used: &mut HashSet<String>) -> String {
    unique(base, used, &mut HashMap::new())
}

/// The base name FX gives a call node: its op's name, `sym_size_int` for
/// `aten::sym_size.int`.
pub(super) fn call_base_name(op: &crate::ops::OpDef) -> String {
    if std::ptr::eq(op, &crate::ops::sym::SYM_SIZE) {
        "sym_size_int".to_string()
    } else {
        op.base_name()
    }
}

fn unique(base: &str, used: &mut HashSet<String>, counters: &mut HashMap<String, usize>) -> String {
    let mut candidate = base.to_string();
    if PYTHON_RESERVED.contains(&base) {
        let c = counters.entry(base.to_string()).or_insert(0);
        *c = (*c).max(1);
    }
    if let Some(&c) = counters.get(base) {
        if c > 0 {
            candidate = format!("{base}_{c}");
        }
    }
    while used.contains(&candidate) {
        let c = counters.entry(base.to_string()).or_insert(0);
        *c += 1;
        candidate = format!("{base}_{c}");
    }
    let c = counters.entry(base.to_string()).or_insert(0);
    *c += 1;
    used.insert(candidate.clone());
    candidate
}
