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
use crate::tensor::{Storage, Tensor, TensorMeta};

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

/// The spatial rank of a `convolution` call (from its weight); transposed convolutions
/// are refused.
fn convolution_rank(args: &OpArgs) -> Result<usize, OpError> {
    if args.bool(6)? {
        op_bail!("convolution: transposed convolutions are not supported");
    }
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
    Ok(vec![conv_plan(args, nd, Layout::Convolution)?.out])
}

fn convolution_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let nd = convolution_rank(args)?;
    conv_kernel(args, nd, Layout::Convolution)
}

/// `conv1d` / `conv2d` → `convolution(input, weight, bias, stride, padding, dilation,
/// False, [0, …], groups)` with every list at its full length, as PyTorch's
/// decomposition writes it.
fn conv_nd_decomposition(args: &OpArgs, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let full = |i: usize, name: &str| -> Result<Value, OpError> {
        let v = expand_param(&args.int_list(i)?, nd, name)?;
        Ok(Value::IntList(v.into_iter().map(SymInt::Int).collect()))
    };
    let bias = match args.opt_tensor(2)? {
        Some(b) => Value::Tensor(b),
        None => Value::None,
    };
    Ok(Tensor::call_op(
        &CONVOLUTION,
        vec![
            Value::Tensor(args.tensor(0)?),
            Value::Tensor(args.tensor(1)?),
            bias,
            full(3, "stride")?,
            full(4, "padding")?,
            full(5, "dilation")?,
            Value::Bool(false),
            Value::IntList(vec![SymInt::Int(0); nd]),
            Value::Int(args.int(6)?),
        ],
    ))
}

fn conv1d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_nd_decomposition(args, 1)
}

fn conv2d_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    conv_nd_decomposition(args, 2)
}

/// In PyTorch's Core ATen opset; 1-D and 2-D, not transposed.
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

pub static OPS: &[&OpDef] = &[&CONV1D, &CONV2D, &CONVOLUTION];
