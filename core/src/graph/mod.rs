//! The graph IR: nodes in topological order — placeholders, op calls, `getitem`
//! projections of multi-output calls, and one output node.

use crate::error::SourceLocation;
mod broadcast;
mod higher_order;
mod interpret;
mod sym;

pub use crate::ops::argument::{Argument, SymIntArg};
pub use broadcast::{broadcast_bmms, BroadcastBmm};
pub use higher_order::{call_higher_order, list_nodes, HigherOrderOp, HopParam, RunSubgraph};
pub use interpret::{
    interpret, interpret_scheduled, CallFacts, DropSchedule, Evaluator, RunSubgraphOf,
};
pub use sym::{for_each_symbol, inline_sym_arg, inline_sym_args, is_size_node, sym_value};

use crate::ops::OpDef;
use crate::tensor::TensorMeta;

pub use crate::tensor::NodeId;

/// An argument of a call node: tensors as the nodes that compute them.
pub type Arg = Argument<NodeId>;

/// The lowering of a graph call of `op` (its `OpDef::lowering`): the call's arguments
/// with tensors as node indices; `None` when the op has no hook or the hook refuses them.
pub fn lowering_of(
    op: &OpDef,
    args: &[Arg],
) -> Option<crate::ops::Lowering<crate::ops::lowering::ArgRef>> {
    let by_index: Vec<Argument<crate::ops::lowering::ArgRef>> = (args.iter())
        .map(|a| a.try_map(|n| Ok::<_, ()>(n.0)))
        .collect::<Result<_, _>>()
        .ok()?;
    (op.lowering?)(&by_index).ok()
}

impl Arg {
    /// The nodes this argument reads: its tensors, then the SymInt / SymBool values
    /// it names.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.tensors().into_iter().copied().collect();
        nodes.extend(self.sym_refs().into_iter().copied());
        nodes
    }

    fn remap(&mut self, f: &impl Fn(NodeId) -> NodeId) {
        self.for_each_tensor_mut(|n| *n = f(*n));
        self.for_each_sym_mut(|n| *n = f(*n));
    }
}

/// What a node does.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A graph input (parameter, buffer, constant or user input; see the signature).
    Placeholder,
    /// A call of a registered op.
    Call { op: &'static OpDef, args: Vec<Arg> },
    /// Output `index` of a multi-output call.
    GetItem { source: NodeId, index: usize },
    /// A higher-order op (`cond`, `map_impl`): its arguments and its subgraphs (indices
    /// into `Graph::subgraphs`, in the op's order: `cond`'s true then false branch).
    HigherOrder {
        op: &'static dyn HigherOrderOp,
        args: Vec<Arg>,
        subgraphs: Vec<usize>,
    },
    /// The graph's outputs.
    Output { args: Vec<Arg> },
}

/// One node.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The metas of the values the node produces (one per output).
    pub meta: Vec<TensorMeta>,
    /// Where the user's code called the op.
    pub source: Option<SourceLocation>,
}

impl Node {
    /// The nodes this node reads.
    pub fn inputs(&self) -> Vec<NodeId> {
        match &self.kind {
            NodeKind::Placeholder => Vec::new(),
            NodeKind::Call { args, .. }
            | NodeKind::Output { args }
            | NodeKind::HigherOrder { args, .. } => args.iter().flat_map(Arg::nodes).collect(),
            NodeKind::GetItem { source, .. } => vec![*source],
        }
    }

    /// Replaces every node this node reads by `f` of it.
    pub fn remap_inputs(&mut self, f: &impl Fn(NodeId) -> NodeId) {
        match &mut self.kind {
            NodeKind::Call { args, .. }
            | NodeKind::Output { args }
            | NodeKind::HigherOrder { args, .. } => args.iter_mut().for_each(|a| a.remap(f)),
            NodeKind::GetItem { source, .. } => *source = f(*source),
            NodeKind::Placeholder => {}
        }
    }

    pub fn is_placeholder(&self) -> bool {
        matches!(self.kind, NodeKind::Placeholder)
    }

    /// Where the user's code called the op, or [`SourceLocation::GRAPH`].
    pub fn location(&self) -> SourceLocation {
        self.source.unwrap_or(SourceLocation::GRAPH)
    }

    /// The op, for call nodes.
    pub fn op(&self) -> Option<&'static OpDef> {
        match &self.kind {
            NodeKind::Call { op, .. } => Some(op),
            _ => None,
        }
    }
}

/// A graph: nodes in topological order; the last node is the output. Higher-order
/// nodes (`cond`) refer to subgraphs by index.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub subgraphs: Vec<Subgraph>,
}

/// A named subgraph (`true_graph_0`).
#[derive(Clone, Debug)]
pub struct Subgraph {
    pub name: String,
    pub graph: Graph,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }

    /// The placeholders, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_placeholder())
            .map(|(i, n)| (NodeId(i), n))
    }

    /// The output node's arguments.
    pub fn outputs(&self) -> &[Arg] {
        match self.nodes.last().map(|n| &n.kind) {
            Some(NodeKind::Output { args }) => args,
            _ => &[],
        }
    }

    /// Whether the output node reads node `v`.
    pub fn outputs_read(&self, v: usize) -> bool {
        (self.outputs().iter()).any(|a| a.nodes().iter().any(|n| n.0 == v))
    }

    /// How many nodes read each node.
    pub fn user_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for i in n.inputs() {
                if let Some(c) = counts.get_mut(i.0) {
                    *c += 1;
                }
            }
        }
        counts
    }

    /// Keeps the listed nodes in the listed order, remapping every reference. The order
    /// must list each node after the nodes it reads.
    pub fn reorder(&mut self, order: &[NodeId]) {
        let mut new_index = vec![usize::MAX; self.nodes.len()];
        for (new, old) in order.iter().enumerate() {
            new_index[old.0] = new;
        }
        let remap = |id: NodeId| NodeId(new_index[id.0]);
        let mut nodes = Vec::with_capacity(order.len());
        for old in order {
            let mut node = self.nodes[old.0].clone();
            node.remap_inputs(&remap);
            nodes.push(node);
        }
        self.nodes = nodes;
    }
}
