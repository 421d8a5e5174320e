//! Strided views, reductions, group norm and batched products: each step's geometry
//! computed from the static sizes as the plan's runner computes it at run time
//! (`ferrex-runtime`'s `exec/steps.rs`), then the same kernel.

use std::fmt::Write;

use ferrex::SymInt;
use ferrex_kernels::reduce::Reduction;
use ferrex_runtime::plan::{Kind, Operand, ReadView, Step, ViewOp};

use super::literal::f64_lit;
use super::steps::{numel, same};
use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

/// Where a view of an input of sizes `xs` (contiguous) starts and its strides, for an
/// output of sizes `out`: the runner's own geometry, with every bound a constant.
fn view_layout(xs: &[usize], out: &[usize], view: &ViewOp) -> Result<(usize, Vec<usize>), String> {
    view.layout(xs, out, |s| {
        s.as_int()
            .ok_or_else(|| format!("a symbolic view bound {s:?}"))
    })
}

/// Whether a view's index or slice bounds are literals.
fn static_bounds(view: &ViewOp) -> bool {
    match view {
        ViewOp::Select { index, .. } => index.as_int().is_some(),
        ViewOp::Slice { start, end, .. } => start.iter().chain(end).all(|s| s.as_int().is_some()),
        _ => true,
    }
}

/// The sizes as literals, if none is symbolic.
fn literals(s: &[SymInt]) -> Option<Vec<usize>> {
    s.iter()
        .map(|d| d.as_int().and_then(|v| usize::try_from(v).ok()))
        .collect()
}

impl Gen<'_> {
    /// A view step: its geometry computed here when every size is a literal, else at run
    /// time by the runner's own `ViewOp::layout` on the call's sizes.
    fn view_lines(
        &self,
        step: &Step,
        x: &super::steps::Read,
        sizes: &[SymInt],
        view: &ViewOp,
    ) -> Result<Vec<String>, AotError> {
        if let (Some(xs), Some(os), true) =
            (literals(&x.sizes), literals(sizes), static_bounds(view))
        {
            let (offset, strides) = view_layout(&xs, &os, view)
                .map_err(|e| self.unsupported(format!("`{}`: {e}", step.info.name)))?;
            return Ok(vec![format!(
                "{RT}::strided_copy({}, {offset}, &{}, &{strides:?}, out).map_err(|e| fail(&e))?;",
                x.expr,
                self.shape(sizes)
            )]);
        }
        let view = self.view_expr(view);
        Ok(vec![
            format!("let shape = {};", self.shape(sizes)),
            format!(
                "let (offset, strides) = {RT}::view_layout(&{view}, &{}, &shape).map_err(|e| fail(&e))?;",
                self.shape(&x.sizes)
            ),
            format!("{RT}::strided_copy({}, offset, &shape, &strides, out).map_err(|e| fail(&e))?;", x.expr),
        ])
    }

    /// A select or slice planned as a run of `src`'s buffer (`Kind::Alias` with `at`):
    /// no code but, where a bound is symbolic, the run's start (`at{v}`), computed by
    /// the runner's own `ViewOp::layout`.
    pub(super) fn alias_at(
        &mut self,
        step: &Step,
        src: usize,
        view: &ViewOp,
        sizes: &[SymInt],
        code: &mut String,
    ) -> Result<(), AotError> {
        let xs = self.value_sizes(src)?;
        let base = self.slot_at[src].clone();
        let start = match (literals(&xs), literals(sizes)) {
            (Some(xs), Some(os)) if static_bounds(view) => {
                let (offset, _) = view_layout(&xs, &os, view)
                    .map_err(|e| self.unsupported(format!("`{}`: {e}", step.info.name)))?;
                offset.to_string()
            }
            _ => {
                let v = step.out;
                let _ = writeln!(
                    code,
                    "        let at{v} = {{\n{}\n            {RT}::view_layout(&{}, &{}, &{}).map_err(|e| fail(&e))?.0\n        }};",
                    super::steps::fail_closure(step),
                    self.view_expr(view),
                    self.shape(&xs),
                    self.shape(sizes)
                );
                format!("at{v}")
            }
        };
        let _ = writeln!(
            code,
            "        // (no code: {} of the slot's value, from element {start})",
            view.label()
        );
        self.slot_at[step.out] = Some(match base {
            Some(b) => format!("({b} + {start})"),
            None => start,
        });
        Ok(())
    }

    /// Fused input `i`'s view of a value of sizes `xs` as an `Option<InputView>`
    /// expression, and the lines that compute it first where a size is symbolic.
    pub(super) fn view_geometry(
        &self,
        step: &Step,
        i: usize,
        xs: &[SymInt],
        view: &ReadView,
    ) -> Result<(String, String), AotError> {
        if let (Some(xs), Some(vs), true) = (
            literals(xs),
            literals(&view.sizes),
            static_bounds(&view.view),
        ) {
            let (at, strides) = view_layout(&xs, &vs, &view.view)
                .map_err(|e| self.unsupported(format!("`{}`: {e}", step.info.name)))?;
            return Ok((
                format!("Some(({at}, &{vs:?}, &{strides:?}))"),
                String::new(),
            ));
        }
        let line = format!(
            "            let vs{i} = {};\n            let (at{i}, st{i}) = {RT}::view_layout(&{}, &{}, &vs{i}).map_err(|e| fail(&e))?;\n",
            self.shape(&view.sizes),
            self.view_expr(&view.view),
            self.shape(xs)
        );
        Ok((format!("Some((at{i}, &vs{i}[..], &st{i}[..]))"), line))
    }

    /// The runner's `ViewOp` value of `view`, its symbolic bounds read from the dims.
    fn view_expr(&self, view: &ViewOp) -> String {
        let bound = |s: &SymInt| format!("{RT}::SymInt::Int({} as i64)", self.dim(s));
        let opt = |s: &Option<SymInt>| {
            s.as_ref()
                .map_or("None".into(), |s| format!("Some({})", bound(s)))
        };
        match view {
            ViewOp::Reshape => format!("{RT}::ViewOp::Reshape"),
            ViewOp::Expand => format!("{RT}::ViewOp::Expand"),
            ViewOp::Select { dim, index } => {
                let index = match index.as_int() {
                    Some(i) => format!("{RT}::SymInt::Int({i})"),
                    None => bound(index),
                };
                format!("{RT}::ViewOp::Select {{ dim: {dim}, index: {index} }}")
            }
            ViewOp::Slice {
                dim,
                start,
                end,
                step,
            } => format!(
                "{RT}::ViewOp::Slice {{ dim: {dim}, start: {}, end: {}, step: {step} }}",
                opt(start),
                opt(end)
            ),
            ViewOp::Permute { dims } => format!("{RT}::ViewOp::Permute {{ dims: vec!{dims:?} }}"),
        }
    }

    /// The lines of a view, reduction, group norm or `bmm` step writing slot `out`
    /// (`sizes` its output's), or `None` for another kind.
    pub(super) fn view_step(
        &mut self,
        step: &Step,
        sizes: &[SymInt],
        out: usize,
    ) -> Result<Option<Vec<String>>, AotError> {
        let operand = |g: &mut Self, o: &Operand| g.read_other(*o, out);
        Ok(Some(match &step.kind {
            Kind::View { x, view } => {
                let x = operand(self, x)?;
                self.view_lines(step, &x, sizes, view)?
            }
            Kind::Reduce { x, dims, op } => {
                let x = operand(self, x)?;
                let reduce: Vec<bool> = (0..x.sizes.len()).map(|d| dims.contains(&d)).collect();
                let count = numel(
                    &dims
                        .iter()
                        .filter_map(|&d| x.sizes.get(d).cloned())
                        .collect::<Vec<_>>(),
                );
                let shape = self.shape(&x.sizes);
                let scale = match (op, count.as_int()) {
                    (Reduction::Sum, _) => f64_lit(1.0),
                    (Reduction::Mean, Some(c)) => f64_lit(1.0 / c as f64),
                    (Reduction::Mean, None) => format!("1.0f64 / {} as f64", self.dim(&count)),
                    (Reduction::Max | Reduction::Min, _) => {
                        let max = *op == Reduction::Max;
                        return Ok(Some(vec![format!(
                            "{RT}::reduce_extreme({}, &{shape}, &{reduce:?}, {max}, out).map_err(|e| fail(&e))?;",
                            x.expr,
                        )]));
                    }
                };
                vec![format!(
                    "{RT}::reduce_sum({}, &{shape}, &{reduce:?}, {scale}, out).map_err(|e| fail(&e))?;",
                    x.expr,
                )]
            }
            Kind::GroupNorm {
                x,
                groups,
                weight,
                bias,
                eps,
            } => {
                let x = operand(self, x)?;
                if x.sizes.len() < 2 {
                    return Err(self.unsupported(format!("group norm of {:?}", x.sizes)));
                }
                let geom = format!(
                    "[{}, {}, {}]",
                    self.dim(&x.sizes[0]),
                    self.dim(&x.sizes[1]),
                    self.dim(&numel(&x.sizes[2..]))
                );
                let mut param = |o: &Option<Operand>| -> Result<String, AotError> {
                    Ok(match o {
                        Some(o) => format!("Some({})", self.read_other(*o, out)?.expr),
                        None => "None".into(),
                    })
                };
                let (w, b) = (param(weight)?, param(bias)?);
                vec![
                    format!("let params = {RT}::LayerNormParams {{ weight: {w}, bias: {b}, eps: {} }};", f64_lit(*eps)),
                    format!("{RT}::group_norm({}, {geom}, {groups}, &params, out, None).map_err(|e| fail(&e))?;", x.expr),
                ]
            }
            Kind::Bmm { a, b } => {
                let (a, b) = (operand(self, a)?, operand(self, b)?);
                self.bmm_lines(&a, &b)?
            }
            _ => return Ok(None),
        }))
    }

    /// `bmm`: one product per batch.
    fn bmm_lines(
        &self,
        a: &super::steps::Read,
        b: &super::steps::Read,
    ) -> Result<Vec<String>, AotError> {
        // `[..batch, m, k] @ [..batch, k, n]`: `bmm`, or a `matmul` of batched operands.
        let (Some((lead, [m, k])), Some((lead_b, [k2, n]))) = (
            a.sizes.split_last_chunk::<2>(),
            b.sizes.split_last_chunk::<2>(),
        ) else {
            return Err(self.unsupported(format!("bmm of {:?} and {:?}", a.sizes, b.sizes)));
        };
        // The same batch, or a 2-D `a` shared by every batch of `b`.
        let same_batch = lead.is_empty()
            || lead.len() == lead_b.len() && lead.iter().zip(lead_b).all(|(x, y)| same(x, y));
        let mn = m.mul(n);
        if lead_b.is_empty() || !same_batch || !same(k, k2) || mn.as_int() == Some(0) {
            return Err(self.unsupported(format!("bmm of {:?} and {:?}", a.sizes, b.sizes)));
        }
        let a_rows = match lead.is_empty() {
            true => "a".to_string(),
            false => format!("&a[i * {}..]", self.dim(&m.mul(k))),
        };
        // A per-call `m * n` may be 0: chunks of at least 1, as the runner takes.
        let chunk = match mn.as_int() {
            Some(_) => self.dim(&mn),
            None => format!("{}.max(1)", self.dim(&mn)),
        };
        Ok(vec![
                    format!("let (a, b) = ({}, {});", a.expr, b.expr),
                    format!("for (i, o) in out.chunks_exact_mut({chunk}).enumerate() {{"),
                    format!(
                        "    {RT}::gemm(1.0f32, {RT}::Mat::row_major({a_rows}, {}, {}), {RT}::Mat::row_major(&b[i * {}..], {}, {}), 0.0f32, o).map_err(|e| fail(&e))?;",
                        self.dim(m),
                        self.dim(k),
                        self.dim(&k.mul(n)),
                        self.dim(k),
                        self.dim(n)
                    ),
                    "}".into(),
                ])
    }
}
