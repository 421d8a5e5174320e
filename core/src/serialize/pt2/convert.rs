//! PyTorch's graph (schema 8.x) into ferrex's [`Graph`]: op targets looked up in the
//! registry, SymInt / SymBool values (`sym_size.int`, `_operator.mul`, `_operator.gt`)
//! kept as nodes with their expressions as metas, multi-output calls and `cond` read
//! through `getitem` nodes, in-place ops functionalized, stack traces turned into
//! source comments. Node names are PyTorch's.

use std::collections::{HashMap, HashSet};

mod views;

use super::schema::dtype_of;
use super::schema::{self as j, Argument as A};
use super::sympy::parse_srepr;
use super::Ctx;
use crate::control_flow::lookup_higher_order;
use crate::error::{LoadError, SourceLocation};
use crate::graph::{inline_sym_args, SymIntArg};
use crate::graph::{Arg, Graph, HigherOrderOp, HopParam, Node, NodeId, NodeKind, Subgraph};
use crate::module::SourceLine;
use crate::ops::sym::{sym_op, SymOp};
use crate::ops::{lookup, OpDef};
use crate::serialize::intern;
use crate::symbolic::{SymBool, SymInt, SymScalar};
use crate::tensor::{DType, TensorMeta};

/// The higher-order op a target names: `torch.ops.higher_order.cond` is ferrex's
/// `higher_order::cond`.
fn higher_order_op(target: &str) -> Option<&'static dyn HigherOrderOp> {
    let name = target.strip_prefix("torch.ops.higher_order.")?;
    lookup_higher_order(&format!("higher_order::{name}"))
}

/// Run-time checks export inserts (dtype/device of a tensor, a range constraint):
/// ferrex checks inputs against the program's metas and range constraints itself, so
/// unread ones are left out. (`_assert_scalar` is kept: it is ferrex's op too.)
const CHECKS: &[&str] = &[
    "torch.ops.aten._assert_tensor_metadata.default",
    "torch.ops.aten.sym_constrain_range.default",
    "torch.ops.aten.sym_constrain_range_for_size.default",
];

/// The calls in `g` and its subgraphs of ops missing from the registry, `(target,
/// node)` once per target: a program's every missing op is reported at once.
fn unknown_calls(g: &j::Graph, out: &mut Vec<(String, String)>) {
    for n in &g.nodes {
        if higher_order_op(&n.target).is_some() {
            for a in &n.inputs {
                if let A::AsGraph(sub) = &a.arg {
                    unknown_calls(&sub.graph, out);
                }
            }
            continue;
        }
        let known = CHECKS.contains(&n.target.as_str())
            || registry_name(&n.target).and_then(|r| lookup(&r)).is_some();
        if !known && !out.iter().any(|(t, _)| *t == n.target) {
            out.push((n.target.clone(), node_name(n)));
        }
    }
}

/// A node's name: its own, else its first tensor output's.
fn node_name(n: &j::Node) -> String {
    n.name.clone().unwrap_or_else(|| match n.outputs.first() {
        Some(A::AsTensor(t)) => t.name.clone(),
        _ => String::new(),
    })
}

/// A schema default as a graph argument (for inputs a file leaves out): defaults name
/// no tensor.
fn default_arg(d: &crate::ops::schema::DefaultValue) -> Option<Arg> {
    crate::ops::schema::default_value(d)
        .try_map(|_| Err(()))
        .ok()
}

/// The registry name of a PyTorch op target: `torch.ops.aten.add.Tensor` →
/// `aten::add.Tensor`.
pub(super) fn registry_name(target: &str) -> Option<String> {
    // SymInt arithmetic: `_operator.add` → `_operator::add`.
    if let Some(f) = target.strip_prefix("_operator.") {
        return Some(format!("_operator::{f}"));
    }
    let rest = target.strip_prefix("torch.ops.")?;
    let (ns, op) = rest.split_once('.')?;
    Some(format!("{ns}::{op}"))
}

/// Reads a size from the file: an int, or a sympy expression with its hint.
pub(super) fn symint(s: &j::SymInt) -> Result<SymInt, String> {
    match s {
        j::SymInt::AsInt(v) => Ok(SymInt::Int(*v)),
        j::SymInt::AsExpr(e) => {
            let expr = parse_srepr(&e.expr_str)?;
            let hint = match &e.hint {
                Some(j::SymExprHint::AsInt(h)) => *h,
                // A value read from data (`u0`) has no example value.
                None if expr.symbols().iter().any(|s| s.is_unbacked()) => 0,
                _ => return Err(format!("`{}` has no integer hint", e.expr_str)),
            };
            Ok(SymInt::from_expr(expr, hint))
        }
    }
}

pub(super) fn tensor_meta(m: &j::TensorMeta) -> Result<TensorMeta, String> {
    let sizes: Vec<SymInt> = m.sizes.iter().map(symint).collect::<Result<_, _>>()?;
    if let Some(bad) = sizes.iter().find(|s| s.as_int().is_some_and(|v| v < 0)) {
        return Err(format!("the size {bad} is negative"));
    }
    Ok(TensorMeta::new(dtype_of(m.dtype.0)?, sizes))
}

/// The innermost frame of a stack trace: `File "path", line N, in fn` + its code line.
pub(super) fn last_frame(trace: &str) -> Option<SourceLine> {
    let lines: Vec<&str> = trace.lines().collect();
    let (i, head) = lines
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| l.trim_start().starts_with("File \""))?;
    let rest = head.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (line, function) = rest.split_once(", in ")?;
    Some(SourceLine {
        file: intern(file),
        line: line.trim().parse().ok()?,
        function: intern(function.trim()),
        code: intern(lines.get(i + 1).map_or("", |c| c.trim())),
    })
}

/// `file:line:column`.
fn parse_location(text: &str) -> Option<SourceLocation> {
    let mut parts = text.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some(SourceLocation {
        file: intern(parts.next()?),
        line,
        column,
    })
}

/// Reads one graph (and, recursively, its subgraphs).
pub(super) struct GraphReader<'a> {
    ctx: &'a Ctx,
    g: &'a j::Graph,
    place: String,
    graph: Graph,
    values: HashMap<String, NodeId>,
    /// In-place ops: every alias of a value has the same root; `latest` is the value
    /// holding the root's current contents.
    root: HashMap<NodeId, NodeId>,
    latest: HashMap<NodeId, NodeId>,
    /// Names read anywhere (so unused outputs of multi-output calls get no `getitem`).
    used: HashSet<String>,
    /// The tensor the in-place call being read mutates.
    mutated: Option<NodeId>,
    sources: Vec<SourceLine>,
    /// Views that in-place ops may write through, by their node (`views.rs`).
    views: HashMap<NodeId, views::ViewOf>,
    /// Every value name the file defines or reads (names the reader adds avoid them).
    names: HashSet<String>,
    /// The index of the last node reading each name (`usize::MAX`: a graph output).
    last_read: HashMap<String, usize>,
    /// The index of the node being read.
    index: usize,
}

/// A graph read from the file: the graph, the source lines of its nodes, and the
/// inputs its in-place ops mutate (placeholder name, name of the final value), whose
/// final values lead the graph's outputs, in input order.
pub(super) struct ReadGraph {
    pub(super) graph: Graph,
    pub(super) sources: Vec<SourceLine>,
    pub(super) mutations: Vec<(String, String)>,
}

fn collect_names(a: &A, out: &mut HashSet<String>) {
    match a {
        A::AsTensor(t) => {
            out.insert(t.name.clone());
        }
        A::AsTensors(ts) => out.extend(ts.iter().map(|t| t.name.clone())),
        A::AsOptionalTensors(ts) => out.extend(ts.iter().filter_map(|t| match t {
            j::OptionalTensorArgument::AsTensor(t) => Some(t.name.clone()),
            j::OptionalTensorArgument::AsNone(_) => None,
        })),
        A::AsOptionalTensor(j::OptionalTensorArgument::AsTensor(t)) => {
            out.insert(t.name.clone());
        }
        _ => {}
    }
}

impl<'a> GraphReader<'a> {
    pub(super) fn new(ctx: &'a Ctx, g: &'a j::Graph, place: String) -> Self {
        let mut used = HashSet::new();
        for n in &g.nodes {
            for a in &n.inputs {
                collect_names(&a.arg, &mut used);
            }
        }
        for a in &g.outputs {
            collect_names(a, &mut used);
        }
        let mut last_read = HashMap::new();
        let mut names = used.clone();
        for (i, n) in g.nodes.iter().enumerate() {
            let mut read = HashSet::new();
            for a in &n.inputs {
                collect_names(&a.arg, &mut read);
            }
            last_read.extend(read.into_iter().map(|name| (name, i)));
            for o in &n.outputs {
                collect_names(o, &mut names);
            }
            names.extend(n.name.clone());
        }
        let mut outputs = HashSet::new();
        for a in &g.outputs {
            collect_names(a, &mut outputs);
        }
        last_read.extend(outputs.into_iter().map(|name| (name, usize::MAX)));
        GraphReader {
            ctx,
            g,
            place,
            graph: Graph::default(),
            values: HashMap::new(),
            root: HashMap::new(),
            latest: HashMap::new(),
            used,
            mutated: None,
            sources: Vec::new(),
            views: HashMap::new(),
            names,
            last_read,
            index: 0,
        }
    }

    fn bad(&self, at: &str, message: impl std::fmt::Display) -> LoadError {
        self.ctx.err(format!(
            "{}: {} › {at}: {message}",
            self.ctx.entry, self.place
        ))
    }

    fn meta_of(&self, name: &str, at: &str) -> Result<TensorMeta, LoadError> {
        let m = self
            .g
            .tensor_values
            .get(name)
            .ok_or_else(|| self.bad(at, format!("`{name}` has no entry in tensor_values")))?;
        tensor_meta(m).map_err(|e| self.bad(&format!("tensor_values › {name}"), e))
    }

    fn push(&mut self, node: Node, at: &str) -> Result<NodeId, LoadError> {
        if self.values.contains_key(&node.name) {
            return Err(self.bad(at, format!("two values are named `{}`", node.name)));
        }
        let name = node.name.clone();
        let id = self.graph.push(node);
        self.values.insert(name, id);
        self.root.insert(id, id);
        self.latest.insert(id, id);
        Ok(id)
    }

    /// The node holding the current contents of the tensor called `name`.
    fn tensor(&self, name: &str, at: &str) -> Result<NodeId, LoadError> {
        match self.values.get(name) {
            Some(id) => {
                let root = self.root.get(id).copied().unwrap_or(*id);
                Ok(self.latest.get(&root).copied().unwrap_or(*id))
            }
            None => Err(self.bad(
                at,
                format!("`{name}` is not a value defined before this node"),
            )),
        }
    }

    /// A SymInt argument: the node computing it, or (a value no node of this graph
    /// computes) its expression inline.
    fn sym(&self, s: &j::SymIntArgument, at: &str) -> Result<SymIntArg<NodeId>, LoadError> {
        match s {
            j::SymIntArgument::AsName(name) if self.values.contains_key(name) => {
                Ok(SymIntArg::Sym(self.values[name]))
            }
            _ => self.sym_inline(s, at).map(SymIntArg::Int),
        }
    }

    fn sym_inline(&self, s: &j::SymIntArgument, at: &str) -> Result<SymInt, LoadError> {
        match s {
            j::SymIntArgument::AsInt(v) => Ok(SymInt::Int(*v)),
            j::SymIntArgument::AsName(name) => {
                let v = self.g.sym_int_values.get(name).ok_or_else(|| {
                    self.bad(
                        at,
                        format!("the SymInt `{name}` has no entry in sym_int_values"),
                    )
                })?;
                symint(v).map_err(|e| self.bad(&format!("sym_int_values › {name}"), e))
            }
        }
    }

    /// One argument. Memory formats, layouts and devices have no meaning in ferrex (every
    /// tensor is a row-major CPU tensor) and read as `None`.
    fn arg(&self, a: &A, at: &str) -> Result<Arg, LoadError> {
        let opt = |t: &j::OptionalTensorArgument| match t {
            j::OptionalTensorArgument::AsTensor(t) => self.tensor(&t.name, at).map(Some),
            j::OptionalTensorArgument::AsNone(_) => Ok(None),
        };
        Ok(match a {
            A::AsNone(_) | A::AsMemoryFormat(_) | A::AsLayout(_) | A::AsDevice(_) => Arg::None,
            A::AsTensor(t) => Arg::Tensor(self.tensor(&t.name, at)?),
            A::AsTensors(ts) => Arg::TensorList(
                ts.iter()
                    .map(|t| self.tensor(&t.name, at))
                    .collect::<Result<_, _>>()?,
            ),
            A::AsOptionalTensors(ts) => {
                Arg::OptTensorList(ts.iter().map(opt).collect::<Result<_, _>>()?)
            }
            A::AsOptionalTensor(t) => match opt(t)? {
                Some(id) => Arg::Tensor(id),
                None => Arg::None,
            },
            A::AsInt(v) => Arg::Int(SymInt::Int(*v)),
            A::AsInts(v) => Arg::IntList(v.iter().map(|&i| SymInt::Int(i)).collect()),
            A::AsSymInt(s) => match self.sym(s, at)? {
                SymIntArg::Sym(id) => Arg::Sym(id),
                SymIntArg::Int(v) => Arg::Int(v),
            },
            A::AsSymInts(l) => Arg::SymInts(
                l.iter()
                    .map(|s| self.sym(s, at))
                    .collect::<Result<_, _>>()?,
            ),
            A::AsSymBool(j::SymBoolArgument::AsName(name)) => match self.values.get(name) {
                Some(id) => Arg::Sym(*id),
                None => {
                    return Err(self.bad(
                        at,
                        format!("the SymBool `{name}` is not a value defined before this node"),
                    ))
                }
            },
            A::AsSymBool(j::SymBoolArgument::AsBool(b)) => Arg::Bool(*b),
            A::AsFloat(f) => Arg::Float(f.0),
            A::AsFloats(l) => Arg::FloatList(l.iter().map(|f| f.0).collect()),
            A::AsString(s) => Arg::Str(s.clone()),
            A::AsScalarType(c) => Arg::DType(dtype_of(c.0).map_err(|e| self.bad(at, e))?),
            A::AsBool(b) => Arg::Bool(*b),
            other => {
                let kind = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
                    .unwrap_or_default();
                return Err(self.bad(at, format!("arguments of kind `{kind}` are not supported")));
            }
        })
    }

    fn source(&mut self, n: &j::Node) -> Option<SourceLocation> {
        // ferrex writes the exact place beside PyTorch's stack trace (`file:line:column`).
        if let Some(at) = n
            .metadata
            .get("ferrex_location")
            .and_then(|l| parse_location(l))
        {
            return Some(at);
        }
        let frame = last_frame(n.metadata.get("stack_trace")?)?;
        let at = SourceLocation {
            file: frame.file,
            line: frame.line,
            column: 0,
        };
        if !self
            .sources
            .iter()
            .any(|s| s.file == frame.file && s.line == frame.line)
        {
            self.sources.push(frame);
        }
        Some(at)
    }

    /// Reads the graph: inputs, nodes, outputs.
    pub(super) fn read(mut self) -> Result<ReadGraph, LoadError> {
        for input in &self.g.inputs {
            let t =
                match input {
                    A::AsTensor(t) => t,
                    // A constant input (an `int` argument PyTorch specialised) has no
                    // placeholder: its value is in the signature's `constant_input`.
                    A::AsInt(_) | A::AsFloat(_) | A::AsBool(_) | A::AsString(_) | A::AsNone(_) => {
                        continue
                    }
                    _ => return Err(self.bad(
                        "inputs",
                        "a graph input that is a SymInt (an int marked dynamic) is not supported",
                    )),
                };
            let at = format!("input {}", t.name);
            let meta = self.meta_of(&t.name, &at)?;
            let node = Node {
                name: t.name.clone(),
                kind: NodeKind::Placeholder,
                meta: vec![meta],
                source: None,
            };
            self.push(node, &at)?;
        }
        let mut unknown = Vec::new();
        unknown_calls(self.g, &mut unknown);
        if let Some(((op, node), also)) = unknown.split_first() {
            return Err(LoadError::UnknownOp {
                path: self.ctx.path.clone(),
                op: op.clone(),
                node: node.clone(),
                also: also.to_vec(),
            });
        }
        for (i, n) in self.g.nodes.iter().enumerate() {
            self.index = i;
            self.node(n)?;
        }
        let args = self
            .g
            .outputs
            .iter()
            .map(|a| match a {
                A::AsTensor(_) | A::AsNone(_) | A::AsSymInt(_) | A::AsSymBool(_) | A::AsInt(_) => {
                    self.arg(a, "outputs")
                }
                // A constant output is `None` in the graph; its value is in the signature
                // (as ferrex's export records it).
                A::AsFloat(_) | A::AsBool(_) | A::AsString(_) => Ok(Arg::None),
                _ => Err(self.bad(
                    "outputs",
                    "a graph output that is not a tensor, a size or a constant is not supported",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut mutations = Vec::new();
        let mut outputs = Vec::new();
        for (id, node) in self.graph.placeholders() {
            let last = self.latest.get(&id).copied().unwrap_or(id);
            if last != id {
                mutations.push((node.name.clone(), self.graph.node(last).name.clone()));
                outputs.push(Arg::Tensor(last));
            }
        }
        outputs.extend(args);
        self.graph.push(Node {
            name: "output".into(),
            kind: NodeKind::Output { args: outputs },
            meta: Vec::new(),
            source: None,
        });
        Ok(ReadGraph {
            graph: self.graph,
            sources: self.sources,
            mutations,
        })
    }

    /// The output names of a node: one per `as_tensor` or per element of `as_tensors`.
    fn output_names(&self, n: &j::Node, at: &str) -> Result<Vec<String>, LoadError> {
        let mut names = Vec::new();
        for o in &n.outputs {
            match o {
                A::AsTensor(t) => names.push(t.name.clone()),
                A::AsTensors(ts) => names.extend(ts.iter().map(|t| t.name.clone())),
                A::AsSymInt(j::SymIntArgument::AsName(n))
                | A::AsSymBool(j::SymBoolArgument::AsName(n)) => names.push(n.clone()),
                A::AsNone(_) => {}
                _ => return Err(self.bad(
                    at,
                    "an output that is not a tensor, a SymInt or a SymBool is not supported here",
                )),
            }
        }
        Ok(names)
    }

    fn node(&mut self, n: &j::Node) -> Result<(), LoadError> {
        let name = node_name(n);
        let at = format!("node {name}");
        if self.skipped(n, &at)? {
            return Ok(());
        }
        let source = self.source(n);
        let outputs = self.output_names(n, &at)?;
        let kind = if let Some(op) = higher_order_op(&n.target) {
            self.higher_order(n, op, &at)?
        } else {
            self.call(n, &name, &at)?
        };
        let metas = match n.outputs.as_slice() {
            [A::AsSymInt(_) | A::AsSymBool(_)] => vec![self.sym_meta(&kind, &outputs[0], &at)?],
            _ => outputs
                .iter()
                .map(|o| self.meta_of(o, &at))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let multi = outputs.len() != 1
            || matches!(kind, NodeKind::HigherOrder { .. })
            || n.outputs.iter().any(|o| matches!(o, A::AsTensors(_)));
        let node_name = if multi {
            name.clone()
        } else {
            outputs.first().cloned().unwrap_or(name)
        };
        let id = self.push(
            Node {
                name: node_name,
                kind,
                meta: metas,
                source,
            },
            &at,
        )?;
        if let Some(mutated) = self.mutated.take() {
            self.record_mutation(mutated, id, &at)?;
        } else {
            self.note_view(id);
        }
        if multi {
            self.push_getitems(id, &outputs, source, &at)?;
        }
        Ok(())
    }

    /// Nodes left out: unread run-time checks. SymFloat values are refused.
    fn skipped(&self, n: &j::Node, at: &str) -> Result<bool, LoadError> {
        let unread = |names: Vec<String>| names.iter().all(|o| !self.used.contains(o));
        if CHECKS.contains(&n.target.as_str()) && unread(self.output_names(n, at)?) {
            return Ok(true);
        }
        if n.outputs
            .iter()
            .any(|o| matches!(o, A::AsSymBools(_) | A::AsSymFloat(_) | A::AsSymInts(_)))
        {
            return Err(self.bad(
                at,
                format!(
                    "`{}` computes SymBools, SymInts or a SymFloat, which ferrex does not read yet",
                    n.target
                ),
            ));
        }
        Ok(false)
    }

    /// The meta of a node whose value is a SymInt (its expression, from
    /// `sym_int_values`) or a SymBool (the comparison of its arguments' values).
    fn sym_meta(&self, kind: &NodeKind, name: &str, at: &str) -> Result<TensorMeta, LoadError> {
        if let Some(v) = self.g.sym_int_values.get(name) {
            let v = symint(v).map_err(|e| self.bad(&format!("sym_int_values › {name}"), e))?;
            return Ok(TensorMeta::symbolic_scalar(DType::I64, SymScalar::Int(v)));
        }
        let compared = match kind {
            NodeKind::Call { op, args } => match sym_op(op) {
                Some(SymOp::Compare(c)) => Some((c, args)),
                _ => None,
            },
            _ => None,
        };
        let Some((op, args)) = compared else {
            return Err(self.bad(
                at,
                format!("`{name}` has no entry in sym_int_values and is not a comparison"),
            ));
        };
        let inline = inline_sym_args(&self.graph, args).map_err(|e| self.bad(at, e))?;
        match inline.as_slice() {
            [Arg::Int(lhs), Arg::Int(rhs)] => Ok(TensorMeta::symbolic_scalar(
                DType::Bool,
                SymScalar::Bool(SymBool {
                    lhs: lhs.clone(),
                    op,
                    rhs: rhs.clone(),
                }),
            )),
            _ => Err(self.bad(at, format!("`{name}` compares values that are not SymInts"))),
        }
    }

    /// `getitem` nodes for the outputs of a multi-output node that are read.
    fn push_getitems(
        &mut self,
        id: NodeId,
        outputs: &[String],
        source: Option<SourceLocation>,
        at: &str,
    ) -> Result<(), LoadError> {
        for (index, o) in outputs.iter().enumerate() {
            if self.used.contains(o) {
                let meta = self.graph.node(id).meta.get(index).cloned();
                let kind = NodeKind::GetItem { source: id, index };
                let node = Node {
                    name: o.clone(),
                    kind,
                    meta: meta.into_iter().collect(),
                    source,
                };
                self.push(node, at)?;
            }
        }
        Ok(())
    }
}

impl GraphReader<'_> {
    /// A call of a registered op, its inputs placed by the schema's argument names;
    /// an in-place op becomes its functional form (`add_` → `add.Tensor`).
    fn call(&mut self, n: &j::Node, name: &str, at: &str) -> Result<NodeKind, LoadError> {
        let unknown = || LoadError::UnknownOp {
            path: self.ctx.path.clone(),
            op: n.target.clone(),
            node: name.to_string(),
            also: Vec::new(),
        };
        let op: &'static OpDef = registry_name(&n.target)
            .and_then(|r| lookup(&r))
            .ok_or_else(unknown)?;
        let schema = op.parsed().map_err(|e| self.bad(at, e))?;
        let mut slots: Vec<Option<Arg>> = vec![None; schema.args.len()];
        for (i, a) in n.inputs.iter().enumerate() {
            let pos = if a.name.is_empty() {
                Some(i)
            } else {
                schema.position(&a.name)
            };
            let slot = pos.and_then(|p| slots.get_mut(p)).ok_or_else(|| {
                self.bad(
                    at,
                    format!("`{}` has no argument named `{}`", n.target, a.name),
                )
            })?;
            if slot.is_some() {
                return Err(self.bad(at, format!("the argument `{}` is given twice", a.name)));
            }
            *slot = Some(self.arg(&a.arg, at)?);
        }
        let args = slots
            .into_iter()
            .zip(&schema.args)
            .map(|(a, decl)| match a {
                Some(a) => Ok(a),
                None => decl.default.as_ref().and_then(default_arg).ok_or_else(|| {
                    self.bad(
                        at,
                        format!("`{}` needs the argument `{}`", n.target, decl.name),
                    )
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        match op.functional {
            Some(functional) => {
                self.mutated = args.first().and_then(|a| match a {
                    Arg::Tensor(t) => Some(*t),
                    _ => None,
                });
                Ok(NodeKind::Call {
                    op: functional,
                    args,
                })
            }
            None => Ok(NodeKind::Call { op, args }),
        }
    }

    /// A higher-order op (`cond(pred, true_graph, false_graph, operands)`,
    /// `map_impl(body, xs, operands)`): inputs positional as PyTorch writes them, in the
    /// order of the op's parameters; its graphs become subgraphs of this graph.
    fn higher_order(
        &mut self,
        n: &j::Node,
        op: &'static dyn HigherOrderOp,
        at: &str,
    ) -> Result<NodeKind, LoadError> {
        let params = op.params();
        if n.inputs.len() != params.len() {
            return Err(self.bad(
                at,
                format!(
                    "{} takes {} inputs, this one has {}",
                    op.name(),
                    params.len(),
                    n.inputs.len()
                ),
            ));
        }
        let mut args = Vec::new();
        let mut subgraphs = Vec::new();
        for (param, input) in params.iter().zip(&n.inputs) {
            match (*param, &input.arg) {
                (HopParam::Graph { .. }, A::AsGraph(g)) => subgraphs.push(self.subgraph(g, at)?),
                (HopParam::Graph { name, .. }, _) => {
                    return Err(self.bad(at, format!("{}'s `{name}` must be a graph", op.name())))
                }
                (HopParam::Value { name, .. }, A::AsTensor(_) | A::AsTensors(_))
                | (
                    HopParam::Value {
                        name: name @ "pred",
                        ..
                    },
                    A::AsSymBool(_),
                ) => {
                    let arg = self.arg(&input.arg, at)?;
                    // One operand may be written as a tensor rather than a list of one.
                    args.push(match arg {
                        Arg::Tensor(t) if name != "pred" => Arg::TensorList(vec![t]),
                        other => other,
                    });
                }
                (HopParam::Value { name, .. }, _) => {
                    return Err(self.bad(
                        at,
                        format!(
                            "{}'s `{name}` must be tensors (or, for a predicate, a SymBool)",
                            op.name()
                        ),
                    ))
                }
            }
        }
        Ok(NodeKind::HigherOrder {
            op,
            args,
            subgraphs,
        })
    }

    /// Reads a higher-order op's graph into a subgraph of this graph; its index.
    fn subgraph(&mut self, g: &j::GraphArgument, at: &str) -> Result<usize, LoadError> {
        let place = format!("{} › {}", self.place, g.name);
        let read = GraphReader::new(self.ctx, &g.graph, place).read()?;
        if let Some((input, _)) = read.mutations.first() {
            return Err(self.bad(
                at,
                format!("the subgraph `{}` mutates its input `{input}`", g.name),
            ));
        }
        for s in read.sources {
            if !self
                .sources
                .iter()
                .any(|k| k.file == s.file && k.line == s.line)
            {
                self.sources.push(s);
            }
        }
        self.graph.subgraphs.push(Subgraph {
            name: g.name.clone(),
            graph: read.graph,
        });
        Ok(self.graph.subgraphs.len() - 1)
    }
}
