//! Saving: a program becomes the schema's JSON (`Saver`), refused first where the
//! format cannot hold it.

use super::*;
use crate::ops::OpDef;

// ---------------------------------------------------------------------------------------
// Saving

pub(super) struct Saver<'p> {
    pub(super) ep: &'p ExportedProgram,
}

impl Saver<'_> {
    pub(super) fn arg(&self, g: &Graph, a: &Arg) -> ArgumentJ {
        let name = |id: &NodeId| TensorArgJ {
            name: g.node(*id).name.clone(),
        };
        match a {
            Arg::Tensor(n) => ArgumentJ::AsTensor(name(n)),
            Arg::TensorList(ns) => ArgumentJ::AsTensors(ns.iter().map(name).collect()),
            Arg::OptTensorList(ns) => ArgumentJ::AsOptionalTensors(
                ns.iter()
                    .map(|n| match n {
                        Some(n) => OptionalTensorJ::AsTensor(name(n)),
                        None => OptionalTensorJ::AsNone(true),
                    })
                    .collect(),
            ),
            Arg::None => ArgumentJ::AsNone(true),
            Arg::Bool(b) => ArgumentJ::AsBool(*b),
            Arg::Int(SymInt::Int(v)) => ArgumentJ::AsInt(*v),
            Arg::Int(s) => ArgumentJ::AsSymInt(symint_j(s)),
            Arg::Float(f) => ArgumentJ::AsFloat(FloatJ(*f)),
            Arg::Str(s) => ArgumentJ::AsString(s.clone()),
            Arg::DType(d) => ArgumentJ::AsScalarType(scalar_type(*d)),
            Arg::IntList(l) => match l.iter().map(SymInt::as_int).collect::<Option<Vec<_>>>() {
                Some(ints) => ArgumentJ::AsInts(ints),
                None => ArgumentJ::AsSymInts(l.iter().map(symint_j).collect()),
            },
            Arg::FloatList(l) => ArgumentJ::AsFloats(l.iter().map(|f| FloatJ(*f)).collect()),
            // The 1.x format holds sizes inline, and no symbolic bool.
            Arg::Sym(_) | Arg::SymInts(_) => match crate::graph::inline_sym_arg(g, a) {
                Ok(inline) if !matches!(*inline, Arg::Sym(_) | Arg::SymBool(_)) => {
                    self.arg(g, &inline)
                }
                _ => ArgumentJ::AsNone(true),
            },
            Arg::SymBool(_) => ArgumentJ::AsNone(true),
        }
    }

    /// A higher-order node's inputs, in the op's parameter order.
    pub(super) fn higher_order(
        &self,
        g: &Graph,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: &[Arg],
        subgraphs: &[usize],
    ) -> Result<Vec<NamedArgumentJ>, SaveError> {
        op.params()
            .iter()
            .map(|param| {
                let (name, arg) = match *param {
                    HopParam::Graph { name, index } => {
                        let sub = subgraphs
                            .get(index)
                            .and_then(|i| g.subgraphs.get(*i))
                            .ok_or_else(|| {
                                SaveError::Unsavable(format!(
                                    "`{}` names a missing subgraph",
                                    node.name
                                ))
                            })?;
                        let graph = GraphArgJ {
                            name: sub.name.clone(),
                        };
                        (name, ArgumentJ::AsGraph(graph))
                    }
                    HopParam::Value { name, index } => {
                        let a = args.get(index).cloned().unwrap_or_default();
                        (name, self.arg(g, &a))
                    }
                };
                Ok(NamedArgumentJ {
                    name: name.into(),
                    arg,
                })
            })
            .collect()
    }

    pub(super) fn metadata(&self, node: &Node) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(at) = node.source {
            let trace = match self.ep.source_line(at.file, at.line) {
                Some(l) => format!(
                    "File \"{}\", line {}, column {}, in {}\n    {}",
                    at.file, at.line, at.column, l.function, l.code
                ),
                None => format!(
                    "File \"{}\", line {}, column {}",
                    at.file, at.line, at.column
                ),
            };
            m.insert("stack_trace".to_string(), trace);
            m.insert(
                "source_location".to_string(),
                format!("{}:{}:{}", at.file, at.line, at.column),
            );
        }
        m
    }

    pub(super) fn graph(&self, g: &Graph) -> Result<GraphJ, SaveError> {
        let mut tensor_values = BTreeMap::new();
        let mut inputs = Vec::new();
        let mut nodes = Vec::new();
        let mut outputs = Vec::new();
        for node in &g.nodes {
            // The values a node produces: one named like the node, or `name.i` each.
            let out_names: Vec<String> = match node.meta.len() {
                1 => vec![node.name.clone()],
                n => (0..n).map(|i| format!("{}.{i}", node.name)).collect(),
            };
            for (n, m) in out_names.iter().zip(&node.meta) {
                tensor_values.insert(n.clone(), meta_j(m));
            }
            let (target, named) = match &node.kind {
                NodeKind::Placeholder => {
                    inputs.push(placeholder_j(node)?);
                    continue;
                }
                NodeKind::Output { args } => {
                    outputs = args.iter().map(|a| self.arg(g, a)).collect();
                    continue;
                }
                NodeKind::Call { op, args } => (op.name(), self.call_inputs(g, op, args)?),
                NodeKind::GetItem { source, index } => {
                    (GETITEM.to_string(), getitem_inputs(g, *source, *index))
                }
                NodeKind::HigherOrder {
                    op,
                    args,
                    subgraphs,
                } => (
                    op.target().to_string(),
                    self.higher_order(g, node, *op, args, subgraphs)?,
                ),
            };
            nodes.push(NodeJ {
                name: node.name.clone(),
                target,
                inputs: named,
                outputs: out_names
                    .iter()
                    .map(|n| ArgumentJ::AsTensor(TensorArgJ { name: n.clone() }))
                    .collect(),
                metadata: self.metadata(node),
            });
        }
        Ok(GraphJ {
            inputs,
            nodes,
            outputs,
            tensor_values,
            subgraphs: self.subgraphs(g)?,
        })
    }

    /// A call's arguments, named by its schema (`argN` past the schema's arguments).
    fn call_inputs(
        &self,
        g: &Graph,
        op: &OpDef,
        args: &[Arg],
    ) -> Result<Vec<NamedArgumentJ>, SaveError> {
        let schema = op.parsed().map_err(|e| SaveError::Unsavable(e.0))?;
        Ok(args
            .iter()
            .enumerate()
            .map(|(i, a)| NamedArgumentJ {
                name: schema
                    .args
                    .get(i)
                    .map(|d| d.name.clone())
                    .unwrap_or_else(|| format!("arg{i}")),
                arg: self.arg(g, a),
            })
            .collect())
    }

    /// The subgraphs of `g`, whose names must be distinct.
    fn subgraphs(&self, g: &Graph) -> Result<Vec<SubgraphJ>, SaveError> {
        let mut names = HashSet::new();
        g.subgraphs
            .iter()
            .map(|s| {
                if !names.insert(s.name.as_str()) {
                    return Err(SaveError::Unsavable(format!(
                        "two subgraphs are named `{}`",
                        s.name
                    )));
                }
                Ok(SubgraphJ {
                    name: s.name.clone(),
                    graph: self.graph(&s.graph)?,
                })
            })
            .collect()
    }

    pub(super) fn spec_arg(a: &ArgumentSpec) -> SpecArgJ {
        match a {
            ArgumentSpec::Tensor { name } => SpecArgJ::AsTensor(TensorArgJ { name: name.clone() }),
            ArgumentSpec::SymInt { name } => SpecArgJ::AsSymInt(SymIntArgJ::AsName(name.clone())),
            ArgumentSpec::Constant { name, value } => SpecArgJ::AsConstant {
                name: name.clone(),
                value: constant_j(value),
            },
        }
    }

    pub(super) fn signature(&self) -> Result<SignatureJ, SaveError> {
        let sig = self.ep.graph_signature();
        let unsavable = |what: &str, name: &str| {
            SaveError::Unsavable(format!("the {what} spec of `{name}` has no target"))
        };
        let tensor_arg = |a: &ArgumentSpec| TensorArgJ {
            name: a.name().to_string(),
        };
        let mut input_specs = Vec::new();
        for s in &sig.input_specs {
            let target = || {
                s.target
                    .clone()
                    .ok_or_else(|| unsavable("input", s.arg.name()))
            };
            input_specs.push(match (s.kind, &s.arg) {
                (InputKind::UserInput, ArgumentSpec::Constant { name, value }) => {
                    InputSpecJ::ConstantInput {
                        name: name.clone(),
                        value: constant_j(value),
                    }
                }
                (InputKind::UserInput, a) => InputSpecJ::UserInput {
                    arg: Self::spec_arg(a),
                },
                (InputKind::Parameter, a) => InputSpecJ::Parameter {
                    arg: tensor_arg(a),
                    parameter_name: target()?,
                },
                (InputKind::Buffer, a) => InputSpecJ::Buffer {
                    arg: tensor_arg(a),
                    buffer_name: target()?,
                    persistent: s.persistent,
                },
                (InputKind::ConstantTensor, a) => InputSpecJ::TensorConstant {
                    arg: tensor_arg(a),
                    tensor_constant_name: target()?,
                },
            });
        }
        let mut output_specs = Vec::new();
        for s in &sig.output_specs {
            let target = || {
                s.target
                    .clone()
                    .ok_or_else(|| unsavable("output", s.arg.name()))
            };
            output_specs.push(match s.kind {
                OutputKind::UserOutput => OutputSpecJ::UserOutput {
                    arg: Self::spec_arg(&s.arg),
                },
                OutputKind::BufferMutation => OutputSpecJ::BufferMutation {
                    arg: tensor_arg(&s.arg),
                    buffer_name: target()?,
                },
                OutputKind::UserInputMutation => OutputSpecJ::UserInputMutation {
                    arg: tensor_arg(&s.arg),
                    user_input_name: target()?,
                },
            });
        }
        Ok(SignatureJ {
            input_specs,
            output_specs,
        })
    }

    pub(super) fn model(&self) -> Result<ModelJ, SaveError> {
        let ep = self.ep;
        Ok(ModelJ {
            schema_version: SchemaVersionJ {
                major: FORMAT_VERSION.0,
                minor: FORMAT_VERSION.1,
            },
            producer: format!("ferrex {}", env!("CARGO_PKG_VERSION")),
            model_name: ep.model_name().to_string(),
            arg_names: ep.arg_names().to_vec(),
            graph_module: GraphModuleJ {
                graph: self.graph(ep.graph())?,
                signature: self.signature()?,
            },
            range_constraints: ep
                .range_constraints()
                .entries
                .iter()
                .map(|(e, r)| RangeConstraintJ {
                    expr: e.to_string(),
                    min_val: r.lower,
                    max_val: r.upper,
                })
                .collect(),
            guards: crate::serialize::pt2::extras::guard_entries(ep.guards()),
            shape_env: crate::serialize::pt2::extras::symbol_entries(ep.shape_env()),
            source_lines: crate::serialize::pt2::extras::source_entries(ep.sources()),
            state_dict: ep.state_dict().keys().map(String::from).collect(),
            constants: ep.constants().keys().map(String::from).collect(),
        })
    }
}

/// Writes the archive to any seekable writer.
pub fn to_bytes(ep: &ExportedProgram) -> Result<Vec<u8>, SaveError> {
    Ok(write_archive(ep, std::io::Cursor::new(Vec::new()))?.into_inner())
}

/// The format does not hold yet what some programs rely on: the symbolic value of an
/// `aten::item` node (`Sym(u0)`, which the runners bind `u0` from) and the values of
/// `ferrex::assume_constant`. Saving such a program would load as a different one.
pub(super) fn refuse_unsaved_features(ep: &ExportedProgram) -> Result<(), SaveError> {
    let symbolic = ep
        .graph()
        .nodes
        .iter()
        .find(|n| n.meta.iter().any(|m| m.sym.is_some()));
    if let Some(node) = symbolic {
        return Err(SaveError::Unsavable(format!(
            "node `{}` is a value read from tensor data (an unbacked symbol), which the \
             saved format does not hold yet",
            node.name
        )));
    }
    if !ep.assumed_constants().is_empty() {
        return Err(SaveError::Unsavable(
            "the program holds values computed by `ferrex::assume_constant`, which the saved \
             format does not record yet"
                .into(),
        ));
    }
    Ok(())
}

/// Saves a program to `path` as a `.pt2` zip archive. The file is written beside the
/// target and renamed into place, so a failed save leaves no half-written program.
pub fn save(ep: &ExportedProgram, path: impl AsRef<Path>) -> Result<(), SaveError> {
    refuse_unsaved_features(ep)?;
    crate::serialize::write_atomically(path.as_ref(), &to_bytes(ep)?)
}

fn meta_j(m: &TensorMeta) -> TensorMetaJ {
    TensorMetaJ {
        dtype: scalar_type(m.dtype),
        sizes: m.sizes.iter().map(symint_j).collect(),
    }
}

/// A graph input: a placeholder has exactly one meta.
fn placeholder_j(node: &Node) -> Result<ArgumentJ, SaveError> {
    if node.meta.len() != 1 {
        return Err(SaveError::Unsavable(format!(
            "placeholder `{}` has {} metas",
            node.name,
            node.meta.len()
        )));
    }
    Ok(ArgumentJ::AsTensor(TensorArgJ {
        name: node.name.clone(),
    }))
}

/// `getitem`'s arguments: the multi-output node and the index.
fn getitem_inputs(g: &Graph, source: NodeId, index: usize) -> Vec<NamedArgumentJ> {
    vec![
        NamedArgumentJ {
            name: "self".into(),
            arg: ArgumentJ::AsTensor(TensorArgJ {
                name: g.node(source).name.clone(),
            }),
        },
        NamedArgumentJ {
            name: "index".into(),
            arg: ArgumentJ::AsInt(index as i64),
        },
    ]
}
