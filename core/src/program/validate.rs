//! Validation of a loaded program, before anything runs it. A file is data from
//! anywhere: the loader (`serialize::pt2`, and so `ferrex::load` and
//! `ferrex_runtime::load`) calls [`validate`] after
//! `passes::verify` (references, order, subgraph outputs).
//!
//! What it checks:
//! - every call node's recorded metas are re-derived from its op's meta function (over
//!   the recorded symbolic sizes) and must be the same, dtype and sizes: the runners
//!   then take shapes from one place (the interpreter from the kernels, the compiled
//!   plan from the metas) and cannot disagree; a `getitem` has its source's meta;
//! - `cond` / `map` subgraphs receive what the node passes (a `map` body a slice);
//! - the inputs: one input spec per placeholder, in order and by name; parameters,
//!   buffers and constants found where their kind says, of their placeholder's meta;
//! - the outputs: one output spec per graph output, naming that output; a
//!   BUFFER_MUTATION targets a buffer (not a parameter) and writes a value of the
//!   buffer's meta, a USER_INPUT_MUTATION a user input;
//! - every size symbol (in guards, range constraints, metas, arguments) is one an input
//!   size binds or an unbacked one a node defines, and every recorded example value of a
//!   size is its expression at the symbols' example values; every range has
//!   `min <= max`.

use std::collections::BTreeSet;

use super::{ArgumentSpec, ExportedProgram, InputKind, InputSpec, OutputKind};
use crate::graph::{for_each_symbol, Arg, Graph, HigherOrderOp, Node, NodeId, NodeKind};
use crate::ops::{OpArgs, OpDef, Value};
use crate::symbolic::parse::{magnitude, MAX_MAGNITUDE};
use crate::symbolic::{Expr, ShapeEnv, SymInt, Symbol};
use crate::tensor::{Tensor, TensorMeta, TensorState, Traced};

/// Checks `ep` as described in the module docs; the error names the node, spec or
/// symbol and both values. `stored`: the metas of state tensors whose data was not read
/// (a structure-only load), checked in their place.
pub(crate) fn validate(
    ep: &ExportedProgram,
    stored: Option<&std::collections::BTreeMap<String, TensorMeta>>,
) -> Result<(), String> {
    check_sizes(ep.graph(), "")?;
    check_inputs(ep, stored)?;
    check_outputs(ep)?;
    check_ranges(ep)?;
    check_symbols(ep)?;
    check_graph(ep.graph(), ep.shape_env(), "")?;
    check_hints(ep, ep.graph(), "")
}

/// The placeholders and the input specs agree in number and names, and every state
/// input has its tensor where its kind says (parameters in the state dict, constants
/// among the constants, buffers in either), of the dtype and static sizes its
/// placeholder expects.
fn check_inputs(
    ep: &ExportedProgram,
    stored: Option<&std::collections::BTreeMap<String, TensorMeta>>,
) -> Result<(), String> {
    let placeholders: Vec<&Node> = ep.graph().placeholders().map(|(_, n)| n).collect();
    let specs: Vec<&InputSpec> = ep
        .graph_signature()
        .input_specs
        .iter()
        .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
        .collect();
    if placeholders.len() != specs.len() {
        return Err(format!(
            "the graph has {} inputs but the signature lists {}",
            placeholders.len(),
            specs.len()
        ));
    }
    for (node, spec) in placeholders.iter().zip(specs) {
        if node.name != spec.arg.name() {
            return Err(format!(
                "input spec `{}` does not match the graph input `{}` in its place",
                spec.arg.name(),
                node.name
            ));
        }
        let target = spec.target.as_deref().unwrap_or_default();
        let (state, constants) = (ep.state_dict().get(target), ep.constants().get(target));
        let (found, holder) = match spec.kind {
            InputKind::UserInput => continue,
            InputKind::Parameter => (state, "parameters"),
            InputKind::ConstantTensor => (constants, "constants"),
            InputKind::Buffer => (state.or(constants), "buffers"),
        };
        let t = found.ok_or_else(|| {
            format!(
                "input `{}` is the {} `{target}`, which the program's {holder} do not hold",
                node.name,
                spec.kind.as_str()
            )
        })?;
        let have = t.meta().ok().or_else(|| stored?.get(target).cloned());
        if let (Some(have), Some(want)) = (have, node.meta.first()) {
            if !state_fits(&have, want) {
                return Err(format!(
                    "`{target}` is {have}, but the graph's input `{}` is {want}",
                    node.name
                ));
            }
        }
    }
    Ok(())
}

/// One output spec per graph output, each naming its value; mutations target a buffer
/// or a user input of the same meta.
fn check_outputs(ep: &ExportedProgram) -> Result<(), String> {
    let graph = ep.graph();
    let sig = ep.graph_signature();
    let outputs = graph.outputs();
    if outputs.len() != sig.output_specs.len() {
        return Err(format!(
            "the graph returns {} values but the signature lists {} outputs",
            outputs.len(),
            sig.output_specs.len()
        ));
    }
    for (i, (spec, value)) in sig.output_specs.iter().zip(outputs).enumerate() {
        let node = value.as_tensor().and_then(|id| graph.nodes.get(id.0));
        match (&spec.arg, node) {
            (ArgumentSpec::Tensor { name }, Some(n)) if *name == n.name => {}
            (ArgumentSpec::Tensor { name }, Some(n)) => {
                return Err(format!(
                    "output spec {i} names `{name}`, but the graph's output {i} is `{}`",
                    n.name
                ))
            }
            (ArgumentSpec::Tensor { name }, None) => {
                return Err(format!(
                    "output spec {i} names the tensor `{name}`, but the graph's output {i} \
                     is {}",
                    value.kind()
                ))
            }
            (_, Some(n)) => {
                return Err(format!(
                    "output spec {i} is not a tensor, but the graph's output {i} is the \
                     tensor `{}`",
                    n.name
                ))
            }
            (_, None) => {}
        }
        if spec.kind != OutputKind::UserOutput {
            let meta = node.and_then(|n| n.meta.first());
            check_mutation(ep, spec.kind, spec.target.as_deref(), meta)?;
        }
    }
    Ok(())
}

/// A mutation output writes back into a buffer or a user input: the target must be one,
/// and the written value must have its meta.
fn check_mutation(
    ep: &ExportedProgram,
    kind: OutputKind,
    target: Option<&str>,
    value: Option<&TensorMeta>,
) -> Result<(), String> {
    let target = target.unwrap_or_default();
    let (want, target_of): (InputKind, fn(&super::InputSpec) -> Option<&str>) = match kind {
        OutputKind::BufferMutation => (InputKind::Buffer, |s| s.target.as_deref()),
        _ => (InputKind::UserInput, |s| Some(s.arg.name())),
    };
    let specs = &ep.graph_signature().input_specs;
    let Some(spec) = specs
        .iter()
        .find(|s| s.kind == want && target_of(s) == Some(target))
    else {
        let other = specs
            .iter()
            .find(|s| s.target.as_deref() == Some(target) || s.arg.name() == target)
            .map_or("not an input of the program".to_string(), |s| {
                format!("it is a {}", s.kind.as_str())
            });
        return Err(format!(
            "a {} output targets `{target}`, which is not a {} ({other})",
            kind.as_str(),
            want.as_str()
        ));
    };
    let input = ep
        .graph()
        .placeholders()
        .find(|(_, n)| n.name == spec.arg.name())
        .and_then(|(_, n)| n.meta.first());
    match (value, input) {
        (Some(v), Some(i)) if v.same_as(i) => Ok(()),
        (v, i) => Err(format!(
            "the {} of `{target}` writes {}, but `{target}` is {}",
            kind.as_str(),
            v.map_or("no tensor".to_string(), ToString::to_string),
            i.map_or("not a tensor".to_string(), ToString::to_string)
        )),
    }
}

/// Every range is a range: `min <= max`.
fn check_ranges(ep: &ExportedProgram) -> Result<(), String> {
    for (expr, range) in &ep.range_constraints().entries {
        if range.upper.is_some_and(|u| u < range.lower) {
            return Err(format!(
                "the range constraint of {expr} is {range}: its minimum is above its maximum"
            ));
        }
    }
    for info in &ep.shape_env().symbols {
        if info.max.is_some_and(|m| m < info.min) {
            return Err(format!(
                "the symbol {} has the range [{}, {}]: its minimum is above its maximum",
                info.symbol,
                info.min,
                info.max.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Every symbol an expression names is bound when the program runs: an input-size
/// symbol of the shape environment (with an input dim to read it from), or an unbacked
/// symbol some node's meta defines.
fn check_symbols(ep: &ExportedProgram) -> Result<(), String> {
    let mut known: BTreeSet<Symbol> = ep
        .shape_env()
        .symbols
        .iter()
        .filter(|i| !i.sources.is_empty())
        .map(|i| i.symbol)
        .collect();
    for_each_symbol(ep.graph(), &mut |s| {
        if s.is_unbacked() {
            known.insert(s);
        }
    });
    let unknown = |e: &Expr| e.symbols().into_iter().find(|s| !known.contains(s));
    for g in ep.guards() {
        if let Some(s) = unknown(&g.lhs).or_else(|| unknown(&g.rhs)) {
            return Err(format!(
                "the guard `{g}` names the symbol {s}, which no input size defines"
            ));
        }
    }
    for (expr, _) in &ep.range_constraints().entries {
        if let Some(s) = unknown(expr) {
            return Err(format!(
                "the range constraint of {expr} names the symbol {s}, which no input size \
                 defines"
            ));
        }
    }
    let mut first_unknown = None;
    for_each_symbol(ep.graph(), &mut |s| {
        if first_unknown.is_none() && !known.contains(&s) {
            first_unknown = Some(s);
        }
    });
    match first_unknown {
        Some(s) => Err(format!(
            "a size in the graph names the symbol {s}, which no input size defines"
        )),
        None => Ok(()),
    }
}

/// Every symbolic size's example value is its expression at the inputs' example values
/// (the symbols' hints): the compiled plan sizes its buffers by them, so a hint no input
/// gives (`2^31` for `s0 + 1`) would allocate for a call that never comes.
fn check_hints(ep: &ExportedProgram, graph: &Graph, place: &str) -> Result<(), String> {
    let env = ep.shape_env();
    let at_hints = |e: &Expr| e.eval(&|s| env.info(s).map(|i| i.hint));
    for node in &graph.nodes {
        for meta in &node.meta {
            for size in &meta.sizes {
                let SymInt::Sym { expr, hint } = size else {
                    continue;
                };
                match at_hints(expr) {
                    Some(v) if v != *hint => {
                        return Err(format!(
                            "{place}node `{}` records the example value {hint} for the size \
                             {expr}, which is {v} at the inputs' example values",
                            node.name
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    for sub in &graph.subgraphs {
        check_hints(ep, &sub.graph, &format!("{place}in {}: ", sub.name))?;
    }
    Ok(())
}

/// Sizes are not negative, and no product of them (an element count, a reshape's
/// target) can overflow: the metas and size lists of every node, checked before any
/// meta function multiplies them.
fn check_sizes(graph: &Graph, place: &str) -> Result<(), String> {
    // The product of the sizes' magnitudes (zeros left out: the product is formed in
    // order, so the others still meet) bounds every product meta functions form.
    let bounded = |sizes: &[SymInt]| {
        sizes
            .iter()
            .map(|s| match s {
                SymInt::Int(v) => u128::from(v.unsigned_abs()),
                SymInt::Sym { expr, .. } => magnitude(expr),
            })
            .filter(|&m| m != 0)
            .try_fold(1u128, |acc, m| {
                acc.checked_mul(m).filter(|&p| p <= MAX_MAGNITUDE)
            })
            .is_some()
    };
    for node in &graph.nodes {
        for meta in &node.meta {
            if meta.sizes.iter().any(|s| s.as_int().is_some_and(|v| v < 0)) {
                return Err(format!(
                    "{place}node `{}` records the negative size in {meta}",
                    node.name
                ));
            }
            if !bounded(&meta.sizes) {
                return Err(format!(
                    "{place}node `{}` records {meta}, more than 2^62 elements",
                    node.name
                ));
            }
        }
        let args = match &node.kind {
            NodeKind::Call { args, .. } | NodeKind::HigherOrder { args, .. } => args.as_slice(),
            _ => &[],
        };
        for arg in args {
            let inlined = crate::graph::inline_sym_arg(graph, arg)
                .map_err(|e| format!("{place}node `{}`: {e}", node.name))?;
            if let Arg::IntList(sizes) = &*inlined {
                if !bounded(sizes) {
                    return Err(format!(
                        "{place}node `{}` takes the sizes {}, whose product exceeds 2^62",
                        node.name,
                        show_sizes(sizes)
                    ));
                }
            }
        }
    }
    for sub in &graph.subgraphs {
        check_sizes(&sub.graph, &format!("{place}in {}: ", sub.name))?;
    }
    Ok(())
}

fn show_sizes(sizes: &[SymInt]) -> String {
    let shown: Vec<String> = sizes.iter().map(ToString::to_string).collect();
    format!("[{}]", shown.join(", "))
}

/// Every node of `graph` (and of its subgraphs) has the metas its op gives.
fn check_graph(graph: &Graph, env: &ShapeEnv, place: &str) -> Result<(), String> {
    for node in &graph.nodes {
        match &node.kind {
            NodeKind::Placeholder | NodeKind::Output { .. } => {}
            NodeKind::Call { op, args } => check_call(graph, node, op, args, env, place)?,
            NodeKind::GetItem { source, index } => {
                let expected = graph.nodes.get(source.0).and_then(|s| s.meta.get(*index));
                if let (Some(e), Some(m)) = (expected, node.meta.first()) {
                    compare(node, 0, "getitem", e, m, env, place)?;
                }
            }
            NodeKind::HigherOrder {
                op,
                args,
                subgraphs,
            } => check_subgraphs(graph, node, *op, args, subgraphs, env, place)?,
        }
    }
    Ok(())
}

/// A value standing for node `id`'s first output in a meta computation: a traced
/// tensor of no active trace, which meta functions read like any other.
fn meta_tensor(graph: &Graph, id: NodeId, reader: &Node) -> Result<Tensor, String> {
    let source = graph.nodes.get(id.0);
    let meta = source.and_then(|n| n.meta.first()).ok_or_else(|| {
        format!(
            "node `{}` reads `{}`, which has no tensor value",
            reader.name,
            source.map_or("?", |n| n.name.as_str())
        )
    })?;
    Ok(Tensor::from_state(TensorState::Traced(Traced {
        trace: u64::MAX,
        scope: 0,
        node: id,
        meta: meta.clone(),
    })))
}

fn check_call(
    graph: &Graph,
    node: &Node,
    op: &'static OpDef,
    args: &[Arg],
    env: &ShapeEnv,
    place: &str,
) -> Result<(), String> {
    // Arguments naming SymInt / SymBool nodes read as those nodes' values.
    let args = crate::graph::inline_sym_args(graph, args)
        .map_err(|e| format!("{place}node `{}`: {e}", node.name))?;
    let values: Vec<Value> = args
        .iter()
        .map(|a| a.try_map(|id| meta_tensor(graph, *id, node)))
        .collect::<Result<_, _>>()?;
    let name = op.name();
    let derived = (op.meta)(&OpArgs::new(op, &values)).map_err(|e| {
        format!(
            "{place}node `{}`: {name} refuses its recorded arguments: {}",
            node.name, e.0
        )
    })?;
    if derived.len() != node.meta.len() {
        return Err(format!(
            "{place}node `{}`: {name} gives {} values, but the file records {}",
            node.name,
            derived.len(),
            node.meta.len()
        ));
    }
    for (i, (d, m)) in derived.iter().zip(&node.meta).enumerate() {
        compare(node, i, &name, d, m, env, place)?;
    }
    Ok(())
}

/// A recorded meta against the one the op gives. A size the file records as a lone
/// unbacked symbol (`u0`) depends on data: outside a trace, the meta functions of
/// `nonzero` / `masked_select` give 0 there, and the runners bind it from the result.
/// A symbolic scalar (`Sym(u0)`) is a 0-d tensor of its dtype.
fn compare(
    node: &Node,
    index: usize,
    op: &str,
    derived: &TensorMeta,
    recorded: &TensorMeta,
    env: &ShapeEnv,
    place: &str,
) -> Result<(), String> {
    // Outside a trace those meta functions give the length's upper bound.
    let data_dependent =
        |_: &SymInt, r: &SymInt| matches!(r.expr().as_linear(), Some((s, 1, 0)) if s.is_unbacked());
    let same = derived.dtype == recorded.dtype
        && derived.rank() == recorded.rank()
        && derived
            .sizes
            .iter()
            .zip(&recorded.sizes)
            .all(|(d, r)| d.same_as(r) || data_dependent(d, r) || same_in_ranges(d, r, env));
    if same {
        return Ok(());
    }
    let which = if node.meta.len() > 1 {
        format!("output {index} of ")
    } else {
        String::new()
    };
    Err(format!(
        "{place}{which}node `{}`: {op} gives {derived}, but the file records {recorded}",
        node.name
    ))
}

/// Sizes equal over the symbols' declared ranges: PyTorch records `arange(0, s0)`'s
/// length as `s0` where its meta gives `Max(0, s0)`, knowing `s0 >= 2`.
fn same_in_ranges(derived: &SymInt, recorded: &SymInt, env: &ShapeEnv) -> bool {
    let range = |s: Symbol| env.range(s);
    derived.expr().simplify_in(&range) == recorded.expr().simplify_in(&range)
}

/// A higher-order node's subgraphs take what it passes (a `map` body a slice along dim
/// 0 of each mapped tensor), and their nodes are valid too.
fn check_subgraphs(
    graph: &Graph,
    node: &Node,
    op: &'static dyn HigherOrderOp,
    args: &[Arg],
    subgraphs: &[usize],
    env: &ShapeEnv,
    place: &str,
) -> Result<(), String> {
    let inputs = op.subgraph_inputs(args);
    let whole = op.passes_whole(args);
    let mut expected = Vec::new();
    for (i, id) in inputs.iter().enumerate() {
        let t = meta_tensor(graph, *id, node)?;
        let mut meta = t.meta().map_err(|e| e.to_string())?;
        if !whole.get(i).copied().unwrap_or(true) {
            if meta.sizes.is_empty() {
                return Err(format!(
                    "{place}node `{}`: {} maps over the 0-dim tensor `{}`",
                    node.name,
                    op.name(),
                    graph.node(*id).name
                ));
            }
            meta.sizes.remove(0);
        }
        expected.push(meta);
    }
    for index in subgraphs {
        let Some(sub) = graph.subgraphs.get(*index) else {
            return Err(format!(
                "{place}node `{}` names a missing subgraph",
                node.name
            ));
        };
        let inner = format!("{place}in {}: ", sub.name);
        for ((_, p), want) in sub.graph.placeholders().zip(&expected) {
            match p.meta.first() {
                Some(m) if m.same_as(want) => {}
                m => {
                    return Err(format!(
                        "{inner}input `{}` is {}, but `{}` passes {want}",
                        p.name,
                        m.map_or("not a tensor".to_string(), ToString::to_string),
                        node.name
                    ))
                }
            }
        }
        check_graph(&sub.graph, env, &inner)?;
    }
    Ok(())
}

/// Whether a stored state tensor (`have`) can feed a placeholder of meta `want`: same
/// dtype and rank, and equal sizes wherever `want`'s are static.
fn state_fits(have: &TensorMeta, want: &TensorMeta) -> bool {
    have.dtype == want.dtype
        && have.rank() == want.rank()
        && have
            .sizes
            .iter()
            .zip(&want.sizes)
            .all(|(h, w)| w.as_int().is_none() || h.as_int() == w.as_int())
}
