//! The one graph walk. [`interpret`] evaluates a graph's nodes in order with an
//! [`Evaluator`] that says what a value is and how an op runs on it: eager tensors for
//! `ep.module().call` (`program/run.rs`), traced tensors for `run_decompositions`
//! (`program/decompose.rs`). Values are dropped after their last use. SymInt / SymBool
//! nodes computed from sizes alone are not run: an argument naming one receives its
//! expression (`super::inline_sym_arg`) as the evaluator sizes it.

use super::{Argument, Graph, HigherOrderOp, Node, NodeId, NodeKind};
use crate::ops::OpDef;
use crate::symbolic::SymInt;

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
        args: Vec<Argument<Self::Value>>,
    ) -> Result<Vec<Self::Value>, Self::Error>;

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

    /// The error for a graph that does not hold together.
    fn malformed(&self, message: String) -> Self::Error;
}

/// When each value of a graph can be dropped: `frees[i]` holds the nodes whose last
/// reader is node `i`. Computed once per graph, so that a runner calling the same graph
/// again does not walk every node's arguments again.
#[derive(Clone, Debug)]
pub struct DropSchedule {
    frees: Vec<Vec<NodeId>>,
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
        DropSchedule { frees }
    }
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
    if schedule.frees.len() != graph.nodes.len() {
        return Err(e.malformed("a drop schedule computed for another graph".into()));
    }
    let mut env: Vec<Option<Vec<E::Value>>> = vec![None; graph.nodes.len()];
    let mut inputs = inputs.into_iter();
    for (id, _) in graph.placeholders() {
        let v = inputs.next().ok_or_else(|| {
            e.malformed("a graph received fewer inputs than it has placeholders".into())
        })?;
        env[id.0] = Some(vec![v]);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let out = match &node.kind {
            NodeKind::Placeholder => continue,
            NodeKind::Call { .. } if super::is_size_node(node) => continue,
            NodeKind::Call { op, args } => e.call(node, op, values(graph, &env, args, e)?)?,
            NodeKind::GetItem { source, index } => {
                vec![read(graph, &env, *source, *index, e)?]
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
                e.higher_order(node, *op, values(graph, &env, args, e)?, &run)?
            }
            NodeKind::Output { args } => return values(graph, &env, args, e),
        };
        env[i] = Some(out);
        for input in &schedule.frees[i] {
            env[input.0] = None;
        }
    }
    Err(e.malformed("the graph has no output node".into()))
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
    env: &[Option<Vec<E::Value>>],
    id: NodeId,
    index: usize,
    e: &E,
) -> Result<E::Value, E::Error> {
    env.get(id.0)
        .and_then(Option::as_ref)
        .and_then(|v| v.get(index).cloned())
        .ok_or_else(|| {
            let name = graph.nodes.get(id.0).map_or("?", |n| n.name.as_str());
            e.malformed(format!(
                "`{name}` output {index} is read before it is computed"
            ))
        })
}

fn values<E: Evaluator>(
    graph: &Graph,
    env: &[Option<Vec<E::Value>>],
    args: &[super::Arg],
    e: &E,
) -> Result<Vec<Argument<E::Value>>, E::Error> {
    args.iter()
        .map(|a| {
            super::inline_sym_arg(graph, a)
                .map_err(|m| e.malformed(m))?
                .try_map(|id| read(graph, env, *id, 0, e))
                .map(|v| v.map_sizes(|s| e.size(s)))
        })
        .collect()
}
