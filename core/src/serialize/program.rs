//! Saving and loading whole [`ExportedProgram`]s, in the layout of PyTorch's `.pt2`
//! archive: a zip file holding
//!
//! | entry | content |
//! |---|---|
//! | `archive_format` | `pt2` |
//! | `byteorder` | `little` |
//! | `models/model.json` | the program: graph (nodes, arguments, tensor metas, subgraphs), signature, range constraints, guards, shape environment, source lines, model and argument names, format version |
//! | `data/weights/model.safetensors` | the state dict (parameters, persistent buffers) |
//! | `data/constants/model.safetensors` | the constants (constant tensors, non-persistent buffers) |
//!
//! The graph JSON follows the schema of `torch._export.serde.schema`: a node has a
//! `target` (`aten::add.Tensor`), `inputs` as arguments named by the op's schema
//! (`{"name": "self", "arg": {"as_tensor": {"name": "x"}}}`), `outputs`, and `metadata`
//! with a `stack_trace`; `tensor_values` maps each value to its dtype (PyTorch's
//! `ScalarType` codes) and sizes, symbolic ones as expressions with their example value
//! (`{"as_expr": {"expr_str": "s0 + 1", "hint": {"as_int": 9}}}`). ferrex's own
//! additions: every node carries its `name`; `getitem` projections are nodes
//! (`_operator.getitem`); `cond` nodes (`higher_order::cond`) name their branches and
//! `map` nodes (`higher_order::map_impl`) their body, which are listed in the graph's
//! `subgraphs`; integer arguments may be size expressions.
//!
//! The format is versioned (`schema_version`): a file whose major version is newer than
//! [`FORMAT_VERSION`] is refused with [`LoadError::NewerVersion`]; newer minor versions
//! only add information and load. Ops are looked up in the registry by name, so a
//! program calling a custom op loads once that op is registered
//! ([`LoadError::UnknownOp`] otherwise). A damaged file is a [`LoadError::Program`]
//! naming the entry and what is wrong — never a panic.
//!
//! ```
//! use ferrex::prelude::*;
//!
//! #[export_module]
//! struct Scale {
//!     #[buffer]
//!     factor: Tensor,
//! }
//!
//! #[export_module]
//! impl Scale {
//!     fn forward(&self, x: &Tensor) -> Tensor {
//!         (x * &self.factor).relu()
//!     }
//! }
//!
//! let ep = ferrex::export(&Scale { factor: Tensor::full([3], 2.0) }, (Tensor::randn([2, 3]),))?;
//! let path = std::env::temp_dir().join(format!("scale-{}.pt2", std::process::id()));
//! ferrex::save(&ep, &path)?;
//! let loaded = ferrex::load(&path)?; // no `Scale` needed from here on
//! assert_eq!(loaded.to_string(), ep.to_string());
//! let x = Tensor::randn([2, 3]);
//! let (a, b) = (ep.module().call((x.copy(),))?, loaded.module().call((x,))?);
//! assert_eq!(a[0].to_vec::<f32>()?, b[0].to_vec::<f32>()?);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::control_flow::lookup_higher_order;
use crate::error::{LoadError, SourceLocation};
use crate::graph::{Arg, Graph, HigherOrderOp, HopParam, Node, NodeId, NodeKind, Subgraph};
use crate::module::SourceLine;
use crate::ops::{lookup, Value};
use crate::program::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, ExportedProgram, InputKind, InputSpec,
    OutputKind, OutputSpec, RangeConstraints, TensorMap, ValueRange,
};
use crate::symbolic::{parse_expr, CmpOp, Expr, Guard, ShapeEnv, SymInt, SymbolInfo, SymbolSource};
use crate::tensor::{DType, Tensor, TensorMeta};

/// The program format version this ferrex writes: `(major, minor)`.
pub const FORMAT_VERSION: (u32, u32) = (1, 0);

const MODEL_JSON: &str = "models/model.json";
const WEIGHTS: &str = "data/weights/model.safetensors";
const CONSTANTS: &str = "data/constants/model.safetensors";
const GETITEM: &str = "_operator.getitem";

// ---------------------------------------------------------------------------------------
// The JSON schema

#[derive(Serialize, Deserialize)]
struct SchemaVersionJ {
    major: u32,
    minor: u32,
}

#[derive(Serialize, Deserialize)]
struct ModelJ {
    schema_version: SchemaVersionJ,
    producer: String,
    model_name: String,
    arg_names: Vec<String>,
    graph_module: GraphModuleJ,
    range_constraints: Vec<RangeConstraintJ>,
    guards: Vec<GuardJ>,
    shape_env: Vec<SymbolJ>,
    source_lines: Vec<SourceLineJ>,
    /// The state-dict keys, in order (the tensors are in `data/weights/`).
    state_dict: Vec<String>,
    /// The constant names, in order (the tensors are in `data/constants/`).
    constants: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct GraphModuleJ {
    graph: GraphJ,
    signature: SignatureJ,
}

#[derive(Serialize, Deserialize)]
struct GraphJ {
    inputs: Vec<ArgumentJ>,
    nodes: Vec<NodeJ>,
    outputs: Vec<ArgumentJ>,
    tensor_values: BTreeMap<String, TensorMetaJ>,
    #[serde(default)]
    subgraphs: Vec<SubgraphJ>,
}

#[derive(Serialize, Deserialize)]
struct SubgraphJ {
    name: String,
    graph: GraphJ,
}

#[derive(Serialize, Deserialize)]
struct NodeJ {
    name: String,
    target: String,
    inputs: Vec<NamedArgumentJ>,
    outputs: Vec<ArgumentJ>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct NamedArgumentJ {
    name: String,
    arg: ArgumentJ,
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ArgumentJ {
    AsNone(bool),
    AsTensor(TensorArgJ),
    AsTensors(Vec<TensorArgJ>),
    AsOptionalTensors(Vec<OptionalTensorJ>),
    AsInt(i64),
    AsInts(Vec<i64>),
    AsSymInt(SymIntJ),
    AsSymInts(Vec<SymIntJ>),
    AsFloat(FloatJ),
    AsFloats(Vec<FloatJ>),
    AsString(String),
    AsScalarType(i64),
    AsBool(bool),
    AsGraph(GraphArgJ),
}

#[derive(Serialize, Deserialize)]
struct TensorArgJ {
    name: String,
}

#[derive(Serialize, Deserialize)]
struct GraphArgJ {
    name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OptionalTensorJ {
    AsTensor(TensorArgJ),
    AsNone(bool),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SymIntJ {
    AsInt(i64),
    AsExpr(SymExprJ),
}

#[derive(Serialize, Deserialize)]
struct SymExprJ {
    expr_str: String,
    #[serde(default)]
    hint: Option<SymExprHintJ>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SymExprHintJ {
    AsInt(i64),
}

/// A float; JSON has no infinities or NaN, so those are the strings `inf`, `-inf`, `nan`.
#[derive(Clone, Copy)]
struct FloatJ(f64);

impl Serialize for FloatJ {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("nan")
        } else if v.is_infinite() {
            s.serialize_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for FloatJ {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FloatJ, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(FloatJ(v)),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(FloatJ(f64::INFINITY)),
                "-inf" => Ok(FloatJ(f64::NEG_INFINITY)),
                "nan" => Ok(FloatJ(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a number (expected a number, \"inf\", \"-inf\" or \"nan\")"
                ))),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
struct TensorMetaJ {
    dtype: i64,
    sizes: Vec<SymIntJ>,
}

#[derive(Serialize, Deserialize)]
struct SignatureJ {
    input_specs: Vec<InputSpecJ>,
    output_specs: Vec<OutputSpecJ>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputSpecJ {
    UserInput {
        arg: SpecArgJ,
    },
    ConstantInput {
        name: String,
        value: ConstantValueJ,
    },
    Parameter {
        arg: TensorArgJ,
        parameter_name: String,
    },
    Buffer {
        arg: TensorArgJ,
        buffer_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        persistent: Option<bool>,
    },
    TensorConstant {
        arg: TensorArgJ,
        tensor_constant_name: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutputSpecJ {
    UserOutput {
        arg: SpecArgJ,
    },
    BufferMutation {
        arg: TensorArgJ,
        buffer_name: String,
    },
    UserInputMutation {
        arg: TensorArgJ,
        user_input_name: String,
    },
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SpecArgJ {
    AsTensor(TensorArgJ),
    AsSymInt(SymIntArgJ),
    AsConstant { name: String, value: ConstantValueJ },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SymIntArgJ {
    AsName(String),
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ConstantValueJ {
    AsNone(bool),
    AsInt(i64),
    AsFloat(FloatJ),
    AsString(String),
    AsBool(bool),
}

#[derive(Serialize, Deserialize)]
struct RangeConstraintJ {
    expr: String,
    min_val: i64,
    max_val: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct GuardJ {
    lhs: String,
    op: String,
    rhs: String,
}

#[derive(Serialize, Deserialize)]
struct SymbolJ {
    symbol: String,
    dim_name: String,
    min: i64,
    max: Option<i64>,
    hint: i64,
    sources: Vec<SymbolSourceJ>,
}

#[derive(Serialize, Deserialize)]
struct SymbolSourceJ {
    input: String,
    dim: usize,
    scale: i64,
    offset: i64,
}

#[derive(Serialize, Deserialize)]
struct SourceLineJ {
    file: String,
    line: u32,
    function: String,
    code: String,
}

// ---------------------------------------------------------------------------------------
// Small conversions

/// PyTorch's `ScalarType` codes (`torch._export.serde.schema.ScalarType`).
fn scalar_type(d: DType) -> i64 {
    match d {
        DType::I32 => 4,
        DType::I64 => 5,
        DType::F32 => 7,
        DType::F64 => 8,
        DType::Bool => 12,
    }
}

fn dtype_of(code: i64) -> Result<DType, String> {
    Ok(match code {
        4 => DType::I32,
        5 => DType::I64,
        7 => DType::F32,
        8 => DType::F64,
        12 => DType::Bool,
        other => {
            return Err(format!(
                "scalar type {other} is not supported (ferrex has f32 = 7, f64 = 8, i64 = 5, \
                 i32 = 4, bool = 12)"
            ))
        }
    })
}

fn cmp_from(op: &str) -> Result<CmpOp, String> {
    Ok(match op {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        other => return Err(format!("`{other}` is not a comparison")),
    })
}

fn symint_j(s: &SymInt) -> SymIntJ {
    match s {
        SymInt::Int(v) => SymIntJ::AsInt(*v),
        SymInt::Sym { expr, hint } => SymIntJ::AsExpr(SymExprJ {
            expr_str: expr.to_string(),
            hint: Some(SymExprHintJ::AsInt(*hint)),
        }),
    }
}

fn constant_j(c: &ConstantValue) -> ConstantValueJ {
    match c {
        ConstantValue::Int(v) => ConstantValueJ::AsInt(*v),
        ConstantValue::Float(v) => ConstantValueJ::AsFloat(FloatJ(*v)),
        ConstantValue::Bool(v) => ConstantValueJ::AsBool(*v),
        ConstantValue::Str(v) => ConstantValueJ::AsString(v.clone()),
        ConstantValue::None => ConstantValueJ::AsNone(true),
    }
}

fn constant_from(c: ConstantValueJ) -> ConstantValue {
    match c {
        ConstantValueJ::AsInt(v) => ConstantValue::Int(v),
        ConstantValueJ::AsFloat(v) => ConstantValue::Float(v.0),
        ConstantValueJ::AsBool(v) => ConstantValue::Bool(v),
        ConstantValueJ::AsString(v) => ConstantValue::Str(v),
        ConstantValueJ::AsNone(_) => ConstantValue::None,
    }
}

/// `'static` copies of the strings source locations and lines hold, one per distinct
/// string for the life of the process (loading the same program twice leaks nothing).
fn intern(s: &str) -> &'static str {
    static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(k) = table.get(s) {
        return k;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    table.insert(leaked);
    leaked
}

// ---------------------------------------------------------------------------------------
// Saving

struct Saver<'p> {
    ep: &'p ExportedProgram,
}

impl Saver<'_> {
    fn arg(&self, g: &Graph, a: &Arg) -> ArgumentJ {
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
        }
    }

    /// A higher-order node's inputs, in the op's parameter order.
    fn higher_order(
        &self,
        g: &Graph,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: &[Arg],
        subgraphs: &[usize],
    ) -> Result<Vec<NamedArgumentJ>, LoadError> {
        op.params()
            .iter()
            .map(|param| {
                let (name, arg) = match *param {
                    HopParam::Graph { name, index } => {
                        let sub = subgraphs
                            .get(index)
                            .and_then(|i| g.subgraphs.get(*i))
                            .ok_or_else(|| {
                                LoadError::Unsavable(format!(
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

    fn metadata(&self, node: &Node) -> BTreeMap<String, String> {
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

    fn graph(&self, g: &Graph) -> Result<GraphJ, LoadError> {
        let mut tensor_values = BTreeMap::new();
        let mut inputs = Vec::new();
        let mut nodes = Vec::new();
        let mut outputs = Vec::new();
        let meta_j = |m: &TensorMeta| TensorMetaJ {
            dtype: scalar_type(m.dtype),
            sizes: m.sizes.iter().map(symint_j).collect(),
        };
        for node in &g.nodes {
            // The values a node produces: one named like the node, or `name.i` each.
            let out_names: Vec<String> = match node.meta.len() {
                1 => vec![node.name.clone()],
                n => (0..n).map(|i| format!("{}.{i}", node.name)).collect(),
            };
            for (n, m) in out_names.iter().zip(&node.meta) {
                tensor_values.insert(n.clone(), meta_j(m));
            }
            let out_args = || {
                out_names
                    .iter()
                    .map(|n| ArgumentJ::AsTensor(TensorArgJ { name: n.clone() }))
                    .collect()
            };
            let (target, named) = match &node.kind {
                NodeKind::Placeholder => {
                    if node.meta.len() != 1 {
                        return Err(LoadError::Unsavable(format!(
                            "placeholder `{}` has {} metas",
                            node.name,
                            node.meta.len()
                        )));
                    }
                    inputs.push(ArgumentJ::AsTensor(TensorArgJ {
                        name: node.name.clone(),
                    }));
                    continue;
                }
                NodeKind::Output { args } => {
                    outputs = args.iter().map(|a| self.arg(g, a)).collect();
                    continue;
                }
                NodeKind::Call { op, args } => {
                    let schema = op.parsed().map_err(|e| LoadError::Unsavable(e.0))?;
                    let named = args
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
                        .collect();
                    (op.name(), named)
                }
                NodeKind::GetItem { source, index } => (
                    GETITEM.to_string(),
                    vec![
                        NamedArgumentJ {
                            name: "self".into(),
                            arg: ArgumentJ::AsTensor(TensorArgJ {
                                name: g.node(*source).name.clone(),
                            }),
                        },
                        NamedArgumentJ {
                            name: "index".into(),
                            arg: ArgumentJ::AsInt(*index as i64),
                        },
                    ],
                ),
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
                outputs: out_args(),
                metadata: self.metadata(node),
            });
        }
        let mut names = HashSet::new();
        let subgraphs = g
            .subgraphs
            .iter()
            .map(|s| {
                if !names.insert(s.name.as_str()) {
                    return Err(LoadError::Unsavable(format!(
                        "two subgraphs are named `{}`",
                        s.name
                    )));
                }
                Ok(SubgraphJ {
                    name: s.name.clone(),
                    graph: self.graph(&s.graph)?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(GraphJ {
            inputs,
            nodes,
            outputs,
            tensor_values,
            subgraphs,
        })
    }

    fn spec_arg(a: &ArgumentSpec) -> SpecArgJ {
        match a {
            ArgumentSpec::Tensor { name } => SpecArgJ::AsTensor(TensorArgJ { name: name.clone() }),
            ArgumentSpec::SymInt { name } => SpecArgJ::AsSymInt(SymIntArgJ::AsName(name.clone())),
            ArgumentSpec::Constant { name, value } => SpecArgJ::AsConstant {
                name: name.clone(),
                value: constant_j(value),
            },
        }
    }

    fn signature(&self) -> Result<SignatureJ, LoadError> {
        let sig = self.ep.graph_signature();
        let unsavable = |what: &str, name: &str| {
            LoadError::Unsavable(format!("the {what} spec of `{name}` has no target"))
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

    fn model(&self) -> Result<ModelJ, LoadError> {
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
            guards: ep
                .guards()
                .iter()
                .map(|g| GuardJ {
                    lhs: g.lhs.to_string(),
                    op: g.op.symbol().to_string(),
                    rhs: g.rhs.to_string(),
                })
                .collect(),
            shape_env: ep
                .shape_env()
                .symbols
                .iter()
                .map(|s| SymbolJ {
                    symbol: s.symbol.to_string(),
                    dim_name: s.dim_name.clone(),
                    min: s.min,
                    max: s.max,
                    hint: s.hint,
                    sources: s
                        .sources
                        .iter()
                        .map(|src| SymbolSourceJ {
                            input: src.input.clone(),
                            dim: src.dim,
                            scale: src.scale,
                            offset: src.offset,
                        })
                        .collect(),
                })
                .collect(),
            source_lines: ep
                .sources()
                .iter()
                .map(|l| SourceLineJ {
                    file: l.file.to_string(),
                    line: l.line,
                    function: l.function.to_string(),
                    code: l.code.to_string(),
                })
                .collect(),
            state_dict: ep.state_dict().keys().map(String::from).collect(),
            constants: ep.constants().keys().map(String::from).collect(),
        })
    }
}

/// Writes the archive to any seekable writer.
fn write_archive<W: Write + Seek>(ep: &ExportedProgram, w: W) -> Result<W, LoadError> {
    let model = Saver { ep }.model()?;
    let json = serde_json::to_vec_pretty(&model)
        .map_err(|e| LoadError::Unsavable(format!("the graph JSON: {e}")))?;
    let weights = super::safetensors::to_bytes(ep.state_dict().iter())?;
    let constants = super::safetensors::to_bytes(ep.constants().iter())?;
    let zip_err = |e: zip::result::ZipError| LoadError::Unsavable(format!("zip: {e}"));
    let io_err = |e: std::io::Error| LoadError::Unsavable(format!("zip: {e}"));
    let mut zw = zip::ZipWriter::new(w);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let entries: [(&str, &[u8], _); 5] = [
        ("archive_format", b"pt2", stored),
        ("byteorder", b"little", stored),
        (MODEL_JSON, &json, deflated),
        (WEIGHTS, &weights, stored),
        (CONSTANTS, &constants, stored),
    ];
    for (name, bytes, options) in entries {
        zw.start_file(name, options).map_err(zip_err)?;
        zw.write_all(bytes).map_err(io_err)?;
    }
    zw.finish().map_err(zip_err)
}

/// The program as `.pt2` archive bytes (see the module docs for the layout).
pub fn to_bytes(ep: &ExportedProgram) -> Result<Vec<u8>, LoadError> {
    Ok(write_archive(ep, std::io::Cursor::new(Vec::new()))?.into_inner())
}

/// The format does not hold yet what some programs rely on: the symbolic value of an
/// `aten::item` node (`Sym(u0)`, which the runners bind `u0` from) and the values of
/// `ferrex::assume_constant`. Saving such a program would load as a different one.
fn refuse_unsaved_features(ep: &ExportedProgram) -> Result<(), LoadError> {
    let symbolic = ep
        .graph()
        .nodes
        .iter()
        .find(|n| n.meta.iter().any(|m| m.sym.is_some()));
    if let Some(node) = symbolic {
        return Err(LoadError::Unsavable(format!(
            "node `{}` is a value read from tensor data (an unbacked symbol), which the \
             saved format does not hold yet",
            node.name
        )));
    }
    if !ep.assumed_constants().is_empty() {
        return Err(LoadError::Unsavable(
            "the program holds values computed by `ferrex::assume_constant`, which the saved \
             format does not record yet"
                .into(),
        ));
    }
    Ok(())
}

/// Saves a program to `path` as a `.pt2` zip archive. The file is written beside the
/// target and renamed into place, so a failed save leaves no half-written program.
pub fn save(ep: &ExportedProgram, path: impl AsRef<Path>) -> Result<(), LoadError> {
    let path = path.as_ref();
    let io = |e: std::io::Error| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    refuse_unsaved_features(ep)?;
    let bytes = to_bytes(ep)?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(io)?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io(e)
    })
}

// ---------------------------------------------------------------------------------------
// Loading

struct Loader<'a> {
    /// The file, for error messages.
    path: &'a str,
    shape_env: &'a ShapeEnv,
}

impl Loader<'_> {
    fn err(&self, message: impl Into<String>) -> LoadError {
        LoadError::Program {
            path: self.path.to_string(),
            message: message.into(),
        }
    }

    /// An error in the graph JSON, at `place` (`graph › node add`).
    fn bad(&self, place: &str, message: impl std::fmt::Display) -> LoadError {
        self.err(format!("{MODEL_JSON}: {place}: {message}"))
    }

    fn expr(&self, place: &str, text: &str) -> Result<Expr, LoadError> {
        parse_expr(text).map_err(|e| self.bad(place, e))
    }

    fn symint(&self, place: &str, s: &SymIntJ) -> Result<SymInt, LoadError> {
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

    fn meta(&self, place: &str, m: &TensorMetaJ) -> Result<TensorMeta, LoadError> {
        Ok(TensorMeta::new(
            dtype_of(m.dtype).map_err(|e| self.bad(place, e))?,
            m.sizes
                .iter()
                .map(|s| self.symint(place, s))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn source(
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

    fn graph(&self, g: &GraphJ, place: &str) -> Result<Graph, LoadError> {
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
    fn higher_order_kind(
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

    fn node_ref(
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

    fn arg(
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
    fn default_arg(v: &Value) -> Option<Arg> {
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

    fn node_kind(
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

    fn spec_arg(&self, a: SpecArgJ) -> ArgumentSpec {
        match a {
            SpecArgJ::AsTensor(t) => ArgumentSpec::Tensor { name: t.name },
            SpecArgJ::AsSymInt(SymIntArgJ::AsName(name)) => ArgumentSpec::SymInt { name },
            SpecArgJ::AsConstant { name, value } => ArgumentSpec::Constant {
                name,
                value: constant_from(value),
            },
        }
    }

    fn signature(&self, s: SignatureJ) -> ExportGraphSignature {
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

    /// The placeholders and the signature must agree, and every state input must have a
    /// tensor of the dtype and (static) shape the graph expects.
    fn check_state(
        &self,
        graph: &Graph,
        sig: &ExportGraphSignature,
        state: &TensorMap,
        constants: &TensorMap,
    ) -> Result<(), LoadError> {
        let placeholders: Vec<&Node> = graph.placeholders().map(|(_, n)| n).collect();
        let specs: Vec<&InputSpec> = sig
            .input_specs
            .iter()
            .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
            .collect();
        if placeholders.len() != specs.len() {
            return Err(self.bad(
                "graph_module",
                format!(
                    "the graph has {} inputs but the signature lists {}",
                    placeholders.len(),
                    specs.len()
                ),
            ));
        }
        for (node, spec) in placeholders.iter().zip(specs) {
            if node.name != spec.arg.name() {
                return Err(self.bad(
                    "graph_module › signature",
                    format!(
                        "input spec `{}` does not match the graph input `{}` in its place",
                        spec.arg.name(),
                        node.name
                    ),
                ));
            }
            if spec.kind == InputKind::UserInput {
                continue;
            }
            let target = spec.target.as_deref().unwrap_or_default();
            let (t, file) = match (state.get(target), constants.get(target)) {
                (Some(t), _) => (t, WEIGHTS),
                (None, Some(t)) => (t, CONSTANTS),
                (None, None) => {
                    return Err(self.err(format!(
                        "the {} `{target}` (input `{}`) is in neither {WEIGHTS} nor {CONSTANTS}",
                        spec.kind.as_str().to_lowercase().replace('_', " "),
                        node.name
                    )))
                }
            };
            let (Ok(have), Some(want)) = (t.meta(), node.meta.first()) else {
                continue;
            };
            let fits = have.dtype == want.dtype
                && have.rank() == want.rank()
                && have
                    .sizes
                    .iter()
                    .zip(&want.sizes)
                    .all(|(h, w)| w.as_int().is_none() || h.as_int() == w.as_int());
            if !fits {
                return Err(self.err(format!(
                    "{file}: `{target}` is {have}, but the graph's input `{}` is {want}",
                    node.name
                )));
            }
        }
        Ok(())
    }
}

fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    loader: &Loader<'_>,
) -> Result<Option<Vec<u8>>, LoadError> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(loader.err(format!("{name}: {e}"))),
    };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| loader.err(format!("{name}: {e}")))?;
    Ok(Some(bytes))
}

fn tensors(
    bytes: Option<Vec<u8>>,
    keys: &[String],
    entry: &str,
    loader: &Loader<'_>,
) -> Result<TensorMap, LoadError> {
    let mut map = TensorMap::default();
    if keys.is_empty() && bytes.is_none() {
        return Ok(map);
    }
    let bytes = bytes.ok_or_else(|| loader.err(format!("the archive has no {entry}")))?;
    let mut found: HashMap<String, Tensor> = super::safetensors::from_bytes(&bytes)
        .map_err(|e| loader.err(format!("{entry}: {e}")))?
        .into_iter()
        .collect();
    for k in keys {
        let t = found
            .remove(k)
            .ok_or_else(|| loader.err(format!("{entry} has no tensor `{k}`")))?;
        map.insert(k.clone(), t);
    }
    Ok(map)
}

/// Reads a program from `.pt2` archive bytes; `path` names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<ExportedProgram, LoadError> {
    read_archive(std::io::Cursor::new(bytes), path)
}

fn read_archive<R: Read + Seek>(reader: R, path: &str) -> Result<ExportedProgram, LoadError> {
    let empty_env = ShapeEnv::default();
    let early = Loader {
        path,
        shape_env: &empty_env,
    };
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| early.err(format!("not a zip archive ({e})")))?;
    // Archives PyTorch writes put everything under one top-level folder.
    let prefix = zip
        .file_names()
        .find_map(|n| {
            n.ok()
                .and_then(|n| n.strip_suffix(MODEL_JSON).map(str::to_string))
        })
        .ok_or_else(|| early.err(format!("the archive has no {MODEL_JSON}")))?;
    if let Some(format) = read_entry(&mut zip, &format!("{prefix}archive_format"), &early)? {
        if format.trim_ascii() != b"pt2" {
            return Err(early.err(format!(
                "archive_format is `{}`, not `pt2`",
                String::from_utf8_lossy(&format)
            )));
        }
    }
    let json = read_entry(&mut zip, &format!("{prefix}{MODEL_JSON}"), &early)?
        .ok_or_else(|| early.err(format!("the archive has no {MODEL_JSON}")))?;

    // The version first, so that a newer file is reported as such rather than as a
    // schema mismatch.
    let value: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| early.err(format!("{MODEL_JSON}: invalid JSON: {e}")))?;
    let version = value.get("schema_version").ok_or_else(|| {
        early.err(format!(
            "{MODEL_JSON}: no schema_version; this is not a ferrex program"
        ))
    })?;
    let version: SchemaVersionJ = serde_json::from_value(version.clone())
        .map_err(|e| early.err(format!("{MODEL_JSON}: schema_version: {e}")))?;
    if version.major > FORMAT_VERSION.0 {
        return Err(LoadError::NewerVersion {
            path: path.to_string(),
            found: format!("{}.{}", version.major, version.minor),
            supported: format!("{}.x", FORMAT_VERSION.0),
        });
    }
    let model: ModelJ =
        serde_json::from_slice(&json).map_err(|e| early.err(format!("{MODEL_JSON}: {e}")))?;

    let shape_env = ShapeEnv {
        symbols: model
            .shape_env
            .iter()
            .map(|s| {
                let symbol = match parse_expr(&s.symbol).map(|e| e.as_linear()) {
                    Ok(Some((sym, 1, 0))) => sym,
                    _ => {
                        return Err(early.err(format!(
                            "{MODEL_JSON}: shape_env: `{}` is not a symbol",
                            s.symbol
                        )))
                    }
                };
                Ok(SymbolInfo {
                    symbol,
                    dim_name: s.dim_name.clone(),
                    min: s.min,
                    max: s.max,
                    hint: s.hint,
                    sources: s
                        .sources
                        .iter()
                        .map(|src| SymbolSource {
                            input: src.input.clone(),
                            dim: src.dim,
                            scale: src.scale,
                            offset: src.offset,
                        })
                        .collect(),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let loader = Loader {
        path,
        shape_env: &shape_env,
    };
    let graph = loader.graph(&model.graph_module.graph, "graph")?;
    crate::passes::verify(&graph).map_err(|e| loader.bad("graph", e))?;
    let signature = loader.signature(model.graph_module.signature);
    let range_constraints = RangeConstraints {
        entries: model
            .range_constraints
            .iter()
            .map(|r| {
                let e = loader.expr("range_constraints", &r.expr)?;
                Ok((
                    e,
                    ValueRange {
                        lower: r.min_val,
                        upper: r.max_val,
                    },
                ))
            })
            .collect::<Result<_, LoadError>>()?,
    };
    let guards = model
        .guards
        .iter()
        .map(|g| {
            Ok(Guard {
                lhs: loader.expr("guards", &g.lhs)?,
                op: cmp_from(&g.op).map_err(|e| loader.bad("guards", e))?,
                rhs: loader.expr("guards", &g.rhs)?,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let sources = model
        .source_lines
        .iter()
        .map(|l| SourceLine {
            file: intern(&l.file),
            line: l.line,
            function: intern(&l.function),
            code: intern(&l.code),
        })
        .collect();
    let weights = read_entry(&mut zip, &format!("{prefix}{WEIGHTS}"), &loader)?;
    let state_dict = tensors(weights, &model.state_dict, WEIGHTS, &loader)?;
    let consts = read_entry(&mut zip, &format!("{prefix}{CONSTANTS}"), &loader)?;
    let constants = tensors(consts, &model.constants, CONSTANTS, &loader)?;
    loader.check_state(&graph, &signature, &state_dict, &constants)?;
    Ok(ExportedProgram::new(
        graph,
        signature,
        state_dict,
        constants,
        range_constraints,
        guards,
        shape_env,
        sources,
        model.arg_names,
        model.model_name,
    ))
}

/// Loads a program saved by [`save`]: graph, signature, state, constants, range
/// constraints and guards, without the model's source. Every problem with the file is a
/// [`LoadError`] naming the file and what is wrong.
pub fn load(path: impl AsRef<Path>) -> Result<ExportedProgram, LoadError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| LoadError::Io {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    read_archive(std::io::BufReader::new(file), &shown)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::nn;
    use ferrex_macros::export_module;

    #[export_module]
    struct Net {
        fc: nn::Linear,
    }

    #[export_module]
    impl Net {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.fc.forward(x).relu()
        }
    }

    fn saved() -> (ExportedProgram, Vec<u8>) {
        let net = Net {
            fc: nn::Linear::new(4, 3),
        };
        let ep = crate::export(&net, (Tensor::randn([2, 4]),)).unwrap();
        let bytes = to_bytes(&ep).unwrap();
        (ep, bytes)
    }

    /// The archive with `models/model.json` rewritten by `edit`.
    fn with_json(bytes: &[u8], edit: impl FnOnce(String) -> String) -> Vec<u8> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let mut edit = Some(edit);
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            if name == MODEL_JSON {
                let e = edit.take().unwrap();
                data = e(String::from_utf8(data).unwrap()).into_bytes();
            }
            out.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(&data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    fn load_err(bytes: &[u8]) -> LoadError {
        match from_bytes(bytes, "net.pt2") {
            Ok(_) => panic!("the damaged program loaded"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_layout_is_a_pt2_archive() {
        let (ep, bytes) = saved();
        let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
        for n in [
            "archive_format",
            "byteorder",
            MODEL_JSON,
            WEIGHTS,
            CONSTANTS,
        ] {
            assert!(names.contains(&n.to_string()), "{names:?}");
        }
        let mut json = String::new();
        zip.by_name(MODEL_JSON)
            .unwrap()
            .read_to_string(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["schema_version"]["major"], FORMAT_VERSION.0);
        let nodes = v["graph_module"]["graph"]["nodes"].as_array().unwrap();
        let addmm = nodes
            .iter()
            .find(|n| n["target"] == "aten::addmm.default")
            .unwrap();
        // Inputs are named by the schema; metadata carries the stack trace.
        assert_eq!(addmm["inputs"][0]["name"], "self");
        assert_eq!(addmm["inputs"][1]["name"], "mat1");
        assert_eq!(addmm["inputs"][1]["arg"]["as_tensor"]["name"], "x");
        assert!(addmm["metadata"]["stack_trace"]
            .as_str()
            .unwrap()
            .contains("Linear::forward"));
        let meta = &v["graph_module"]["graph"]["tensor_values"]["addmm"];
        assert_eq!(meta["dtype"], 7);
        assert_eq!(meta["sizes"][0]["as_int"], 2);
        let loaded = from_bytes(&bytes, "net.pt2").unwrap();
        assert_eq!(loaded.to_string(), ep.to_string());
    }

    #[test]
    fn an_unregistered_op_is_named() {
        let (_, bytes) = saved();
        let bad = with_json(&bytes, |j| {
            j.replace("\"aten::relu.default\"", "\"mylib::mystery.default\"")
        });
        let err = load_err(&bad);
        assert!(
            matches!(&err, LoadError::UnknownOp { op, node, .. } if op == "mylib::mystery.default" && node == "relu"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "`net.pt2`: node `relu` calls `mylib::mystery.default`, which is not a registered \
             op; register the custom op (`ferrex::ops::register`) before loading the program"
        );
    }

    #[test]
    fn a_newer_major_version_is_refused_and_a_newer_minor_loads() {
        let (ep, bytes) = saved();
        let newer = with_json(&bytes, |j| j.replacen("\"major\": 1", "\"major\": 2", 1));
        let err = load_err(&newer);
        assert!(matches!(err, LoadError::NewerVersion { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "`net.pt2` was saved in program format version 2.0, but this ferrex reads \
             versions up to 1.x; load it with a newer ferrex"
        );
        // Even when the rest is unreadable, the version is what is reported.
        let newer = with_json(&bytes, |_| {
            r#"{"schema_version": {"major": 9, "minor": 0}}"#.into()
        });
        assert!(matches!(load_err(&newer), LoadError::NewerVersion { .. }));
        let minor = with_json(&bytes, |j| j.replacen("\"minor\": 0", "\"minor\": 7", 1));
        assert_eq!(from_bytes(&minor, "x").unwrap().to_string(), ep.to_string());
    }

    #[test]
    fn damaged_json_is_an_error_naming_what_is_wrong() {
        let (_, bytes) = saved();
        type Edit = Box<dyn FnOnce(String) -> String>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|j: String| j[..j.len() / 2].to_string()),
                "invalid JSON",
            ),
            (Box::new(|_| "{}".to_string()), "no schema_version"),
            (
                Box::new(|j: String| {
                    let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                    v.as_object_mut().unwrap().remove("graph_module");
                    v.to_string()
                }),
                "missing field `graph_module`",
            ),
            (
                Box::new(|j: String| j.replace("\"dtype\": 7", "\"dtype\": 99")),
                "scalar type 99 is not supported",
            ),
            (
                Box::new(|j: String| j.replacen("\"name\": \"x\"", "\"name\": \"nosuch\"", 2)),
                "`nosuch`",
            ),
            (
                Box::new(|j: String| j.replace("\"fc.bias\"", "\"fc.ghost\"")),
                "fc.ghost",
            ),
            (
                Box::new(|j: String| {
                    let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                    v["graph_module"]["graph"]["tensor_values"]["p_fc_weight"]["sizes"][1] =
                        serde_json::json!({"as_int": 5});
                    v.to_string()
                }),
                "`fc.weight` is f32[3, 4], but the graph's input `p_fc_weight` is f32[3, 5]",
            ),
            (
                Box::new(|j: String| {
                    let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                    v["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0] =
                        serde_json::json!({"as_expr": {"expr_str": "s0 +", "hint": {"as_int": 2}}});
                    v.to_string()
                }),
                "cannot parse the size expression `s0 +`",
            ),
            (
                Box::new(|j: String| {
                    let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                    v["graph_module"]["graph"]["outputs"] =
                        serde_json::json!([{"as_graph": {"name": "nowhere"}}]);
                    v.to_string()
                }),
                "can only be a branch",
            ),
        ];
        for (edit, expected) in cases {
            let err = load_err(&with_json(&bytes, edit));
            let text = err.to_string();
            assert!(text.starts_with("`net.pt2`"), "{text}");
            assert!(text.contains(expected), "expected `{expected}` in: {text}");
        }
    }
}
