//! Steps that call one kernel of `ferrex_kernels` on their operands — convolution,
//! pooling, permute, softmax, layer norm, attention, concatenation — with their
//! geometry computed here, from the static sizes, exactly as the plan's runner computes
//! it at run time.

use std::fmt::Write;

use ferrex::SymInt;
use ferrex_kernels::pool::Interpolation;
use ferrex_kernels::{pooled_dim, ConvGeom};
use ferrex_runtime::plan::{
    ConvStep, ConvTransposeStep, FixedView, Kind, Operand, Step, ViewChain,
};

use super::literal::{f64_lit, opt_f64};
use super::steps::{fail_closure, numel, same, Read};
use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

/// `{ let out = …; let fail = …; <lines> }`: a step writing slot `out`.
fn block(step: &Step, out: usize, len: &str, lines: &[String]) -> String {
    let mut b = format!(
        "        {{\n            let out = &mut ws.s{out}[..{len}];\n{}\n",
        fail_closure(step)
    );
    for l in lines {
        let _ = writeln!(b, "            {l}");
    }
    b.push_str("        }\n");
    b
}

impl Gen<'_> {
    /// The single-kernel steps; `false` for any other kind.
    pub(super) fn kernel_step(&mut self, step: &Step, code: &mut String) -> Result<bool, AotError> {
        let handled = matches!(
            step.kind,
            Kind::Permute { .. }
                | Kind::Softmax { .. }
                | Kind::LayerNorm { .. }
                | Kind::Pool { .. }
                | Kind::Attention { .. }
                | Kind::View { .. }
                | Kind::Reduce { .. }
                | Kind::GroupNorm { .. }
                | Kind::Bmm { .. }
                | Kind::Gather { .. }
                | Kind::Roll { .. }
                | Kind::Pad { .. }
                | Kind::Concat { .. }
                | Kind::Upsample { .. }
        );
        if !handled {
            return Ok(false);
        }
        let sizes = self.value_sizes(step.out)?;
        let out = self.out_slot(step, &sizes)?;
        let lines = match &step.kind {
            Kind::Permute { x, dims } => {
                let x = self.read_other(*x, out)?;
                vec![format!(
                    "{RT}::permute({}, &{}, &{dims:?}, out).map_err(|e| fail(&e))?;",
                    x.expr,
                    self.shape(&x.sizes)
                )]
            }
            Kind::Softmax { x, dim, log, safe } => {
                let x = self.read_other(*x, out)?;
                let xs = &x.sizes;
                let geom = match xs.len() {
                    0 => "[1, 1, 1]".to_string(),
                    r if *dim < r => format!(
                        "[{}, {}, {}]",
                        self.dim(&numel(&xs[..*dim])),
                        self.dim(&xs[*dim]),
                        self.dim(&numel(&xs[dim + 1..]))
                    ),
                    _ => return Err(self.unsupported(format!("softmax over dim {dim} of {xs:?}"))),
                };
                vec![match safe {
                    true => format!(
                        "{RT}::safe_softmax({}, {geom}, out).map_err(|e| fail(&e))?;",
                        x.expr
                    ),
                    false => format!(
                        "{RT}::softmax({}, {geom}, {log}, out).map_err(|e| fail(&e))?;",
                        x.expr
                    ),
                }]
            }
            Kind::LayerNorm { .. } => self.layer_norm(step, out)?,
            Kind::Pool { .. } => self.pool(step, out)?,
            Kind::Attention { .. } => self.attention(step, out)?,
            Kind::Gather {
                x,
                dim,
                ids,
                negative,
            } => self.gather(*x, *dim, ids, *negative, out)?,
            Kind::Roll { x, pairs, flat } => self.roll(*x, pairs, *flat, out)?,
            Kind::Pad { x, pads, value } => self.pad(*x, pads, *value, out)?,
            Kind::Concat { xs, dim } => self.concat(xs, *dim, &sizes, out)?,
            Kind::Upsample { x, scales, mode } => {
                self.upsample(*x, (*scales, *mode), &sizes, out)?
            }
            _ => match self.view_step(step, &sizes, out)? {
                Some(lines) => lines,
                None => return Ok(false),
            },
        };
        code.push_str(&block(step, out, &self.dim(&numel(&sizes)), &lines));
        Ok(true)
    }

    /// `rt::pad_constant(x, &shape, &[(before, after), …], value, out)`.
    fn pad(
        &mut self,
        x: Operand,
        pads: &[(i64, i64)],
        value: f32,
        out: usize,
    ) -> Result<Vec<String>, AotError> {
        let x = self.read_other(x, out)?;
        Ok(vec![format!(
            "{RT}::pad_constant({}, &{}, &{pads:?}, {}, out).map_err(|e| fail(&e))?;",
            x.expr,
            self.shape(&x.sizes),
            super::literal::f32_lit(value)
        )])
    }

    /// `rt::roll(x, &shape, &[(shift, dim), …], out)` (of the flattened value: its
    /// one dim).
    fn roll(
        &mut self,
        x: Operand,
        pairs: &[(i64, usize)],
        flat: bool,
        out: usize,
    ) -> Result<Vec<String>, AotError> {
        let x = self.read_other(x, out)?;
        let shape = match flat {
            true => format!("[{}]", self.dim(&numel(&x.sizes))),
            false => self.shape(&x.sizes),
        };
        Ok(vec![format!(
            "{RT}::roll({}, &{shape}, &{pairs:?}, out).map_err(|e| fail(&e))?;",
            x.expr
        )])
    }

    /// `rt::gather_rows(table, [rows, width], ids, out)` (`embedding`'s form: a 2-D
    /// table's rows by one list of ids), else `rt::gather_along(x, [outer, inner],
    /// &[dims], &[(ids, &[shape])…], negative, out)`, as the runner chooses.
    fn gather(
        &mut self,
        x: Operand,
        dim: usize,
        ids: &[Operand],
        negative: bool,
        out: usize,
    ) -> Result<Vec<String>, AotError> {
        let x = self.read_other(x, out)?;
        let ids = (ids.iter().map(|&o| self.read_ids(o))).collect::<Result<Vec<_>, _>>()?;
        let k = ids.len();
        if let ([rows, width], [id], 0, false) = (&x.sizes[..], &ids[..], dim, negative) {
            return Ok(vec![format!(
                "{RT}::gather_rows({}, [{}, {}], {}, out).map_err(|e| fail(&e))?;",
                x.expr,
                self.dim(rows),
                self.dim(width),
                id.expr
            )]);
        }
        if k == 0 || x.sizes.len() < dim + k {
            return Err(self.unsupported(format!("a gather of {:?} along dim {dim}", x.sizes)));
        }
        let dims: Vec<String> = x.sizes[dim..dim + k].iter().map(|d| self.dim(d)).collect();
        // Each list with its shape: lists of shapes that broadcast together index the
        // positions of their common shape.
        let lists: Vec<String> = (ids.iter())
            .map(|i| {
                let shape: Vec<String> = i.sizes.iter().map(|d| self.dim(d)).collect();
                format!("({}, &[{}])", i.expr, shape.join(", "))
            })
            .collect();
        Ok(vec![format!(
            "{RT}::gather_along({}, [{}, {}], &[{}], &[{}], {negative}, out).map_err(|e| fail(&e))?;",
            x.expr,
            self.dim(&numel(&x.sizes[..dim])),
            self.dim(&numel(&x.sizes[dim + k..])),
            dims.join(", "),
            lists.join(", ")
        )])
    }

    /// `rt::upsample_nearest(x, planes, [h, w], [oh, ow], scales, out)`.
    fn upsample(
        &mut self,
        x: Operand,
        (scales, mode): ([Option<f64>; 2], Interpolation),
        sizes: &[SymInt],
        out: usize,
    ) -> Result<Vec<String>, AotError> {
        let x = self.read_other(x, out)?;
        let (Some([_, _, h, w]), Some([_, _, oh, ow])) = (
            x.sizes.get(..4).filter(|_| x.sizes.len() == 4),
            sizes.get(..4),
        ) else {
            return Err(self.unsupported(format!("an upsampling of {:?}", x.sizes)));
        };
        let planes = self.dim(&numel(&x.sizes[..2]));
        let [h, w, oh, ow] = [h, w, oh, ow].map(|d| self.dim(d));
        let [sh, sw] = scales.map(opt_f64);
        Ok(vec![match mode {
            Interpolation::Nearest => format!(
                "{RT}::upsample_nearest({}, {planes}, [{h}, {w}], [{oh}, {ow}], [{sh}, {sw}], out).map_err(|e| fail(&e))?;",
                x.expr,
            ),
            Interpolation::Bilinear { align_corners } => format!(
                "{RT}::upsample_bilinear({}, {planes}, [{h}, {w}], [{oh}, {ow}], {align_corners}, [{sh}, {sw}], out).map_err(|e| fail(&e))?;",
                x.expr,
            ),
            Interpolation::Bicubic { align_corners } => format!(
                "{RT}::upsample_bicubic({}, {planes}, [{h}, {w}], [{oh}, {ow}], {align_corners}, [{sh}, {sw}], out).map_err(|e| fail(&e))?;",
                x.expr,
            ),
            Interpolation::Antialiased {
                filter,
                align_corners,
            } => format!(
                "{RT}::upsample_antialiased({}, {planes}, [{h}, {w}], [{oh}, {ow}], {RT}::AntialiasFilter::{filter:?}, {align_corners}, [{sh}, {sw}], out).map_err(|e| fail(&e))?;",
                x.expr,
            ),
        }])
    }

    /// `rt::concat(&[parts], outer, out)`: the output's blocks before dim `dim`.
    fn concat(
        &mut self,
        xs: &[Operand],
        dim: usize,
        sizes: &[SymInt],
        out: usize,
    ) -> Result<Vec<String>, AotError> {
        let parts = (xs.iter())
            .map(|&x| self.read_other(x, out).map(|r| r.expr))
            .collect::<Result<Vec<_>, _>>()?;
        let outer = sizes.get(..dim).ok_or_else(|| {
            self.unsupported(format!("a concatenation along dim {dim} of {sizes:?}"))
        })?;
        Ok(vec![format!(
            "{RT}::concat(&[{}], {}, out).map_err(|e| fail(&e))?;",
            parts.join(", "),
            self.dim(&numel(outer))
        )])
    }

    fn layer_norm(&mut self, step: &Step, out: usize) -> Result<Vec<String>, AotError> {
        let Kind::LayerNorm {
            x,
            k,
            weight,
            bias,
            eps,
        } = &step.kind
        else {
            return Ok(Vec::new());
        };
        Ok({
            let x = self.read_other(*x, out)?;
            let split = x
                .sizes
                .len()
                .checked_sub(*k)
                .ok_or_else(|| self.unsupported("layer norm over too many dims"))?;
            let rows = self.dim(&numel(&x.sizes[..split]));
            let n = self.dim(&numel(&x.sizes[split..]));
            let param = |g: &mut Self, o: &Option<_>| -> Result<String, AotError> {
                Ok(match o {
                    Some(o) => format!("Some({})", g.read_other(*o, out)?.expr),
                    None => "None".into(),
                })
            };
            let (w, b) = (param(self, weight)?, param(self, bias)?);
            vec![
                    format!("let params = {RT}::LayerNormParams {{ weight: {w}, bias: {b}, eps: {} }};", f64_lit(*eps)),
                    format!("{RT}::layer_norm({}, [{rows}, {n}], &params, out, None).map_err(|e| fail(&e))?;", x.expr),
                ]
        })
    }

    fn pool(&mut self, step: &Step, out: usize) -> Result<Vec<String>, AotError> {
        let Kind::Pool { x, win, ceil, avg } = &step.kind else {
            return Ok(Vec::new());
        };
        Ok({
            let x = self.read_other(*x, out)?;
            let [n, c, h, w] = &x.sizes[..] else {
                return Err(self.unsupported(format!("pooling of {:?}", x.sizes)));
            };
            let [h, w] = self.static_dims([h, w], "a pooling window over")?;
            let nc = self.dim(&n.mul(c));
            let dim = |i: usize, j: usize| {
                pooled_dim([h, w][i], win.k[j], win.s[j], win.p[j], win.d[j], *ceil)
            };
            let (Some(oh), Some(ow)) = (dim(0, 0), dim(1, 1)) else {
                return Err(self.unsupported("a pooling window that does not fit"));
            };
            vec![
                    format!(
                        "let win = {RT}::PoolWindow {{ k: {:?}, s: {:?}, p: {:?}, d: {:?} }};",
                        win.k, win.s, win.p, win.d
                    ),
                    match avg {
                        None => format!("{RT}::max_pool2d({}, {nc}, {h}, {w}, &win, {oh}, {ow}, out).map_err(|e| fail(&e))?;", x.expr),
                        Some(d) => format!(
                            "{RT}::avg_pool2d({}, {nc}, {h}, {w}, &win, {RT}::AvgDivisor {{ count_include_pad: {}, divisor_override: {:?} }}, {oh}, {ow}, out).map_err(|e| fail(&e))?;",
                            x.expr, d.count_include_pad, d.divisor_override
                        ),
                    },
                ]
        })
    }

    fn attention(&mut self, step: &Step, out: usize) -> Result<Vec<String>, AotError> {
        let Kind::Attention {
            q,
            k,
            v,
            mask,
            keep_mask,
            scale,
            causal,
            views,
        } = &step.kind
        else {
            return Ok(Vec::new());
        };
        let (mut q, mut k, mut v) = (
            self.read_other(*q, out)?,
            self.read_other(*k, out)?,
            self.read_other(*v, out)?,
        );
        let layouts = self.viewed_layouts(views.as_deref(), [&mut q, &mut k, &mut v])?;
        let (qs, ks, vs) = (&q.sizes, &k.sizes, &v.sizes);
        let r = qs.len();
        let all_same = |a: &[SymInt], b: &[SymInt]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        };
        let fits = r >= 2 && ks.len() == r && vs.len() == r && all_same(&qs[..r - 2], &ks[..r - 2]);
        if !fits
            || !all_same(&vs[..r - 2], &qs[..r - 2])
            || !same(&ks[r - 1], &qs[r - 1])
            || !same(&vs[r - 2], &ks[r - 2])
        {
            return Err(self.unsupported(format!("attention of {qs:?}, {ks:?} and {vs:?}")));
        }
        let batch = &qs[..r - 2];
        let (l, s) = (self.dim(&qs[r - 2]), self.dim(&ks[r - 2]));
        let mut lines = vec![format!(
            "let geom = {RT}::AttentionGeom {{ batch: {}, l: {l}, s: {s}, e: {}, ev: {}, scale: {}, causal: {causal} }};",
            self.dim(&numel(batch)),
            self.dim(&qs[r - 1]),
            self.dim(&vs[r - 1]),
            f64_lit(*scale)
        )];
        let mask = match mask {
            Some(m) => {
                let mut m = self.read_other(*m, out)?;
                if *keep_mask {
                    // A bool mask, loaded as 1 or 0: 0 and -inf, as the plan adds them.
                    lines.push(format!("let keep = {RT}::keep_mask_additive({});", m.expr));
                    m.expr = "&keep".into();
                }
                lines.push(format!(
                    "let mask = {RT}::Strided::broadcast({}, &{}, &{}, [{l}, {s}]).map_err(|e| fail(&e))?;",
                    m.expr,
                    self.shape(&m.sizes),
                    self.shape(batch),
                ));
                "Some(&mask)"
            }
            None => "None",
        };
        if layouts.iter().all(Option::is_none) {
            lines.push(format!(
                "{RT}::attention({}, {}, {}, {mask}, &geom, out).map_err(|e| fail(&e))?;",
                q.expr, k.expr, v.expr
            ));
            return Ok(lines);
        }
        let operands = [
            ("q", &q, &layouts[0]),
            ("k", &k, &layouts[1]),
            ("v", &v, &layouts[2]),
        ];
        for (name, read, layout) in operands {
            lines.push(self.strided_operand(name, read, layout.as_ref()));
        }
        lines.push(format!(
            "{RT}::attention_strided([&q, &k, &v], {mask}, &geom, out).map_err(|e| fail(&e))?;"
        ));
        Ok(lines)
    }

    /// The fixed layouts of the attention operands read through views (the planner
    /// reads through views only where the layout is fixed), their reads given the
    /// viewed sizes.
    fn viewed_layouts(
        &self,
        views: Option<&[ViewChain; 3]>,
        reads: [&mut Read; 3],
    ) -> Result<[Option<FixedView>; 3], AotError> {
        let mut layouts = [None, None, None];
        let Some(chains) = views else {
            return Ok(layouts);
        };
        for ((chain, read), layout) in chains.iter().zip(reads).zip(&mut layouts) {
            if chain.links.is_empty() {
                continue;
            }
            let fixed = chain.fixed.clone().ok_or_else(|| {
                self.unsupported("attention operands viewed at sizes known only at run time")
            })?;
            read.sizes = fixed.sizes.iter().map(|&n| SymInt::Int(n as i64)).collect();
            *layout = Some(fixed);
        }
        Ok(layouts)
    }

    /// `let {name} = rt::Strided {..}`: an attention operand through its fixed layout,
    /// or as stored (contiguous over `geom.batch`).
    fn strided_operand(&self, name: &str, read: &Read, layout: Option<&FixedView>) -> String {
        let r = read.sizes.len();
        match layout {
            Some(l) => format!(
                "let {name} = {RT}::Strided::with_layout({}, {}, &{:?}, &{:?}).ok_or_else(|| fail(&\"an attention operand's layout\"))?;",
                read.expr, l.at, l.sizes, l.strides,
            ),
            None => format!(
                "let {name} = {RT}::Strided::contiguous({}, geom.batch, [{}, {}]);",
                read.expr,
                self.dim(&read.sizes[r - 2]),
                self.dim(&read.sizes[r - 1]),
            ),
        }
    }

    /// A convolution (im2col + GEMM) and its epilogue.
    pub(super) fn conv(
        &mut self,
        i: usize,
        step: &Step,
        c: &ConvStep,
        code: &mut String,
    ) -> Result<(), AotError> {
        let sizes = self.value_sizes(step.out)?;
        let out = self.out_slot(step, &sizes)?;
        let x = self.read_other(c.x, out)?;
        // A 1-D convolution's `[N, C, L]` runs over a height-1 plane, its output `[N, O, L']`.
        let one = ferrex::SymInt::Int(1);
        let (n, c_in, h, w) = match &x.sizes[..] {
            [n, c_in, h, w] => (n, c_in, h, w),
            [n, c_in, w] => (n, c_in, &one, w),
            _ => return Err(self.unsupported(format!("a convolution of {:?}", x.sizes))),
        };
        let one_d = x.sizes.len() == 3;
        let [c_in, h, w] = self.static_dims([c_in, h, w], "a convolution over")?;
        let dim = |i: usize, k, s, p, d| ConvGeom::out_dim([h, w][i], k, s, p, d);
        let oh = dim(0, c.kh, c.stride[0], c.pad[0], c.dilation[0]);
        let ow = dim(1, c.kw, c.stride[1], c.pad[1], c.dilation[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(self.unsupported("a convolution kernel that does not fit its input"));
        };
        let want = match one_d {
            true => vec![n.clone(), int(c.c_out), int(ow)],
            false => vec![n.clone(), int(c.c_out), int(oh), int(ow)],
        };
        if c_in != c.c_in
            || sizes.len() != want.len()
            || !sizes.iter().zip(&want).all(|(a, b)| same(a, b))
        {
            return Err(self.unsupported(format!("a convolution of {:?} into {sizes:?}", x.sizes)));
        }
        let (weight, bias) = self.weight_and_bias(c.weight, c.bias)?;
        let g = format!(
            "{RT}::ConvGeom {{ c_in: {c_in}, h: {h}, w: {w}, c_out: {}, kh: {}, kw: {}, stride: {:?}, pad: {:?}, dilation: {:?}, groups: {}, oh: {oh}, ow: {ow} }}",
            c.c_out, c.kh, c.kw, c.stride, c.pad, c.dilation, c.groups
        );
        let geom = format!("let g = {g};");
        // The weight prepared for the kernel once, in `Model::new` (field `k{n}`), as
        // the plan's step keeps it: the image is static here, so one geometry.
        let prepared = self.conv_weights.len();
        self.conv_weights.push((self.const_field(c.weight)?, g));
        let weight = format!("({weight}, Some(&self.k{prepared}))");
        let (x, n) = (x.expr, self.dim(n));
        // With an epilogue, the plan's own step (`conv_fused`): a chain on the
        // output runs in the convolution's tiles, as the runner runs it.
        let call = match &c.epilogue {
            None => format!("{RT}::conv2d_prepared({x}, {n}, {weight}, {bias}, &g, &[], out)"),
            Some(e) => {
                let (program, inputs) = self.epilogue_args(i, e, out)?;
                let rank = sizes.len();
                format!(
                    "{RT}::conv_fused({x}, {n}, {weight}, {bias}, &g, (&{program}, {inputs}, {rank}), out)"
                )
            }
        };
        let lines = vec![geom, format!("{call}.map_err(|e| fail(&e))?;")];
        code.push_str(&block(step, out, &self.dim(&numel(&sizes)), &lines));
        Ok(())
    }

    /// A transposed convolution (GEMM + col2im): channels, kernel and steps as literals,
    /// the batch and image sizes as the call gives them.
    pub(super) fn conv_transpose(
        &mut self,
        step: &Step,
        c: &ConvTransposeStep,
        code: &mut String,
    ) -> Result<(), AotError> {
        let sizes = self.value_sizes(step.out)?;
        let out = self.out_slot(step, &sizes)?;
        let x = self.read_other(c.x, out)?;
        let one = ferrex::SymInt::Int(1);
        let (n, h, w, oh, ow) = match (&x.sizes[..], &sizes[..]) {
            ([n, _, h, w], [_, _, oh, ow]) => (n, h, w, oh, ow),
            ([n, _, w], [_, _, ow]) => (n, &one, w, &one, ow),
            _ => {
                return Err(self.unsupported(format!(
                    "a transposed convolution of {:?} into {sizes:?}",
                    x.sizes
                )))
            }
        };
        let [h, w, oh, ow] = [h, w, oh, ow].map(|d| self.dim(d));
        let (weight, bias) = self.weight_and_bias(c.weight, c.bias)?;
        let geom = format!(
            "let g = {RT}::TransposedConv {{ batch: {}, c_in: {}, c_out: {}, groups: {}, input: [{h}, {w}], kernel: {:?}, output: [{oh}, {ow}], stride: {:?}, pad: {:?}, dilation: {:?} }};",
            self.dim(n), c.c_in, c.c_out, c.groups, c.kernel, c.stride, c.pad, c.dilation
        );
        let lines = vec![
            geom,
            format!(
                "{RT}::conv_transpose({}, {weight}, {bias}, &g, out).map_err(|e| fail(&e))?;",
                x.expr
            ),
        ];
        code.push_str(&block(step, out, &self.dim(&numel(&sizes)), &lines));
        Ok(())
    }

    /// A convolution's constant weight and optional bias as the expressions its call
    /// reads (`Some(..)` / `None` for the bias).
    fn weight_and_bias(
        &mut self,
        weight: usize,
        bias: Option<usize>,
    ) -> Result<(String, String), AotError> {
        let weight = self.read(Operand::Const(weight))?.expr;
        let bias = match bias {
            Some(b) => format!("Some({})", self.read(Operand::Const(b))?.expr),
            None => "None".into(),
        };
        Ok((weight, bias))
    }

    /// Sizes a kernel's geometry needs as literals (a convolution's channels and
    /// image, a pooling window's image): refused when symbolic, never specialised.
    pub(super) fn static_dims<const N: usize>(
        &self,
        dims: [&SymInt; N],
        what: &str,
    ) -> Result<[usize; N], AotError> {
        let mut out = [0; N];
        for (o, d) in out.iter_mut().zip(dims) {
            *o = d.as_int().and_then(|v| usize::try_from(v).ok()).ok_or_else(|| {
                self.unsupported(format!(
                    "{what} an image of symbolic size `{d}` is not generated (only its batch may be dynamic)"
                ))
            })?;
        }
        Ok(out)
    }
}

fn int(v: usize) -> SymInt {
    SymInt::Int(v as i64)
}
