//! Convolutions (`conv1d`, `conv2d`) as im2col + GEMM: for each sample and group the
//! receptive fields are unrolled into a `[C/g * kh * kw, OH * OW]` matrix, which the
//! weights `[O/g, C/g * kh * kw]` multiply through the shared `Gemm` kernels. A 1-D
//! convolution is a 2-D one of height 1. Every op of the family (`conv1d`, `conv2d`,
//! `convolution`, `conv_transpose1d`, `conv_transpose2d.input`) reads its arguments as
//! one [`ConvCall`] and says so to the runtime (`Lowering::Conv`).

use ferrex_kernels::conv::TransposedConv;
use ferrex_kernels::{conv2d_new, try_filled, ConvGeom};

use super::linalg::Gemm;
use super::lowering::Lowering;
use super::op_def;
use super::util::{concrete, expand_param, meta_of, usize_array, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{view_as_slice, Storage, Tensor, TensorMeta};

/// A convolution call, whichever op spelled it: the arguments every form shares, plus
/// the output padding of a transposed one.
pub(crate) struct ConvCall<'a, T> {
    pub input: &'a T,
    pub weight: &'a T,
    pub bias: Option<&'a T>,
    pub stride: &'a [SymInt],
    pub padding: &'a [SymInt],
    pub dilation: &'a [SymInt],
    /// `Some`: a transposed convolution.
    pub output_padding: Option<&'a [SymInt]>,
    pub groups: &'a SymInt,
}

impl<T: Clone> ConvCall<'_, T> {
    /// What the op offers the runtime: the call as a `Lowering::Conv`.
    fn lowering(&self) -> Lowering<T> {
        Lowering::Conv {
            input: self.input.clone(),
            weight: self.weight.clone(),
            bias: self.bias.cloned(),
            stride: self.stride.to_vec(),
            padding: self.padding.to_vec(),
            dilation: self.dilation.to_vec(),
            groups: self.groups.clone(),
            transposed: self.output_padding.is_some(),
        }
    }
}

/// `call()` of a `conv1d` / `conv2d` argument struct (not transposed).
macro_rules! conv_nd_call {
    ($($ty:ident),*) => {$(
        impl<T: Clone> $ty<T> {
            fn call(&self) -> ConvCall<'_, T> {
                ConvCall {
                    input: &self.input,
                    weight: &self.weight,
                    bias: self.bias.as_ref(),
                    stride: &self.stride,
                    padding: &self.padding,
                    dilation: &self.dilation,
                    output_padding: None,
                    groups: &self.groups,
                }
            }
        }
    )*};
}

/// `call()` of a `conv_transposeNd` argument struct.
macro_rules! conv_transpose_call {
    ($($ty:ident),*) => {$(
        impl<T: Clone> $ty<T> {
            fn call(&self) -> ConvCall<'_, T> {
                ConvCall {
                    input: &self.input,
                    weight: &self.weight,
                    bias: self.bias.as_ref(),
                    stride: &self.stride,
                    padding: &self.padding,
                    dilation: &self.dilation,
                    output_padding: Some(&self.output_padding),
                    groups: &self.groups,
                }
            }
        }
    )*};
}

conv_nd_call!(Conv1d, Conv2d, Conv3dArgs);
conv_transpose_call!(ConvTranspose1d, ConvTranspose2d);

impl<T: Clone> Convolution<T> {
    fn call(&self) -> ConvCall<'_, T> {
        ConvCall {
            input: &self.input,
            weight: &self.weight,
            bias: self.bias.as_ref(),
            stride: &self.stride,
            padding: &self.padding,
            dilation: &self.dilation,
            output_padding: self.transposed.then_some(&self.output_padding[..]),
            groups: &self.groups,
        }
    }
}

/// Everything a convolution needs, in 2-D form (a 1-D convolution has `kh = 1`): the
/// kernels' per-sample geometry and the batch size.
#[derive(Clone, Debug)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub per_sample: ConvGeom,
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

/// The output meta of a direct convolution, checked as ATen checks it.
fn conv_meta(c: &ConvCall<Tensor>, nd: usize) -> Result<TensorMeta, OpError> {
    let x = meta_of(c.input)?;
    let w = meta_of(c.weight)?;
    let unbatched = check_input_and_weight(&x, &w, nd)?;
    let mut xs = x.sizes.clone();
    if unbatched {
        xs.insert(0, SymInt::Int(1));
    }
    let p = ConvParams::read(c, nd)?;
    check_channels_and_bias(c.bias, &x, &w, &xs[1], p.groups)?;
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
    if unbatched {
        out_sizes.remove(0);
    }
    Ok(TensorMeta::new(x.dtype, out_sizes))
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
    fn read(c: &ConvCall<Tensor>, nd: usize) -> Result<Self, OpError> {
        let stride = expand_param(c.stride, nd, "stride")?;
        let pad = expand_param(c.padding, nd, "padding")?;
        let dilation = expand_param(c.dilation, nd, "dilation")?;
        let groups = c.groups.hint();
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
    bias: Option<&Tensor>,
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
    if let Some(b) = bias {
        let b = meta_of(b)?;
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

/// The sizes of the batched input, weight and output of a call whose meta was computed:
/// from the eager data and that meta (an unbatched call gets a batch of one).
fn batched_sizes(x: &Storage, w: &Storage, out: &TensorMeta, nd: usize) -> [Vec<SymInt>; 3] {
    let sym = |s: &[usize]| -> Vec<SymInt> { s.iter().map(|&d| SymInt::Int(d as i64)).collect() };
    let (mut xs, mut os) = (sym(x.shape()), out.sizes.clone());
    if xs.len() == nd + 1 {
        xs.insert(0, SymInt::Int(1));
        os.insert(0, SymInt::Int(1));
    }
    [xs, sym(w.shape()), os]
}

/// The one result meta of a convolution.
fn single(metas: &[TensorMeta]) -> Result<&TensorMeta, OpError> {
    metas
        .first()
        .ok_or_else(|| OpError::new("conv: no result meta"))
}

/// The convolution of row-major `x` `[n, c, h, w]` with `weight` `[o, c/g, kh, kw]`,
/// plus `bias`, on the shared kernels; returns `[n, o, oh, ow]` row-major.
pub(crate) fn conv2d_forward<T: Gemm>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    g: &ConvGeometry,
) -> Result<Vec<T>, OpError> {
    conv2d_new(x, g.batch, weight, bias, &g.per_sample).map_err(|e| OpError(format!("conv: {e}")))
}

/// A direct convolution into the meta its meta function computed.
fn conv_kernel(
    c: &ConvCall<Tensor>,
    nd: usize,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let out_meta = single(metas)?;
    let shape = concrete(&out_meta.sizes);
    let x = c.input.storage_or_op_error()?;
    let w = c.weight.storage_or_op_error()?;
    let b = c.bias.map(Tensor::storage_or_op_error).transpose()?;
    let [xs, ws, os] = batched_sizes(&x, &w, out_meta, nd);
    let p = ConvParams::read(c, nd)?;
    if nd == 3 {
        return Ok(vec![conv3d_kernel(
            &x,
            &w,
            b.as_ref(),
            [&xs, &ws, &os],
            &p,
            &shape,
        )?]);
    }
    let g = &geometry(nd, &xs, &ws, &p, &os);
    let out = with_float_dtype!(out_meta.dtype, "conv", T => {
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

/// A 3-D convolution on eager data (`[N, C, D, H, W]`, batched sizes `[xs, ws, os]`)
/// into `shape`, in its float type.
fn conv3d_kernel(
    x: &Storage,
    w: &Storage,
    b: Option<&Storage>,
    [xs, ws, os]: [&[SymInt]; 3],
    p: &ConvParams,
    shape: &[usize],
) -> Result<Storage, OpError> {
    let five = |s: &[SymInt]| -> Result<[usize; 5], OpError> {
        let sizes: Vec<usize> = concrete(s);
        (sizes.try_into()).map_err(|_| OpError::new("conv3d: expected 5-D sizes"))
    };
    let g = Conv3d {
        x: five(xs)?,
        w: five(ws)?,
        out: five(os)?,
        stride: usize_array(&p.stride, "conv3d stride")?,
        pad: usize_array(&p.pad, "conv3d padding")?,
        dilation: usize_array(&p.dilation, "conv3d dilation")?,
        groups: usize::try_from(p.groups).map_err(|_| OpError::new("conv3d: groups"))?,
    };
    Ok(with_float_dtype!(x.dtype(), "conv3d", T => {
        let dense = |s: &Storage| -> Vec<T> {
            let a = s.typed::<T>();
            let a = a.as_standard_layout();
            a.as_slice().map_or_else(|| a.iter().copied().collect(), <[T]>::to_vec)
        };
        let data = g.forward(&dense(x), &dense(w), b.map(dense).as_deref())?;
        Storage::from_vec(shape, data).ok_or_else(|| OpError::new("conv3d: output shape"))?
    }))
}

/// The batched sizes and parameters of a 3-D convolution: input `[N, C, D, H, W]`,
/// weight `[O, C/g, KD, KH, KW]`, output `[N, O, OD, OH, OW]`.
struct Conv3d {
    x: [usize; 5],
    w: [usize; 5],
    out: [usize; 5],
    stride: [usize; 3],
    pad: [usize; 3],
    dilation: [usize; 3],
    groups: usize,
}

impl Conv3d {
    /// The convolution as 2-D ones: for each depth tap `kd` of the kernel, the input
    /// planes each output depth reads at that tap (zeros where it falls in the padding)
    /// are gathered into a batch of `N · OD` 2-D inputs and convolved with the weight's
    /// `kd` slice by the shared 2-D kernel; the taps' results are summed, then the bias.
    fn forward<T: Gemm>(&self, x: &[T], w: &[T], bias: Option<&[T]>) -> Result<Vec<T>, OpError> {
        let [n, c, d, h, wd] = self.x;
        let [o, cg, kd, kh, kw] = self.w;
        let [_, _, od, oh, ow] = self.out;
        let overflow = || OpError::new("conv3d: the sizes overflow");
        let mul = |a: usize, b: usize| a.checked_mul(b).ok_or_else(overflow);
        let (plane, out_plane) = (mul(h, wd)?, mul(oh, ow)?);
        let batch = mul(n, od)?;
        let out_len = mul(mul(batch, o)?, out_plane)?;
        let mut out = try_filled(out_len, T::default()).map_err(|e| OpError(e.0))?;
        let mut taps =
            try_filled(mul(mul(batch, c)?, plane)?, T::default()).map_err(|e| OpError(e.0))?;
        let mut wk =
            try_filled(mul(mul(o, cg)?, mul(kh, kw)?)?, T::default()).map_err(|e| OpError(e.0))?;
        let geom = ConvGeom {
            c_in: c,
            h,
            w: wd,
            c_out: o,
            kh,
            kw,
            stride: [self.stride[1], self.stride[2]],
            pad: [self.pad[1], self.pad[2]],
            dilation: [self.dilation[1], self.dilation[2]],
            groups: self.groups,
            oh,
            ow,
        };
        let in_len = mul(mul(n, c)?, mul(d, plane)?)?;
        if x.len() != in_len || w.len() != mul(mul(o, cg)?, mul(kd, kh * kw)?)? {
            op_bail!("conv3d: the data does not match its sizes");
        }
        // A zero-size dim leaves empty buffers: every chunk size below is at least 1, so
        // their loops run no times instead of panicking.
        for tap in 0..kd {
            // The input depth output depth `z` reads at this tap, if inside the input.
            let depth = |z: usize| {
                let at = (z * self.stride[0] + tap * self.dilation[0]).checked_sub(self.pad[0])?;
                (at < d).then_some(at)
            };
            if (0..od).all(|z| depth(z).is_none()) {
                continue;
            }
            taps.fill(T::default());
            for (b, dst) in taps.chunks_exact_mut((c * plane).max(1)).enumerate() {
                let (ni, z) = (b / od, b % od);
                if let Some(at) = depth(z) {
                    for ci in 0..c {
                        let src = ((ni * c + ci) * d + at) * plane;
                        dst[ci * plane..(ci + 1) * plane].copy_from_slice(&x[src..src + plane]);
                    }
                }
            }
            for (k, dst) in wk.chunks_exact_mut((kh * kw).max(1)).enumerate() {
                let src = (k * kd + tap) * kh * kw;
                dst.copy_from_slice(&w[src..src + kh * kw]);
            }
            let y = conv2d_new(&taps, batch, &wk, None, &geom)
                .map_err(|e| OpError(format!("conv3d: {e}")))?;
            // `y` is `[N·OD, O, OH, OW]`; the output `[N, O, OD, OH, OW]`.
            for (b, rows) in y.chunks_exact((o * out_plane).max(1)).enumerate() {
                let (ni, z) = (b / od, b % od);
                for (oi, src) in rows.chunks_exact(out_plane.max(1)).enumerate() {
                    let at = ((ni * o + oi) * od + z) * out_plane;
                    for (acc, &v) in out[at..at + out_plane].iter_mut().zip(src) {
                        *acc = *acc + v;
                    }
                }
            }
        }
        if let Some(bias) = bias {
            for (k, block) in out.chunks_exact_mut((od * out_plane).max(1)).enumerate() {
                let b = bias.get(k % o).copied().unwrap_or_default();
                block.iter_mut().for_each(|v| *v = *v + b);
            }
        }
        Ok(out)
    }
}

/// The meta of any convolution call (direct or transposed) of spatial rank `nd`.
fn any_conv_meta(c: &ConvCall<Tensor>, nd: usize) -> Result<Vec<TensorMeta>, OpError> {
    if nd == 3 && c.output_padding.is_some() {
        op_bail!("conv_transpose3d is not supported yet (3-D convolutions are direct only)");
    }
    Ok(vec![match c.output_padding {
        Some(_) => transposed_meta(c, nd)?,
        None => conv_meta(c, nd)?,
    }])
}

/// The kernel of any convolution call.
fn any_conv_kernel(
    c: &ConvCall<Tensor>,
    nd: usize,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    match c.output_padding {
        Some(_) => transposed_kernel(c, nd, metas),
        None => conv_kernel(c, nd, metas),
    }
}

// ---------------------------------------------------------------------------------------
// convolution: the Core ATen op that conv1d / conv2d decompose to

/// The spatial rank of a `convolution` call (from its weight's rank).
fn convolution_rank(weight_rank: usize, sizes: &[SymInt]) -> Result<usize, OpError> {
    match weight_rank {
        3 => Ok(1),
        4 => Ok(2),
        5 => Ok(3),
        r => op_bail!(
            "convolution: expected a 3-D, 4-D or 5-D weight, but got weight of size {} ({r}-D)",
            format_sizes(sizes)
        ),
    }
}

fn convolution_meta(a: &Convolution) -> Result<Vec<TensorMeta>, OpError> {
    let w = meta_of(&a.weight)?;
    any_conv_meta(&a.call(), convolution_rank(w.rank(), &w.sizes)?)
}

fn convolution_kernel(a: &Convolution, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let w = a.weight.storage_or_op_error()?;
    let nd = convolution_rank(w.shape().len(), &[])?;
    any_conv_kernel(&a.call(), nd, metas)
}

/// `conv1d` / `conv2d` / `conv_transposeNd` → `convolution(input, weight, bias, stride,
/// padding, dilation, transposed, output_padding, groups)` with every list at its full
/// length, as PyTorch's decomposition writes it.
fn to_convolution(c: &ConvCall<Tensor>, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let full = |list: &[SymInt], name: &str| -> Result<Value, OpError> {
        let v = expand_param(list, nd, name)?;
        Ok(Value::IntList(v.into_iter().map(SymInt::Int).collect()))
    };
    let bias = match c.bias {
        Some(b) => Value::Tensor(b.clone()),
        None => Value::None,
    };
    let output_padding = match c.output_padding {
        Some(list) => full(list, "output_padding")?,
        None => Value::IntList(vec![SymInt::Int(0); nd]),
    };
    Ok(Tensor::call_op(
        &CONVOLUTION,
        vec![
            Value::Tensor(c.input.clone()),
            Value::Tensor(c.weight.clone()),
            bias,
            full(c.stride, "stride")?,
            full(c.padding, "padding")?,
            full(c.dilation, "dilation")?,
            Value::Bool(c.output_padding.is_some()),
            output_padding,
            Value::Int(c.groups.clone()),
        ],
    ))
}

op_def! {
    /// In PyTorch's Core ATen opset; 1-D and 2-D, direct and transposed.
    pub static CONVOLUTION: struct Convolution =
        "aten::convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor" {
        meta: convolution_meta,
        kernel: convolution_kernel,
        lowering: |a: &Convolution<_>| Ok(a.call().lowering()),
    }
    pub static CONV1D: struct Conv1d =
        "aten::conv1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv1d| any_conv_meta(&a.call(), 1),
        kernel: |a: &Conv1d, m: &[TensorMeta]| any_conv_kernel(&a.call(), 1, m),
        decomposition: |a: &Conv1d| to_convolution(&a.call(), 1),
        lowering: |a: &Conv1d<_>| Ok(a.call().lowering()),
    }
    pub static CONV3D: struct Conv3dArgs =
        "aten::conv3d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[3] stride=1, SymInt[3] padding=0, SymInt[3] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv3dArgs| any_conv_meta(&a.call(), 3),
        kernel: |a: &Conv3dArgs, m: &[TensorMeta]| any_conv_kernel(&a.call(), 3, m),
        decomposition: |a: &Conv3dArgs| to_convolution(&a.call(), 3),
        lowering: |a: &Conv3dArgs<_>| Ok(a.call().lowering()),
    }
    pub static CONV2D: struct Conv2d =
        "aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv2d| any_conv_meta(&a.call(), 2),
        kernel: |a: &Conv2d, m: &[TensorMeta]| any_conv_kernel(&a.call(), 2, m),
        decomposition: |a: &Conv2d| to_convolution(&a.call(), 2),
        lowering: |a: &Conv2d<_>| Ok(a.call().lowering()),
    }
}

// ---------------------------------------------------------------------------------------
// conv1d / conv2d / conv3d `.padding`: `padding="same"` or `"valid"`

/// A `conv{1,2,3}d.padding` call (the three argument structs differ only in their
/// lists' declared lengths).
struct PaddingModeCall<'a> {
    input: &'a Tensor,
    weight: &'a Tensor,
    bias: Option<&'a Tensor>,
    stride: &'a [SymInt],
    padding: &'a str,
    dilation: &'a [SymInt],
    groups: &'a SymInt,
}

macro_rules! padding_mode_call {
    ($($ty:ident),*) => {$(
        impl $ty {
            fn mode_call(&self) -> PaddingModeCall<'_> {
                PaddingModeCall {
                    input: &self.input,
                    weight: &self.weight,
                    bias: self.bias.as_ref(),
                    stride: &self.stride,
                    padding: &self.padding,
                    dilation: &self.dilation,
                    groups: &self.groups,
                }
            }
        }
    )*};
}

padding_mode_call!(Conv1dPaddingMode, Conv2dPaddingMode, Conv3dPaddingMode);

/// The symmetric padding and the extra padding after, per spatial dim, of a
/// `padding="same"` / `"valid"` call: `"same"` pads `dilation·(k − 1)` in all, half before
/// and the rest after (ATen's `_convolution_mode`), and needs stride 1.
fn padding_mode(a: &PaddingModeCall, nd: usize) -> Result<(Vec<i64>, Vec<i64>), OpError> {
    let w = meta_of(a.weight)?;
    if w.rank() != nd + 2 {
        op_bail!(
            "conv{nd}d: expected a {}-D weight, but got weight of size {}",
            nd + 2,
            format_sizes(&w.sizes)
        );
    }
    match a.padding {
        "valid" => Ok((vec![0; nd], vec![0; nd])),
        "same" => {
            if expand_param(a.stride, nd, "stride")?
                .iter()
                .any(|&s| s != 1)
            {
                op_bail!("padding='same' is not supported for strided convolutions");
            }
            let dilation = expand_param(a.dilation, nd, "dilation")?;
            let mut before = Vec::with_capacity(nd);
            let mut after = Vec::with_capacity(nd);
            for (k, d) in w.sizes[2..].iter().zip(dilation) {
                let total = d
                    .checked_mul(k.hint() - 1)
                    .filter(|t| *t >= 0)
                    .ok_or_else(|| OpError::new("conv: dilation · (kernel size − 1) overflows"))?;
                before.push(total / 2);
                after.push(total % 2);
            }
            Ok((before, after))
        }
        other => op_bail!("Invalid padding string: '{other}' (expected 'same' or 'valid')"),
    }
}

fn padding_mode_meta(a: &PaddingModeCall, nd: usize) -> Result<Vec<TensorMeta>, OpError> {
    let (before, after) = padding_mode(a, nd)?;
    let padding: Vec<SymInt> = before.iter().map(|&p| SymInt::Int(p)).collect();
    let plain = ConvCall {
        input: a.input,
        weight: a.weight,
        bias: a.bias,
        stride: a.stride,
        padding: &padding,
        dilation: a.dilation,
        output_padding: None,
        groups: a.groups,
    };
    let mut out = conv_meta(&plain, nd)?;
    // The extra padding after lengthens its dim by one (stride 1).
    let rank = out.sizes.len();
    for (i, &extra) in after.iter().enumerate() {
        if extra > 0 {
            let d = rank - nd + i;
            out.sizes[d] = out.sizes[d].add(&SymInt::Int(extra));
        }
    }
    Ok(vec![out])
}

/// As ATen: the odd part of `"same"` padding is a `constant_pad_nd` after, then the
/// plain convolution with the symmetric part.
fn padding_mode_decomposition(a: &PaddingModeCall, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let (before, after) = padding_mode(a, nd)?;
    let input = if after.iter().any(|&p| p > 0) {
        // `pad` lists the last dim first, (before, after) each.
        let pad: Vec<i64> = after.iter().rev().flat_map(|&p| [0, p]).collect();
        a.input.pad(pad, 0.0)
    } else {
        a.input.clone()
    };
    let op = match nd {
        1 => &CONV1D,
        2 => &CONV2D,
        _ => &CONV3D,
    };
    let args = vec![
        Value::Tensor(input),
        Value::Tensor(a.weight.clone()),
        a.bias.cloned().map_or(Value::None, Value::Tensor),
        Value::IntList(a.stride.to_vec()),
        Value::IntList(before.iter().map(|&p| SymInt::Int(p)).collect()),
        Value::IntList(a.dilation.to_vec()),
        Value::Int(a.groups.clone()),
    ];
    Ok(Tensor::call_op(op, args))
}

op_def! {
    pub static CONV1D_PADDING: struct Conv1dPaddingMode =
        "aten::conv1d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, str padding='valid', SymInt[1] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv1dPaddingMode| padding_mode_meta(&a.mode_call(), 1),
        composite: |a: &Conv1dPaddingMode| padding_mode_decomposition(&a.mode_call(), 1),
    }
    /// `nn.Conv2d(..., padding="same")`.
    pub static CONV2D_PADDING: struct Conv2dPaddingMode =
        "aten::conv2d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, str padding='valid', SymInt[2] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv2dPaddingMode| padding_mode_meta(&a.mode_call(), 2),
        composite: |a: &Conv2dPaddingMode| padding_mode_decomposition(&a.mode_call(), 2),
    }
    pub static CONV3D_PADDING: struct Conv3dPaddingMode =
        "aten::conv3d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[3] stride=1, str padding='valid', SymInt[3] dilation=1, SymInt groups=1) -> Tensor" {
        meta: |a: &Conv3dPaddingMode| padding_mode_meta(&a.mode_call(), 3),
        composite: |a: &Conv3dPaddingMode| padding_mode_decomposition(&a.mode_call(), 3),
    }
}

// ---------------------------------------------------------------------------------------
// transposed convolutions: conv_transpose1d / conv_transpose2d.input, and `convolution`
// with `transposed=True`

/// `[stride, padding, dilation, output_padding]` (one value per spatial dim) and the
/// groups of a transposed call, checked.
fn transposed_params(c: &ConvCall<Tensor>, nd: usize) -> Result<([Vec<i64>; 4], i64), OpError> {
    let stride = expand_param(c.stride, nd, "stride")?;
    let pad = expand_param(c.padding, nd, "padding")?;
    let dilation = expand_param(c.dilation, nd, "dilation")?;
    let output_padding = expand_param(c.output_padding.unwrap_or(&[]), nd, "output_padding")?;
    let groups = c.groups.hint();
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

/// The output meta of a transposed call, checked as ATen checks it.
fn transposed_meta(c: &ConvCall<Tensor>, nd: usize) -> Result<TensorMeta, OpError> {
    let x = meta_of(c.input)?;
    let w = meta_of(c.weight)?;
    let unbatched = check_input_and_weight(&x, &w, nd)?;
    let mut xs = x.sizes.clone();
    if unbatched {
        xs.insert(0, SymInt::Int(1));
    }
    let ([stride, pad, dilation, output_padding], groups) = transposed_params(c, nd)?;
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
    check_transposed_bias(c.bias, &x, c_out.hint())?;
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
    if unbatched {
        out_sizes.remove(0);
    }
    Ok(TensorMeta::new(x.dtype, out_sizes))
}

/// The scatter geometry of a transposed call from its batched input, weight and output
/// sizes.
fn scatter_geometry(
    c: &ConvCall<Tensor>,
    nd: usize,
    [xs, ws, out_sizes]: &[Vec<SymInt>; 3],
) -> Result<TransposedConv, OpError> {
    let ([stride, pad, dilation, _], groups) = transposed_params(c, nd)?;
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
    Ok(TransposedConv {
        batch: hint(&xs[0]),
        c_in: hint(&ws[0]),
        c_out: hint(&out_sizes[1]),
        groups: groups as usize,
        input: spatial(xs),
        kernel: spatial(ws),
        output: spatial(out_sizes),
        stride: params(&stride, 1),
        pad: params(&pad, 0),
        dilation: params(&dilation, 1),
    })
}

fn check_transposed_bias(bias: Option<&Tensor>, x: &TensorMeta, c_out: i64) -> Result<(), OpError> {
    if let Some(b) = bias {
        let b = meta_of(b)?;
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
/// A transposed convolution into the meta its meta function computed.
fn transposed_kernel(
    c: &ConvCall<Tensor>,
    nd: usize,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
    let shape = concrete(&m.sizes);
    let xd = c.input.storage_or_op_error()?;
    let wd = c.weight.storage_or_op_error()?;
    let g = scatter_geometry(c, nd, &batched_sizes(&xd, &wd, m, nd))?;
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| OpError::new("conv_transpose: the output size overflows"))?;
    let bias = c.bias.map(Tensor::storage_or_op_error).transpose()?;
    let out = with_float_dtype!(m.dtype, "conv_transpose", T => {
        let (xa, wa) = (xd.typed::<T>(), wd.typed::<T>());
        let ba = bias.as_ref().map(Storage::typed::<T>);
        let (xv, wv, bv) = (xa.view(), wa.view(), ba.as_ref().map(|b| b.view()));
        let b = bv.as_ref().map(|b| view_as_slice(b));
        let mut out = try_filled(len, T::default()).map_err(|e| OpError(e.0))?;
        ferrex_kernels::conv::conv_transpose(&view_as_slice(&xv), &view_as_slice(&wv), b.as_deref(), &g, &mut out)
            .map_err(|e| OpError(e.0))?;
        Storage::from_vec(&shape, out).ok_or_else(|| OpError::new("conv_transpose: output shape"))?
    });
    Ok(vec![out])
}

op_def! {
    pub static CONV_TRANSPOSE1D: struct ConvTranspose1d =
        "aten::conv_transpose1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] output_padding=0, SymInt groups=1, SymInt[1] dilation=1) -> Tensor" {
        meta: |a: &ConvTranspose1d| any_conv_meta(&a.call(), 1),
        kernel: |a: &ConvTranspose1d, m: &[TensorMeta]| any_conv_kernel(&a.call(), 1, m),
        decomposition: |a: &ConvTranspose1d| to_convolution(&a.call(), 1),
        lowering: |a: &ConvTranspose1d<_>| Ok(a.call().lowering()),
    }
    pub static CONV_TRANSPOSE2D: struct ConvTranspose2d =
        "aten::conv_transpose2d.input(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] output_padding=0, SymInt groups=1, SymInt[2] dilation=1) -> Tensor" {
        meta: |a: &ConvTranspose2d| any_conv_meta(&a.call(), 2),
        kernel: |a: &ConvTranspose2d, m: &[TensorMeta]| any_conv_kernel(&a.call(), 2, m),
        decomposition: |a: &ConvTranspose2d| to_convolution(&a.call(), 2),
        lowering: |a: &ConvTranspose2d<_>| Ok(a.call().lowering()),
    }
}
