//! The one graph walk. [`interpret`] evaluates a graph's nodes in order with an
//! [`Evaluator`] that says what a value is and how an op runs on it: eager tensors for
//! `ep.module().call` (`program/run.rs`), traced tensors for `run_decompositions`
//! (`program/decompose.rs`). Values are dropped after their last use. SymInt / SymBool
//! nodes computed from sizes alone are not run: an argument naming one receives its
//! expression (`super::inline_sym_arg`) as the evaluator sizes it.

use super::{Argument, Graph, HigherOrderOp, Node, NodeId, NodeKind};
use crate::ops::OpDef;
use crate::symbolic::{SymInt, SymScalar};

/// Interprets one subgraph of a higher-order node on its inputs.
pub type RunSubgraphOf<'a, V, E> = &'a dyn Fn(usize, Vec<V>) -> Result<Vec<V>, E>;

/// What a value is and how nodes run on it.
pub trait Evaluator {
    type Value: Clone;
    type Error;

    /// Runs one op call.
    fn call(
        &self,
        node: &Node,
        op: &'static OpDef,
        args: &[Argument<Self::Value>],
    ) -> Result<Vec<Self::Value>, Self::Error>;

    /// Runs one op call of which the schedule knows more than its node says
    /// ([`CallFacts`]); an evaluator may use it, or run the call as [`Evaluator::call`].
    /// `id` is the node's place in the graph.
    fn call_scheduled(
        &self,
        _id: NodeId,
        node: &Node,
        op: &'static OpDef,
        args: &[Argument<Self::Value>],
        _facts: CallFacts,
    ) -> Result<Vec<Self::Value>, Self::Error> {
        self.call(node, op, args)
    }

    /// Runs one higher-order node; `run(i, inputs)` interprets the node's subgraph `i`.
    fn higher_order(
        &self,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: Vec<Argument<Self::Value>>,
        run: RunSubgraphOf<'_, Self::Value, Self::Error>,
    ) -> Result<Vec<Self::Value>, Self::Error>;

    /// A size as this evaluator sees it: the bound value when running, the symbol
    /// itself when tracing.
    fn size(&self, s: &SymInt) -> SymInt;

    /// Whether this evaluator runs a `bmm` of a matrix broadcast over the batch from
    /// the matrix itself ([`CallFacts::BroadcastMat2`]): the walk then skips the
    /// `expand` and passes its input. Tracers keep the graph's nodes: `false`.
    fn defers_broadcasts(&self) -> bool {
        false
    }

    /// The error for a graph that does not hold together.
    fn malformed(&self, message: String) -> Self::Error;
}

/// What a [`DropSchedule`] knows of a call beyond its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFacts {
    /// Only output 0 is read: it may be computed alone, by [`OpDef::output0`].
    Output0Only,
    /// The results' metas are the node's at the call's symbol values: its metas and
    /// its inputs' hold no value (SymInt) and no unbacked size, only sizes of the
    /// symbols the inputs bind (a validated graph's metas are what the meta function
    /// gives over those symbols' ranges), so the meta function need not run again.
    KnownMetas,
    /// A `bmm` whose `mat2` is a `[k, n]` matrix broadcast over the batch, read nowhere
    /// else ([`super::BroadcastBmm`]): for an evaluator that [defers
    /// broadcasts](Evaluator::defers_broadcasts), `mat2` is that matrix, not expanded —
    /// one product of all the batch's rows, where the expand wrote the matrix once per
    /// sample (PyTorch's `matmul` decomposition writes it for every linear layer of a
    /// 3-D input in a core-IR program).
    BroadcastMat2,
}

/// When each value of a graph can be dropped: `frees[i]` holds the nodes whose last
/// reader is node `i`; and what is known of each call beyond its node (`facts[i]`, see
/// [`CallFacts`]). Computed once per graph, so that a runner calling the same graph
/// again does not walk every node's arguments again.
#[derive(Clone, Debug)]
pub struct DropSchedule {
    frees: Vec<Vec<NodeId>>,
    /// Per node, the positions of the tensor arguments it reads last and once: the walk
    /// moves those values out of its environment instead of copying their handles (an
    /// atomic count up, then down, per argument).
    moves: Vec<Vec<usize>>,
    facts: Vec<Option<CallFacts>>,
    /// The SymInt / SymBool nodes computed from sizes alone, which are not run.
    sizes_only: Vec<bool>,
    /// The nodes from a [`CallFacts::BroadcastMat2`]'s matrix to its `mat2` (the expand
    /// and reshapes): their value is their input's, for an evaluator that defers
    /// broadcasts.
    deferred: Vec<bool>,
}

impl DropSchedule {
    pub fn of(graph: &Graph) -> Self {
        let mut frees = vec![Vec::new(); graph.nodes.len()];
        // A last use of 0 means no reader: node 0 reads nothing (it is a placeholder).
        for (id, &last) in last_uses(graph).iter().enumerate() {
            if last > 0 {
                frees[last].push(NodeId(id));
            }
        }
        let output0 = read_at_output0_alone(graph);
        // Sizes and SymInt values the inputs bind, none unbacked (data-dependent).
        let is_bound = |id: &NodeId| {
            graph.nodes.get(id.0).is_some_and(|n| {
                n.meta.iter().all(|m| {
                    let value_bound = match &m.sym {
                        None => true,
                        Some(SymScalar::Int(v)) => !v.is_unbacked(),
                        Some(SymScalar::Bool(_)) => false,
                    };
                    value_bound && !m.sizes.iter().any(SymInt::is_unbacked)
                })
            })
        };
        let mut deferred = vec![false; graph.nodes.len()];
        let mut broadcast = vec![false; graph.nodes.len()];
        for b in super::broadcast_bmms(graph) {
            broadcast[b.bmm] = true;
            for c in b.chain {
                deferred[c] = true;
            }
        }
        let facts = (graph.nodes.iter().enumerate())
            .map(|(i, n)| match &n.kind {
                NodeKind::Call { .. } if broadcast[i] => Some(CallFacts::BroadcastMat2),
                NodeKind::Call { op, .. } if output0[i] && op.output0.is_some() => {
                    Some(CallFacts::Output0Only)
                }
                NodeKind::Call { op, .. } => {
                    let known = matches!(op.eager, crate::ops::Eager::Typed(_))
                        && !op.parsed().is_ok_and(|p| p.returns_list())
                        && !n.meta.is_empty()
                        && n.meta.iter().all(|m| m.sym.is_none())
                        && is_bound(&NodeId(i))
                        && n.inputs().iter().all(is_bound);
                    known.then_some(CallFacts::KnownMetas)
                }
                _ => None,
            })
            .collect();
        let sizes_only = graph.nodes.iter().map(super::is_size_node).collect();
        let moves = (graph.nodes.iter().zip(&frees))
            .map(|(n, freed)| last_reads(n, freed))
            .collect();
        DropSchedule {
            frees,
            moves,
            facts,
            sizes_only,
            deferred,
        }
    }
}

/// The nodes read by `getitem(_, 0)` alone (the output node reads values directly).
fn read_at_output0_alone(graph: &Graph) -> Vec<bool> {
    let mut alone = vec![true; graph.nodes.len()];
    for n in &graph.nodes {
        let at0 =
            |id: &NodeId| matches!(n.kind, NodeKind::GetItem { index: 0, source } if source == *id);
        for id in n.inputs().iter().filter(|id| !at0(id)) {
            if let Some(x) = alone.get_mut(id.0) {
                *x = false;
            }
        }
    }
    alone
}

/// Evaluates `graph` on its placeholders' values and returns its outputs.
pub fn interpret<E: Evaluator>(
    graph: &Graph,
    inputs: Vec<E::Value>,
    e: &E,
) -> Result<Vec<Argument<E::Value>>, E::Error> {
    interpret_scheduled(graph, &DropSchedule::of(graph), inputs, e)
}

/// [`interpret`] with the graph's [`DropSchedule`] computed beforehand.
pub fn interpret_scheduled<E: Evaluator>(
    graph: &Graph,
    schedule: &DropSchedule,
    inputs: Vec<E::Value>,
    e: &E,
) -> Result<Vec<Argument<E::Value>>, E::Error> {
    let n = graph.nodes.len();
    if schedule.frees.len() != n
        || schedule.moves.len() != n
        || schedule.facts.len() != n
        || schedule.sizes_only.len() != n
        || schedule.deferred.len() != n
    {
        return Err(e.malformed("a drop schedule computed for another graph".into()));
    }
    let defers = e.defers_broadcasts();
    let mut env: Vec<Slot<E::Value>> = vec![Slot::Empty; graph.nodes.len()];
    let mut inputs = inputs.into_iter();
    for (id, _) in graph.placeholders() {
        let v = inputs.next().ok_or_else(|| {
            e.malformed("a graph received fewer inputs than it has placeholders".into())
        })?;
        env[id.0] = Slot::One(v);
    }
    // One argument list, refilled for each call (a call's arguments are dropped as soon
    // as it returns, so the schedule's frees still free).
    let mut call_args = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let out = match &node.kind {
            NodeKind::Placeholder => continue,
            NodeKind::Call { .. } if schedule.sizes_only[i] => continue,
            // The broadcast matrix itself, which the `bmm` reading it takes as it is.
            NodeKind::Call { args: a, .. } if defers && schedule.deferred[i] => match a.first() {
                Some(Argument::Tensor(w)) => Slot::One(read(graph, &env, *w, 0, e)?),
                _ => return Err(e.malformed(format!("`{}` expands nothing", node.name))),
            },
            NodeKind::Call { op, args } => {
                values_into(&mut call_args, graph, &mut env, args, &schedule.moves[i], e)?;
                let out = match schedule.facts[i] {
                    Some(CallFacts::BroadcastMat2) if !defers => e.call(node, op, &call_args),
                    Some(facts) => e.call_scheduled(NodeId(i), node, op, &call_args, facts),
                    None => e.call(node, op, &call_args),
                };
                call_args.clear();
                Slot::Many(out?)
            }
            NodeKind::GetItem { source, index } => {
                Slot::One(read(graph, &env, *source, *index, e)?)
            }
            NodeKind::HigherOrder {
                op,
                args,
                subgraphs,
            } => {
                let run = |k: usize, inputs: Vec<E::Value>| {
                    let sub = subgraphs
                        .get(k)
                        .and_then(|s| graph.subgraphs.get(*s))
                        .ok_or_else(|| {
                            e.malformed(format!("`{}` names a missing subgraph", node.name))
                        })?;
                    interpret(&sub.graph, inputs, e)?
                        .into_iter()
                        .map(|a| match a {
                            Argument::Tensor(v) => Ok(v),
                            other => Err(e.malformed(format!(
                                "{} returns {}, not a tensor",
                                sub.name,
                                other.kind()
                            ))),
                        })
                        .collect()
                };
                values_into(&mut call_args, graph, &mut env, args, &schedule.moves[i], e)?;
                let args = std::mem::take(&mut call_args);
                Slot::Many(e.higher_order(node, *op, args, &run)?)
            }
            NodeKind::Output { args } => {
                values_into(&mut call_args, graph, &mut env, args, &schedule.moves[i], e)?;
                return Ok(call_args);
            }
        };
        env[i] = out;
        for input in &schedule.frees[i] {
            env[input.0] = Slot::Empty;
        }
    }
    Err(e.malformed("the graph has no output node".into()))
}

/// A node's values while the interpreter holds them: one (placeholders, `getitem`s,
/// deferred broadcasts) without a list of its own, or a call's results.
#[derive(Clone)]
enum Slot<V> {
    Empty,
    One(V),
    Many(Vec<V>),
}

impl<V> Slot<V> {
    /// The one value this slot holds, moved out (the slot left empty); `None`, and the
    /// slot as it was, for a slot of several values or none.
    fn take(&mut self) -> Option<V> {
        match std::mem::replace(self, Slot::Empty) {
            Slot::One(v) => Some(v),
            Slot::Many(mut vs) if vs.len() == 1 => vs.pop(),
            other => {
                *self = other;
                None
            }
        }
    }

    fn get(&self, index: usize) -> Option<&V> {
        match self {
            Slot::One(v) if index == 0 => Some(v),
            Slot::Many(vs) => vs.get(index),
            _ => None,
        }
    }
}

/// The positions of `node`'s tensor arguments that are its only read of a value it is
/// the last reader of (`freed`, from [`last_uses`]).
fn last_reads(node: &Node, freed: &[NodeId]) -> Vec<usize> {
    let args = match &node.kind {
        NodeKind::Call { args, .. }
        | NodeKind::Output { args }
        | NodeKind::HigherOrder { args, .. } => args,
        NodeKind::Placeholder | NodeKind::GetItem { .. } => return Vec::new(),
    };
    let inputs = node.inputs();
    (args.iter().enumerate())
        .filter_map(|(p, a)| match a {
            Argument::Tensor(id)
                if freed.contains(id) && inputs.iter().filter(|i| *i == id).count() == 1 =>
            {
                Some(p)
            }
            _ => None,
        })
        .collect()
}

/// For each node, the index of the last node that reads it.
fn last_uses(graph: &Graph) -> Vec<usize> {
    let mut last_use = vec![0usize; graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        for input in n.inputs() {
            if let Some(l) = last_use.get_mut(input.0) {
                *l = i;
            }
        }
    }
    last_use
}

fn read<E: Evaluator>(
    graph: &Graph,
    env: &[Slot<E::Value>],
    id: NodeId,
    index: usize,
    e: &E,
) -> Result<E::Value, E::Error> {
    match env.get(id.0).and_then(|v| v.get(index)) {
        Some(v) => Ok(v.clone()),
        None => Err(unread(graph, id, index, e)),
    }
}

// Out of line: the interpreter reads every argument of every call, and this is the
// malformed graph's path.
#[cold]
#[inline(never)]
fn unread<E: Evaluator>(graph: &Graph, id: NodeId, index: usize, e: &E) -> E::Error {
    let name = graph.nodes.get(id.0).map_or("?", |n| n.name.as_str());
    e.malformed(format!(
        "`{name}` output {index} is read before it is computed"
    ))
}

/// Reads `args` from `env` into `values` (empty when called); the values at positions
/// `moves` ([`DropSchedule::moves`]) are taken out of `env`.
fn values_into<E: Evaluator>(
    values: &mut Vec<Argument<E::Value>>,
    graph: &Graph,
    env: &mut [Slot<E::Value>],
    args: &[super::Arg],
    moves: &[usize],
    e: &E,
) -> Result<(), E::Error> {
    values.reserve(args.len());
    for (p, a) in args.iter().enumerate() {
        // The common arguments directly; sizes and lists through the general path.
        values.push(match a {
            Argument::Tensor(id) if moves.contains(&p) => {
                match env.get_mut(id.0).and_then(Slot::take) {
                    Some(v) => Argument::Tensor(v),
                    None => Argument::Tensor(read(graph, env, *id, 0, e)?),
                }
            }
            Argument::Tensor(id) => Argument::Tensor(read(graph, env, *id, 0, e)?),
            Argument::Float(x) => Argument::Float(*x),
            Argument::Bool(b) => Argument::Bool(*b),
            Argument::None => Argument::None,
            Argument::DType(d) => Argument::DType(*d),
            Argument::Int(SymInt::Int(v)) => Argument::Int(SymInt::Int(*v)),
            Argument::IntList(l) if !l.iter().any(SymInt::is_symbolic) => {
                Argument::IntList(l.clone())
            }
            _ => super::inline_sym_arg(graph, a)
                .map_err(|m| e.malformed(m))?
                .try_map(|id| read(graph, env, *id, 0, e))
                .map(|v| v.map_sizes(|s| e.size(s)))?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CallFacts, DropSchedule};
    use crate::prelude::*;
    use crate::{Dim, DynamicShapes, Exporter};

    #[crate::export_module]
    struct AddLinearRelu {
        lin: nn::Linear,
    }

    #[crate::export_module]
    impl AddLinearRelu {
        fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
            F::relu(&self.lin.forward(&(x + y)))
        }
    }

    /// Calls whose sizes the inputs bind run without their meta function, static or
    /// dynamic; a size read from data (unbacked) keeps it.
    #[test]
    fn calls_of_bound_sizes_have_known_metas() {
        let m = AddLinearRelu {
            lin: nn::Linear::new(4, 3),
        };
        let args = || (Tensor::randn([2, 4]), Tensor::randn([2, 4]));
        let known = |ep: &crate::ExportedProgram| {
            let schedule = DropSchedule::of(ep.graph());
            let calls = (ep.graph().nodes.iter().enumerate())
                .filter(|(i, _)| schedule.facts[*i] == Some(CallFacts::KnownMetas))
                .map(|(_, n)| n.name.clone())
                .collect::<Vec<_>>();
            calls.join(", ")
        };
        let ep = crate::export(&m, args()).unwrap();
        assert_eq!(known(&ep), "add, linear, relu");
        let shapes = DynamicShapes::new()
            .input("x", [(0, Dim::new("batch"))])
            .input("y", [(0, Dim::new("batch"))]);
        let dynamic = Exporter::new(&m, args())
            .dynamic_shapes(shapes)
            .run()
            .unwrap();
        assert_eq!(known(&dynamic), "add, linear, relu");
        // The interpreter gives the same values either way, the dynamic program at
        // other sizes too (its metas evaluated at the call's batch).
        let (x, y) = args();
        let a = ep.module().call((x.copy(), y.copy())).unwrap();
        let b = dynamic.module().call((x, y)).unwrap();
        assert_eq!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
        let (x, y) = (Tensor::randn([5, 4]), Tensor::randn([5, 4]));
        let b = dynamic.module().call((x.copy(), y.copy())).unwrap();
        let want = F::relu(&m.lin.forward(&(&x + &y)));
        assert_eq!(b[0].shape(), [5, 3]);
        assert_eq!(b[0].to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
        // `item` defines `u0` and `zeros` is sized by it: both run their meta function.
        let unbacked = crate::export(&UnbackedZeros {}, (Tensor::scalar(3i64),)).unwrap();
        assert_eq!(known(&unbacked), "");
        let out = unbacked.module().call((Tensor::scalar(2i64),)).unwrap();
        assert_eq!(out[0].shape(), [2, 5]);
    }

    #[crate::export_module]
    struct BroadcastProduct {
        w: Tensor,
    }

    #[crate::export_module]
    impl BroadcastProduct {
        fn forward(&self, x: &Tensor) -> Tensor {
            // As PyTorch's `matmul` decomposition writes a 3-D input times a weight.
            let sizes = x.sizes();
            let b = self
                .w
                .expand([sizes[0].clone(), SymInt::from(4), SymInt::from(3)]);
            x.bmm(&b.reshape([sizes[0].clone(), SymInt::from(4), SymInt::from(3)]))
        }
    }

    /// A `bmm` of a matrix expanded over the batch (and reshaped to the same sizes) is one
    /// product for the interpreter: its schedule says so, the expand and the reshape are
    /// the matrix itself, and the values are each sample's product, at every batch of a
    /// dynamic program, whole or split in two halves. The tracer still runs the graph's
    /// nodes as they are.
    #[test]
    fn a_product_of_a_broadcast_matrix_is_one_product() {
        let m = BroadcastProduct {
            w: Tensor::randn([4, 3]),
        };
        let batch = Dim::new("batch");
        let ep = Exporter::new(&m, (Tensor::randn([2, 5, 4]),))
            .dynamic_shapes(DynamicShapes::new().input("x", [(0, batch)]))
            .run()
            .unwrap();
        let schedule = DropSchedule::of(ep.graph());
        let named = |pick: &dyn Fn(usize) -> bool| {
            (ep.graph().nodes.iter().enumerate())
                .filter(|(i, _)| pick(*i))
                .map(|(_, n)| n.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(
            named(&|i| schedule.facts[i] == Some(CallFacts::BroadcastMat2)),
            "bmm"
        );
        assert_eq!(named(&|i| schedule.deferred[i]), "expand, reshape");
        let w = m.w.to_vec::<f32>().unwrap();
        for b in [1, 3] {
            let x = Tensor::randn([b, 5, 4]);
            let y = ep.module().call((x.copy(),)).unwrap();
            assert_eq!(y[0].shape(), [b, 5, 3]);
            let (xv, yv) = (x.to_vec::<f32>().unwrap(), y[0].to_vec::<f32>().unwrap());
            for row in 0..b * 5 {
                for j in 0..3 {
                    let want: f64 = (0..4)
                        .map(|t| f64::from(xv[row * 4 + t]) * f64::from(w[t * 3 + j]))
                        .sum();
                    let got = f64::from(yv[row * 3 + j]);
                    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                }
            }
        }
        // Split over two halves of the batch, the interpreter gives the whole call's bits.
        let module = ep.module();
        assert_eq!(module.batch_split(), Ok(()));
        let x = Tensor::randn([4, 5, 4]);
        module.set_batch_split(crate::program::BatchSplit::Always);
        let split = module.call((x.copy(),)).unwrap()[0]
            .to_vec::<f32>()
            .unwrap();
        module.set_batch_split(crate::program::BatchSplit::Never);
        let whole = module.call((x,)).unwrap()[0].to_vec::<f32>().unwrap();
        assert_eq!(split, whole);
        let core = ep.run_decompositions().unwrap();
        let x = Tensor::randn([3, 5, 4]);
        let (a, c) = (
            ep.module().call((x.copy(),)).unwrap(),
            core.module().call((x,)).unwrap(),
        );
        assert_eq!(a[0].to_vec::<f32>().unwrap(), c[0].to_vec::<f32>().unwrap());
    }

    #[crate::export_module]
    struct UnbackedZeros {}

    #[crate::export_module]
    impl UnbackedZeros {
        fn forward(&self, x: &Tensor) -> Tensor {
            let a = match x.sym_item() {
                Ok(a) => a,
                Err(e) => return Tensor::from_error(e),
            };
            crate::check_is_size(&a);
            crate::check(a.sym_le(5));
            Tensor::zeros([a, SymInt::from(5)])
        }
    }
    #[crate::export_module]
    struct Pool {}

    #[crate::export_module]
    impl Pool {
        fn forward(&self, x: &Tensor) -> Tensor {
            F::max_pool2d(x, &[2], None, &[0], &[1], false)
        }
    }

    /// The core IR's `max_pool2d_with_indices`, read through `getitem(_, 0)` alone,
    /// runs as `max_pool2d` (no indices computed), with the same values.
    #[test]
    fn a_call_read_at_output_0_alone_computes_that_output() {
        let x = Tensor::randn([2, 3, 6, 6]);
        let core = crate::export(&Pool {}, (x.copy(),))
            .unwrap()
            .run_decompositions()
            .unwrap();
        let schedule = DropSchedule::of(core.graph());
        let marked: Vec<&str> = (core.graph().nodes.iter().enumerate())
            .filter(|(i, _)| schedule.facts[*i] == Some(CallFacts::Output0Only))
            .map(|(_, n)| n.name.as_str())
            .collect();
        assert_eq!(marked, ["max_pool2d_with_indices"]);
        let got = core.module().call((x.copy(),)).unwrap();
        let want = F::max_pool2d(&x, &[2], None, &[0], &[1], false);
        assert_eq!(
            got[0].to_vec::<f32>().unwrap(),
            want.to_vec::<f32>().unwrap()
        );
    }
    #[crate::export_module]
    struct PoolWithIndices {}

    #[crate::export_module]
    impl PoolWithIndices {
        fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
            let ints = |v: i64| crate::ops::Value::IntList(vec![SymInt::Int(v)]);
            let args = vec![
                crate::ops::Value::Tensor(x.clone()),
                ints(2),
                crate::ops::Value::IntList(Vec::new()),
                ints(0),
                ints(1),
                crate::ops::Value::Bool(false),
            ];
            let mut out = Tensor::call_op(&crate::ops::pooling::MAX_POOL2D_WITH_INDICES, args);
            let indices = out.pop().unwrap_or_else(|| Tensor::zeros([1]));
            let values = out.pop().unwrap_or_else(|| Tensor::zeros([1]));
            (values, indices)
        }
    }

    /// Where the indices are read too, both outputs are computed.
    #[test]
    fn a_call_whose_other_outputs_are_read_computes_them() {
        let x = Tensor::from_vec(
            (0..16).map(|i| ((i * 7) % 16) as f32).collect(),
            [1, 1, 4, 4],
        );
        let ep = crate::export(&PoolWithIndices {}, (x.copy(),)).unwrap();
        let schedule = DropSchedule::of(ep.graph());
        assert!(!schedule.facts.contains(&Some(CallFacts::Output0Only)));
        let out = ep.module().call((x,)).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), [12.0, 14.0, 15.0, 13.0]);
        assert_eq!(out[1].to_vec::<i64>().unwrap(), [4, 2, 9, 11]);
    }
}
