//! The run-time side of the steps `plan/lower_ops.rs` plans: each reads its operands,
//! sizes its slot and calls the kernel the eager op calls.

use std::borrow::Cow;

use ferrex::tensor::{view_to_vec, Storage};
use ferrex_kernels::attention::{attention_strided, AttentionGeom, Strided};
use ferrex_kernels::{self as kernels, Mat};

use super::{keep_mask_additive, keep_mask_additive_in_place, Arena, Run, Val};
use crate::plan::{node_name, Cmp, FixedView, Kind, Operand, Step, ViewChain, ViewOp, NO_VIEWS};

impl Run<'_> {
    /// The steps of `plan/lower_ops.rs`, into `buf`; the output's shape.
    pub(super) fn planned_more(
        &self,
        step: &Step,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        match &step.kind {
            Kind::View { x, view } => self.view(step, *x, view, buf, arena),
            Kind::Attention {
                q,
                k,
                v,
                mask,
                keep_mask,
                scale,
                causal,
                views,
            } => {
                let views = views.as_deref();
                let mask = mask.map(|m| (m, *keep_mask));
                self.attention([*q, *k, *v], views, mask, (*scale, *causal), buf, arena)
            }
            Kind::Reduce { x, dims, op } => self.reduce(*x, dims, *op, step, buf, arena),
            Kind::Gather {
                x,
                dim,
                ids,
                negative,
            } => self.gather(*x, *dim, ids, *negative, buf, arena),
            Kind::Pad { x, pads, value } => {
                let (data, xs) = self.data(*x, arena)?;
                // In i128: `n + a + b` may fit where `n + a` does not (a pad of
                // `i64::MAX` then a crop of 2), as the eager op's size rule allows.
                let padded = (xs.iter().zip(pads)).map(|(&n, &(a, b))| {
                    let n = i128::try_from(n).ok()?;
                    usize::try_from(n + i128::from(a) + i128::from(b)).ok()
                });
                let shape = (padded.collect::<Option<Vec<_>>>())
                    .ok_or_else(|| format!("a pad of {xs:?} by {pads:?} has no valid size"))?;
                let len = (shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)))
                    .ok_or("the pad's size overflows")?;
                kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
                kernels::layout::pad_constant(&data, &xs, pads, *value, &mut buf[..len])?;
                Ok(shape)
            }
            Kind::Roll { x, pairs, flat } => {
                let (data, xs) = self.data(*x, arena)?;
                let len = data.len();
                kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
                let shape = if *flat { vec![len] } else { xs.clone() };
                kernels::layout::roll(&data, &shape, pairs, &mut buf[..len])?;
                Ok(xs)
            }
            Kind::GroupNorm {
                x,
                groups,
                weight,
                bias,
                eps,
            } => self.group_norm(*x, *groups, [*weight, *bias], *eps, buf, arena),
            Kind::Bmm { a, b } => self.bmm(*a, *b, buf, arena),
            Kind::Concat { xs, dim } => self.concat(step, xs, *dim, buf, arena),
            Kind::Upsample { x, scales, mode } => {
                self.upsample(step, *x, (*scales, *mode), buf, arena)
            }
            _ => Err(format!("`{}` is not a planned step", step.info.name)),
        }
    }

    fn view(
        &self,
        step: &Step,
        x: Operand,
        view: &ViewOp,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (data, xs) = self.data(x, arena)?;
        let shape = self.sizes(&step.sizes)?;
        let (offset, strides) = self.view_layout(view, &xs, &shape)?;
        let len: usize = shape.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        kernels::layout::strided_copy(&data, offset, &shape, &strides, &mut buf[..len])?;
        Ok(shape)
    }

    fn attention(
        &self,
        qkv: [Operand; 3],
        views: Option<&[ViewChain; 3]>,
        mask: Option<(Operand, bool)>,
        (scale, causal): (f64, bool),
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let [q, k, v] = qkv;
        let ((qd, qx), (kd, kx), (vd, vx)) = (
            self.data(q, arena)?,
            self.data(k, arena)?,
            self.data(v, arena)?,
        );
        // Each operand's layout: through its views, or as stored (no views).
        let layout = |xs: &[usize], i: usize| {
            let chain = views.map_or(&NO_VIEWS, |c| &c[i]);
            chain.layout(xs, |s| Ok(self.bindings.value(s)))
        };
        let (ql, kl, vl) = (layout(&qx, 0)?, layout(&kx, 1)?, layout(&vx, 2)?);
        let (qs, ks, vs) = (&ql.sizes, &kl.sizes, &vl.sizes);
        let r = qs.len();
        if r < 2 || ks.len() != r || vs.len() != r || qs[..r - 2] != ks[..r - 2] {
            return Err(format!("attention of {qs:?}, {ks:?} and {vs:?}"));
        }
        if vs[..r - 2] != qs[..r - 2] || ks[r - 1] != qs[r - 1] || vs[r - 2] != ks[r - 2] {
            return Err(format!("attention of {qs:?}, {ks:?} and {vs:?}"));
        }
        let batch = &qs[..r - 2];
        let geom = AttentionGeom {
            batch: batch.iter().product(),
            l: qs[r - 2],
            s: ks[r - 2],
            e: qs[r - 1],
            ev: vs[r - 1],
            scale,
            causal,
        };
        let strided = |d, l: &FixedView| {
            Strided::with_layout(d, l.at, &l.sizes, &l.strides)
                .ok_or_else(|| format!("attention operands of {:?}", l.sizes))
        };
        let (q, k, v) = (strided(&qd, &ql)?, strided(&kd, &kl)?, strided(&vd, &vl)?);
        let mask_data = (mask.map(|(m, keep)| {
            let (data, shape) = self.data(m, arena)?;
            let data = match (keep, data) {
                (true, Cow::Owned(mut loaded)) => {
                    keep_mask_additive_in_place(&mut loaded);
                    Cow::Owned(loaded)
                }
                (true, Cow::Borrowed(loaded)) => Cow::Owned(keep_mask_additive(loaded)),
                (false, data) => data,
            };
            Ok::<_, String>((data, shape))
        }))
        .transpose()?;
        let mask = match &mask_data {
            Some((d, shape)) => Some(Strided::broadcast(d, shape, batch, [geom.l, geom.s])?),
            None => None,
        };
        let mut shape = batch.to_vec();
        shape.extend([geom.l, geom.ev]);
        let len: usize = shape.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        attention_strided([&q, &k, &v], mask.as_ref(), &geom, &mut buf[..len])?;
        Ok(shape)
    }

    fn reduce(
        &self,
        x: Operand,
        dims: &[usize],
        op: kernels::reduce::Reduction,
        step: &Step,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (data, xs) = self.data(x, arena)?;
        let reduce: Vec<bool> = (0..xs.len()).map(|d| dims.contains(&d)).collect();
        let shape = self.sizes(&step.sizes)?;
        let len: usize = shape.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        op.run(&data, &xs, &reduce, &mut buf[..len])?;
        Ok(shape)
    }

    /// The eager storage an operand holds (an input, a constant, a fallback's output).
    fn stored(&self, o: Operand) -> Option<&Storage> {
        match o {
            Operand::Const(c) => self.plan.consts.get(c),
            Operand::Val(v) => match self.env.get(v) {
                Some(Val::Store(s)) => Some(s),
                _ => None,
            },
        }
    }

    /// Integer ids of an operand (an eager i64 storage), and their shape.
    fn ids(&self, o: Operand) -> Result<(Cow<'_, [i64]>, Vec<usize>), String> {
        match self.stored(o) {
            Some(Storage::I64(a)) => Ok((
                match a.as_slice() {
                    Some(x) => Cow::Borrowed(x),
                    None => Cow::Owned(view_to_vec(&a.view())),
                },
                a.shape().to_vec(),
            )),
            _ => Err(format!(
                "expected i64 indices for `{}`",
                match o {
                    Operand::Val(v) => node_name(self.plan, v),
                    Operand::Const(_) => "a constant",
                }
            )),
        }
    }

    /// [`Kind::Gather`]: a 2-D table's rows by one list of ids is `embedding`'s gather
    /// (its message for an id outside the table), any other the general one.
    fn gather(
        &self,
        x: Operand,
        dim: usize,
        ids: &[Operand],
        negative: bool,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (data, xs) = self.data(x, arena)?;
        let lists = (ids.iter().map(|&o| self.ids(o))).collect::<Result<Vec<_>, _>>()?;
        let k = lists.len();
        if k == 0 || xs.len() < dim + k {
            return Err(format!(
                "a gather of {xs:?} along dim {dim} by {k} index lists"
            ));
        }
        // Index tensors of shapes that broadcast (`x[:, rows[:, None], cols]`) index the
        // positions of their common shape.
        let shapes: Vec<&[usize]> = lists.iter().map(|(_, s)| &s[..]).collect();
        let index_shape = kernels::layout::broadcast_index_shape(&shapes)?;
        let mut shape = xs[..dim].to_vec();
        shape.extend_from_slice(&index_shape);
        shape.extend_from_slice(&xs[dim + k..]);
        let len = (shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)))
            .ok_or("the gather's size overflows")?;
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let out = &mut buf[..len];
        match (&xs[..], &lists[..]) {
            ([rows, width], [(ids, _)]) if dim == 0 && !negative => {
                kernels::layout::gather_rows(&data, [*rows, *width], ids, out)?;
            }
            _ => {
                let outer = xs[..dim].iter().product();
                let inner = xs[dim + k..].iter().product();
                let lists: Vec<(&[i64], &[usize])> =
                    lists.iter().map(|(l, s)| (&l[..], &s[..])).collect();
                let dims = &xs[dim..dim + k];
                kernels::layout::gather_along(&data, [outer, inner], dims, &lists, negative, out)?;
            }
        }
        Ok(shape)
    }

    fn group_norm(
        &self,
        x: Operand,
        groups: usize,
        [weight, bias]: [Option<Operand>; 2],
        eps: f64,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (data, xs) = self.data(x, arena)?;
        if xs.len() < 2 {
            return Err(format!("group_norm of {xs:?}"));
        }
        let hw: usize = xs[2..].iter().product();
        let weight = weight.map(|w| self.data(w, arena)).transpose()?;
        let bias = bias.map(|b| self.data(b, arena)).transpose()?;
        let params = kernels::norm::LayerNormParams {
            weight: weight.as_ref().map(|(w, _)| &w[..]),
            bias: bias.as_ref().map(|(b, _)| &b[..]),
            eps,
        };
        let len: usize = xs.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let geom = [xs[0], xs[1], hw];
        kernels::norm::group_norm(&data, geom, groups, &params, &mut buf[..len], None)?;
        Ok(xs)
    }

    fn bmm(
        &self,
        a: Operand,
        b: Operand,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let ((ad, as_), (bd, bs)) = (self.data(a, arena)?, self.data(b, arena)?);
        let mismatch = || format!("bmm of {as_:?} and {bs:?}");
        // `[..batch, m, k] @ [..batch, k, n]`, the batch dims the same (a `matmul` of
        // two batched operands is planned so, one product per batch), or `[m, k]` the
        // same matrix for every batch (a `matmul` of a weight by batched columns).
        let (Some((lead, &[m, k])), Some((lead_b, &[k2, n]))) =
            (as_.split_last_chunk::<2>(), bs.split_last_chunk::<2>())
        else {
            return Err(mismatch());
        };
        if lead_b.is_empty() || !(lead.is_empty() || lead == lead_b) || k != k2 {
            return Err(mismatch());
        }
        let a_step = if lead.is_empty() { 0 } else { m * k };
        let nb: usize = lead_b.iter().product();
        let len = (nb.checked_mul(m))
            .and_then(|x| x.checked_mul(n))
            .ok_or_else(mismatch)?;
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        for (i, out) in buf[..len].chunks_exact_mut((m * n).max(1)).enumerate() {
            let am = Mat::row_major(&ad[i * a_step..], m, k);
            let bm = Mat::row_major(&bd[i * k * n..], k, n);
            kernels::gemm(1.0, am, bm, 0.0, out)?;
        }
        Ok([lead_b, &[m, n]].concat())
    }

    /// `cat` / `stack`: each input's share of every block before dim `dim` of the
    /// output, in turn (the kernel the eager ops run).
    fn concat(
        &self,
        step: &Step,
        xs: &[Operand],
        dim: usize,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let shape = self.sizes(&step.sizes)?;
        let outer: usize = (shape.get(..dim))
            .ok_or_else(|| format!("dim {dim} of {shape:?}"))?
            .iter()
            .product();
        let datas = (xs.iter())
            .map(|&x| self.data(x, arena))
            .collect::<Result<Vec<_>, _>>()?;
        // A part whose dims before the joined one are all 1 where the output's are not
        // is one block joined to every outer index: a half of a split batch reads a
        // constant of equal samples (a class token) as its first sample only.
        let mut parts = Vec::with_capacity(datas.len());
        for (d, xs) in &datas {
            let lead = xs
                .get(..dim)
                .ok_or_else(|| format!("dim {dim} of {xs:?}"))?;
            let once = lead != &shape[..dim] && lead.iter().all(|&s| s == 1);
            parts.push((d.as_ref(), once));
        }
        let len: usize = shape.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        kernels::layout::concat_broadcast(&parts, outer, &mut buf[..len])?;
        Ok(shape)
    }

    /// `upsample_nearest2d` of a 4-D `x` to the step's sizes (the eager op's kernel).
    fn upsample(
        &self,
        step: &Step,
        x: Operand,
        (scales, mode): ([Option<f64>; 2], kernels::pool::Interpolation),
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (data, xs) = self.data(x, arena)?;
        let shape = self.sizes(&step.sizes)?;
        let (Ok([n, c, h, w]), Ok([_, _, oh, ow])) = (
            <[usize; 4]>::try_from(&xs[..]),
            <[usize; 4]>::try_from(&shape[..]),
        ) else {
            return Err(format!("upsample of {xs:?} to {shape:?}"));
        };
        let len: usize = shape.iter().product();
        kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let out = &mut buf[..len];
        kernels::pool::upsample(&data, n * c, [h, w], [oh, ow], mode, scales, out)?;
        Ok(shape)
    }

    /// `x <op> rhs`, elementwise, as a bool storage.
    pub(super) fn compare(
        &self,
        x: Operand,
        op: Cmp,
        rhs: f64,
        arena: &Arena,
    ) -> Result<Storage, String> {
        let (data, xs) = self.data(x, arena)?;
        let n: usize = xs.iter().product();
        // The number takes the tensor's dtype first, as the eager op promotes it.
        let rhs = f64::from(rhs as f32);
        // One loop per comparison: a `match` inside the loop was a jump per element.
        fn each(data: &[f32], f: impl Fn(f64) -> bool) -> Vec<bool> {
            data.iter().map(|&v| f(f64::from(v))).collect()
        }
        let data = &data[..n];
        let out = match op {
            Cmp::Eq => each(data, |v| v == rhs),
            Cmp::Ne => each(data, |v| v != rhs),
            Cmp::Gt => each(data, |v| v > rhs),
            Cmp::Ge => each(data, |v| v >= rhs),
            Cmp::Lt => each(data, |v| v < rhs),
            Cmp::Le => each(data, |v| v <= rhs),
        };
        Storage::from_vec(&xs, out).ok_or_else(|| format!("a bool tensor of shape {xs:?}"))
    }
}
