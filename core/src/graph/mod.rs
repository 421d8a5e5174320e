//! The graph IR: nodes in topological order — placeholders, op calls, `getitem`
//! projections of multi-output calls, and one output node.

use crate::error::SourceLocation;
use crate::ops::{OpDef, Value};
use crate::symbolic::SymInt;
use crate::tensor::{DType, Tensor, TensorMeta};

/// Index of a node in its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// An argument of a call node.
#[derive(Clone, Debug)]
pub enum Arg {
    Node(NodeId),
    NodeList(Vec<NodeId>),
    OptNodeList(Vec<Option<NodeId>>),
    None,
    Bool(bool),
    Int(SymInt),
    Float(f64),
    Str(String),
    DType(DType),
    IntList(Vec<SymInt>),
    FloatList(Vec<f64>),
}

impl Arg {
    /// The nodes this argument reads.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Arg::Node(n) => vec![*n],
            Arg::NodeList(ns) => ns.clone(),
            Arg::OptNodeList(ns) => ns.iter().flatten().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// The value this argument stands for in a call: nodes resolved by `node`, sizes by
    /// `size` (the identity while tracing, the bound symbols when running).
    pub fn to_value<E>(
        &self,
        node: &mut dyn FnMut(NodeId) -> Result<Tensor, E>,
        size: &dyn Fn(&SymInt) -> SymInt,
    ) -> Result<Value, E> {
        Ok(match self {
            Arg::Node(n) => Value::Tensor(node(*n)?),
            Arg::NodeList(ns) => {
                Value::TensorList(ns.iter().map(|n| node(*n)).collect::<Result<_, _>>()?)
            }
            Arg::OptNodeList(ns) => Value::OptTensorList(
                ns.iter()
                    .map(|n| n.map(&mut *node).transpose())
                    .collect::<Result<_, _>>()?,
            ),
            Arg::None => Value::None,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(size(i)),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::DType(d) => Value::DType(*d),
            Arg::IntList(l) => Value::IntList(l.iter().map(size).collect()),
            Arg::FloatList(l) => Value::FloatList(l.clone()),
        })
    }

    fn remap(&mut self, f: &impl Fn(NodeId) -> NodeId) {
        match self {
            Arg::Node(n) => *n = f(*n),
            Arg::NodeList(ns) => ns.iter_mut().for_each(|n| *n = f(*n)),
            Arg::OptNodeList(ns) => ns.iter_mut().flatten().for_each(|n| *n = f(*n)),
            _ => {}
        }
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
    /// `cond(pred, true_graph, false_graph, operands)`: runs one of two subgraphs (indices
    /// into `Graph::subgraphs`) on the operands, by the one-element tensor `pred`.
    Cond {
        pred: Arg,
        true_graph: usize,
        false_graph: usize,
        operands: Vec<Arg>,
    },
    /// `map_impl(body_graph, mapped, operands)`: runs the subgraph `body` once per slice
    /// along dim 0 of the `mapped` tensors (the other operands passed whole) and stacks
    /// the results along dim 0.
    Map {
        body: usize,
        mapped: Vec<Arg>,
        operands: Vec<Arg>,
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
            NodeKind::Call { args, .. } | NodeKind::Output { args } => {
                args.iter().flat_map(Arg::nodes).collect()
            }
            NodeKind::GetItem { source, .. } => vec![*source],
            NodeKind::Cond { pred, operands, .. } => pred
                .nodes()
                .into_iter()
                .chain(operands.iter().flat_map(Arg::nodes))
                .collect(),
            NodeKind::Map {
                mapped, operands, ..
            } => mapped.iter().chain(operands).flat_map(Arg::nodes).collect(),
        }
    }

    pub fn is_placeholder(&self) -> bool {
        matches!(self.kind, NodeKind::Placeholder)
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
            match &mut node.kind {
                NodeKind::Call { args, .. } | NodeKind::Output { args } => {
                    args.iter_mut().for_each(|a| a.remap(&remap))
                }
                NodeKind::GetItem { source, .. } => *source = remap(*source),
                NodeKind::Cond { pred, operands, .. } => {
                    pred.remap(&remap);
                    operands.iter_mut().for_each(|a| a.remap(&remap));
                }
                NodeKind::Map {
                    mapped, operands, ..
                } => {
                    mapped
                        .iter_mut()
                        .chain(operands.iter_mut())
                        .for_each(|a| a.remap(&remap));
                }
                NodeKind::Placeholder => {}
            }
            nodes.push(node);
        }
        self.nodes = nodes;
    }
}
