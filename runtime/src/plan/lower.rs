//! Lowering: each node of the graph becomes a step of the plan — a kernel the runtime
//! plans on buffer slots when the node's arguments allow it, else the registry's eager
//! kernel. Constant folding and the opening of fusion groups happen here, node by node.

use ferrex::graph::{is_size_node, Arg, HigherOrderOp, Node, NodeKind};
use ferrex::ops::lowering::PermuteDims;
use ferrex::ops::{Lowering, OpDef};
use ferrex::symbolic::SymInt;
use ferrex::tensor::DType;

use super::fuse::{lowering_keeping_sizes, lowering_of};
use super::lower_ops::ViewLowering;
use super::{
    compile_graph, Builder, ConstOrigin, ConvStep, ConvTransposeStep, GemmB, GemmStep, InputSource,
    Kind, Known, Operand, PerSize, Place, ViewOp, V,
};
use crate::CompileError;

/// A per-spatial-dim parameter of a 2-D op (one value, or one per dim) as two sizes.
fn concrete_pair(list: &[SymInt]) -> Option<[usize; 2]> {
    let v: Vec<usize> = list
        .iter()
        .map(|s| s.as_int().and_then(|v| usize::try_from(v).ok()))
        .collect::<Option<_>>()?;
    match v[..] {
        [a] => Some([a, a]),
        [a, b] => Some([a, b]),
        _ => None,
    }
}

impl Builder<'_> {
    /// Lowers every node in order, recording the plan's inputs.
    pub(super) fn lower_nodes(&mut self, frozen: &[Option<Known>]) -> Result<(), CompileError> {
        let mut k = 0;
        for (v, node) in self.graph.nodes.iter().enumerate() {
            match &node.kind {
                NodeKind::Placeholder => {
                    self.lower_placeholder(v, k, frozen);
                    k += 1;
                }
                // A SymInt / SymBool node: its value is its expression, read by its users.
                NodeKind::Call { .. } if is_size_node(node) || self.skip[v] => {}
                NodeKind::Call { op, args } => self.plan_call(v, op, args),
                NodeKind::GetItem { source, index } => {
                    self.size_only[v] = self.size_only[source.0];
                    self.lower_getitem(v, source.0, *index)
                }
                NodeKind::HigherOrder {
                    op,
                    args,
                    subgraphs,
                } => {
                    let kind = self.plan_higher_order(node, *op, args, subgraphs)?;
                    self.steps[v] = Some(self.step(v, kind));
                    self.place[v] = Some(Place::Multi);
                }
                NodeKind::Output { .. } => {}
            }
        }
        self.plan.n_runtime_inputs = k;
        Ok(())
    }

    /// Placeholder `k`: a run-time input, or a constant when frozen.
    fn lower_placeholder(&mut self, v: V, k: usize, frozen: &[Option<Known>]) {
        let source = match frozen.get(k).cloned().flatten() {
            Some(s) => {
                let c = self.add_const_from(s, ConstOrigin::Placeholder(k));
                self.const_of[v] = Some(c);
                InputSource::Frozen(c)
            }
            None => InputSource::Runtime(k),
        };
        self.plan.inputs.push((v, source));
        self.place[v] = Some(Place::Storage);
    }

    /// An element of a multi-output node: a constant when the node was folded.
    fn lower_getitem(&mut self, v: V, source: V, index: usize) {
        if self.split_piece(v, source, index) || self.first_output_alias(v, source, index) {
            return;
        }
        let folded = self
            .plan
            .const_multi
            .iter()
            .find(|(m, _)| *m == source)
            .and_then(|(_, cs)| cs.get(index).copied());
        if let Some(c) = folded {
            self.const_of[v] = Some(c);
            self.plan.const_values.push((v, c));
        } else {
            self.steps[v] = Some(self.step(v, Kind::GetItem { src: source, index }));
        }
        self.place[v] = Some(Place::Storage);
    }

    /// A matrix product the GEMM kernels run (the op's `Lowering::Gemm`: `addmm`, `mm`,
    /// `matmul` with a 2-D right operand, `linear`), f32 throughout.
    fn try_gemm(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        if !self.is_f32(v) {
            return None;
        }
        let Some(Lowering::Gemm {
            a,
            b,
            bias,
            beta,
            alpha,
            weight,
            any_rank,
        }) = lowering_of(op, args)
        else {
            return None;
        };
        let rank = |b: &Self, x: V| b.meta(x).map(|m| m.rank()).unwrap_or(0);
        if !self.is_f32(a) || !self.is_f32(b) {
            return None;
        }
        // A `linear` bias is added along the rows (rank ≤ 1); `addmm`'s broadcasts.
        let init = match bias {
            Some(c) if beta != 0.0 => {
                if !self.is_f32(c) || rank(self, c) > if weight { 1 } else { 2 } {
                    return None;
                }
                Some((self.operand(c), beta as f32))
            }
            _ => None,
        };
        if any_rank && !weight && init.is_none() && alpha == 1.0 && rank(self, b) >= 3 {
            return self.try_batched_matmul(a, b);
        }
        if rank(self, a) < 2 || rank(self, b) != 2 || (!any_rank && rank(self, a) != 2) {
            return None;
        }
        let b = match (self.const_of[b], weight) {
            (Some(c), false) => self.pack_bt(c)?,
            (Some(c), true) => self.pack_weight(c)?,
            (None, false) => GemmB::Dynamic(Operand::Val(b)),
            (None, true) => return None,
        };
        Some(Kind::Gemm(GemmStep {
            a: self.operand(a),
            b,
            init,
            alpha: alpha as f32,
            epilogue: None,
        }))
    }

    /// A `matmul` of two operands of the same rank ≥ 3 and the same batch dims
    /// (attention's `q @ k.transpose(-2, -1)`): the `bmm` step over their batch.
    fn try_batched_matmul(&mut self, a: V, b: V) -> Option<Kind> {
        let (am, bm) = (self.meta(a)?, self.meta(b)?);
        let r = bm.rank();
        if !(am.rank() == r || am.rank() == 2) || r < 3 {
            return None;
        }
        // A 2-D left operand is the same matrix for every batch (`w @ cols`).
        let lead_a = am.sizes.get(..am.rank() - 2)?;
        let lead_b = bm.sizes.get(..r - 2)?;
        if !lead_a.is_empty() && !lead_a.iter().zip(lead_b).all(|(x, y)| x.same_as(y)) {
            return None;
        }
        Some(Kind::Bmm {
            a: self.f32_value(a)?,
            b: self.f32_value(b)?,
        })
    }

    /// A convolution (the op's `Lowering::Conv`: `conv1d`/`conv2d`, the transposed ones,
    /// the core IR's `convolution`): f32, batched, a constant weight and bias, static
    /// geometry. A 1-D one (`[N, C, L]`, a 3-D weight) runs as a 2-D one over a height-1
    /// plane. Direct: the im2col step (any groups; depthwise ones run the kernel's direct
    /// loop). Transposed: the GEMM + col2im step.
    fn try_conv(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let Some(Lowering::Conv {
            input: x,
            weight: w,
            bias,
            stride,
            padding,
            dilation,
            groups,
            transposed,
        }) = lowering_of(op, args)
        else {
            return None;
        };
        let rank = self.meta(x)?.rank();
        if !self.is_f32(x) || !self.is_f32(v) || !(rank == 3 || rank == 4) {
            return None;
        }
        let wc = self.const_of[w]?;
        let mut wshape = self.f32_shape(wc)?;
        if wshape.len() != rank {
            return None;
        }
        if rank == 3 {
            wshape.insert(2, 1);
        }
        // One value per spatial dim (a 1-D one's height: stride 1, no padding).
        let pair = |l: &[SymInt], height: usize| -> Option<[usize; 2]> {
            let [h, w] = concrete_pair(l)?;
            Some([if rank == 3 { height } else { h }, w])
        };
        let (stride, pad, dilation) = (pair(&stride, 1)?, pair(&padding, 0)?, pair(&dilation, 1)?);
        let groups = usize::try_from(groups.as_int()?).ok().filter(|&g| g > 0)?;
        // Direct: `[c_out, c_in / g, kh, kw]`; transposed: `[c_in, c_out / g, kh, kw]`.
        let c_out = match transposed {
            false => wshape[0],
            true => wshape[1].checked_mul(groups)?,
        };
        if stride.contains(&0) || dilation.contains(&0) || wshape[0] % groups != 0 {
            return None;
        }
        let bias = match bias {
            None => None,
            Some(b) => {
                let src = self.const_of[b]?;
                if self.f32_shape(src)? != [c_out] {
                    return None;
                }
                Some(self.reshaped_const(src, &[c_out])?)
            }
        };
        if transposed {
            return Some(Kind::ConvTranspose(ConvTransposeStep {
                x: self.operand(x),
                weight: wc,
                bias,
                c_in: wshape[0],
                c_out,
                groups,
                kernel: [wshape[2], wshape[3]],
                stride,
                pad,
                dilation,
            }));
        }
        let k = wshape[1] * wshape[2] * wshape[3];
        let weight = self.reshaped_const(wc, &[c_out, k])?;
        Some(Kind::Conv(ConvStep {
            x: self.operand(x),
            weight,
            bias,
            c_in: wshape[1].checked_mul(groups)?,
            c_out,
            groups,
            kh: wshape[2],
            kw: wshape[3],
            stride,
            pad,
            dilation,
            epilogue: None,
            prepared: Default::default(),
        }))
    }

    /// A 2-D max or average pooling of an f32 `[N, C, H, W]` value (the op's `Lowering::MaxPool`: `max_pool2d`, and `max_pool2d_with_indices` when
    /// only its output 0 is read; `Lowering::AvgPool`: `avg_pool2d`).
    fn try_pool(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let (x, kernel_size, stride, padding, dilation, ceil, avg) = match lowering_of(op, args)? {
            Lowering::MaxPool {
                input,
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            } => (
                input,
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
                None,
            ),
            Lowering::AvgPool {
                input,
                kernel_size,
                stride,
                padding,
                ceil_mode,
                divisor,
            } => (
                input,
                kernel_size,
                stride,
                padding,
                vec![1],
                ceil_mode,
                Some(divisor),
            ),
            _ => return None,
        };
        if !self.single_output(v) || !self.is_f32(x) || !self.is_f32(v) {
            return None;
        }
        if self.meta(x)?.rank() != 4 {
            return None;
        }
        let pair =
            |l: &[i64]| concrete_pair(&l.iter().map(|&i| SymInt::Int(i)).collect::<Vec<_>>());
        let k = pair(&kernel_size)?;
        let s = if stride.is_empty() { k } else { pair(&stride)? };
        let p = pair(&padding)?;
        let d = pair(&dilation)?;
        let half = |i: usize| ((k[i].max(1) - 1) * d[i]).div_ceil(2);
        if k.contains(&0) || s.contains(&0) || d.contains(&0) || (0..2).any(|i| p[i] > half(i)) {
            return None;
        }
        Some(Kind::Pool {
            x: self.operand(x),
            win: ferrex_kernels::PoolWindow { k, s, p, d },
            ceil,
            avg,
        })
    }

    /// Softmax of an f32 input into f32 (the op's `Lowering::Softmax`: `_softmax`,
    /// `softmax.int` with no dtype or f32, and the `log_` forms).
    pub(super) fn try_softmax(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let Some(Lowering::Softmax {
            input: x,
            dim: d,
            dtype,
            log,
        }) = lowering_of(op, args)
        else {
            return None;
        };
        if !self.is_f32(x) || !self.is_f32(v) || !matches!(dtype, None | Some(DType::F32)) {
            return None;
        }
        let rank = self.meta(x)?.rank();
        let r = i64::try_from(rank.max(1)).ok()?;
        let dim = usize::try_from(if d < 0 { d + r } else { d }).ok()?;
        if dim >= rank.max(1) {
            return None;
        }
        Some(Kind::Softmax {
            x: self.operand(x),
            dim,
            log,
            safe: self.safe_softmax[v],
        })
    }

    /// A layer norm of an f32 input with f32 (or no) weight and bias (the op's
    /// `Lowering::LayerNorm`: `layer_norm`, and `native_layer_norm` when only its output 0
    /// is read).
    fn try_layer_norm(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        let Some(Lowering::LayerNorm {
            input: x,
            normalized_rank: k,
            weight,
            bias,
            eps,
        }) = lowering_keeping_sizes(op, args)
        else {
            return None;
        };
        if !self.single_output(v) || !self.is_f32(x) || !self.is_f32(v) || k == 0 {
            return None;
        }
        let param = |n: Option<V>| -> Option<Option<Operand>> {
            match n {
                None => Some(None),
                Some(n) if self.is_f32(n) => Some(Some(self.operand(n))),
                Some(_) => None,
            }
        };
        Some(Kind::LayerNorm {
            x: self.operand(x),
            k,
            weight: param(weight)?,
            bias: param(bias)?,
            eps,
        })
    }

    /// A permutation of the dims of an f32 input of known rank (the op's
    /// `Lowering::Permute`: `transpose.int`, `permute`, `t`), as a strided copy.
    fn try_permute(&self, v: V, x: V, how: PermuteDims) -> Option<Kind> {
        if !self.is_f32(x) || !self.is_f32(v) {
            return None;
        }
        Some(Kind::Permute {
            x: self.operand(x),
            dims: self.permute_dims(x, how)?,
        })
    }

    /// Result dim `i` is `x`'s dim `dims[i]`: a permutation as the call gave it, its
    /// dims wrapped against `x`'s rank.
    pub(super) fn permute_dims(&self, x: V, how: PermuteDims) -> Option<Vec<usize>> {
        let rank = self.meta(x)?.rank();
        let norm = |d: i64| -> Option<usize> {
            let r = i64::try_from(rank).ok()?;
            usize::try_from(if d < 0 { d + r } else { d })
                .ok()
                .filter(|&d| d < rank)
        };
        let mut dims: Vec<usize> = (0..rank).collect();
        match how {
            PermuteDims::Swap(a, b) => dims.swap(norm(a)?, norm(b)?),
            PermuteDims::T if rank == 2 => dims.swap(0, 1),
            PermuteDims::T => {}
            PermuteDims::All(l) if l.len() == rank => {
                dims = l.into_iter().map(norm).collect::<Option<_>>()?;
            }
            PermuteDims::All(_) => return None,
        }
        Some(dims)
    }

    /// A view op (the op's `Lowering::Reshape` / `Permute` / `Expand` / `Select` /
    /// `Slice`): a reshape of a planned buffer (or an expand to its own sizes) is an
    /// alias of it, anything else a strided copy. `None`: not a view op, or not planned.
    fn try_view_op(&self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Option<Kind>> {
        let lowering = lowering_keeping_sizes(op, args)?;
        if let Lowering::Permute { input, dims } = lowering {
            return Some(self.try_permute(v, input, dims));
        }
        let (input, view) = ViewLowering::of(&lowering)?;
        // A reshape of a planned buffer, or an expand to the input's own sizes (PyTorch's
        // `matmul` decomposition writes them before each `bmm`), is the input: an alias,
        // not a copy.
        let alias = match view {
            ViewLowering::Reshape => self.meta(v).is_some(),
            ViewLowering::Expand => {
                (self.meta(v).zip(self.meta(input))).is_some_and(|(a, b)| a.sizes == b.sizes)
            }
            _ => false,
        };
        if alias && self.place[input] == Some(Place::Slot) {
            return Some(Some(Kind::Alias {
                src: input,
                sizes: Vec::new(),
                at: None,
            }));
        }
        Some(self.try_view(v, input, view))
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
        let sub_frozen: Vec<Option<Known>> = op
            .subgraph_inputs(args)
            .iter()
            .zip(op.passes_whole(args))
            .map(|(n, whole)| {
                let c = self.const_of.get(n.0).copied().flatten().filter(|_| whole);
                c.and_then(|c| self.known(c))
            })
            .collect();
        let mut subplans = Vec::new();
        for index in subgraphs {
            let sub = self.graph.subgraphs.get(*index).ok_or_else(|| {
                CompileError::Malformed(format!("`{}` names missing subgraph {index}", node.name))
            })?;
            let plan = compile_graph(&sub.graph, &sub_frozen, self.with_data)?;
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
        let inputs = self.graph.nodes[v].inputs();
        let all_const = inputs.iter().all(|i| self.const_of[i.0].is_some());
        if all_const && self.try_fold(v, op, args) {
            return;
        }
        // Not folded, yet reading only constants and sizes: a function of the sizes.
        let meta = &self.graph.nodes[v].meta;
        self.size_only[v] = !op.nondeterministic
            && !meta.is_empty()
            && meta.iter().all(|m| m.sym.is_none())
            && (inputs.iter()).all(|i| self.const_of[i.0].is_some() || self.size_only[i.0]);
        if let Some(&softmax) = self.safe_result.get(&v) {
            self.alias_to(v, softmax);
            return;
        }
        if self.plan_split(v, op, args) {
            return;
        }
        if let Some(ew) = self.elementwise(v, op, args) {
            self.open_group(v, ew);
            return;
        }
        // A call of constants and sizes alone stays a fallback, run once per input size.
        let kind = (self.special_kind(v, op, args))
            .or_else(|| (!self.size_only[v]).then(|| self.try_typed(v, op, args))?);
        match kind {
            Some(kind) => self.place_kind(v, kind),
            None => {
                let kind = Kind::Fallback {
                    op,
                    args: args.to_vec(),
                    per_size: (self.size_only[v]).then(|| PerSize::new(self.symbols.clone())),
                };
                self.steps[v] = Some(self.step(v, kind));
                self.place[v] = Some(if self.graph.nodes[v].meta.len() == 1 {
                    Place::Storage
                } else {
                    Place::Multi
                });
            }
        }
    }

    /// `v` computed by `kind`: an alias of another value's buffer (with `v`'s sizes,
    /// [`Builder::alias_at`]), a step writing a slot, or one making a storage.
    pub(super) fn place_kind(&mut self, v: V, kind: Kind) {
        if let Kind::Alias { src, at, .. } = kind {
            return self.alias_at(v, src, at);
        }
        let place = match kind {
            _ if kind.is_planned() => Place::Slot,
            Kind::Recurrent { .. } => Place::Multi,
            Kind::Lanes { .. } if self.graph.nodes[v].meta.len() > 1 => Place::Multi,
            _ => Place::Storage,
        };
        self.steps[v] = Some(self.step(v, kind));
        self.place[v] = Some(place);
    }

    /// `v` is `src`'s buffer under `v`'s sizes (a reshape, or the value a chain that
    /// computes nothing new stands for).
    pub(super) fn alias_to(&mut self, v: V, src: V) {
        self.alias_at(v, src, None);
    }

    /// [`Builder::alias_to`], or with `at` the run of `src`'s buffer that a select or
    /// slice reads.
    fn alias_at(&mut self, v: V, src: V, at: Option<ViewOp>) {
        let sizes = self.meta(v).map(|m| m.sizes.clone()).unwrap_or_default();
        self.owner[v] = src;
        self.steps[v] = Some(self.step(v, Kind::Alias { src, sizes, at }));
        self.place[v] = Some(Place::Slot);
    }

    /// Whether `v` is planned as one value: a single-output call, or a multi-output one
    /// whose output 0 alone is read (see `first_output_only`).
    pub(super) fn single_output(&self, v: V) -> bool {
        self.graph.nodes[v].meta.len() == 1 || self.first_only[v]
    }

    /// The planned step of a call that is not elementwise, or `None` (a fallback).
    fn special_kind(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> Option<Kind> {
        if let Some(kind) = self
            .try_conv(v, op, args)
            .or_else(|| self.try_pool(v, op, args))
            .or_else(|| self.try_softmax(v, op, args))
            .or_else(|| self.try_reduce(v, op, args))
            .or_else(|| self.try_layer_norm(v, op, args))
            .or_else(|| self.try_group_norm(v, op, args))
        {
            return Some(kind);
        }
        if let Some(view) = self.try_view_op(v, op, args) {
            return view;
        }
        self.try_gemm(v, op, args)
            .or_else(|| self.lower_more(v, op, args))
    }
}
