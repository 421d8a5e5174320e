//! Loading: the schema's JSON becomes a program (`Loader`), every reference and value
//! checked on the way; a damaged file is a `LoadError` naming where.

use super::*;

// ---------------------------------------------------------------------------------------
// Loading

pub(super) struct Loader<'a> {
    /// The file, for error messages.
    pub(super) path: &'a str,
    pub(super) shape_env: &'a ShapeEnv,
}

impl Loader<'_> {
    pub(super) fn err(&self, message: impl Into<String>) -> LoadError {
        LoadError::Program {
            path: self.path.to_string(),
            message: message.into(),
        }
    }

    /// An error in the graph JSON, at `place` (`graph › node add`).
    pub(super) fn bad(&self, place: &str, message: impl std::fmt::Display) -> LoadError {
        self.err(format!("{MODEL_JSON}: {place}: {message}"))
    }

    pub(super) fn expr(&self, place: &str, text: &str) -> Result<Expr, LoadError> {
        parse_expr(text).map_err(|e| self.bad(place, e))
    }

    pub(super) fn symint(&self, place: &str, s: &SymIntJ) -> Result<SymInt, LoadError> {
        match s {
            SymIntJ::AsInt(v) => Ok(SymInt::Int(*v)),
            SymIntJ::AsExpr(e) => {
                let expr = self.expr(place, &e.expr_str)?;
                let hint = match &e.hint {
                    Some(SymExprHintJ::AsInt(h)) => *h,
                    // Without a hint, the value at the symbols' example values.
                    None => expr
                        .eval(&|s| self.shape_env.info(s).map(|i| i.hint))
                        .unwrap_or(0),
                };
                Ok(SymInt::from_expr(expr, hint))
            }
        }
    }

    pub(super) fn meta(&self, place: &str, m: &TensorMetaJ) -> Result<TensorMeta, LoadError> {
        Ok(TensorMeta::new(
            dtype_of(m.dtype).map_err(|e| self.bad(place, e))?,
            m.sizes
                .iter()
                .map(|s| self.symint(place, s))
                .collect::<Result<_, _>>()?,
        ))
    }

    pub(super) fn source(
        &self,
        place: &str,
        meta: &BTreeMap<String, String>,
    ) -> Result<Option<SourceLocation>, LoadError> {
        let Some(text) = meta.get("source_location") else {
            return Ok(None);
        };
        let mut parts = text.rsplitn(3, ':');
        let (column, line, file) = (parts.next(), parts.next(), parts.next());
        match (
            file,
            line.and_then(|l| l.parse().ok()),
            column.and_then(|c| c.parse().ok()),
        ) {
            (Some(file), Some(line), Some(column)) => Ok(Some(SourceLocation {
                file: intern(file),
                line,
                column,
            })),
            _ => Err(self.bad(
                place,
                format!("source_location `{text}` is not `file:line:column`"),
            )),
        }
    }

    pub(super) fn graph(&self, g: &GraphJ, place: &str) -> Result<Graph, LoadError> {
        let mut graph = Graph::default();
        // Subgraphs first: cond nodes refer to them by name.
        let mut sub_index: HashMap<&str, usize> = HashMap::new();
        for s in &g.subgraphs {
            if sub_index.insert(&s.name, graph.subgraphs.len()).is_some() {
                return Err(self.bad(place, format!("two subgraphs are named `{}`", s.name)));
            }
            let sub = self.graph(&s.graph, &format!("{place} › subgraph {}", s.name))?;
            graph.subgraphs.push(Subgraph {
                name: s.name.clone(),
                graph: sub,
            });
        }
        let mut ids: HashMap<String, NodeId> = HashMap::new();
        let value_meta = |name: &str, at: &str| -> Result<TensorMeta, LoadError> {
            let m = g
                .tensor_values
                .get(name)
                .ok_or_else(|| self.bad(at, format!("`{name}` has no entry in tensor_values")))?;
            self.meta(&format!("{place} › tensor_values › {name}"), m)
        };
        let add = |graph: &mut Graph, ids: &mut HashMap<String, NodeId>, node: Node, at: &str| {
            if ids.contains_key(&node.name) {
                return Err(self.bad(at, format!("two values are named `{}`", node.name)));
            }
            let name = node.name.clone();
            let id = graph.push(node);
            ids.insert(name, id);
            Ok(())
        };
        for input in &g.inputs {
            let ArgumentJ::AsTensor(t) = input else {
                return Err(self.bad(place, "a graph input is not a tensor (`as_tensor`)"));
            };
            let at = format!("{place} › input {}", t.name);
            let node = Node {
                name: t.name.clone(),
                kind: NodeKind::Placeholder,
                meta: vec![value_meta(&t.name, &at)?],
                source: None,
            };
            add(&mut graph, &mut ids, node, &at)?;
        }
        for n in &g.nodes {
            let at = format!("{place} › node {}", n.name);
            let mut meta = Vec::new();
            for o in &n.outputs {
                let ArgumentJ::AsTensor(t) = o else {
                    return Err(self.bad(&at, "an output is not a tensor (`as_tensor`)"));
                };
                meta.push(value_meta(&t.name, &at)?);
            }
            let kind = self.node_kind(n, &ids, &sub_index, &at)?;
            let node = Node {
                name: n.name.clone(),
                kind,
                meta,
                source: self.source(&at, &n.metadata)?,
            };
            add(&mut graph, &mut ids, node, &at)?;
        }
        let at = format!("{place} › outputs");
        let args = g
            .outputs
            .iter()
            .map(|a| self.arg(a, &ids, &at))
            .collect::<Result<Vec<_>, _>>()?;
        graph.push(Node {
            name: "output".into(),
            kind: NodeKind::Output { args },
            meta: Vec::new(),
            source: None,
        });
        Ok(graph)
    }

    /// A higher-order node's arguments and subgraphs, read by the op's parameters.
    pub(super) fn higher_order_kind(
        &self,
        op: &'static dyn HigherOrderOp,
        n: &NodeJ,
        ids: &HashMap<String, NodeId>,
        subs: &HashMap<&str, usize>,
        at: &str,
    ) -> Result<NodeKind, LoadError> {
        let mut args: Vec<Option<Arg>> = Vec::new();
        let mut subgraphs: Vec<Option<usize>> = Vec::new();
        for param in op.params() {
            let (HopParam::Graph { name, index } | HopParam::Value { name, index }) = *param;
            let value = n
                .inputs
                .iter()
                .find(|a| a.name == name)
                .map(|a| &a.arg)
                .ok_or_else(|| self.bad(at, format!("`{}` needs the input `{name}`", n.target)))?;
            match (param, value) {
                (HopParam::Graph { .. }, ArgumentJ::AsGraph(g)) => {
                    let i = subs.get(g.name.as_str()).copied().ok_or_else(|| {
                        self.bad(
                            at,
                            format!("the subgraph `{}` is not in this graph's subgraphs", g.name),
                        )
                    })?;
                    if subgraphs.len() <= index {
                        subgraphs.resize(index + 1, None);
                    }
                    subgraphs[index] = Some(i);
                }
                (HopParam::Graph { .. }, _) => {
                    return Err(self.bad(at, format!("{}'s `{name}` must be `as_graph`", op.name())))
                }
                (HopParam::Value { .. }, v) => {
                    if args.len() <= index {
                        args.resize(index + 1, None);
                    }
                    args[index] = Some(self.arg(v, ids, at)?);
                }
            }
        }
        Ok(NodeKind::HigherOrder {
            op,
            args: args.into_iter().map(Option::unwrap_or_default).collect(),
            subgraphs: subgraphs.into_iter().flatten().collect(),
        })
    }

    pub(super) fn node_ref(
        &self,
        name: &str,
        ids: &HashMap<String, NodeId>,
        at: &str,
    ) -> Result<NodeId, LoadError> {
        ids.get(name).copied().ok_or_else(|| {
            self.bad(
                at,
                format!("`{name}` is not a value defined before this node"),
            )
        })
    }

    pub(super) fn arg(
        &self,
        a: &ArgumentJ,
        ids: &HashMap<String, NodeId>,
        at: &str,
    ) -> Result<Arg, LoadError> {
        let node = |t: &TensorArgJ| self.node_ref(&t.name, ids, at);
        Ok(match a {
            ArgumentJ::AsNone(_) => Arg::None,
            ArgumentJ::AsTensor(t) => Arg::Tensor(node(t)?),
            ArgumentJ::AsTensors(ts) => {
                Arg::TensorList(ts.iter().map(node).collect::<Result<_, _>>()?)
            }
            ArgumentJ::AsOptionalTensors(ts) => Arg::OptTensorList(
                ts.iter()
                    .map(|t| match t {
                        OptionalTensorJ::AsTensor(t) => node(t).map(Some),
                        OptionalTensorJ::AsNone(_) => Ok(None),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            ArgumentJ::AsInt(v) => Arg::Int(SymInt::Int(*v)),
            ArgumentJ::AsInts(v) => Arg::IntList(v.iter().map(|&i| SymInt::Int(i)).collect()),
            ArgumentJ::AsSymInt(s) => Arg::Int(self.symint(at, s)?),
            ArgumentJ::AsSymInts(l) => Arg::IntList(
                l.iter()
                    .map(|s| self.symint(at, s))
                    .collect::<Result<_, _>>()?,
            ),
            ArgumentJ::AsFloat(f) => Arg::Float(f.0),
            ArgumentJ::AsFloats(l) => Arg::FloatList(l.iter().map(|f| f.0).collect()),
            ArgumentJ::AsString(s) => Arg::Str(s.clone()),
            ArgumentJ::AsScalarType(c) => Arg::DType(dtype_of(*c).map_err(|e| self.bad(at, e))?),
            ArgumentJ::AsBool(b) => Arg::Bool(*b),
            ArgumentJ::AsGraph(g) => {
                return Err(self.bad(
                    at,
                    format!(
                        "the subgraph `{}` can only be a branch of a cond node",
                        g.name
                    ),
                ))
            }
        })
    }

    /// A schema default as a graph argument (for inputs a file leaves out in the middle).
    pub(super) fn default_arg(v: &Value) -> Option<Arg> {
        Some(match v {
            Value::None => Arg::None,
            Value::Bool(b) => Arg::Bool(*b),
            Value::Int(i) => Arg::Int(i.clone()),
            Value::Float(f) => Arg::Float(*f),
            Value::Str(s) => Arg::Str(s.clone()),
            Value::DType(d) => Arg::DType(*d),
            Value::IntList(l) => Arg::IntList(l.clone()),
            Value::FloatList(l) => Arg::FloatList(l.clone()),
            _ => return None,
        })
    }

    pub(super) fn node_kind(
        &self,
        n: &NodeJ,
        ids: &HashMap<String, NodeId>,
        subs: &HashMap<&str, usize>,
        at: &str,
    ) -> Result<NodeKind, LoadError> {
        let input = |name: &str| n.inputs.iter().find(|a| a.name == name).map(|a| &a.arg);
        let required = |name: &str| {
            input(name)
                .ok_or_else(|| self.bad(at, format!("`{}` needs the input `{name}`", n.target)))
        };
        match n.target.as_str() {
            GETITEM => {
                let ArgumentJ::AsTensor(src) = required("self")? else {
                    return Err(self.bad(at, "getitem's `self` must be `as_tensor`"));
                };
                let ArgumentJ::AsInt(index) = required("index")? else {
                    return Err(self.bad(at, "getitem's `index` must be `as_int`"));
                };
                let index = usize::try_from(*index)
                    .map_err(|_| self.bad(at, format!("getitem index {index} is negative")))?;
                Ok(NodeKind::GetItem {
                    source: self.node_ref(&src.name, ids, at)?,
                    index,
                })
            }
            target if lookup_higher_order(target).is_some() => {
                let op = lookup_higher_order(target).ok_or_else(|| self.bad(at, "unknown"))?;
                self.higher_order_kind(op, n, ids, subs, at)
            }
            target => {
                let op = lookup(target).ok_or_else(|| LoadError::UnknownOp {
                    path: self.path.to_string(),
                    op: target.to_string(),
                    node: n.name.clone(),
                })?;
                let schema = op.parsed().map_err(|e| self.bad(at, e))?;
                // Place each input by its schema name (`argN` past the schema's end).
                let mut slots: Vec<Option<Arg>> = Vec::new();
                for a in &n.inputs {
                    let pos = schema
                        .position(&a.name)
                        .or_else(|| a.name.strip_prefix("arg").and_then(|i| i.parse().ok()))
                        .ok_or_else(|| {
                            self.bad(at, format!("`{target}` has no argument named `{}`", a.name))
                        })?;
                    if pos >= slots.len() {
                        slots.resize(pos + 1, None);
                    }
                    if slots[pos].is_some() {
                        return Err(
                            self.bad(at, format!("the argument `{}` is given twice", a.name))
                        );
                    }
                    slots[pos] = Some(self.arg(&a.arg, ids, at)?);
                }
                let args = slots
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| match a {
                        Some(a) => Ok(a),
                        None => {
                            let decl = schema.args.get(i);
                            decl.and_then(|d| d.default.as_ref())
                                .and_then(Self::default_arg)
                                .ok_or_else(|| {
                                    let name = decl
                                        .map(|d| d.name.clone())
                                        .unwrap_or_else(|| format!("arg{i}"));
                                    self.bad(at, format!("`{target}` needs the argument `{name}`"))
                                })
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(NodeKind::Call { op, args })
            }
        }
    }

    pub(super) fn spec_arg(&self, a: SpecArgJ) -> ArgumentSpec {
        match a {
            SpecArgJ::AsTensor(t) => ArgumentSpec::Tensor { name: t.name },
            SpecArgJ::AsSymInt(SymIntArgJ::AsName(name)) => ArgumentSpec::SymInt { name },
            SpecArgJ::AsConstant { name, value } => ArgumentSpec::Constant {
                name,
                value: constant_from(value),
            },
        }
    }

    pub(super) fn signature(&self, s: SignatureJ) -> ExportGraphSignature {
        let tensor = |t: TensorArgJ| ArgumentSpec::Tensor { name: t.name };
        let input_specs = s
            .input_specs
            .into_iter()
            .map(|spec| match spec {
                InputSpecJ::UserInput { arg } => InputSpec {
                    kind: InputKind::UserInput,
                    arg: self.spec_arg(arg),
                    target: None,
                    persistent: None,
                },
                InputSpecJ::ConstantInput { name, value } => InputSpec {
                    kind: InputKind::UserInput,
                    arg: ArgumentSpec::Constant {
                        name,
                        value: constant_from(value),
                    },
                    target: None,
                    persistent: None,
                },
                InputSpecJ::Parameter {
                    arg,
                    parameter_name,
                } => InputSpec {
                    kind: InputKind::Parameter,
                    arg: tensor(arg),
                    target: Some(parameter_name),
                    persistent: None,
                },
                InputSpecJ::Buffer {
                    arg,
                    buffer_name,
                    persistent,
                } => InputSpec {
                    kind: InputKind::Buffer,
                    arg: tensor(arg),
                    target: Some(buffer_name),
                    persistent,
                },
                InputSpecJ::TensorConstant {
                    arg,
                    tensor_constant_name,
                } => InputSpec {
                    kind: InputKind::ConstantTensor,
                    arg: tensor(arg),
                    target: Some(tensor_constant_name),
                    persistent: None,
                },
            })
            .collect();
        let output_specs = s
            .output_specs
            .into_iter()
            .map(|spec| match spec {
                OutputSpecJ::UserOutput { arg } => OutputSpec {
                    kind: OutputKind::UserOutput,
                    arg: self.spec_arg(arg),
                    target: None,
                },
                OutputSpecJ::BufferMutation { arg, buffer_name } => OutputSpec {
                    kind: OutputKind::BufferMutation,
                    arg: tensor(arg),
                    target: Some(buffer_name),
                },
                OutputSpecJ::UserInputMutation {
                    arg,
                    user_input_name,
                } => OutputSpec {
                    kind: OutputKind::UserInputMutation,
                    arg: tensor(arg),
                    target: Some(user_input_name),
                },
            })
            .collect();
        ExportGraphSignature {
            input_specs,
            output_specs,
        }
    }
}
