//! Compiling a graph into a [`Plan`]: constant folding and weight prepacking, kernel
//! selection (GEMM/GEMV, convolution, fused elementwise chains, zero-copy reshapes,
//! the registry's eager kernel for everything else), and memory planning (each planned
//! output gets a buffer slot; slots are reused once every value in them is dead).

use std::collections::{BTreeSet, HashMap};

use ferrex::error::SourceLocation;
use ferrex::graph::{Arg, Argument, Graph, HigherOrderOp, Node, NodeKind};
use ferrex::ops::{run_eager, OpDef, Value};
use ferrex::symbolic::SymInt;
use ferrex::tensor::{DType, Storage, Tensor, TensorMeta};

use crate::fused::{BinOp, FusedProgram, Instr, Src, UnOp};
use crate::CompileError;

/// A value of the graph: the index of the node producing it.
pub(crate) type V = usize;

/// A kernel operand: a value computed at run time, or a constant of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Operand {
    Val(V),
    Const(usize),
}

/// Where a placeholder's value comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InputSource {
    /// The `k`-th input of the call (or of the `cond` branch).
    Runtime(usize),
    /// A constant of the plan (frozen parameter, constant, unmutated buffer).
    Frozen(usize),
}

/// The node a step comes from, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct NodeInfo {
    pub name: String,
    pub op: String,
    pub source: Option<SourceLocation>,
}

/// The `B` operand of a matrix product.
#[derive(Clone, Debug)]
pub(crate) enum GemmB {
    /// A constant weight, prepacked as `B^T`: `[n, k]` contiguous, as the GEMV path
    /// reads it (matrixmultiply reads it with strides `(1, k)`).
    Packed { bt: usize, k: usize, n: usize },
    /// A run-time `[k, n]` operand.
    Dynamic(Operand),
}

/// An elementwise chain run in place on a kernel's output, right after it.
#[derive(Clone, Debug)]
pub(crate) struct Epilogue {
    pub prog: FusedProgram,
    pub inputs: Vec<Operand>,
    /// The value the chain produces (it lives in the kernel's output slot).
    pub value: V,
}

#[derive(Clone, Debug)]
pub(crate) struct GemmStep {
    /// `[.., k]`: every leading dim is a row.
    pub a: Operand,
    pub b: GemmB,
    /// `beta * init` is added (broadcast to `[m, n]`), as `addmm`'s bias.
    pub init: Option<(Operand, f32)>,
    pub alpha: f32,
    pub epilogue: Option<Epilogue>,
}

#[derive(Clone, Debug)]
pub(crate) struct ConvStep {
    pub x: Operand,
    /// `[c_out, c_in * kh * kw]` contiguous.
    pub weight: usize,
    pub bias: Option<usize>,
    pub c_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub epilogue: Option<Epilogue>,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// The registry's eager kernel, as the interpreter runs it.
    Fallback {
        op: &'static OpDef,
        args: Vec<Arg>,
    },
    GetItem {
        src: V,
        index: usize,
    },
    /// A higher-order op (`cond`, `map_impl`), run through its definition with its
    /// subgraphs compiled as subplans (indices into `Plan::subplans`).
    HigherOrder {
        op: &'static dyn HigherOrderOp,
        args: Vec<Argument<Operand>>,
        subplans: Vec<usize>,
    },
    /// A reshape of a planned buffer: same data, new sizes.
    Alias {
        src: V,
        sizes: Vec<SymInt>,
    },
    Gemm(GemmStep),
    Conv(ConvStep),
    Fused {
        prog: FusedProgram,
        inputs: Vec<Operand>,
    },
    MaxPool {
        x: Operand,
        win: ferrex_kernels::PoolWindow,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub kind: Kind,
    pub out: V,
    /// The output's sizes (the node's meta), evaluated with the call's symbol values.
    pub sizes: Vec<SymInt>,
    /// The metas of the node's outputs.
    pub metas: Vec<TensorMeta>,
    /// The buffer slot of a planned output.
    pub slot: Option<usize>,
    pub info: NodeInfo,
    /// Values dead after this step.
    pub free_after: Vec<V>,
}

/// A compiled graph.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub n_values: usize,
    pub inputs: Vec<(V, InputSource)>,
    pub n_runtime_inputs: usize,
    pub consts: Vec<Storage>,
    /// Values folded at compile time: `(value, constant)`.
    pub const_values: Vec<(V, usize)>,
    /// Multi-output values folded at compile time.
    pub const_multi: Vec<(V, Vec<usize>)>,
    pub steps: Vec<Step>,
    pub outputs: Vec<Arg>,
    /// Preallocated size (elements) of each slot, from the example sizes.
    pub slot_sizes: Vec<usize>,
    pub subplans: Vec<Plan>,
    /// Node names, for messages.
    pub names: Vec<String>,
    /// Node metas, by value: a fallback step binds the unbacked symbols its node
    /// defines (`aten::item`'s `u0`) from what it computed.
    pub metas: Vec<Vec<TensorMeta>>,
}

/// What a value is at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// An eager storage (inputs, constants, fallback outputs).
    Storage,
    /// Several storages (multi-output fallback, cond).
    Multi,
    /// A planned f32 buffer.
    Slot,
}

/// An elementwise op the fuser understands.
enum Ew {
    Unary(UnOp, Operand),
    Binary(BinOp, FArg, FArg, Option<f32>),
    /// `x * scale + shift`, per channel (inference batch norm).
    Affine {
        x: Operand,
        scale: usize,
        shift: usize,
    },
}

#[derive(Clone, Copy)]
enum FArg {
    Op(Operand),
    Num(f32),
}

/// Ops that must not be computed at compile time.
fn nondeterministic(op: &OpDef) -> bool {
    let name = op.base_name();
    [
        "rand",
        "dropout",
        "bernoulli",
        "normal",
        "uniform",
        "empty",
        "multinomial",
    ]
    .iter()
    .any(|k| name.contains(k))
}

fn number(a: &Arg) -> Option<f64> {
    match a {
        Arg::Int(SymInt::Int(v)) => Some(*v as f64),
        Arg::Float(f) => Some(*f),
        Arg::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn concrete_ints(a: Option<&Arg>, n: usize, default: usize) -> Option<[usize; 2]> {
    let v: Vec<usize> = match a {
        None => vec![default],
        Some(Arg::IntList(l)) => l
            .iter()
            .map(|s| s.as_int().and_then(|v| usize::try_from(v).ok()))
            .collect::<Option<_>>()?,
        Some(Arg::Int(SymInt::Int(v))) => vec![usize::try_from(*v).ok()?],
        _ => return None,
    };
    match (v.len(), n) {
        (1, 2) => Some([v[0], v[0]]),
        (2, 2) => Some([v[0], v[1]]),
        _ => None,
    }
}

/// A contiguous f32 copy of a constant in logical order, with its shape.
fn f32_const(s: &Storage) -> Option<(Vec<f32>, Vec<usize>)> {
    match s {
        Storage::F32(a) => Some((a.iter().copied().collect(), a.shape().to_vec())),
        _ => None,
    }
}

struct Builder<'g> {
    graph: &'g Graph,
    plan: Plan,
    place: Vec<Option<Place>>,
    const_of: Vec<Option<usize>>,
    users: Vec<usize>,
    in_output: Vec<bool>,
    /// Planned steps, by the node they are placed at.
    steps: Vec<Option<Step>>,
    /// Open fusion groups, by root: their member nodes.
    groups: HashMap<V, BTreeSet<V>>,
    /// For members of a group: the elementwise op.
    ew: HashMap<V, Ew>,
    /// Values that share another value's slot (alias/epilogue) → the slot's owner.
    owner: Vec<V>,
}

impl<'g> Builder<'g> {
    fn meta(&self, v: V) -> Option<&'g TensorMeta> {
        let n = &self.graph.nodes[v];
        if n.meta.len() == 1 {
            n.meta.first()
        } else {
            None
        }
    }

    fn is_f32(&self, v: V) -> bool {
        self.meta(v).is_some_and(|m| m.dtype == DType::F32)
    }

    fn operand(&self, v: V) -> Operand {
        match self.const_of[v] {
            Some(c) => Operand::Const(c),
            None => Operand::Val(v),
        }
    }

    fn add_const(&mut self, s: Storage) -> usize {
        self.plan.consts.push(s);
        self.plan.consts.len() - 1
    }

    fn info(&self, v: V) -> NodeInfo {
        let n = &self.graph.nodes[v];
        NodeInfo {
            name: n.name.clone(),
            op: match &n.kind {
                NodeKind::Call { op, .. } => op.name(),
                NodeKind::HigherOrder { op, .. } => op.name().into(),
                NodeKind::GetItem { .. } => "getitem".into(),
                _ => String::new(),
            },
            source: n.source,
        }
    }

    fn step(&self, v: V, kind: Kind) -> Step {
        Step {
            kind,
            out: v,
            sizes: self.meta(v).map(|m| m.sizes.clone()).unwrap_or_default(),
            metas: self.graph.nodes[v].meta.clone(),
            slot: None,
            info: self.info(v),
            free_after: Vec::new(),
        }
    }

    /// Tries to compute a call at compile time from constants.
    fn try_fold(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> bool {
        // Nodes that define an unbacked symbol (`aten::item`) or return nothing (run-time
        // assertions) run each call: the value binds a symbol, the effect is the point.
        let meta = &self.graph.nodes[v].meta;
        if nondeterministic(op) || meta.is_empty() || meta.iter().any(|m| m.sym.is_some()) {
            return false;
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            let tensor = |id: &ferrex::graph::NodeId| -> Option<Tensor> {
                self.const_of[id.0].map(|c| Tensor::from_storage(self.plan.consts[c].clone()))
            };
            let value = match a {
                Arg::Tensor(n) => tensor(n).map(Value::Tensor),
                Arg::TensorList(ns) => ns
                    .iter()
                    .map(tensor)
                    .collect::<Option<_>>()
                    .map(Value::TensorList),
                Arg::OptTensorList(ns) => ns
                    .iter()
                    .map(|n| match n {
                        Some(n) => tensor(n).map(Some),
                        None => Some(None),
                    })
                    .collect::<Option<_>>()
                    .map(Value::OptTensorList),
                Arg::None => Some(Value::None),
                Arg::Bool(b) => Some(Value::Bool(*b)),
                Arg::Int(i) => i.as_int().map(|i| Value::Int(SymInt::Int(i))),
                Arg::Float(f) => Some(Value::Float(*f)),
                Arg::Str(s) => Some(Value::Str(s.clone())),
                Arg::DType(d) => Some(Value::DType(*d)),
                Arg::IntList(l) => l
                    .iter()
                    .map(|i| i.as_int().map(SymInt::Int))
                    .collect::<Option<_>>()
                    .map(Value::IntList),
                Arg::FloatList(l) => Some(Value::FloatList(l.clone())),
            };
            match value {
                Some(v) => values.push(v),
                None => return false,
            }
        }
        let Ok(out) = run_eager(op, &values) else {
            return false;
        };
        let Ok(storages) = out
            .iter()
            .map(|t| t.try_storage())
            .collect::<Result<Vec<_>, _>>()
        else {
            return false;
        };
        if self.graph.nodes[v].meta.len() == 1 && storages.len() == 1 {
            let c = self.add_const(
                storages
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Storage::full(&[], 0.0, DType::F32)),
            );
            self.const_of[v] = Some(c);
            self.plan.const_values.push((v, c));
        } else {
            let cs: Vec<usize> = storages.into_iter().map(|s| self.add_const(s)).collect();
            self.plan.const_multi.push((v, cs));
            self.place[v] = Some(Place::Multi);
            return true;
        }
        self.place[v] = Some(Place::Storage);
        true
    }

    /// The prepacked `B^T` (`[n, k]` contiguous) of a constant `[k, n]` matrix.
    fn pack_bt(&mut self, b: usize) -> Option<GemmB> {
        let Storage::F32(arr) = &self.plan.consts[b] else {
            return None;
        };
        if arr.ndim() != 2 {
            return None;
        }
        let (k, n) = (arr.shape()[0], arr.shape()[1]);
        let bt: Vec<f32> = arr.view().reversed_axes().iter().copied().collect();
        let bt = Storage::from_vec(&[n, k], bt)?;
        Some(GemmB::Packed {
            bt: self.add_const(bt),
            k,
            n,
        })
    }

    /// A constant `[n, k]` weight used as is (`linear`).
    fn pack_weight(&mut self, w: usize) -> Option<GemmB> {
        let Storage::F32(arr) = &self.plan.consts[w] else {
            return None;
        };
        if arr.ndim() != 2 {
            return None;
        }
        let (n, k) = (arr.shape()[0], arr.shape()[1]);
        let data: Vec<f32> = arr.iter().copied().collect();
        let s = Storage::from_vec(&[n, k], data)?;
        Some(GemmB::Packed {
            bt: self.add_const(s),
            k,
            n,
        })
    }

    fn node_arg(&self, a: Option<&Arg>) -> Option<V> {
        match a {
            Some(Arg::Tensor(n)) => Some(n.0),
            _ => None,
        }
    }

    /// A matrix product the GEMM kernels run: `addmm`, `mm`, `matmul` with a 2-D
    /// right operand, `linear`.
    fn try_gemm(&mut self, v: V, name: &str, args: &[Arg]) -> Option<Kind> {
        if !self.is_f32(v) {
            return None;
        }
        let f32_node = |b: &Self, a: Option<&Arg>| b.node_arg(a).filter(|&x| b.is_f32(x));
        let rank = |b: &Self, x: V| b.meta(x).map(|m| m.rank()).unwrap_or(0);
        let (a, b, init, alpha, linear) = match name {
            "aten::addmm.default" => {
                let bias = f32_node(self, args.first())?;
                let a = f32_node(self, args.get(1))?;
                let b = f32_node(self, args.get(2))?;
                let beta = args.get(3).map_or(Some(1.0), number)? as f32;
                let alpha = args.get(4).map_or(Some(1.0), number)? as f32;
                if rank(self, bias) > 2 {
                    return None;
                }
                let init = (beta != 0.0).then_some((self.operand(bias), beta));
                (a, b, init, alpha, false)
            }
            "aten::mm.default" | "aten::matmul.default" => {
                let a = f32_node(self, args.first())?;
                let b = f32_node(self, args.get(1))?;
                (a, b, None, 1.0, false)
            }
            "aten::linear.default" => {
                let a = f32_node(self, args.first())?;
                let w = f32_node(self, args.get(1))?;
                let init = match args.get(2) {
                    None | Some(Arg::None) => None,
                    Some(Arg::Tensor(n)) if self.is_f32(n.0) && rank(self, n.0) <= 1 => {
                        Some((self.operand(n.0), 1.0))
                    }
                    _ => return None,
                };
                (a, w, init, 1.0, true)
            }
            _ => return None,
        };
        if rank(self, a) < 2 || rank(self, b) != 2 {
            return None;
        }
        if name == "aten::mm.default" && rank(self, a) != 2 {
            return None;
        }
        let b = match (self.const_of[b], linear) {
            (Some(c), false) => self.pack_bt(c)?,
            (Some(c), true) => self.pack_weight(c)?,
            (None, false) => GemmB::Dynamic(Operand::Val(b)),
            (None, true) => return None,
        };
        Some(Kind::Gemm(GemmStep {
            a: self.operand(a),
            b,
            init,
            alpha,
            epilogue: None,
        }))
    }

    fn try_conv(&mut self, v: V, args: &[Arg]) -> Option<Kind> {
        let x = self.node_arg(args.first()).filter(|&x| self.is_f32(x))?;
        let w = self.node_arg(args.get(1))?;
        if !self.is_f32(v) || self.meta(x)?.rank() != 4 {
            return None;
        }
        let wc = self.const_of[w]?;
        let (wdata, wshape) = f32_const(&self.plan.consts[wc])?;
        if wshape.len() != 4 {
            return None;
        }
        let bias = match args.get(2) {
            None | Some(Arg::None) => None,
            Some(Arg::Tensor(n)) => {
                let (b, shape) = f32_const(&self.plan.consts[self.const_of[n.0]?])?;
                if shape != [wshape[0]] {
                    return None;
                }
                Some(self.add_const(Storage::from_vec(&shape, b)?))
            }
            _ => return None,
        };
        let stride = concrete_ints(args.get(3), 2, 1)?;
        let pad = concrete_ints(args.get(4), 2, 0)?;
        let dilation = concrete_ints(args.get(5), 2, 1)?;
        let groups = args.get(6).map_or(Some(1.0), number)?;
        if groups != 1.0 || stride.contains(&0) || dilation.contains(&0) {
            return None;
        }
        let k = wshape[1] * wshape[2] * wshape[3];
        let weight = self.add_const(Storage::from_vec(&[wshape[0], k], wdata)?);
        Some(Kind::Conv(ConvStep {
            x: self.operand(x),
            weight,
            bias,
            c_in: wshape[1],
            c_out: wshape[0],
            kh: wshape[2],
            kw: wshape[3],
            stride,
            pad,
            dilation,
            epilogue: None,
        }))
    }

    /// `max_pool2d` of a 4-D f32 input, `ceil_mode = false`.
    fn try_max_pool(&self, v: V, args: &[Arg]) -> Option<Kind> {
        let x = self.node_arg(args.first()).filter(|&x| self.is_f32(x))?;
        if !self.is_f32(v) || self.meta(x)?.rank() != 4 {
            return None;
        }
        let k = concrete_ints(args.get(1), 2, 1)?;
        let s = match args.get(2) {
            Some(Arg::IntList(l)) if l.is_empty() => k,
            None => k,
            a => concrete_ints(a, 2, 1)?,
        };
        let p = concrete_ints(args.get(3), 2, 0)?;
        let d = concrete_ints(args.get(4), 2, 1)?;
        if !matches!(args.get(5), None | Some(Arg::Bool(false))) {
            return None;
        }
        let half = |i: usize| ((k[i].max(1) - 1) * d[i]).div_ceil(2);
        if k.contains(&0) || s.contains(&0) || d.contains(&0) || (0..2).any(|i| p[i] > half(i)) {
            return None;
        }
        Some(Kind::MaxPool {
            x: self.operand(x),
            win: ferrex_kernels::PoolWindow { k, s, p, d },
        })
    }

    /// The elementwise op of a call, when the fuser handles it: f32 in and out, numbers
    /// and f32 tensors as operands.
    fn elementwise(&mut self, v: V, name: &str, args: &[Arg]) -> Option<Ew> {
        if !self.is_f32(v) {
            return None;
        }
        let tensor = |b: &Self, i: usize| -> Option<Operand> {
            b.node_arg(args.get(i))
                .filter(|&x| b.is_f32(x))
                .map(|x| b.operand(x))
        };
        let farg = |b: &Self, i: usize| -> Option<FArg> {
            match args.get(i) {
                Some(Arg::Tensor(_)) => tensor(b, i).map(FArg::Op),
                Some(a) => number(a).map(|x| FArg::Num(x as f32)),
                None => None,
            }
        };
        let opt_num = |i: usize, default: Option<f64>| -> Option<Option<f64>> {
            match args.get(i) {
                None => Some(default),
                Some(Arg::None) => Some(None),
                Some(a) => number(a).map(Some),
            }
        };
        let unary = |b: &Self, op: UnOp| tensor(b, 0).map(|x| Ew::Unary(op, x));
        Some(match name {
            "aten::add.Tensor" | "aten::sub.Tensor" => {
                let alpha = opt_num(2, Some(1.0))?.unwrap_or(1.0) as f32;
                let op = if name == "aten::add.Tensor" {
                    BinOp::Add
                } else {
                    BinOp::Sub
                };
                Ew::Binary(
                    op,
                    farg(self, 0)?,
                    farg(self, 1)?,
                    (alpha != 1.0).then_some(alpha),
                )
            }
            "aten::mul.Tensor" => Ew::Binary(BinOp::Mul, farg(self, 0)?, farg(self, 1)?, None),
            "aten::div.Tensor" => Ew::Binary(BinOp::Div, farg(self, 0)?, farg(self, 1)?, None),
            "aten::div.Tensor_mode" if matches!(args.get(2), None | Some(Arg::None)) => {
                Ew::Binary(BinOp::Div, farg(self, 0)?, farg(self, 1)?, None)
            }
            "aten::relu.default" => unary(self, UnOp::Relu)?,
            "aten::neg.default" => unary(self, UnOp::Neg)?,
            "aten::abs.default" => unary(self, UnOp::Abs)?,
            "aten::sigmoid.default" => unary(self, UnOp::Sigmoid)?,
            "aten::tanh.default" => unary(self, UnOp::Tanh)?,
            "aten::silu.default" => unary(self, UnOp::Silu)?,
            "aten::exp.default" => unary(self, UnOp::Exp)?,
            "aten::log.default" => unary(self, UnOp::Log)?,
            "aten::sqrt.default" => unary(self, UnOp::Sqrt)?,
            "aten::rsqrt.default" => unary(self, UnOp::Rsqrt)?,
            "aten::sin.default" => unary(self, UnOp::Sin)?,
            "aten::cos.default" => unary(self, UnOp::Cos)?,
            "aten::reciprocal.default" => unary(self, UnOp::Reciprocal)?,
            "aten::erf.default" => unary(self, UnOp::Erf)?,
            "aten::gelu.default" => match args.get(1) {
                None | Some(Arg::None) => unary(self, UnOp::Gelu)?,
                Some(Arg::Str(s)) if s == "none" => unary(self, UnOp::Gelu)?,
                Some(Arg::Str(s)) if s == "tanh" => unary(self, UnOp::GeluTanh)?,
                _ => return None,
            },
            "aten::leaky_relu.default" => {
                let slope = opt_num(1, Some(0.01))??;
                unary(self, UnOp::LeakyRelu(slope))?
            }
            "aten::hardtanh.default" => {
                let lo = opt_num(1, Some(-1.0))??;
                let hi = opt_num(2, Some(1.0))??;
                unary(self, UnOp::Clamp(Some(lo), Some(hi)))?
            }
            "aten::clamp.default" => {
                let (lo, hi) = (opt_num(1, None)?, opt_num(2, None)?);
                if lo.is_none() && hi.is_none() {
                    return None;
                }
                unary(self, UnOp::Clamp(lo, hi))?
            }
            "aten::pow.Tensor_Scalar" => {
                let e = opt_num(1, None)??;
                unary(self, UnOp::PowScalar(e))?
            }
            "aten::batch_norm.default" => self.batch_norm_affine(args)?,
            _ => return None,
        })
    }

    /// Inference batch norm with constant statistics: `x * scale + shift` per channel.
    fn batch_norm_affine(&mut self, args: &[Arg]) -> Option<Ew> {
        let x = self.node_arg(args.first()).filter(|&x| self.is_f32(x))?;
        let rank = self.meta(x)?.rank();
        if rank < 2 || !matches!(args.get(5), Some(Arg::Bool(false))) {
            return None;
        }
        let eps = args.get(7).and_then(number)?;
        let data = |b: &Self, i: usize| -> Option<Option<Vec<f32>>> {
            match args.get(i) {
                None | Some(Arg::None) => Some(None),
                Some(Arg::Tensor(n)) => {
                    let c = b.const_of[n.0]?;
                    f32_const(&b.plan.consts[c]).map(|(d, _)| Some(d))
                }
                _ => None,
            }
        };
        let (w, bias) = (data(self, 1)?, data(self, 2)?);
        let (mean, var) = (data(self, 3)??, data(self, 4)??);
        let c = mean.len();
        if var.len() != c
            || w.as_ref().is_some_and(|w| w.len() != c)
            || bias.as_ref().is_some_and(|b| b.len() != c)
        {
            return None;
        }
        let mut scale = Vec::with_capacity(c);
        let mut shift = Vec::with_capacity(c);
        for i in 0..c {
            let s = w.as_ref().map_or(1.0, |w| w[i] as f64) / (var[i] as f64 + eps).sqrt();
            scale.push(s as f32);
            shift.push((bias.as_ref().map_or(0.0, |b| b[i] as f64) - mean[i] as f64 * s) as f32);
        }
        let mut shape = vec![1usize; rank - 1];
        shape[0] = c;
        let scale = self.add_const(Storage::from_vec(&shape, scale)?);
        let shift = self.add_const(Storage::from_vec(&shape, shift)?);
        Some(Ew::Affine {
            x: self.operand(x),
            scale,
            shift,
        })
    }

    fn ew_operands(ew: &Ew) -> Vec<Operand> {
        match ew {
            Ew::Unary(_, x) => vec![*x],
            Ew::Binary(_, a, b, _) => [a, b]
                .into_iter()
                .filter_map(|a| match a {
                    FArg::Op(o) => Some(*o),
                    FArg::Num(_) => None,
                })
                .collect(),
            Ew::Affine { x, .. } => vec![*x],
        }
    }

    /// A higher-order node: its subgraphs compiled as subplans, with the constants
    /// passed to them whole (captured weights) frozen inside.
    fn plan_higher_order(
        &mut self,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: &[Arg],
        subgraphs: &[usize],
    ) -> Result<Kind, CompileError> {
        let operands = args
            .iter()
            .map(|a| a.try_map(|n| Ok::<_, CompileError>(self.operand(n.0))))
            .collect::<Result<Vec<_>, _>>()?;
        let sub_frozen: Vec<Option<Storage>> = op
            .subgraph_inputs(args)
            .iter()
            .zip(op.passes_whole(args))
            .map(|(n, whole)| {
                let c = self.const_of.get(n.0).copied().flatten().filter(|_| whole);
                c.and_then(|c| self.plan.consts.get(c).cloned())
            })
            .collect();
        let mut subplans = Vec::new();
        for index in subgraphs {
            let sub = self.graph.subgraphs.get(*index).ok_or_else(|| {
                CompileError::Malformed(format!("`{}` names missing subgraph {index}", node.name))
            })?;
            let plan = compile_graph(&sub.graph, &sub_frozen)?;
            if plan.inputs.len() != sub_frozen.len() {
                return Err(CompileError::Malformed(format!(
                    "`{}` passes {} values to {}, which takes {}",
                    node.name,
                    sub_frozen.len(),
                    sub.name,
                    plan.inputs.len()
                )));
            }
            self.plan.subplans.push(plan);
            subplans.push(self.plan.subplans.len() - 1);
        }
        Ok(Kind::HigherOrder {
            op,
            args: operands,
            subplans,
        })
    }

    fn plan_call(&mut self, v: V, op: &'static OpDef, args: &[Arg]) {
        let all_const = self.graph.nodes[v]
            .inputs()
            .iter()
            .all(|i| self.const_of[i.0].is_some());
        if all_const && self.try_fold(v, op, args) {
            return;
        }
        let name = op.name();
        if let Some(ew) = self.elementwise(v, &name, args) {
            // Start a group at this node, absorbing the groups of inputs used only here.
            let mut members = BTreeSet::from([v]);
            for o in Self::ew_operands(&ew) {
                if let Operand::Val(p) = o {
                    if self.users[p] == 1 && !self.in_output[p] {
                        if let Some(g) = self.groups.remove(&p) {
                            members.extend(g);
                            self.steps[p] = None;
                        }
                    }
                }
            }
            self.ew.insert(v, ew);
            self.groups.insert(v, members);
            self.steps[v] = Some(self.step(
                v,
                Kind::Fused {
                    prog: FusedProgram::default(),
                    inputs: Vec::new(),
                },
            ));
            self.place[v] = Some(Place::Slot);
            return;
        }
        let special = match name.as_str() {
            "aten::conv2d.default" => self.try_conv(v, args),
            "aten::max_pool2d.default" => self.try_max_pool(v, args),
            "aten::view.default"
            | "aten::reshape.default"
            | "aten::flatten.using_ints"
            | "aten::unsqueeze.default"
            | "aten::squeeze.dim"
            | "aten::clone.default" => match self.node_arg(args.first()) {
                Some(src) if self.place[src] == Some(Place::Slot) && self.meta(v).is_some() => {
                    Some(Kind::Alias {
                        src,
                        sizes: self.meta(v).map(|m| m.sizes.clone()).unwrap_or_default(),
                    })
                }
                _ => None,
            },
            _ => self.try_gemm(v, &name, args),
        };
        match special {
            Some(kind) => {
                if let Kind::Alias { src, .. } = &kind {
                    self.owner[v] = *src;
                }
                self.steps[v] = Some(self.step(v, kind));
                self.place[v] = Some(Place::Slot);
            }
            None => {
                self.steps[v] = Some(self.step(
                    v,
                    Kind::Fallback {
                        op,
                        args: args.to_vec(),
                    },
                ));
                self.place[v] = Some(if self.graph.nodes[v].meta.len() == 1 {
                    Place::Storage
                } else {
                    Place::Multi
                });
            }
        }
    }

    /// Builds the program of a group; `in_place` is the input read from the output
    /// buffer itself (an epilogue).
    fn group_program(
        &self,
        members: &BTreeSet<V>,
        in_place: Option<V>,
    ) -> (FusedProgram, Vec<Operand>) {
        let mut e = Emit {
            prog: FusedProgram::default(),
            inputs: Vec::new(),
            loaded: HashMap::new(),
            in_place,
            members,
            member_reg: HashMap::new(),
        };
        let mut labels = Vec::new();
        for &m in members {
            let Some(ew) = self.ew.get(&m) else { continue };
            let out = match ew {
                Ew::Unary(op, x) => {
                    let a = e.reg(*x);
                    let dst = e.fresh();
                    e.prog.instrs.push(Instr::Unary { dst, op: *op, a });
                    labels.push(format!("{op:?}").to_lowercase());
                    dst
                }
                Ew::Binary(op, a, b, alpha) => {
                    let sa = e.src(*a);
                    let mut sb = e.src(*b);
                    if let Some(alpha) = alpha {
                        sb = match sb {
                            Src::Const(c) => Src::Const(c * alpha),
                            Src::Reg(r) => {
                                let dst = e.fresh();
                                e.prog.instrs.push(Instr::Binary {
                                    dst,
                                    op: BinOp::Mul,
                                    a: Src::Reg(r),
                                    b: Src::Const(*alpha),
                                });
                                Src::Reg(dst)
                            }
                        };
                    }
                    let dst = e.fresh();
                    e.prog.instrs.push(Instr::Binary {
                        dst,
                        op: *op,
                        a: sa,
                        b: sb,
                    });
                    labels.push(format!("{op:?}").to_lowercase());
                    dst
                }
                Ew::Affine { x, scale, shift } => {
                    let xr = e.reg(*x);
                    let s = e.load(Operand::Const(*scale));
                    let t = e.load(Operand::Const(*shift));
                    let mul = e.fresh();
                    e.prog.instrs.push(Instr::Binary {
                        dst: mul,
                        op: BinOp::Mul,
                        a: Src::Reg(xr),
                        b: Src::Reg(s),
                    });
                    let dst = e.fresh();
                    e.prog.instrs.push(Instr::Binary {
                        dst,
                        op: BinOp::Add,
                        a: Src::Reg(mul),
                        b: Src::Reg(t),
                    });
                    labels.push("batch_norm".into());
                    dst
                }
            };
            e.member_reg.insert(m, out);
        }
        let root = members.iter().next_back().copied().unwrap_or(0);
        e.prog.out = e.member_reg.get(&root).copied().unwrap_or(0);
        e.prog.n_regs = e.prog.n_regs.max(1);
        e.prog.label = labels.join("+");
        (e.prog, e.inputs)
    }

    /// Finishes the groups: a group whose chain starts at a GEMM or convolution output
    /// used only by it runs in place on that output (an epilogue); the others become
    /// fused steps.
    fn finish_groups(&mut self) {
        let mut roots: Vec<V> = self.groups.keys().copied().collect();
        roots.sort_unstable();
        for root in roots {
            let Some(members) = self.groups.remove(&root) else {
                continue;
            };
            let (_, inputs) = self.group_program(&members, None);
            let root_meta = self.meta(root).cloned();
            let host = inputs.iter().find_map(|o| {
                let Operand::Val(e) = *o else { return None };
                let hosts = matches!(
                    self.steps[e].as_ref().map(|s| &s.kind),
                    Some(
                        Kind::Gemm(GemmStep { epilogue: None, .. })
                            | Kind::Conv(ConvStep { epilogue: None, .. })
                    )
                );
                let same = match (self.meta(e), &root_meta) {
                    (Some(a), Some(b)) => a.same_as(b),
                    _ => false,
                };
                let earlier = inputs.iter().all(|i| match i {
                    Operand::Val(x) => *x <= e,
                    Operand::Const(_) => true,
                });
                (hosts && same && earlier && self.users[e] == 1 && !self.in_output[e]).then_some(e)
            });
            match host {
                Some(e) => {
                    let (prog, inputs) = self.group_program(&members, Some(e));
                    let ep = Epilogue {
                        prog,
                        inputs,
                        value: root,
                    };
                    if let Some(step) = self.steps[e].as_mut() {
                        match &mut step.kind {
                            Kind::Gemm(g) => g.epilogue = Some(ep),
                            Kind::Conv(c) => c.epilogue = Some(ep),
                            _ => {}
                        }
                    }
                    self.steps[root] = None;
                    self.owner[root] = e;
                }
                None => {
                    let (prog, inputs) = self.group_program(&members, None);
                    if let Some(step) = self.steps[root].as_mut() {
                        step.kind = Kind::Fused { prog, inputs };
                    }
                }
            }
        }
    }
}

/// Emits the instructions of a fused group.
struct Emit<'a> {
    prog: FusedProgram,
    inputs: Vec<Operand>,
    loaded: HashMap<Operand, usize>,
    in_place: Option<V>,
    members: &'a BTreeSet<V>,
    member_reg: HashMap<V, usize>,
}

impl Emit<'_> {
    fn fresh(&mut self) -> usize {
        self.prog.n_regs += 1;
        self.prog.n_regs - 1
    }

    /// The register holding an input (loaded once).
    fn load(&mut self, o: Operand) -> usize {
        if let Some(&r) = self.loaded.get(&o) {
            return r;
        }
        let dst = self.fresh();
        if Some(o) == self.in_place.map(Operand::Val) {
            self.prog.instrs.push(Instr::LoadOut { dst });
        } else {
            let input = match self.inputs.iter().position(|x| *x == o) {
                Some(i) => i,
                None => {
                    self.inputs.push(o);
                    self.inputs.len() - 1
                }
            };
            self.prog.instrs.push(Instr::Load { dst, input });
        }
        self.loaded.insert(o, dst);
        dst
    }

    /// The register of an operand: a member's result, or a loaded input.
    fn reg(&mut self, o: Operand) -> usize {
        match o {
            Operand::Val(x) if self.members.contains(&x) => {
                self.member_reg.get(&x).copied().unwrap_or(0)
            }
            _ => self.load(o),
        }
    }

    fn src(&mut self, f: FArg) -> Src {
        match f {
            FArg::Op(o) => Src::Reg(self.reg(o)),
            FArg::Num(x) => Src::Const(x),
        }
    }
}

/// Values a step reads.
fn reads(step: &Step) -> Vec<V> {
    let ops = |os: &[Operand]| -> Vec<V> {
        os.iter()
            .filter_map(|o| match o {
                Operand::Val(v) => Some(*v),
                Operand::Const(_) => None,
            })
            .collect()
    };
    let ep = |e: &Option<Epilogue>| e.as_ref().map(|e| ops(&e.inputs)).unwrap_or_default();
    match &step.kind {
        Kind::Fallback { args, .. } => args.iter().flat_map(Arg::nodes).map(|n| n.0).collect(),
        Kind::GetItem { src, .. } | Kind::Alias { src, .. } => vec![*src],
        Kind::HigherOrder { args, .. } => {
            let operands: Vec<Operand> = args
                .iter()
                .flat_map(|a| a.tensors().into_iter().copied())
                .collect();
            ops(&operands)
        }
        Kind::Gemm(g) => {
            let mut r = ops(&[g.a]);
            if let GemmB::Dynamic(b) = g.b {
                r.extend(ops(&[b]));
            }
            if let Some((i, _)) = g.init {
                r.extend(ops(&[i]));
            }
            r.extend(ep(&g.epilogue));
            r
        }
        Kind::Conv(c) => {
            let mut r = ops(&[c.x]);
            r.extend(ep(&c.epilogue));
            r
        }
        Kind::Fused { inputs, .. } => ops(inputs),
        Kind::MaxPool { x, .. } => ops(&[*x]),
    }
}

/// Values a step writes (its output, and an epilogue's value).
fn writes(step: &Step) -> Vec<V> {
    let mut w = vec![step.out];
    match &step.kind {
        Kind::Gemm(GemmStep {
            epilogue: Some(e), ..
        })
        | Kind::Conv(ConvStep {
            epilogue: Some(e), ..
        }) => w.push(e.value),
        _ => {}
    }
    w
}

fn hint_numel(sizes: &[SymInt]) -> usize {
    sizes
        .iter()
        .map(|s| usize::try_from(s.hint()).unwrap_or(0))
        .product()
}

/// Compiles one graph. `frozen[k]` is the constant value of placeholder `k`, if known
/// at compile time.
pub(crate) fn compile_graph(
    graph: &Graph,
    frozen: &[Option<Storage>],
) -> Result<Plan, CompileError> {
    let n = graph.nodes.len();
    let mut in_output = vec![false; n];
    for a in graph.outputs() {
        for id in a.nodes() {
            if let Some(x) = in_output.get_mut(id.0) {
                *x = true;
            }
        }
    }
    let mut b = Builder {
        graph,
        plan: Plan {
            n_values: n,
            names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            metas: graph.nodes.iter().map(|n| n.meta.clone()).collect(),
            outputs: graph.outputs().to_vec(),
            ..Plan::default()
        },
        place: vec![None; n],
        const_of: vec![None; n],
        users: graph.user_counts(),
        in_output,
        steps: vec![None; n],
        groups: HashMap::new(),
        ew: HashMap::new(),
        owner: (0..n).collect(),
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs() {
            if input.0 >= i {
                return Err(CompileError::Malformed(format!(
                    "node `{}` reads `{}`, which is not computed before it",
                    node.name,
                    graph.nodes.get(input.0).map_or("?", |n| n.name.as_str())
                )));
            }
        }
    }
    let mut k = 0;
    for (v, node) in graph.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Placeholder => {
                let source = match frozen.get(k).cloned().flatten() {
                    Some(s) => {
                        let c = b.add_const(s);
                        b.const_of[v] = Some(c);
                        InputSource::Frozen(c)
                    }
                    None => InputSource::Runtime(k),
                };
                b.plan.inputs.push((v, source));
                b.place[v] = Some(Place::Storage);
                k += 1;
            }
            NodeKind::Call { op, args } => b.plan_call(v, op, args),
            NodeKind::GetItem { source, index } => {
                let folded = b
                    .plan
                    .const_multi
                    .iter()
                    .find(|(m, _)| *m == source.0)
                    .and_then(|(_, cs)| cs.get(*index).copied());
                if let Some(c) = folded {
                    b.const_of[v] = Some(c);
                    b.plan.const_values.push((v, c));
                } else {
                    b.steps[v] = Some(b.step(
                        v,
                        Kind::GetItem {
                            src: source.0,
                            index: *index,
                        },
                    ));
                }
                b.place[v] = Some(Place::Storage);
            }
            NodeKind::HigherOrder {
                op,
                args,
                subgraphs,
            } => {
                let kind = b.plan_higher_order(node, *op, args, subgraphs)?;
                b.steps[v] = Some(b.step(v, kind));
                b.place[v] = Some(Place::Multi);
            }
            NodeKind::Output { .. } => {}
        }
    }
    b.plan.n_runtime_inputs = k;
    b.finish_groups();

    // Liveness: the last step that reads each value; graph outputs live to the end.
    let steps: Vec<Step> = b.steps.iter_mut().filter_map(Option::take).collect();
    let never = usize::MAX;
    let mut last_use: Vec<Option<usize>> = vec![None; n];
    for (i, s) in steps.iter().enumerate() {
        for v in writes(s) {
            last_use[v] = Some(last_use[v].map_or(i, |l| l.max(i)));
        }
        for v in reads(s) {
            last_use[v] = Some(last_use[v].map_or(i, |l| l.max(i)));
        }
    }
    for (v, out) in b.in_output.iter().enumerate() {
        if *out {
            last_use[v] = Some(never);
        }
    }
    // A slot lives as long as any value in it.
    let find = |mut v: V| {
        while b.owner[v] != v {
            v = b.owner[v];
        }
        v
    };
    let mut slot_end: HashMap<V, usize> = HashMap::new();
    for (v, l) in last_use.iter().enumerate() {
        if let Some(l) = l {
            let e = slot_end.entry(find(v)).or_insert(*l);
            *e = (*e).max(*l);
        }
    }
    let mut steps = steps;
    let mut slot_of: HashMap<V, usize> = HashMap::new();
    let mut free: Vec<usize> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    for (i, step) in steps.iter_mut().enumerate() {
        let planned = matches!(
            step.kind,
            Kind::Gemm(_)
                | Kind::Conv(_)
                | Kind::Fused { .. }
                | Kind::Alias { .. }
                | Kind::MaxPool { .. }
        );
        if planned {
            let owner = find(step.out);
            let slot = match slot_of.get(&owner) {
                Some(&s) => s,
                None => {
                    let need = hint_numel(&step.sizes);
                    // Best fit among free slots, else the largest, else a new one.
                    let pick = free
                        .iter()
                        .enumerate()
                        .filter(|(_, &s)| sizes[s] >= need)
                        .min_by_key(|(_, &s)| sizes[s])
                        .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| sizes[s]))
                        .map(|(pos, _)| pos);
                    let s = match pick {
                        Some(pos) => free.swap_remove(pos),
                        None => {
                            sizes.push(0);
                            sizes.len() - 1
                        }
                    };
                    sizes[s] = sizes[s].max(need);
                    slot_of.insert(owner, s);
                    s
                }
            };
            step.slot = Some(slot);
        }
        for (v, l) in last_use.iter().enumerate() {
            if *l == Some(i) {
                step.free_after.push(v);
            }
        }
        for (&owner, &end) in &slot_end {
            if end == i {
                if let Some(s) = slot_of.get(&owner) {
                    if !free.contains(s) {
                        free.push(*s);
                    }
                }
            }
        }
    }
    let mut plan = b.plan;
    plan.steps = steps;
    plan.slot_sizes = sizes;
    Ok(plan)
}

/// What a compiled plan does, step by step (see `CompiledProgram::describe`).
pub(crate) fn describe(plan: &Plan, indent: &str, out: &mut String) {
    use std::fmt::Write;
    let ep = |e: &Option<Epilogue>| match e {
        Some(e) => format!(" + {}", e.prog.label),
        None => String::new(),
    };
    for s in &plan.steps {
        let slot = s.slot.map(|x| format!(" -> slot {x}")).unwrap_or_default();
        let what = match &s.kind {
            Kind::Fallback { op, .. } => format!("eager {}", op.name()),
            Kind::GetItem { index, .. } => format!("getitem [{index}]"),
            Kind::HigherOrder { op, .. } => op.name().to_string(),
            Kind::Alias { .. } => "reshape (no copy)".to_string(),
            Kind::Gemm(g) => format!(
                "{}{}{}",
                match g.b {
                    GemmB::Packed { .. } => "gemm/gemv, prepacked weight",
                    GemmB::Dynamic(_) => "gemm",
                },
                if g.init.is_some() { " + bias" } else { "" },
                ep(&g.epilogue)
            ),
            Kind::Conv(c) => format!("conv2d im2col+gemm, prepacked weight{}", ep(&c.epilogue)),
            Kind::Fused { prog, .. } => format!("fused {}", prog.label),
            Kind::MaxPool { win, .. } => format!("max_pool2d {}x{}", win.k[0], win.k[1]),
        };
        let _ = writeln!(out, "{indent}{}: {what}{slot}", s.info.name);
        if let Kind::HigherOrder { op, subplans, .. } = &s.kind {
            for (role, b) in op.subgraph_roles().iter().zip(subplans) {
                let _ = writeln!(out, "{indent}  {role}:");
                if let Some(p) = plan.subplans.get(*b) {
                    describe(p, &format!("{indent}    "), out);
                }
            }
        }
    }
}

/// Counts for [`crate::PlanStats`].
pub(crate) fn stats(plan: &Plan, s: &mut crate::PlanStats) {
    s.folded_constants += plan.const_values.len() + plan.const_multi.len();
    s.buffer_slots += plan.slot_sizes.len();
    s.buffer_bytes += plan.slot_sizes.iter().sum::<usize>() * 4;
    for step in &plan.steps {
        match &step.kind {
            Kind::Fallback { op, .. } => s.fallback_ops.push(op.name()),
            Kind::Gemm(g) => {
                s.gemm += 1;
                if let Some(e) = &g.epilogue {
                    s.fused_ops += e.prog.label.split('+').count();
                }
            }
            Kind::Conv(c) => {
                s.conv += 1;
                if let Some(e) = &c.epilogue {
                    s.fused_ops += e.prog.label.split('+').count();
                }
            }
            Kind::Fused { prog, .. } => {
                s.fused_groups += 1;
                s.fused_ops += prog.label.split('+').count();
            }
            Kind::Alias { .. } => s.reshapes += 1,
            Kind::MaxPool { .. } => s.pools += 1,
            Kind::HigherOrder { op, subplans, .. } => {
                match op.name() {
                    "cond" => s.conds += 1,
                    "map_impl" => s.maps += 1,
                    _ => {}
                }
                for b in subplans {
                    if let Some(p) = plan.subplans.get(*b) {
                        stats(p, s);
                    }
                }
            }
            Kind::GetItem { .. } => {}
        }
    }
}

/// The node of a value, for messages.
pub(crate) fn node_name(plan: &Plan, v: V) -> &str {
    plan.names.get(v).map_or("?", String::as_str)
}
