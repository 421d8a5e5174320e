//! Strided views, reductions, group norm and batched products: each step's geometry
//! computed from the static sizes as the plan's runner computes it at run time
//! (`ferrex-runtime`'s `exec/steps.rs`), then the same kernel.

use ferrex_runtime::plan::{Kind, Operand, Step, ViewOp};

use super::literal::{f64_lit, shape};
use super::steps::numel;
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

impl Gen<'_> {
    /// The lines of a view, reduction, group norm or `bmm` step writing slot `out`
    /// (`sizes` its output's), or `None` for another kind.
    pub(super) fn view_step(
        &mut self,
        step: &Step,
        sizes: &[usize],
        out: usize,
    ) -> Result<Option<Vec<String>>, AotError> {
        let operand = |g: &mut Self, o: &Operand| g.read_other(*o, out);
        Ok(Some(match &step.kind {
            Kind::View { x, view } => {
                let x = operand(self, x)?;
                let (offset, strides) = view_layout(&x.sizes, sizes, view)
                    .map_err(|e| self.unsupported(format!("`{}`: {e}", step.info.name)))?;
                vec![format!("{RT}::strided_copy({}, {offset}, &{}, &{strides:?}, out).map_err(|e| fail(&e))?;", x.expr, shape(sizes))]
            }
            Kind::Reduce { x, dims, mean } => {
                let x = operand(self, x)?;
                let reduce: Vec<bool> = (0..x.sizes.len()).map(|d| dims.contains(&d)).collect();
                let count: usize = dims.iter().filter_map(|&d| x.sizes.get(d)).product();
                let scale = if *mean { 1.0 / count as f64 } else { 1.0 };
                vec![format!(
                    "{RT}::reduce_sum({}, &{}, &{reduce:?}, {}, out).map_err(|e| fail(&e))?;",
                    x.expr,
                    shape(&x.sizes),
                    f64_lit(scale)
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
                let geom = [x.sizes[0], x.sizes[1], numel(&x.sizes[2..])];
                let mut param = |o: &Option<Operand>| -> Result<String, AotError> {
                    Ok(match o {
                        Some(o) => format!("Some({})", self.read_other(*o, out)?.expr),
                        None => "None".into(),
                    })
                };
                let (w, b) = (param(weight)?, param(bias)?);
                vec![
                    format!("let params = {RT}::LayerNormParams {{ weight: {w}, bias: {b}, eps: {} }};", f64_lit(*eps)),
                    format!("{RT}::group_norm({}, {geom:?}, {groups}, &params, out, None).map_err(|e| fail(&e))?;", x.expr),
                ]
            }
            Kind::Bmm { a, b } => {
                let (a, b) = (operand(self, a)?, operand(self, b)?);
                let ([nb, m, k], [nb2, k2, n]) = (
                    <[usize; 3]>::try_from(&a.sizes[..]).unwrap_or_default(),
                    <[usize; 3]>::try_from(&b.sizes[..]).unwrap_or_default(),
                );
                if nb != nb2 || k != k2 || a.sizes.len() != 3 || b.sizes.len() != 3 || m * n == 0 {
                    return Err(self.unsupported(format!("bmm of {:?} and {:?}", a.sizes, b.sizes)));
                }
                vec![
                    format!("let (a, b) = ({}, {});", a.expr, b.expr),
                    format!("for (i, o) in out.chunks_exact_mut({}).enumerate() {{", m * n),
                    format!(
                        "    {RT}::gemm(1.0f32, {RT}::Mat::row_major(&a[i * {}..], {m}, {k}), {RT}::Mat::row_major(&b[i * {}..], {k}, {n}), 0.0f32, o).map_err(|e| fail(&e))?;",
                        m * k,
                        k * n
                    ),
                    "}".into(),
                ]
            }
            _ => return Ok(None),
        }))
    }
}
