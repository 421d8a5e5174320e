//! Lowering of the ops beyond products, convolutions and elementwise chains: views of
//! any value, attention, reductions, embedding, group norm, `bmm`, and the core-IR
//! spellings of the planned composites (`native_layer_norm`,
//! `_native_batch_norm_legit_no_training`, `max_pool2d_with_indices`,
//! `native_group_norm`, whose output 0 is read through `getitem`).

use ferrex::graph::Arg;
use ferrex::ops::{Lowering, OpDef};
use ferrex::symbolic::SymInt;
use ferrex::tensor::DType;

use super::fuse::lowering_of;
use super::lower::number;
use super::{Builder, Cmp, Kind, Operand, Place, ViewOp, V};

/// A view as its op's lowering gives it, before the input's rank places its dim.
pub(super) enum ViewLowering {
    Reshape,
    Expand,
    Select {
        dim: i64,
        index: SymInt,
    },
    Slice {
        dim: i64,
        start: Option<SymInt>,
        end: Option<SymInt>,
        step: SymInt,
    },
}

/// `d` of a tensor of `rank` dims, wrapped when negative.
fn wrap_dim(d: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    usize::try_from(if d < 0 { d + r } else { d })
        .ok()
        .filter(|&d| d < rank)
}

impl Builder<'_> {
    /// The planned step of a call beyond [`Builder::plan_call`]'s first matches, or
    /// `None` (an eager fallback).
    pub(super) fn lower_more(&mut self, v: V, name: &str, args: &[Arg]) -> Option<Kind> {
        match name {
            "aten::scaled_dot_product_attention.default" => self.try_attention(v, args),
            "aten::embedding.default" => self.try_embedding(v, args),
            "aten::group_norm.default" | "aten::native_group_norm.default" => {
                self.try_group_norm(v, name, args)
            }
            "aten::bmm.default" => self.try_bmm(v, args),
            "aten::eq.Scalar" | "aten::ne.Scalar" | "aten::gt.Scalar" | "aten::ge.Scalar"
            | "aten::lt.Scalar" | "aten::le.Scalar" => self.try_compare(v, name, args),
            _ => None,
        }
    }

    /// An f32 tensor argument as an operand.
    fn f32_arg(&self, a: Option<&Arg>) -> Option<Operand> {
        self.node_arg(a)
            .filter(|&x| self.is_f32(x))
            .map(|x| self.operand(x))
    }

    /// `scaled_dot_product_attention(q, k, v, mask?, dropout_p=0, is_causal, scale?,
    /// enable_gqa)` of f32 operands whose batch dims are the same (no broadcasting, no
    /// grouped heads), with no mask or an f32 one.
    fn try_attention(&self, v: V, args: &[Arg]) -> Option<Kind> {
        if !self.is_f32(v) {
            return None;
        }
        let metas: Vec<_> = (0..3)
            .map(|i| self.node_arg(args.get(i)).and_then(|x| self.meta(x)))
            .collect::<Option<_>>()?;
        let r = metas[0].rank();
        let same_batch = metas.iter().all(|m| {
            m.rank() == r
                && m.dtype == DType::F32
                && m.sizes[..r.saturating_sub(2)]
                    .iter()
                    .zip(&metas[0].sizes)
                    .all(|(a, b)| a.same_as(b))
        });
        if r < 2 || !same_batch {
            return None;
        }
        let mask = match args.get(3) {
            None | Some(Arg::None) => None,
            a => Some(self.f32_arg(a)?),
        };
        if args.get(4).map_or(Some(0.0), number)? != 0.0 {
            return None;
        }
        let causal = matches!(args.get(5), Some(Arg::Bool(true)));
        let scale = match args.get(6) {
            None | Some(Arg::None) => 1.0 / (metas[0].sizes[r - 1].hint().max(1) as f64).sqrt(),
            a => number(a?)?,
        };
        Some(Kind::Attention {
            q: self.f32_arg(args.first())?,
            k: self.f32_arg(args.get(1))?,
            v: self.f32_arg(args.get(2))?,
            mask,
            scale,
            causal,
        })
    }

    /// A sum or mean of an f32 input into f32 (the op's `Lowering::Reduce`: `sum`,
    /// `mean`, their `.dim` forms).
    pub(super) fn try_reduce(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let Some(Lowering::Reduce {
            input: x,
            dims,
            dtype,
            mean,
        }) = lowering_of(op, args)
        else {
            return None;
        };
        if !self.is_f32(x) || !self.is_f32(v) || !matches!(dtype, None | Some(DType::F32)) {
            return None;
        }
        let rank = self.meta(x)?.rank();
        let mut dims: Vec<usize> = match dims {
            Some(l) if rank > 0 => l
                .iter()
                .map(|&d| wrap_dim(d, rank))
                .collect::<Option<_>>()?,
            _ => Vec::new(),
        };
        if dims.is_empty() {
            dims = (0..rank).collect();
        }
        dims.sort_unstable();
        dims.dedup();
        Some(Kind::Reduce {
            x: self.operand(x),
            dims,
            mean,
        })
    }

    /// `embedding(weight, indices, ..)`: an f32 table, i64 ids.
    fn try_embedding(&self, v: V, args: &[Arg]) -> Option<Kind> {
        let weight = self.f32_arg(args.first())?;
        let ids = self.node_arg(args.get(1))?;
        let ids_meta = self.meta(ids)?;
        if !self.is_f32(v) || ids_meta.dtype != DType::I64 {
            return None;
        }
        Some(Kind::Embedding {
            weight,
            ids: self.operand(ids),
        })
    }

    /// `group_norm(x, groups, weight?, bias?, eps, cudnn)` and `native_group_norm(x,
    /// weight?, bias?, N, C, HxW, groups, eps)` (output 0 only) of f32 values.
    fn try_group_norm(&self, v: V, name: &str, args: &[Arg]) -> Option<Kind> {
        let x = self.f32_arg(args.first())?;
        if !self.is_f32(v) {
            return None;
        }
        let native = name == "aten::native_group_norm.default";
        let (groups_at, w_at, eps_at) = if native { (6, 1, 7) } else { (1, 2, 4) };
        let groups = match args.get(groups_at) {
            Some(Arg::Int(s)) => usize::try_from(s.as_int()?).ok()?,
            _ => return None,
        };
        let param = |i: usize| -> Option<Option<Operand>> {
            match args.get(i) {
                None | Some(Arg::None) => Some(None),
                a => self.f32_arg(a).map(Some),
            }
        };
        let eps = args.get(eps_at).map_or(Some(1e-5), number)?;
        Some(Kind::GroupNorm {
            x,
            groups,
            weight: param(w_at)?,
            bias: param(w_at + 1)?,
            eps,
        })
    }

    /// `x <op> number` of an f32 value into bool.
    fn try_compare(&self, v: V, name: &str, args: &[Arg]) -> Option<Kind> {
        let x = self.f32_arg(args.first())?;
        if self.meta(v)?.dtype != DType::Bool {
            return None;
        }
        let op = match name {
            "aten::eq.Scalar" => Cmp::Eq,
            "aten::ne.Scalar" => Cmp::Ne,
            "aten::gt.Scalar" => Cmp::Gt,
            "aten::ge.Scalar" => Cmp::Ge,
            "aten::lt.Scalar" => Cmp::Lt,
            _ => Cmp::Le,
        };
        Some(Kind::Compare {
            x,
            op,
            rhs: number(args.get(1)?)?,
        })
    }

    /// `bmm(a, b)` of two 3-D f32 values.
    fn try_bmm(&self, v: V, args: &[Arg]) -> Option<Kind> {
        let rank3 = |a: Option<&Arg>| {
            self.node_arg(a)
                .and_then(|x| self.meta(x))
                .is_some_and(|m| m.rank() == 3)
        };
        if !self.is_f32(v) || !rank3(args.first()) || !rank3(args.get(1)) {
            return None;
        }
        Some(Kind::Bmm {
            a: self.f32_arg(args.first())?,
            b: self.f32_arg(args.get(1))?,
        })
    }

    /// A view op of an f32 value that is not a reshape of a planned buffer (those are
    /// aliases): a strided copy.
    pub(super) fn try_view(&self, v: V, src: V, view: ViewLowering) -> Option<Kind> {
        if !self.is_f32(src) || !self.is_f32(v) {
            return None;
        }
        let rank = self.meta(src)?.rank();
        let view = match view {
            ViewLowering::Reshape => ViewOp::Reshape,
            ViewLowering::Expand => ViewOp::Expand,
            ViewLowering::Select { dim, index } => ViewOp::Select {
                dim: wrap_dim(dim, rank)?,
                index,
            },
            ViewLowering::Slice {
                dim,
                start,
                end,
                step,
            } => ViewOp::Slice {
                dim: wrap_dim(dim, rank)?,
                start,
                end,
                step: usize::try_from(step.as_int()?).ok().filter(|&s| s > 0)?,
            },
        };
        Some(Kind::View {
            x: self.operand(src),
            view,
        })
    }

    /// `getitem(v, 0)` of a multi-output node planned as its output 0: the same buffer.
    pub(super) fn first_output_alias(&mut self, v: V, source: V, index: usize) -> bool {
        if index != 0 || self.place[source] != Some(Place::Slot) || !self.first_only[source] {
            return false;
        }
        self.alias_to(v, source);
        true
    }

    /// The name and arguments under which a call is lowered: a core-IR composite whose
    /// output 0 alone is read as its export-IR form (`native_layer_norm` → `layer_norm`, …), any
    /// other call as itself.
    pub(super) fn core_ir_form(
        &self,
        v: V,
        name: &str,
        args: &[Arg],
    ) -> (String, Option<Vec<Arg>>) {
        let mapped = self.core_ir_args(v, name, args);
        let first_only = self.first_only[v];
        let export_name = match (name, &mapped) {
            ("aten::_native_batch_norm_legit_no_training.default", Some(_)) => {
                "aten::batch_norm.default"
            }
            ("aten::native_layer_norm.default", _) if first_only => "aten::layer_norm.default",
            (other, _) => other,
        };
        (export_name.to_string(), mapped)
    }

    /// The arguments of a core-IR composite spelled as its export-IR form, for the
    /// lowering of that form: `_native_batch_norm_legit_no_training` as inference `batch_norm`.
    fn core_ir_args(&self, v: V, name: &str, args: &[Arg]) -> Option<Vec<Arg>> {
        if !self.first_only.get(v).copied().unwrap_or(false) {
            return None;
        }
        match name {
            "aten::_native_batch_norm_legit_no_training.default" => {
                let mut a = args.get(..5)?.to_vec();
                a.push(Arg::Bool(false));
                a.extend(args.get(5..7)?.iter().cloned());
                Some(a)
            }
            _ => None,
        }
    }
}
