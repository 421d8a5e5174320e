//! Fusion of elementwise chains: as calls are lowered, each elementwise op opens a
//! group absorbing the groups of its single-use inputs; finished groups compile to a
//! fused program, run in place on a GEMM/convolution output (an epilogue) when the
//! chain starts there, else as a step of its own.

use std::collections::{BTreeSet, HashMap};

use ferrex::graph::Arg;
use ferrex::ops::lowering::{ArgRef, Lowering};
use ferrex::ops::{OpDef, TensorOrNumber};
use ferrex::symbolic::SymInt;
use ferrex::tensor::{DType, Storage, TensorMeta};

use super::fold::f32_const;
use super::{Builder, ConstOrigin, ConvStep, Epilogue, GemmStep, Kind, Known, Operand, Place, V};
use crate::fused::{BinOp, FusedProgram, Instr, Src, UnOp};

/// An elementwise op the fuser understands.
pub(super) enum Ew {
    Unary(UnOp, Operand),
    Binary(BinOp, FArg, FArg, Option<f32>),
    /// `x * scale + shift`, per channel (inference batch norm).
    Affine {
        x: Operand,
        scale: usize,
        shift: usize,
    },
    /// `a` where the bool `cond` holds, else `b` (`where`).
    Select(Operand, FArg, FArg),
    /// One number everywhere (`zeros_like`, `full_like`, ...).
    Fill(f32),
    /// The operand's elements as f32 (`to(float32)` of a mask).
    Cast(Operand),
}

#[derive(Clone, Copy)]
pub(super) enum FArg {
    Op(Operand),
    Num(f32),
}

/// A batch norm's per-channel scale and shift (`None` without data), and its channels.
type ScaleShift = (Option<Vec<f32>>, Option<Vec<f32>>, usize);

impl Builder<'_> {
    /// Starts a fusion group at `v`, absorbing the groups of inputs used only here.
    pub(super) fn open_group(&mut self, v: V, ew: Ew) {
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
                views: Vec::new(),
            },
        ));
        self.place[v] = Some(Place::Slot);
    }

    /// The elementwise op of a call, when the fuser handles it: f32 in and out, numbers
    /// and f32 tensors as operands. The op says what it computes (its lowering hook, from
    /// its typed arguments); inference batch norm is an affine map.
    pub(super) fn elementwise(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Ew> {
        if !self.is_f32(v) {
            return None;
        }
        if let Some(affine) = self.batch_norm_affine(v, op, args) {
            return Some(affine);
        }
        match lowering_of(op, args)? {
            Lowering::Unary { input, f } => Some(Ew::Unary(f, self.f32_value(input)?)),
            Lowering::Binary {
                op,
                lhs,
                rhs,
                alpha,
            } => Some(Ew::Binary(
                op,
                self.farg(lhs)?,
                self.farg(rhs)?,
                (alpha != 1.0).then_some(alpha as f32),
            )),
            // A bool condition, loaded as 1 or 0 (`exec`'s `Run::data`).
            Lowering::Where { cond, x, y } => {
                let is_bool = self.meta(cond)?.dtype == DType::Bool;
                is_bool.then_some(())?;
                Some(Ew::Select(self.operand(cond), self.farg(x)?, self.farg(y)?))
            }
            Lowering::Fill { value } => Some(Ew::Fill(value as f32)),
            // Any dtype into f32: the load converts (`exec`'s `Run::data`).
            Lowering::Cast { input } => Some(Ew::Cast(self.operand(input))),
            _ => None,
        }
    }

    /// A fused operand: an f32 value, or a number.
    fn farg(&self, a: TensorOrNumber<ArgRef>) -> Option<FArg> {
        match a {
            TensorOrNumber::Tensor(x) => self.f32_value(x).map(FArg::Op),
            TensorOrNumber::Number(n) => Some(FArg::Num(n.to::<f64>() as f32)),
        }
    }

    /// Node `x` as an operand, when it is an f32 tensor.
    pub(super) fn f32_value(&self, x: ArgRef) -> Option<Operand> {
        self.is_f32(x).then(|| self.operand(x))
    }

    /// An inference batch norm (the op's `Lowering::BatchNorm`) of an f32 input of rank
    /// ≥ 2 with constant statistics and parameters: a per-channel affine map.
    fn batch_norm_affine(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Ew> {
        let Some(Lowering::BatchNorm {
            input: x,
            weight,
            bias,
            running_mean,
            running_var,
            eps,
        }) = lowering_keeping_sizes(op, args)
        else {
            return None;
        };
        if !self.single_output(v) || !self.is_f32(x) {
            return None;
        }
        let rank = self.meta(x)?.rank();
        if rank < 2 {
            return None;
        }
        let (scale, shift, channels) =
            self.batch_norm_values([weight, bias, running_mean, running_var], eps)?;
        let mut shape = vec![1usize; rank - 1];
        shape[0] = channels;
        let konst = |b: &Self, n: Option<V>| n.and_then(|n| b.const_of[n]);
        let origin = |shift| ConstOrigin::BatchNorm {
            weight: konst(self, weight),
            bias: konst(self, bias),
            mean: konst(self, running_mean),
            var: konst(self, running_var),
            eps,
            shift,
        };
        let (scale_origin, shift_origin) = (origin(false), origin(true));
        let known = |values: Option<Vec<f32>>| match values {
            Some(v) => Storage::from_vec(&shape, v).map(Known::Data),
            None => Some(Known::Meta(TensorMeta::from_shape(DType::F32, &shape))),
        };
        let (scale, shift) = (known(scale)?, known(shift)?);
        let scale = self.add_const_from(scale, scale_origin);
        let shift = self.add_const_from(shift, shift_origin);
        Some(Ew::Affine {
            x: self.operand(x),
            scale,
            shift,
        })
    }

    /// A batch norm's per-channel scale and shift from its constant weight, bias (both
    /// optional), running mean and variance, and the channels; without data (a
    /// structure-only plan) the same checks on the constants' metas, and no values.
    fn batch_norm_values(
        &self,
        [weight, bias, mean, var]: [Option<V>; 4],
        eps: f64,
    ) -> Option<ScaleShift> {
        if !self.with_data {
            let len = |n: Option<V>| -> Option<Option<usize>> {
                match n {
                    None => Some(None),
                    Some(n) => Some(Some(self.f32_shape(self.const_of[n]?)?.iter().product())),
                }
            };
            let c = len(mean)??;
            let same = |n: Option<V>| len(n).map(|l| l.is_none_or(|l| l == c));
            let ok = same(weight)? && same(bias)? && len(var)?? == c;
            return ok.then_some((None, None, c));
        }
        let data = |n: Option<V>| -> Option<Option<Vec<f32>>> {
            match n {
                None => Some(None),
                Some(n) => {
                    let c = self.const_of[n]?;
                    f32_const(&self.plan.consts[c]).map(|(d, _)| Some(d))
                }
            }
        };
        let (w, b) = (data(weight)?, data(bias)?);
        let (mean, var) = (data(mean)??, data(var)??);
        let (scale, shift) =
            crate::exec::batch_norm_affine(w.as_deref(), b.as_deref(), &mean, &var, eps)?;
        Some((Some(scale), Some(shift), mean.len()))
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
            Ew::Select(cond, a, b) => std::iter::once(*cond)
                .chain([a, b].into_iter().filter_map(|a| match a {
                    FArg::Op(o) => Some(*o),
                    FArg::Num(_) => None,
                }))
                .collect(),
            Ew::Fill(_) => Vec::new(),
            Ew::Cast(x) => vec![*x],
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
            let out = e.member(ew, &mut labels);
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
    pub(super) fn finish_groups(&mut self) {
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
                // A convolution hosts its chain over `[N, C, H, W]`, or a 1-D one's
                // over `[N, C, L]` (run as `[N, C, 1, L]`: `exec::conv_fused`).
                let image = self.meta(e).is_some_and(|m| matches!(m.rank(), 3 | 4));
                let hosts = match self.steps[e].as_ref().map(|s| &s.kind) {
                    Some(Kind::Gemm(GemmStep { epilogue: None, .. })) => true,
                    Some(Kind::Conv(ConvStep { epilogue: None, .. })) => image,
                    _ => false,
                };
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
                        step.kind = Kind::Fused {
                            prog,
                            inputs,
                            views: Vec::new(),
                        };
                    }
                }
            }
        }
    }
}

/// What `op` computes for these arguments, from its lowering hook (the op's typed
/// arguments, tensors as node indices); `None` when it has none or refuses them.
/// An argument holding a size known only at run time (`u0` read from data, a symbolic
/// size) makes the call a fallback: decoding would bake its example value into the step.
pub(super) fn lowering_of(op: &OpDef, args: &[Arg]) -> Option<Lowering<ArgRef>> {
    let symbolic = |s: &SymInt| s.as_int().is_none();
    let run_time_value = args.iter().any(|a| match a {
        Arg::Int(s) => symbolic(s),
        Arg::IntList(l) => l.iter().any(symbolic),
        Arg::SymBool(_) | Arg::Sym(_) | Arg::SymInts(_) => true,
        _ => false,
    });
    if run_time_value {
        return None;
    }
    ferrex::graph::lowering_of(op, args)
}

/// The lowering of an op whose capability holds no size as a plain integer — views
/// (`Lowering::Reshape`, `Permute`, `Expand`, `Select`, `Slice`, `Split`) and norms (`LayerNorm`,
/// `GroupNorm`, `BatchNorm`) — with the call's sizes kept symbolic: unlike
/// [`lowering_of`], a size known only at run time is allowed, because these lowerings
/// hold sizes only as `SymInt`s (a slice's bounds, a select's index), which the step
/// evaluates from the call's bindings; their integer fields are dims, ranks and groups,
/// never sizes (`native_group_norm`'s `N`, `C`, `HxW` are not part of its lowering).
pub(super) fn lowering_keeping_sizes(op: &OpDef, args: &[Arg]) -> Option<Lowering<ArgRef>> {
    match ferrex::graph::lowering_of(op, args)? {
        l @ (Lowering::Reshape { .. }
        | Lowering::Permute { .. }
        | Lowering::Expand { .. }
        | Lowering::Select { .. }
        | Lowering::Slice { .. }
        | Lowering::Split { .. }
        | Lowering::LayerNorm { .. }
        | Lowering::GroupNorm { .. }
        | Lowering::ChannelNorm { .. }
        | Lowering::BatchNorm { .. }) => Some(l),
        _ => None,
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

    /// `x * scale + shift` (constants `scale` and `shift`, per channel).
    fn affine(&mut self, x: Operand, scale: usize, shift: usize) -> usize {
        let xr = self.reg(x);
        let s = self.load(Operand::Const(scale));
        let t = self.load(Operand::Const(shift));
        let mul = self.fresh();
        self.prog.instrs.push(Instr::Binary {
            dst: mul,
            op: BinOp::Mul,
            a: Src::Reg(xr),
            b: Src::Reg(s),
        });
        let dst = self.fresh();
        self.prog.instrs.push(Instr::Binary {
            dst,
            op: BinOp::Add,
            a: Src::Reg(mul),
            b: Src::Reg(t),
        });
        dst
    }

    /// Emits member `ew`'s instructions; the register holding its result.
    fn member(&mut self, ew: &Ew, labels: &mut Vec<String>) -> usize {
        match ew {
            Ew::Unary(op, x) => {
                let a = self.reg(*x);
                let dst = self.fresh();
                self.prog.instrs.push(Instr::Unary { dst, op: *op, a });
                labels.push(format!("{op:?}").to_lowercase());
                dst
            }
            Ew::Binary(op, a, b, alpha) => {
                let sa = self.src(*a);
                let mut sb = self.src(*b);
                if let Some(alpha) = alpha {
                    sb = match sb {
                        Src::Const(c) => Src::Const(c * alpha),
                        Src::Reg(r) => {
                            let dst = self.fresh();
                            self.prog.instrs.push(Instr::Binary {
                                dst,
                                op: BinOp::Mul,
                                a: Src::Reg(r),
                                b: Src::Const(*alpha),
                            });
                            Src::Reg(dst)
                        }
                    };
                }
                let dst = self.fresh();
                self.prog.instrs.push(Instr::Binary {
                    dst,
                    op: *op,
                    a: sa,
                    b: sb,
                });
                labels.push(format!("{op:?}").to_lowercase());
                dst
            }
            Ew::Affine { x, scale, shift } => {
                labels.push("batch_norm".into());
                self.affine(*x, *scale, *shift)
            }
            Ew::Select(cond, a, b) => {
                let cond = self.reg(*cond);
                let (a, b) = (self.src(*a), self.src(*b));
                let dst = self.fresh();
                self.prog.instrs.push(Instr::Select { dst, cond, a, b });
                labels.push("where".into());
                dst
            }
            Ew::Fill(value) => {
                // `value * 1` keeps every value's bits (a -0.0, a NaN's payload).
                let dst = self.fresh();
                self.prog.instrs.push(Instr::Binary {
                    dst,
                    op: BinOp::Mul,
                    a: Src::Const(*value),
                    b: Src::Const(1.0),
                });
                labels.push("fill".into());
                dst
            }
            // The load itself, which converts.
            Ew::Cast(x) => {
                labels.push("to".into());
                self.reg(*x)
            }
        }
    }

    fn src(&mut self, f: FArg) -> Src {
        match f {
            FArg::Op(o) => Src::Reg(self.reg(o)),
            FArg::Num(x) => Src::Const(x),
        }
    }
}
