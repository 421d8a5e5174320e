//! A ferrex graph as a graph of PyTorch's schema: calls named `torch.ops.aten.add.Tensor`
//! with arguments named by the op's schema; a multi-output call lists its outputs under
//! the names of the `getitem` nodes that read them (PyTorch writes no `getitem` nodes);
//! higher-order ops as `torch.ops.higher_order.cond` with their subgraphs inline; sizes
//! in arguments as named SymInt values ([`SymValues`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema as s;
use super::sym_values::{fresh_name, tensor_meta, unsavable, SymValues};
use crate::error::SaveError;
use crate::graph::{Arg, Graph, HigherOrderOp, HopParam, Node, NodeId, NodeKind};
use crate::ops::OpDef;
use crate::program::{ConstantValue, ExportedProgram};
use crate::symbolic::SymInt;

/// The PyTorch spelling of a registry name: `aten::add.Tensor` →
/// `torch.ops.aten.add.Tensor`, `aten::relu` → `torch.ops.aten.relu.default`.
pub fn pytorch_target(name: &str) -> String {
    let dotted = name.replace("::", ".");
    let with_overload = if dotted.matches('.').count() < 2 {
        format!("{dotted}.default")
    } else {
        dotted
    };
    format!("torch.ops.{with_overload}")
}

/// A constant user input, as a graph input and as its spec's value.
pub(super) fn constant_argument(v: &ConstantValue) -> (s::Argument, s::ConstantValue) {
    match v {
        ConstantValue::Int(i) => (s::Argument::AsInt(*i), s::ConstantValue::AsInt(*i)),
        ConstantValue::Float(f) => (
            s::Argument::AsFloat(s::JsonFloat(*f)),
            s::ConstantValue::AsFloat(s::JsonFloat(*f)),
        ),
        ConstantValue::Bool(b) => (s::Argument::AsBool(*b), s::ConstantValue::AsBool(*b)),
        ConstantValue::Str(t) => (
            s::Argument::AsString(t.clone()),
            s::ConstantValue::AsString(t.clone()),
        ),
        ConstantValue::None => (s::Argument::AsNone(true), s::ConstantValue::AsNone(true)),
    }
}

/// Writes the graphs of one program.
pub(super) struct GraphWriter<'p> {
    pub(super) ep: &'p ExportedProgram,
}

/// One graph being written.
struct Out<'a> {
    g: &'a Graph,
    names: HashSet<String>,
    /// The value names of multi-output nodes: `(node, index)` → the `getitem` reading it.
    getitems: HashMap<(usize, usize), String>,
    sym: SymValues<'a>,
    nodes: Vec<s::Node>,
    tensor_values: BTreeMap<String, s::TensorMeta>,
}

impl<'p> GraphWriter<'p> {
    /// `g` in the schema. `inputs` are the graph's inputs in signature order (for the
    /// top-level graph, constants included); `None` takes the placeholders.
    pub(super) fn graph(
        &self,
        g: &'p Graph,
        inputs: Option<Vec<s::Argument>>,
    ) -> Result<s::Graph, SaveError> {
        let mut out = Out::new(g, self.ep)?;
        let mut outputs = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            match &node.kind {
                NodeKind::Placeholder => {
                    let meta = one_meta(node)?;
                    let grad = self.is_parameter(&node.name);
                    out.tensor_values
                        .insert(node.name.clone(), tensor_meta(meta, grad)?);
                }
                NodeKind::GetItem { .. } => {}
                NodeKind::Output { args } => {
                    outputs = args.iter().map(|a| out.arg(a)).collect::<Result<_, _>>()?;
                }
                NodeKind::Call { op, args } => {
                    let n = out.call(i, node, op, args)?;
                    out.push(self.with_metadata(n, node));
                }
                NodeKind::HigherOrder {
                    op,
                    args,
                    subgraphs,
                } => {
                    let n = self.higher_order(&mut out, i, node, *op, args, subgraphs)?;
                    out.push(self.with_metadata(n, node));
                }
            }
        }
        let inputs = match inputs {
            Some(inputs) => inputs,
            None => g
                .placeholders()
                .map(|(_, n)| {
                    s::Argument::AsTensor(s::TensorArgument {
                        name: n.name.clone(),
                    })
                })
                .collect(),
        };
        Ok(out.finish(inputs, outputs))
    }

    fn is_parameter(&self, placeholder: &str) -> bool {
        self.ep.graph_signature().input_specs.iter().any(|spec| {
            spec.kind == crate::program::InputKind::Parameter && spec.arg.name() == placeholder
        })
    }

    /// PyTorch's `stack_trace` (`File "…", line N, in forward\n    code`), and the
    /// column under a key of ferrex's own.
    fn with_metadata(&self, mut n: s::Node, node: &Node) -> s::Node {
        if let Some(at) = node.source {
            let trace = match self.ep.source_line(at.file, at.line) {
                Some(l) => format!(
                    "File \"{}\", line {}, in {}\n    {}",
                    at.file, at.line, l.function, l.code
                ),
                None => format!("File \"{}\", line {}", at.file, at.line),
            };
            n.metadata.insert("stack_trace".into(), trace);
            n.metadata.insert(
                "ferrex_location".into(),
                format!("{}:{}:{}", at.file, at.line, at.column),
            );
        }
        n
    }

    fn higher_order(
        &self,
        out: &mut Out<'p>,
        i: usize,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: &[Arg],
        subgraphs: &[usize],
    ) -> Result<s::Node, SaveError> {
        let g = out.g;
        let mut inputs = Vec::new();
        for param in op.params() {
            let arg = match *param {
                HopParam::Graph { index, .. } => {
                    let sub = subgraphs
                        .get(index)
                        .and_then(|k| g.subgraphs.get(*k))
                        .ok_or_else(|| {
                            unsavable(format!("`{}` names a missing subgraph", node.name))
                        })?;
                    s::Argument::AsGraph(s::GraphArgument {
                        name: sub.name.clone(),
                        graph: Box::new(self.graph(&sub.graph, None)?),
                    })
                }
                HopParam::Value { index, .. } => {
                    out.arg(&args.get(index).cloned().unwrap_or_default())?
                }
            };
            inputs.push(s::NamedArgument {
                name: String::new(),
                arg,
                kind: Some(s::ArgumentKind::POSITIONAL),
            });
        }
        let outputs = out
            .output_names(i, node, true)?
            .into_iter()
            .map(|name| s::Argument::AsTensor(s::TensorArgument { name }))
            .collect();
        Ok(s::Node {
            // `higher_order::cond` → `torch.ops.higher_order.cond` (no overload).
            target: format!("torch.ops.{}", op.target().replace("::", ".")),
            inputs,
            outputs,
            metadata: BTreeMap::new(),
            is_hop_single_tensor_return: None,
            name: Some(node.name.clone()),
        })
    }
}

fn one_meta(node: &Node) -> Result<&crate::tensor::TensorMeta, SaveError> {
    match node.meta.as_slice() {
        [m] => Ok(m),
        metas => Err(unsavable(format!(
            "placeholder `{}` has {} metas",
            node.name,
            metas.len()
        ))),
    }
}

impl<'a> Out<'a> {
    fn new(g: &'a Graph, ep: &'a ExportedProgram) -> Result<Out<'a>, SaveError> {
        let mut getitems = HashMap::new();
        let mut dims = Vec::new();
        for node in &g.nodes {
            match &node.kind {
                NodeKind::GetItem { source, index } => {
                    getitems.insert((source.0, *index), node.name.clone());
                }
                NodeKind::Placeholder => {
                    for (d, size) in one_meta(node)?.sizes.iter().enumerate() {
                        if let SymInt::Sym { expr, .. } = size {
                            dims.push((node.name.clone(), d, (**expr).clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Out {
            g,
            names: g.nodes.iter().map(|n| n.name.clone()).collect(),
            getitems,
            sym: SymValues::new(dims, ep.shape_env()),
            nodes: Vec::new(),
            tensor_values: BTreeMap::new(),
        })
    }

    /// Adds a node after the SymInt values its arguments needed.
    fn push(&mut self, node: s::Node) {
        self.nodes.append(&mut self.sym.nodes);
        self.nodes.push(node);
    }

    fn finish(mut self, inputs: Vec<s::Argument>, outputs: Vec<s::Argument>) -> s::Graph {
        self.nodes.append(&mut self.sym.nodes);
        s::Graph {
            inputs,
            outputs,
            nodes: self.nodes,
            tensor_values: self.tensor_values,
            sym_int_values: std::mem::take(&mut self.sym.values),
            sym_bool_values: BTreeMap::new(),
            is_single_tensor_return: false,
            custom_obj_values: BTreeMap::new(),
            sym_float_values: BTreeMap::new(),
        }
    }

    /// The names of a node's values, their metas recorded: the node's own name for a
    /// single tensor, else the `getitem` names (`{node}_unused_{i}` for unread ones).
    fn output_names(
        &mut self,
        i: usize,
        node: &Node,
        multi: bool,
    ) -> Result<Vec<String>, SaveError> {
        let names: Vec<String> = if multi {
            (0..node.meta.len())
                .map(|k| match self.getitems.get(&(i, k)) {
                    Some(n) => n.clone(),
                    None => fresh_name(&format!("{}_unused_{k}", node.name), &mut self.names),
                })
                .collect()
        } else {
            vec![node.name.clone()]
        };
        for (name, meta) in names.iter().zip(&node.meta) {
            self.tensor_values
                .insert(name.clone(), tensor_meta(meta, false)?);
        }
        Ok(names)
    }

    fn call(
        &mut self,
        i: usize,
        node: &Node,
        op: &OpDef,
        args: &[Arg],
    ) -> Result<s::Node, SaveError> {
        if node.meta.iter().any(|m| m.sym.is_some()) {
            return Err(unsavable(format!(
                "node `{}` is a value read from tensor data (an unbacked symbol), which the \
                 saved format does not hold yet",
                node.name
            )));
        }
        let schema = op.parsed().map_err(|e| unsavable(e.0))?;
        let mut inputs = Vec::new();
        if args.len() > schema.args.len() {
            return Err(unsavable(format!(
                "`{}` has more arguments than `{}` takes",
                node.name,
                op.name()
            )));
        }
        for (k, decl) in schema.args.iter().enumerate() {
            let kind = if decl.kwarg_only {
                s::ArgumentKind::KEYWORD
            } else {
                s::ArgumentKind::POSITIONAL
            };
            // ferrex's values are always contiguous, so a memory format (given or left
            // to its default) is the contiguous one: written as such, PyTorch's `clone`
            // before a `view` gives a tensor the view accepts (its default,
            // `preserve_format`, would keep a permute's strides).
            let arg = match args.get(k) {
                _ if decl.ty.trim_end_matches('?') == "MemoryFormat" => {
                    s::Argument::AsMemoryFormat(s::MemoryFormat::CONTIGUOUS_FORMAT)
                }
                Some(a) => self.arg(a)?,
                None => continue,
            };
            inputs.push(s::NamedArgument {
                name: decl.name.clone(),
                arg,
                kind: Some(kind),
            });
        }
        let list = schema.returns_list();
        let multi = list || node.meta.len() != 1 || self.getitems.contains_key(&(i, 0));
        let names = self.output_names(i, node, multi)?;
        let tensor = |name: String| s::TensorArgument { name };
        let outputs = if list {
            vec![s::Argument::AsTensors(
                names.into_iter().map(tensor).collect(),
            )]
        } else {
            names
                .into_iter()
                .map(|n| s::Argument::AsTensor(tensor(n)))
                .collect()
        };
        Ok(s::Node {
            target: pytorch_target(&op.name()),
            inputs,
            outputs,
            metadata: BTreeMap::new(),
            is_hop_single_tensor_return: None,
            name: Some(node.name.clone()),
        })
    }

    fn tensor(&self, id: NodeId) -> Result<s::TensorArgument, SaveError> {
        let node = self
            .g
            .nodes
            .get(id.0)
            .ok_or_else(|| unsavable(format!("a node reads the missing node {}", id.0)))?;
        Ok(s::TensorArgument {
            name: node.name.clone(),
        })
    }

    fn arg(&mut self, a: &Arg) -> Result<s::Argument, SaveError> {
        Ok(match a {
            Arg::Tensor(n) => s::Argument::AsTensor(self.tensor(*n)?),
            Arg::TensorList(ns) => s::Argument::AsTensors(
                ns.iter()
                    .map(|n| self.tensor(*n))
                    .collect::<Result<_, _>>()?,
            ),
            Arg::OptTensorList(ns) => s::Argument::AsOptionalTensors(
                ns.iter()
                    .map(|n| match n {
                        Some(n) => Ok(s::OptionalTensorArgument::AsTensor(self.tensor(*n)?)),
                        None => Ok(s::OptionalTensorArgument::AsNone(true)),
                    })
                    .collect::<Result<_, SaveError>>()?,
            ),
            Arg::None => s::Argument::AsNone(true),
            Arg::Bool(b) => s::Argument::AsBool(*b),
            Arg::Int(v) => match self.sym.argument(v, &mut self.names)? {
                s::SymIntArgument::AsInt(i) => s::Argument::AsInt(i),
                named => s::Argument::AsSymInt(named),
            },
            Arg::Float(f) => s::Argument::AsFloat(s::JsonFloat(*f)),
            Arg::Str(t) => s::Argument::AsString(t.clone()),
            Arg::DType(d) => s::Argument::AsScalarType(super::sym_values::scalar_type(*d)),
            Arg::IntList(l) => match l.iter().map(SymInt::as_int).collect::<Option<Vec<_>>>() {
                Some(ints) => s::Argument::AsInts(ints),
                None => s::Argument::AsSymInts(
                    l.iter()
                        .map(|v| self.sym.argument(v, &mut self.names))
                        .collect::<Result<_, _>>()?,
                ),
            },
            Arg::FloatList(l) => {
                s::Argument::AsFloats(l.iter().map(|f| s::JsonFloat(*f)).collect())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_become_pytorch_targets() {
        assert_eq!(
            pytorch_target("aten::add.Tensor"),
            "torch.ops.aten.add.Tensor"
        );
        assert_eq!(pytorch_target("aten::relu"), "torch.ops.aten.relu.default");
    }
}
