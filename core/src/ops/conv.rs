//! Convolutions (`conv1d`, `conv2d`) as im2col + GEMM: for each sample and group the
//! receptive fields are unrolled into a `[C/g * kh * kw, OH * OW]` matrix, which the
//! weights `[O/g, C/g * kh * kw]` multiply through the shared `Gemm` kernels. A 1-D
//! convolution is a 2-D one of height 1.

use ferrex_kernels::{conv2d, try_filled, ConvGeom};

use super::linalg::Gemm;
use super::util::{concrete, expand_param, meta_of, with_float_dtype};
use super::{OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Element, Storage, Tensor, TensorMeta};

/// Everything a convolution needs, in 2-D form (a 1-D convolution has `kh = 1`): the
/// kernels' per-sample geometry and the batch size.
#[derive(Clone, Debug)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub per_sample: ConvGeom,
}

/// The validated shapes of a call: output meta, geometry and whether the input is
/// unbatched.
struct ConvPlan {
    out: TensorMeta,
    geom: ConvGeometry,
}

/// `(in + 2 * pad - dilation * (k - 1) - 1) / stride + 1`, symbolic in `in`; the
/// constant part computed without overflow (hostile paddings and dilations are errors).
fn out_size(
    input: &SymInt,
    k: i64,
    stride: i64,
    pad: i64,
    dilation: i64,
) -> Result<SymInt, OpError> {
    let shift = 2 * i128::from(pad) - i128::from(dilation) * (i128::from(k) - 1) - 1;
    let shift = i64::try_from(shift).map_err(|_| {
        OpError(format!(
            "convolution padding {pad} and dilation {dilation} overflow"
        ))
    })?;
    Ok(input
        .add(&SymInt::Int(shift))
        .floor_div(stride)
        .add(&SymInt::Int(1)))
}

/// Where the schema keeps `groups`: `conv1d`/`conv2d` have it at 6, `convolution` (after
/// `transposed` and `output_padding`) at 8.
#[derive(Clone, Copy)]
enum Layout {
    ConvNd,
    Convolution,
}

impl Layout {
    fn groups_at(self) -> usize {
        match self {
            Layout::ConvNd => 6,
            Layout::Convolution => 8,
        }
    }
}

fn conv_plan(args: &OpArgs, nd: usize, layout: Layout) -> Result<ConvPlan, OpError> {
    let x = args.meta(0)?;
    let w = args.meta(1)?;
    let unbatched = check_input_and_weight(&x, &w, nd)?;
    let mut xs = x.sizes.clone();
    if unbatched {
        xs.insert(0, SymInt::Int(1));
    }
    let p = ConvParams::read(args, nd, layout)?;
    check_channels_and_bias(args, &x, &w, &xs[1], p.groups)?;
    let mut out_sizes = vec![xs[0].clone(), w.sizes[0].clone()];
    for i in 0..nd {
        let k = w.sizes[2 + i].hint();
        // In i128: a hostile padding or dilation must not wrap around.
        let padded = i128::from(xs[2 + i].hint()) + 2 * i128::from(p.pad[i]);
        if padded < i128::from(p.dilation[i]) * (i128::from(k) - 1) + 1 {
            op_bail!(
                "Calculated padded input size per channel: ({padded}). Kernel size: ({k}). Kernel size can't be greater than actual input size"
            );
        }
        out_sizes.push(out_size(
            &xs[2 + i],
            k,
            p.stride[i],
            p.pad[i],
            p.dilation[i],
        )?);
    }
    let geom = geometry(nd, &xs, &w.sizes, &p, &out_sizes);
    if unbatched {
        out_sizes.remove(0);
    }
    Ok(ConvPlan {
        out: TensorMeta::new(x.dtype, out_sizes),
        geom,
    })
}

/// Input and weight: one floating dtype, an `nd + 2`-D weight, an `nd + 1`-D
/// (unbatched) or `nd + 2`-D input. Whether the input is unbatched.
fn check_input_and_weight(x: &TensorMeta, w: &TensorMeta, nd: usize) -> Result<bool, OpError> {
    let name = format!("conv{nd}d");
    if !x.dtype.is_float() {
        op_bail!("\"{name}\" not implemented for '{}'", x.dtype);
    }
    if x.dtype != w.dtype {
        op_bail!(
            "Input type ({}) and weight type ({}) should be the same",
            x.dtype,
            w.dtype
        );
    }
    if w.rank() != nd + 2 {
        op_bail!(
            "{name}: expected a {}-D weight, but got weight of size {}",
            nd + 2,
            format_sizes(&w.sizes)
        );
    }
    let unbatched = x.rank() == nd + 1;
    if !(unbatched || x.rank() == nd + 2) {
        op_bail!(
            "Expected {}D (unbatched) or {}D (batched) input to {name}, but got input of size: {}",
            nd + 1,
            nd + 2,
            format_sizes(&x.sizes)
        );
    }
    Ok(unbatched)
}

/// Stride, padding and dilation per spatial dim, and the groups, validated.
struct ConvParams {
    stride: Vec<i64>,
    pad: Vec<i64>,
    dilation: Vec<i64>,
    groups: i64,
}

impl ConvParams {
    fn read(args: &OpArgs, nd: usize, layout: Layout) -> Result<Self, OpError> {
        let stride = expand_param(&args.int_list(3)?, nd, "stride")?;
        let pad = expand_param(&args.int_list(4)?, nd, "padding")?;
        let dilation = expand_param(&args.int_list(5)?, nd, "dilation")?;
        let groups = args.i64(layout.groups_at())?;
        if stride.iter().any(|&s| s <= 0) {
            op_bail!("non-positive stride is not supported");
        }
        if pad.iter().any(|&p| p < 0) {
            op_bail!("negative padding is not supported");
        }
        if dilation.iter().any(|&d| d <= 0) {
            op_bail!("dilation should be greater than zero");
        }
        if groups <= 0 {
            op_bail!("non-positive groups is not supported");
        }
        Ok(ConvParams {
            stride,
            pad,
            dilation,
            groups,
        })
    }
}

/// Input channels `c_in` match the weight's times the groups, output channels divide
/// into the groups, and the bias (if any) has one element per output channel.
fn check_channels_and_bias(
    args: &OpArgs,
    x: &TensorMeta,
    w: &TensorMeta,
    c_in: &SymInt,
    groups: i64,
) -> Result<(), OpError> {
    let (c_out, cg) = (w.sizes[0].hint(), w.sizes[1].hint());
    if Some(c_in.hint()) != cg.checked_mul(groups) {
        op_bail!(
            "Given groups={groups}, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
            format_sizes(&w.sizes),
            format_sizes(&x.sizes),
            cg.saturating_mul(groups),
            c_in
        );
    }
    if c_out % groups != 0 {
        op_bail!("Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {} instead", format_sizes(&w.sizes));
    }
    if let Some(b) = args.opt_tensor(2)? {
        let b = meta_of(&b)?;
        if b.rank() != 1 || b.sizes[0].hint() != c_out {
            op_bail!(
                "Given weight of size {}, expected bias to be 1-dimensional with {c_out} elements, but got bias of size {} instead",
                format_sizes(&w.sizes),
                format_sizes(&b.sizes)
            );
        }
        if b.dtype != x.dtype {
            op_bail!(
                "Input type ({}) and bias type ({}) should be the same",
                x.dtype,
                b.dtype
            );
        }
    }
    Ok(())
}

/// The geometry in 2-D form (a 1-D convolution gets a leading spatial dim of size 1),
/// from the batched input sizes `xs`, the weight sizes and the batched output sizes.
fn geometry(
    nd: usize,
    xs: &[SymInt],
    ws: &[SymInt],
    p: &ConvParams,
    out_sizes: &[SymInt],
) -> ConvGeometry {
    let hint = |s: &SymInt| s.hint().max(0) as usize;
    let two = |v: &[i64], one: i64| -> [usize; 2] {
        if nd == 1 {
            [one as usize, v[0] as usize]
        } else {
            [v[0] as usize, v[1] as usize]
        }
    };
    let per_sample = ConvGeom {
        c_in: hint(&xs[1]),
        h: if nd == 1 { 1 } else { hint(&xs[2]) },
        w: hint(&xs[1 + nd]),
        c_out: ws[0].hint() as usize,
        kh: if nd == 1 { 1 } else { hint(&ws[2]) },
        kw: hint(&ws[1 + nd]),
        stride: two(&p.stride, 1),
        pad: two(&p.pad, 0),
        dilation: two(&p.dilation, 1),
        groups: p.groups as usize,
        oh: if nd == 1 { 1 } else { hint(&out_sizes[2]) },
        ow: hint(&out_sizes[1 + nd]),
    };
    ConvGeometry {
        batch: hint(&xs[0]),
        per_sample,
    }
}

/// The convolution of row-major `x` `[n, c, h, w]` with `weight` `[o, c/g, kh, kw]`,
/// plus `bias`, on the shared kernels; returns `[n, o, oh, ow]` row-major.
pub(crate) fn conv2d_forward<T: Gemm>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    g: &ConvGeometry,
) -> Result<Vec<T>, OpError> {
    let geom = &g.per_sample;
    let len = [g.batch, geom.c_out, geom.oh, geom.ow]
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| OpError::new("conv: the output size overflows"))?;
    let mut out = try_filled(len, T::default()).map_err(|e| OpError(e.0))?;
    conv2d(x, g.batch, weight, bias, geom, &mut out).map_err(|e| OpError(format!("conv: {e}")))?;
    Ok(out)
}

fn conv_kernel(args: &OpArgs, nd: usize, layout: Layout) -> Result<Vec<Storage>, OpError> {
    let plan = conv_plan(args, nd, layout)?;
    let g = &plan.geom;
    let shape = concrete(&plan.out.sizes);
    let x = args.storage(0)?;
    let w = args.storage(1)?;
    let b = match args.opt_tensor(2)? {
        Some(_) => Some(args.storage(2)?),
        None => None,
    };
    let out = with_float_dtype!(plan.out.dtype, "conv", T => {
        let x = x.typed::<T>();
        let x = x.as_standard_layout();
        let w = w.typed::<T>();
        let w = w.as_standard_layout();
        let b = b.map(|b| b.typed::<T>().as_standard_layout().into_owned());
        let slice = |a: &ndarray::ArrayViewD<'_, T>| -> Result<Vec<T>, OpError> {
            Ok(a.as_slice().map(<[T]>::to_vec).unwrap_or_else(|| a.iter().copied().collect()))
        };
        let xs = x.as_slice().ok_or_else(|| OpError::new("conv: input layout"))?;
        let ws = w.as_slice().ok_or_else(|| OpError::new("conv: weight layout"))?;
        let bs = match &b {
            Some(b) => Some(slice(&b.view())?),
            None => None,
        };
        let data = conv2d_forward::<T>(xs, ws, bs.as_deref(), g)?;
        Storage::from_vec(&shape, data).ok_or_else(|| OpError::new("conv: output shape"))?
    });
    Ok(vec![out])
}

fn conv1d_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![conv_plan(args, 1, Layout::ConvNd)?.out])
}

fn conv1d_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    conv_kernel(args, 1, Layout::ConvNd)
}

fn conv2d_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![conv_plan(args, 2, Layout::ConvNd)?.out])
}

fn conv2d_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    conv_kernel(args, 2, Layout::ConvNd)
}

// ---------------------------------------------------------------------------------------
// convolution: the Core ATen op that conv1d / conv2d decompose to

/// The spatial rank of a `convolution` call (from its weight).
fn convolution_rank(args: &OpArgs) -> Result<usize, OpError> {
    let w = args.meta(1)?;
    match w.rank() {
        3 => Ok(1),
        4 => Ok(2),
        r => op_bail!(
            "convolution: expected a 3-D or 4-D weight, but got weight of size {} ({r}-D)",
            format_sizes(&w.sizes)
        ),
    }
}

fn convolution_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let nd = convolution_rank(args)?;
    if args.bool(6)? {
        return Ok(vec![
            transposed_plan(args, nd, TransposedLayout::CONVOLUTION)?.0,
        ]);
    }
    Ok(vec![conv_plan(args, nd, Layout::Convolution)?.out])
}

fn convolution_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let nd = convolution_rank(args)?;
    if args.bool(6)? {
        return transposed_kernel(args, nd, TransposedLayout::CONVOLUTION);
    }
    conv_kernel(args, nd, Layout::Convolution)
}

/// Where a call keeps the arguments `convolution` takes beyond `input, weight, bias,
/// stride, padding`.
struct ConvolutionArgs {
    dilation: usize,
    /// `None`: not transposed (an output padding of zeros).
    output_padding: Option<usize>,
    groups: usize,
}

/// `conv1d` / `conv2d` / `conv_transposeNd` → `convolution(input, weight, bias, stride,
/// padding, dilation, transposed, output_padding, groups)` with every list at its full
/// length, as PyTorch's decomposition writes it.
fn to_convolution(args: &OpArgs, nd: usize, at: &ConvolutionArgs) -> Result<Vec<Tensor>, OpError> {
    let full = |i: usize, name: &str| -> Result<Value, OpError> {
        let v = expand_param(&args.int_list(i)?, nd, name)?;
        Ok(Value::IntList(v.into_iter().map(SymInt::Int).collect()))
    };
    let bias = match args.opt_tensor(2)? {
        Some(b) => Value::Tensor(b),
        None => Value::None,
    };
    let output_padding = match at.output_padding {
        Some(i) => full(i, "output_padding")?,
        None => Value::IntList(vec![SymInt::Int(0); nd]),
    };
    Ok(Tensor::call_op(
        &CONVOLUTION,
        vec![
            Value::Tensor(args.tensor(0)?),
            Value::Tensor(args.tensor(1)?),
            bias,
            full(3, "stride")?,
            full(4, "padding")?,
            full(at.dilation, "dilation")?,
            Value::Bool(at.output_padding.is_some()),
            output_padding,
            Value::Int(args.int(at.groups)?),
        ],
    ))
}

/// `conv1d` / `conv2d`: dilation at 5, groups at 6.
fn conv_nd_decomposition(args: &OpArgs, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let at = ConvolutionArgs {
        dilation: 5,
        output_padding: None,
        groups: 6,
    };
    to_convolution(args, nd, &at)
}

fn conv1d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_nd_decomposition(args, 1)
}

fn conv2d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_nd_decomposition(args, 2)
}

/// In PyTorch's Core ATen opset; 1-D and 2-D, direct and transposed.
pub static CONVOLUTION: OpDef = OpDef::new(
    "aten::convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor",
    convolution_meta,
    convolution_kernel,
);
pub static CONV1D: OpDef = OpDef::new(
    "aten::conv1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] dilation=1, SymInt groups=1) -> Tensor",
    conv1d_meta,
    conv1d_kernel,
)
.with_decomposition(conv1d_decomposition);
pub static CONV2D: OpDef = OpDef::new(
    "aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] dilation=1, SymInt groups=1) -> Tensor",
    conv2d_meta,
    conv2d_kernel,
)
.with_decomposition(conv2d_decomposition);

// ---------------------------------------------------------------------------------------
// transposed convolutions: conv_transpose1d / conv_transpose2d.input, and `convolution`
// with `transposed=True`

/// Where a transposed call keeps its parameters: `conv_transposeNd` has
/// `stride, padding, output_padding, groups, dilation` at 3..=7, `convolution` has
/// `stride, padding, dilation, transposed, output_padding, groups` at 3..=8.
#[derive(Clone, Copy)]
struct TransposedLayout {
    dilation: usize,
    output_padding: usize,
    groups: usize,
}

impl TransposedLayout {
    const CONV_TRANSPOSE: TransposedLayout = TransposedLayout {
        dilation: 7,
        output_padding: 5,
        groups: 6,
    };
    const CONVOLUTION: TransposedLayout = TransposedLayout {
        dilation: 5,
        output_padding: 7,
        groups: 8,
    };
}

/// The per-sample geometry of a transposed convolution in 2-D form (a 1-D one has
/// height 1): `[c_in, h, w]` scattered through `[c_in, c_out/g, kh, kw]` into
/// `[c_out, oh, ow]`.
#[derive(Clone, Copy)]
struct Scatter {
    batch: usize,
    c_in: usize,
    c_out: usize,
    groups: usize,
    input: [usize; 2],
    kernel: [usize; 2],
    output: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
}

/// `[stride, padding, dilation, output_padding]` (one value per spatial dim) and the
/// groups of a transposed call, checked.
fn transposed_params(
    args: &OpArgs,
    nd: usize,
    layout: TransposedLayout,
) -> Result<([Vec<i64>; 4], i64), OpError> {
    let stride = expand_param(&args.int_list(3)?, nd, "stride")?;
    let pad = expand_param(&args.int_list(4)?, nd, "padding")?;
    let dilation = expand_param(&args.int_list(layout.dilation)?, nd, "dilation")?;
    let output_padding =
        expand_param(&args.int_list(layout.output_padding)?, nd, "output_padding")?;
    let groups = args.i64(layout.groups)?;
    if stride.iter().any(|&v| v <= 0) || dilation.iter().any(|&v| v <= 0) || groups <= 0 {
        op_bail!("non-positive stride, dilation or groups is not supported");
    }
    if pad.iter().chain(&output_padding).any(|&v| v < 0) {
        op_bail!("negative padding is not supported");
    }
    if (0..nd).any(|i| output_padding[i] >= stride[i] && output_padding[i] >= dilation[i]) {
        op_bail!("output padding must be smaller than either stride or dilation, but got output_padding {output_padding:?}, stride {stride:?} and dilation {dilation:?}");
    }
    Ok(([stride, pad, dilation, output_padding], groups))
}

/// The output meta and geometry of a transposed call, checked as ATen checks it.
fn transposed_plan(
    args: &OpArgs,
    nd: usize,
    layout: TransposedLayout,
) -> Result<(TensorMeta, Scatter), OpError> {
    let x = args.meta(0)?;
    let w = args.meta(1)?;
    let unbatched = check_input_and_weight(&x, &w, nd)?;
    let mut xs = x.sizes.clone();
    if unbatched {
        xs.insert(0, SymInt::Int(1));
    }
    let ([stride, pad, dilation, output_padding], groups) = transposed_params(args, nd, layout)?;
    let spatial_sizes = xs[2..].iter().chain(&w.sizes[2..]);
    if spatial_sizes.clone().any(|s| s.hint() <= 0) {
        op_bail!(
            "conv_transpose: expected non-empty spatial sizes, but got input {} and weight {}",
            format_sizes(&x.sizes),
            format_sizes(&w.sizes)
        );
    }
    let c_in = w.sizes[0].hint();
    if xs[1].hint() != c_in || c_in % groups != 0 {
        op_bail!(
            "Given transposed=1, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
            format_sizes(&w.sizes),
            format_sizes(&x.sizes),
            c_in,
            xs[1]
        );
    }
    let c_out = w.sizes[1].mul(&SymInt::Int(groups));
    check_transposed_bias(args, &x, c_out.hint())?;
    let mut out_sizes = vec![xs[0].clone(), c_out];
    for i in 0..nd {
        // (in - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1
        let k = i128::from(w.sizes[2 + i].hint());
        let shift = -2 * i128::from(pad[i])
            + i128::from(dilation[i]) * (k - 1)
            + i128::from(output_padding[i])
            + 1;
        let shift = i64::try_from(shift)
            .map_err(|_| OpError::new("conv_transpose: the output size overflows"))?;
        let size = xs[2 + i]
            .sub(&SymInt::Int(1))
            .mul(&SymInt::Int(stride[i]))
            .add(&SymInt::Int(shift));
        if size.hint() <= 0 {
            op_bail!("conv_transpose: the calculated output size {size} is too small");
        }
        out_sizes.push(size);
    }
    let hint = |v: &SymInt| v.hint().max(0) as usize;
    let two = |v: &[usize]| if nd == 1 { [1, v[0]] } else { [v[0], v[1]] };
    let spatial = |s: &[SymInt]| two(&s[2..].iter().map(hint).collect::<Vec<_>>());
    let params = |v: &[i64], one: usize| {
        let v: Vec<usize> = v.iter().map(|&p| p as usize).collect();
        if nd == 1 {
            [one, v[0]]
        } else {
            [v[0], v[1]]
        }
    };
    let scatter = Scatter {
        batch: hint(&xs[0]),
        c_in: c_in as usize,
        c_out: hint(&out_sizes[1]),
        groups: groups as usize,
        input: spatial(&xs),
        kernel: spatial(&w.sizes),
        output: spatial(&out_sizes),
        stride: params(&stride, 1),
        pad: params(&pad, 0),
        dilation: params(&dilation, 1),
    };
    if unbatched {
        out_sizes.remove(0);
    }
    Ok((TensorMeta::new(x.dtype, out_sizes), scatter))
}

fn check_transposed_bias(args: &OpArgs, x: &TensorMeta, c_out: i64) -> Result<(), OpError> {
    if let Some(b) = args.opt_tensor(2)? {
        let b = meta_of(&b)?;
        if b.rank() != 1 || b.sizes[0].hint() != c_out {
            op_bail!(
                "Given transposed=1, expected bias to be 1-dimensional with {c_out} elements, but got bias of size {} instead",
                format_sizes(&b.sizes)
            );
        }
        if b.dtype != x.dtype {
            op_bail!(
                "Input type ({}) and bias type ({}) should be the same",
                x.dtype,
                b.dtype
            );
        }
    }
    Ok(())
}

/// Every input element times every kernel tap, added at its output position
/// (`o = i * stride - pad + k * dilation`), in f64; then the bias.
fn scatter(x: &[f64], w: &[f64], bias: Option<&[f64]>, g: &Scatter, out: &mut [f64]) {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let [h, wd] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    for n in 0..g.batch {
        for ci in 0..g.c_in {
            let group = ci / cig;
            let plane = &x[(n * g.c_in + ci) * h * wd..][..h * wd];
            for co in 0..cog {
                let taps = &w[(ci * cog + co) * kh * kw..][..kh * kw];
                let oc = group * cog + co;
                let target = &mut out[(n * g.c_out + oc) * oh * ow..][..oh * ow];
                for (iy, row) in plane.chunks(wd).enumerate() {
                    for (ky, tap_row) in taps.chunks(kw).enumerate() {
                        let y = (iy * g.stride[0] + ky * g.dilation[0]) as i64 - g.pad[0] as i64;
                        if y < 0 || y >= oh as i64 {
                            continue;
                        }
                        for (ix, &v) in row.iter().enumerate() {
                            for (kx, &t) in tap_row.iter().enumerate() {
                                let xo = (ix * g.stride[1] + kx * g.dilation[1]) as i64
                                    - g.pad[1] as i64;
                                if xo >= 0 && xo < ow as i64 {
                                    target[y as usize * ow + xo as usize] += v * t;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = bias {
        for (i, chunk) in out.chunks_mut(oh * ow).enumerate() {
            let add = b[i % g.c_out.max(1)];
            chunk.iter_mut().for_each(|v| *v += add);
        }
    }
}

fn transposed_kernel(
    args: &OpArgs,
    nd: usize,
    layout: TransposedLayout,
) -> Result<Vec<Storage>, OpError> {
    let (m, g) = transposed_plan(args, nd, layout)?;
    let shape = concrete(&m.sizes);
    let x = args.storage(0)?.to_f64_vec();
    let w = args.storage(1)?.to_f64_vec();
    let bias = match args.opt_tensor(2)? {
        Some(_) => Some(args.storage(2)?.to_f64_vec()),
        None => None,
    };
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| OpError::new("conv_transpose: the output size overflows"))?;
    let mut out = try_filled(len, 0.0f64).map_err(|e| OpError(e.0))?;
    scatter(&x, &w, bias.as_deref(), &g, &mut out);
    Ok(vec![with_float_dtype!(m.dtype, "conv_transpose", T => {
        let data: Vec<T> = out.into_iter().map(<T as Element>::from_f64).collect();
        Storage::from_vec(&shape, data).ok_or_else(|| OpError::new("conv_transpose: output shape"))?
    })])
}

fn conv_transpose1d_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![
        transposed_plan(args, 1, TransposedLayout::CONV_TRANSPOSE)?.0,
    ])
}

fn conv_transpose1d_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    transposed_kernel(args, 1, TransposedLayout::CONV_TRANSPOSE)
}

fn conv_transpose2d_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![
        transposed_plan(args, 2, TransposedLayout::CONV_TRANSPOSE)?.0,
    ])
}

fn conv_transpose2d_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    transposed_kernel(args, 2, TransposedLayout::CONV_TRANSPOSE)
}

/// `conv_transposeNd`: output padding at 5, groups at 6, dilation at 7.
fn conv_transpose_decomposition(args: &OpArgs, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let at = ConvolutionArgs {
        dilation: 7,
        output_padding: Some(5),
        groups: 6,
    };
    to_convolution(args, nd, &at)
}

fn conv_transpose1d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_transpose_decomposition(args, 1)
}

fn conv_transpose2d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_transpose_decomposition(args, 2)
}

pub static CONV_TRANSPOSE1D: OpDef = OpDef::new(
    "aten::conv_transpose1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] output_padding=0, SymInt groups=1, SymInt[1] dilation=1) -> Tensor",
    conv_transpose1d_meta,
    conv_transpose1d_kernel,
)
.with_decomposition(conv_transpose1d_decomposition);
pub static CONV_TRANSPOSE2D: OpDef = OpDef::new(
    "aten::conv_transpose2d.input(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] output_padding=0, SymInt groups=1, SymInt[2] dilation=1) -> Tensor",
    conv_transpose2d_meta,
    conv_transpose2d_kernel,
)
.with_decomposition(conv_transpose2d_decomposition);

pub static OPS: &[&OpDef] = &[
    &CONV1D,
    &CONV2D,
    &CONVOLUTION,
    &CONV_TRANSPOSE1D,
    &CONV_TRANSPOSE2D,
];
