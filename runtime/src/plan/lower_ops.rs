//! Lowering of the ops beyond products, convolutions and elementwise chains: views of
//! any value, attention, reductions, embedding, group norm, `bmm`, comparisons with a
//! number, `cat` / `stack` — each chosen by what its op's lowering hook says, never by its name.

use ferrex::graph::{Arg, NodeKind};
use ferrex::ops::rnn::RecurrentSpec;
use ferrex::ops::{Interpolation, Lowering, OpDef};
use ferrex::symbolic::{CmpOp, SymInt};
use ferrex::tensor::DType;

use super::fuse::{lowering_keeping_sizes, lowering_of};
use super::{Builder, Cmp, GemmB, GemmStep, Kind, Operand, Place, ViewOp, V};

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

impl ViewLowering {
    /// The viewed input and the view of a `Reshape` / `Expand` / `Select` / `Slice`
    /// lowering; `None` for any other.
    pub(super) fn of(l: &Lowering<V>) -> Option<(V, ViewLowering)> {
        Some(match l {
            Lowering::Reshape { input } => (*input, ViewLowering::Reshape),
            Lowering::Expand { input } => (*input, ViewLowering::Expand),
            Lowering::Select { input, dim, index } => (
                *input,
                ViewLowering::Select {
                    dim: *dim,
                    index: index.clone(),
                },
            ),
            Lowering::Slice {
                input,
                dim,
                start,
                end,
                step,
            } => (
                *input,
                ViewLowering::Slice {
                    dim: *dim,
                    start: start.clone(),
                    end: end.clone(),
                    step: step.clone(),
                },
            ),
            _ => return None,
        })
    }
}

/// `d` of a tensor of `rank` dims, wrapped when negative.
fn wrap_dim(d: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    usize::try_from(if d < 0 { d + r } else { d })
        .ok()
        .filter(|&d| d < rank)
}

impl Builder<'_> {
    /// The planned step of a call by what its op's lowering says beyond products,
    /// convolutions, pooling, softmax, reductions, norms and views (attention,
    /// embedding, `bmm`, comparisons, concatenations), or `None` (an eager fallback).
    pub(super) fn lower_more(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        match lowering_of(op, args)? {
            Lowering::Attention {
                query,
                key,
                value,
                attn_mask,
                dropout_p,
                is_causal,
                scale,
            } => {
                let operands = [query, key, value];
                self.try_attention(v, operands, attn_mask, dropout_p, is_causal, scale)
            }
            Lowering::Gather {
                input,
                dim,
                indices,
                negative,
            } => self.try_gather(v, input, dim, &indices, negative),
            Lowering::Roll {
                input,
                shifts,
                dims,
            } => self.try_roll(v, input, &shifts, &dims),
            Lowering::Pad { input, pad, value } => {
                let rank = self.meta(input)?.rank();
                if !self.is_f32(v) {
                    return None;
                }
                Some(Kind::Pad {
                    x: self.f32_value(input)?,
                    pads: ferrex_kernels::layout::dim_pads(&pad, rank)?,
                    value: value as f32,
                })
            }
            // A 3-D convolution (`[N, C, D, H, W]`): each sample alone, by the op's
            // kernel (the plan's convolution steps are 1-D and 2-D).
            Lowering::Conv { input, .. } if self.meta(input)?.rank() == 5 => Some(Kind::Lanes {
                op,
                args: args.to_vec(),
                dims: vec![1, 2, 3, 4],
                xs: vec![self.operand(input)],
            }),
            Lowering::Lanes { inputs, dims } => {
                let rank = self.meta(*inputs.first()?)?.rank().max(1);
                Some(Kind::Lanes {
                    op,
                    args: args.to_vec(),
                    dims: (dims.iter().map(|&d| wrap_dim(d, rank))).collect::<Option<_>>()?,
                    xs: inputs.iter().map(|&x| self.operand(x)).collect(),
                })
            }
            Lowering::Bmm { a, b } => self.try_bmm(v, a, b),
            Lowering::Compare { input, op, rhs } => self.try_compare(v, input, op, rhs),
            Lowering::Concat { inputs, dim } => self.try_concat(v, &inputs, dim),
            Lowering::Upsample {
                input,
                scales,
                mode,
            } => self.try_upsample(v, input, scales, mode),
            Lowering::Recurrent {
                input,
                hx,
                params,
                spec,
            } => self.try_recurrent(v, input, hx, params, spec),
            _ => None,
        }
    }

    /// A recurrent op of f32 operands that the layer kernel runs
    /// ([`RecurrentSpec::runs`], asked of the results as the compiled runtime's
    /// decomposition of the calls it refuses asks it).
    fn try_recurrent(
        &self,
        v: V,
        input: V,
        hx: Vec<V>,
        params: Vec<V>,
        spec: RecurrentSpec,
    ) -> Option<Kind> {
        let args: Vec<V> = [vec![input], hx, params].concat();
        let f32s = |x: &V| self.meta(*x).is_some_and(|m| m.dtype == DType::F32);
        if !args.iter().all(f32s) || !spec.runs(&self.graph.nodes[v].meta) {
            return None;
        }
        spec.operands(&args)?;
        Some(Kind::Recurrent { spec, args })
    }

    /// `cat` / `stack` of f32 values into f32 (the op's `Lowering::Concat`): block copies
    /// along the output's dim `dim`, wrapped against the output's rank (which is the
    /// inputs' for `cat`, one more for `stack`).
    fn try_concat(&self, v: V, inputs: &[V], dim: i64) -> Option<Kind> {
        if !self.is_f32(v) || inputs.is_empty() {
            return None;
        }
        let dim = wrap_dim(dim, self.meta(v)?.rank())?;
        let xs = inputs.iter().map(|&x| self.f32_value(x));
        Some(Kind::Concat {
            xs: xs.collect::<Option<_>>()?,
            dim,
        })
    }

    /// Scaled dot-product attention of f32 operands `[q, k, v]` whose batch dims are the
    /// same (no broadcasting, no grouped heads), with no mask or an f32 one, no dropout.
    fn try_attention(
        &self,
        v: V,
        qkv: [V; 3],
        mask: Option<V>,
        dropout_p: f64,
        causal: bool,
        scale: Option<f64>,
    ) -> Option<Kind> {
        if !self.is_f32(v) {
            return None;
        }
        let metas: Vec<_> = qkv.iter().map(|&x| self.meta(x)).collect::<Option<_>>()?;
        let r = metas[0].rank();
        let same_batch = metas.iter().all(|m| {
            m.rank() == r
                && m.dtype == DType::F32
                && m.sizes[..r.saturating_sub(2)]
                    .iter()
                    .zip(&metas[0].sizes)
                    .all(|(a, b)| a.same_as(b))
        });
        if r < 2 || !same_batch || dropout_p != 0.0 {
            return None;
        }
        // A bool mask keeps where it holds (the kernel adds -inf where it does not).
        let keep_mask = mask.is_some_and(|m| self.meta(m).is_some_and(|m| m.dtype == DType::Bool));
        let mask = match mask {
            None => None,
            Some(m) if keep_mask => Some(self.operand(m)),
            Some(m) => Some(self.f32_value(m)?),
        };
        let scale =
            scale.unwrap_or_else(|| 1.0 / (metas[0].sizes[r - 1].hint().max(1) as f64).sqrt());
        Some(Kind::Attention {
            q: self.f32_value(qkv[0])?,
            k: self.f32_value(qkv[1])?,
            v: self.f32_value(qkv[2])?,
            mask,
            keep_mask,
            scale,
            causal,
            views: None,
        })
    }

    /// A sum, mean, maximum or minimum of an f32 input into f32 (the op's
    /// `Lowering::Reduce`: `sum`, `mean`, their `.dim` forms, `amax`, `amin`).
    pub(super) fn try_reduce(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let Some(Lowering::Reduce {
            input: x,
            dims,
            dtype,
            op: reduction,
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
            op: reduction,
        })
    }

    /// A gather of an f32 value (`embedding`, `index_select`, `index.Tensor`) by i64
    /// indices whose shapes broadcast together (`index.Tensor`'s may differ), whose
    /// result has the dims the op's meta gave it (an `index_select` by a 0-dim index
    /// keeps its dim, which a gather would drop).
    fn try_gather(&self, v: V, input: V, dim: i64, indices: &[V], negative: bool) -> Option<Kind> {
        let x = self.f32_value(input)?;
        let rank = self.meta(input)?.rank();
        let dim = wrap_dim(dim, rank)?;
        let mut shape: Vec<SymInt> = Vec::new();
        for &i in indices {
            let m = self.meta(i)?;
            if m.dtype != DType::I64 {
                return None;
            }
            shape = ferrex::tensor::sizes::broadcast_shapes(&shape, &m.sizes).ok()?;
        }
        let out_rank = (rank + shape.len()).checked_sub(indices.len())?;
        let fits = dim + indices.len() <= rank && self.meta(v)?.rank() == out_rank;
        if !self.is_f32(v) || indices.is_empty() || !fits {
            return None;
        }
        Some(Kind::Gather {
            x,
            dim,
            ids: indices.iter().map(|&i| self.operand(i)).collect(),
            negative,
        })
    }

    /// `roll` of an f32 value by shifts along dims (none: the flattened value).
    fn try_roll(&self, v: V, input: V, shifts: &[i64], dims: &[i64]) -> Option<Kind> {
        let x = self.f32_value(input)?;
        let rank = self.meta(input)?.rank();
        if !self.is_f32(v) || rank == 0 {
            return None;
        }
        let (pairs, flat) = match (shifts, dims) {
            (&[shift], []) => (vec![(shift, 0)], true),
            _ if shifts.len() == dims.len() => {
                let wrapped = dims.iter().map(|&d| wrap_dim(d, rank));
                let pairs = shifts.iter().zip(wrapped).map(|(&s, d)| Some((s, d?)));
                (pairs.collect::<Option<_>>()?, false)
            }
            _ => return None,
        };
        Some(Kind::Roll { x, pairs, flat })
    }

    /// A group norm of f32 values (the op's `Lowering::GroupNorm`: `group_norm`, and
    /// `native_group_norm`, planned as its output 0). A norm of each channel by its
    /// own statistics (`Lowering::ChannelNorm`) is one of a group per channel: in each
    /// sample (`instance_norm`), or over a batch of one (`_native_batch_norm_legit.
    /// no_stats`, which the core IR's `instance_norm` calls on its `[1, N * C, …]` view).
    pub(super) fn try_group_norm(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let (input, groups, weight, bias, eps) = match lowering_keeping_sizes(op, args)? {
            Lowering::GroupNorm {
                input,
                groups,
                weight,
                bias,
                eps,
            } => (input, groups, weight, bias, eps),
            Lowering::ChannelNorm {
                input,
                weight,
                bias,
                eps,
                per_sample,
            } => {
                let sizes = &self.meta(input)?.sizes;
                if !per_sample && sizes.first()?.as_int() != Some(1) {
                    return None;
                }
                (input, sizes.get(1)?.as_int()?, weight, bias, eps)
            }
            _ => return None,
        };
        let x = self.f32_value(input)?;
        if !self.is_f32(v) {
            return None;
        }
        let param = |n: Option<V>| -> Option<Option<Operand>> {
            match n {
                None => Some(None),
                Some(n) => self.f32_value(n).map(Some),
            }
        };
        Some(Kind::GroupNorm {
            x,
            groups: usize::try_from(groups).ok()?,
            weight: param(weight)?,
            bias: param(bias)?,
            eps,
        })
    }

    /// `x <op> number` of an f32 value into bool.
    fn try_compare(&self, v: V, x: V, op: CmpOp, rhs: f64) -> Option<Kind> {
        let x = self.f32_value(x)?;
        if self.meta(v)?.dtype != DType::Bool {
            return None;
        }
        let op = match op {
            CmpOp::Eq => Cmp::Eq,
            CmpOp::Ne => Cmp::Ne,
            CmpOp::Gt => Cmp::Gt,
            CmpOp::Ge => Cmp::Ge,
            CmpOp::Lt => Cmp::Lt,
            CmpOp::Le => Cmp::Le,
        };
        Some(Kind::Compare { x, op, rhs })
    }

    /// `bmm(a, b)` of two 3-D f32 values.
    fn try_bmm(&mut self, v: V, a: V, b: V) -> Option<Kind> {
        let rank3 = |x: V| self.meta(x).is_some_and(|m| m.rank() == 3);
        if !self.is_f32(v) || !rank3(a) {
            return None;
        }
        if let Some(&w) = self.broadcast_b.get(&v) {
            // One GEMM of all of `a`'s rows with the broadcast matrix.
            if !self.is_f32(w) {
                return None;
            }
            let b = match self.const_of[w] {
                Some(c) => self.pack_bt(c)?,
                None => GemmB::Dynamic(Operand::Val(w)),
            };
            return Some(Kind::Gemm(GemmStep {
                a: self.operand(a),
                b,
                init: None,
                alpha: 1.0,
                epilogue: None,
            }));
        }
        if !rank3(b) {
            return None;
        }
        Some(Kind::Bmm {
            a: self.f32_value(a)?,
            b: self.f32_value(b)?,
        })
    }

    /// A view op of an f32 value that is not a reshape of a planned buffer (those are
    /// aliases): a strided copy.
    pub(super) fn try_view(&self, v: V, src: V, view: ViewLowering) -> Option<Kind> {
        if !self.is_f32(src) || !self.is_f32(v) {
            return None;
        }
        let view = self.view_op(src, view)?;
        if self.place[src] == Some(Place::Slot) && self.is_one_run(src, &view) {
            return Some(Kind::Alias {
                src,
                sizes: Vec::new(),
                at: Some(view),
            });
        }
        Some(Kind::View {
            x: self.operand(src),
            view,
        })
    }

    /// A view as the runtime lays it out, its dims wrapped against `src`'s rank.
    fn view_op(&self, src: V, view: ViewLowering) -> Option<ViewOp> {
        let rank = self.meta(src)?.rank();
        Some(match view {
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
        })
    }

    /// A call on bool or integer data ([`Kind::Typed`]): a view, or an elementwise op
    /// (as its lowering says), whose result or one of whose operands is not f32.
    pub(super) fn try_typed(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        if self.graph.nodes[v].meta.len() != 1 {
            return None;
        }
        let tensors: Vec<V> = args.iter().flat_map(Arg::nodes).map(|n| n.0).collect();
        let typed = |x: &V| self.meta(*x).is_some_and(|m| m.dtype != DType::F32);
        if !typed(&v) && !tensors.iter().any(typed) {
            return None;
        }
        let same_dtype = |x: V| self.meta(x).map(|m| m.dtype) == self.meta(v).map(|m| m.dtype);
        let viewed = |x: V, view: Option<ViewOp>| {
            same_dtype(x).then_some(())?;
            Some(Kind::Typed {
                op,
                args: args.to_vec(),
                inputs: vec![self.operand(x)],
                view: Some(view?),
            })
        };
        let lowering = lowering_keeping_sizes(op, args).or_else(|| lowering_of(op, args))?;
        if let Some((input, view)) = ViewLowering::of(&lowering) {
            return viewed(input, self.view_op(input, view));
        }
        match lowering {
            Lowering::Permute { input, dims } => {
                let dims = self.permute_dims(input, dims)?;
                viewed(input, Some(ViewOp::Permute { dims }))
            }
            Lowering::Unary { .. }
            | Lowering::Binary { .. }
            | Lowering::Compare { .. }
            | Lowering::Where { .. }
            | Lowering::Fill { .. }
            | Lowering::Cast { .. }
            | Lowering::Elementwise { .. } => Some(Kind::Typed {
                op,
                args: args.to_vec(),
                inputs: tensors.iter().map(|&x| self.operand(x)).collect(),
                view: None,
            }),
            _ => None,
        }
    }

    /// Whether a select or slice (by step 1) of `src` reads one run of its buffer: every
    /// dim before the one it indexes has size 1 whatever the sizes bound.
    fn is_one_run(&self, src: V, view: &ViewOp) -> bool {
        let dim = match view {
            ViewOp::Select { dim, .. } | ViewOp::Slice { dim, step: 1, .. } => *dim,
            _ => return false,
        };
        self.meta(src).is_some_and(|m| {
            m.sizes.len() > dim && m.sizes[..dim].iter().all(|s| *s == SymInt::Int(1))
        })
    }

    /// Nearest-neighbour or bilinear upsampling of a 4-D f32 value into f32 (the op's
    /// `Lowering::Upsample`).
    fn try_upsample(
        &self,
        v: V,
        x: V,
        scales: [Option<f64>; 2],
        mode: Interpolation,
    ) -> Option<Kind> {
        if !self.is_f32(v) || self.meta(x)?.rank() != 4 {
            return None;
        }
        Some(Kind::Upsample {
            x: self.f32_value(x)?,
            scales,
            mode,
        })
    }

    /// A split of an f32 value that is read only through `getitem` (the op's
    /// `Lowering::Split`: `split`, `chunk`, `split_with_sizes`): no step of its own; each
    /// piece is a planned slice of the input ([`Builder::split_piece`]), so the pieces
    /// cost one copy each and never a fallback.
    pub(super) fn plan_split(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> bool {
        let Some(Lowering::Split { input, dim }) = lowering_keeping_sizes(op, args) else {
            return false;
        };
        let Some(rank) = (self.meta(input))
            .filter(|m| m.dtype == DType::F32)
            .map(|m| m.rank())
        else {
            return false;
        };
        let Some(d) = wrap_dim(dim, rank) else {
            return false;
        };
        let pieces = &self.graph.nodes[v].meta;
        let f32_pieces = pieces
            .iter()
            .all(|m| m.dtype == DType::F32 && m.rank() == rank);
        let read_by_getitem = |n: &ferrex::graph::Node| {
            matches!(n.kind, NodeKind::GetItem { .. }) || n.inputs().iter().all(|i| i.0 != v)
        };
        if !f32_pieces || self.in_output[v] || !self.graph.nodes.iter().all(read_by_getitem) {
            return false;
        }
        self.split_of.insert(v, (input, d));
        self.place[v] = Some(Place::Multi);
        true
    }

    /// Piece `index` of a split planned by [`Builder::plan_split`]: the slice of its input
    /// that starts where the pieces before it end.
    pub(super) fn split_piece(&mut self, v: V, source: V, index: usize) -> bool {
        let Some(&(x, d)) = self.split_of.get(&source) else {
            return false;
        };
        let pieces = &self.graph.nodes[source].meta;
        let Some(piece) = pieces.get(index) else {
            return false;
        };
        let start = (pieces[..index].iter()).fold(SymInt::Int(0), |s, m| s.add(&m.sizes[d]));
        let end = start.add(&piece.sizes[d]);
        let slice = ViewLowering::Slice {
            dim: i64::try_from(d).unwrap_or(i64::MAX),
            start: Some(start),
            end: Some(end),
            step: SymInt::Int(1),
        };
        let Some(kind) = self.try_view(v, x, slice) else {
            return false;
        };
        self.place_kind(v, kind);
        true
    }

    pub(super) fn first_output_alias(&mut self, v: V, source: V, index: usize) -> bool {
        if index != 0 || self.place[source] != Some(Place::Slot) || !self.first_only[source] {
            return false;
        }
        self.alias_to(v, source);
        true
    }
}
