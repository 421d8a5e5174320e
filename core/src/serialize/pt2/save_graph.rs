//! A ferrex graph as a graph of PyTorch's schema: calls named `torch.ops.aten.add.Tensor`
//! with arguments named by the op's schema; a multi-output call lists its outputs under
//! the names of the `getitem` nodes that read them (PyTorch writes no `getitem` nodes);
//! higher-order ops as `torch.ops.higher_order.cond` with their subgraphs inline; the
//! graph's SymInt / SymBool nodes (`sym_size.int`, `_operator.add`, `_operator.gt`) as
//! nodes whose outputs are `as_sym_int` / `as_sym_bool` values, with their expressions
//! in `sym_int_values` / `sym_bool_values`, and arguments naming them.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema as s;
use super::sym_values::{fresh_name, srepr_bool, sym_int, tensor_meta, unsavable};
use crate::error::SaveError;
use crate::graph::{
    is_size_node, sym_value, Arg, Graph, HigherOrderOp, HopParam, Node, NodeId, NodeKind, SymIntArg,
};
use crate::ops::OpDef;
use crate::program::{ConstantValue, ExportedProgram};
use crate::symbolic::{SymInt, SymScalar};

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
    nodes: Vec<s::Node>,
    tensor_values: BTreeMap<String, s::TensorMeta>,
    sym_int_values: BTreeMap<String, s::SymInt>,
    sym_bool_values: BTreeMap<String, s::SymBool>,
}

impl<'p> GraphWriter<'p> {
    /// `g` in the schema. `inputs` are the graph's inputs in signature order (for the
    /// top-level graph, constants included); `None` takes the placeholders.
    pub(super) fn graph(
        &self,
        g: &'p Graph,
        inputs: Option<Vec<s::Argument>>,
    ) -> Result<s::Graph, SaveError> {
        let mut out = Out::new(g);
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
    fn new(g: &'a Graph) -> Out<'a> {
        let mut getitems = HashMap::new();
        for node in &g.nodes {
            if let NodeKind::GetItem { source, index } = &node.kind {
                getitems.insert((source.0, *index), node.name.clone());
            }
        }
        Out {
            g,
            names: g.nodes.iter().map(|n| n.name.clone()).collect(),
            getitems,
            nodes: Vec::new(),
            tensor_values: BTreeMap::new(),
            sym_int_values: BTreeMap::new(),
            sym_bool_values: BTreeMap::new(),
        }
    }

    fn push(&mut self, node: s::Node) {
        self.nodes.push(node);
    }

    fn finish(self, inputs: Vec<s::Argument>, outputs: Vec<s::Argument>) -> s::Graph {
        s::Graph {
            inputs,
            outputs,
            nodes: self.nodes,
            tensor_values: self.tensor_values,
            sym_int_values: self.sym_int_values,
            sym_bool_values: self.sym_bool_values,
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
        // A SymInt / SymBool value: a size node, or one read from data (`item`, `u0`).
        if is_size_node(node) || node.meta.iter().any(|m| m.sym.is_some()) {
            return self.sym_node(node, op, args);
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

    /// A plain int argument: sizes that are symbolic are written as the graph's SymInt
    /// nodes (`passes::name_sym_values`), never inline.
    fn int(&self, v: &SymInt) -> Result<i64, SaveError> {
        v.as_int().ok_or_else(|| {
            unsavable(format!(
                "the size `{v}` is an argument but no SymInt node of the graph computes it"
            ))
        })
    }

    /// An argument naming a SymInt / SymBool node.
    fn sym_ref(&self, id: NodeId) -> Result<s::Argument, SaveError> {
        let name = self.tensor(id)?.name;
        match sym_value(self.g, id) {
            Some(SymScalar::Int(_)) => Ok(s::Argument::AsSymInt(s::SymIntArgument::AsName(name))),
            Some(SymScalar::Bool(_)) => {
                Ok(s::Argument::AsSymBool(s::SymBoolArgument::AsName(name)))
            }
            None => Err(unsavable(format!(
                "`{name}` is read as a SymInt or SymBool but is neither"
            ))),
        }
    }

    /// A SymInt / SymBool node: `torch.ops.aten.sym_size.int` or `_operator.add`, its
    /// output an `as_sym_int` / `as_sym_bool` value whose expression is recorded.
    fn sym_node(&mut self, node: &Node, op: &OpDef, args: &[Arg]) -> Result<s::Node, SaveError> {
        let schema = op.parsed().map_err(|e| unsavable(e.0))?;
        let inputs = schema
            .args
            .iter()
            .zip(args)
            .map(|(decl, a)| {
                Ok(s::NamedArgument {
                    name: decl.name.clone(),
                    arg: self.arg(a)?,
                    kind: Some(s::ArgumentKind::POSITIONAL),
                })
            })
            .collect::<Result<Vec<_>, SaveError>>()?;
        let name = node.name.clone();
        let output = match node.meta.first().and_then(|m| m.sym.as_ref()) {
            Some(SymScalar::Int(v)) => {
                self.sym_int_values.insert(name.clone(), sym_int(v));
                s::Argument::AsSymInt(s::SymIntArgument::AsName(name.clone()))
            }
            Some(SymScalar::Bool(b)) => {
                let value = s::SymBool::AsExpr(s::SymExpr {
                    expr_str: srepr_bool(b),
                    hint: None,
                });
                self.sym_bool_values.insert(name.clone(), value);
                s::Argument::AsSymBool(s::SymBoolArgument::AsName(name.clone()))
            }
            None => return Err(unsavable(format!("`{name}` has no symbolic value"))),
        };
        let target = match op.name().strip_prefix("_operator::") {
            // `_operator::add.default` → `_operator.add`.
            Some(f) => format!("_operator.{}", f.trim_end_matches(".default")),
            None => pytorch_target(&op.name()),
        };
        Ok(s::Node {
            target,
            inputs,
            outputs: vec![output],
            metadata: BTreeMap::new(),
            is_hop_single_tensor_return: None,
            name: Some(name),
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
            Arg::Int(v) => s::Argument::AsInt(self.int(v)?),
            Arg::Float(f) => s::Argument::AsFloat(s::JsonFloat(*f)),
            Arg::Str(t) => s::Argument::AsString(t.clone()),
            Arg::DType(d) => s::Argument::AsScalarType(super::sym_values::scalar_type(*d)),
            Arg::IntList(l) => {
                s::Argument::AsInts(l.iter().map(|v| self.int(v)).collect::<Result<_, _>>()?)
            }
            Arg::Sym(n) => self.sym_ref(*n)?,
            Arg::SymInts(l) => s::Argument::AsSymInts(
                l.iter()
                    .map(|e| match e {
                        SymIntArg::Int(v) => self.int(v).map(s::SymIntArgument::AsInt),
                        SymIntArg::Sym(n) => match self.sym_ref(*n)? {
                            s::Argument::AsSymInt(a) => Ok(a),
                            _ => Err(unsavable(format!(
                                "`{}` is in a size list but is not a SymInt",
                                self.tensor(*n)?.name
                            ))),
                        },
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Arg::SymBool(b) => {
                return Err(unsavable(format!(
                    "the condition `{b}` is not a graph value (a SymBool node)"
                )))
            }
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
