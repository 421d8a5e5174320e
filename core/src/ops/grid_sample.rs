//! Spatial transformers: `affine_grid_generator` (`F.affine_grid`, a composite as
//! PyTorch's decomposition) and `grid_sampler` / the core IR's `grid_sampler_2d`
//! (`F.grid_sample`): bilinear, nearest and bicubic sampling with zeros, border and
//! reflection padding, as ATen's CPU kernel computes each output point. 2-D only.

use ferrex_kernels::pool::cubic_weights;

use super::op_def;
use super::util::{concrete, meta_of, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

// ---------------------------------------------------------------------------------------
// affine_grid_generator

/// `linspace(-a, a, steps)` with `a` 1 (`align_corners`) or `(steps - 1) / steps`;
/// a zero-dim 0 for one step.
fn linspace_from_neg_one(steps: i64, align_corners: bool, dtype: DType) -> Tensor {
    if steps <= 1 {
        return Tensor::scalar_tensor(0, dtype);
    }
    let a = match align_corners {
        true => 1.0,
        false => (steps - 1) as f64 / steps as f64,
    };
    let args = vec![
        Value::Float(-a),
        Value::Float(a),
        Value::Int(SymInt::Int(steps)),
        Value::DType(dtype),
    ];
    Tensor::call_op(&super::constructors::LINSPACE, args)
        .pop()
        .unwrap_or_else(|| Tensor::scalar_tensor(0, dtype))
}

fn affine_grid_sizes(a: &AffineGrid) -> Result<(TensorMeta, [i64; 3]), OpError> {
    let theta = meta_of(&a.theta)?;
    if a.size.len() != 4 {
        op_bail!(
            "affine_grid_generator: only 2-D grids (a 4-element size) are supported, got size {}",
            format_sizes(&a.size)
        );
    }
    if !theta.dtype.is_float() {
        op_bail!(
            "\"affine_grid_generator\" not implemented for '{}'",
            theta.dtype
        );
    }
    let [n, h, w] = [&a.size[0], &a.size[2], &a.size[3]].map(SymInt::hint);
    let expected = [SymInt::Int(n), SymInt::Int(2), SymInt::Int(3)];
    if theta.rank() != 3 || !(theta.sizes.iter().zip(&expected)).all(|(a, b)| a.same_as(b)) {
        op_bail!(
            "Expected a batch of 2D affine matrices of shape Nx2x3 for size {}. Got {}.",
            format_sizes(&a.size),
            format_sizes(&theta.sizes)
        );
    }
    if h <= 0 || w <= 0 {
        op_bail!(
            "affine_grid_generator: expected a non-empty grid, got size {}",
            format_sizes(&a.size)
        );
    }
    Ok((theta, [n, h, w]))
}

fn affine_grid_meta(a: &AffineGrid) -> Result<Vec<TensorMeta>, OpError> {
    let (theta, _) = affine_grid_sizes(a)?;
    let s = &a.size;
    let sizes = vec![s[0].clone(), s[2].clone(), s[3].clone(), SymInt::Int(2)];
    Ok(vec![TensorMeta::new(theta.dtype, sizes)])
}

/// PyTorch's `_affine_grid_generator_4d`: the base grid `[h, w, 3]` of `(x, y, 1)` (the
/// three made by padding and adding, as PyTorch writes it), times `thetaᵀ`, summed.
fn affine_grid_decomposition(a: &AffineGrid) -> Result<Vec<Tensor>, OpError> {
    let (theta, [n, h, w]) = affine_grid_sizes(a)?;
    let dtype = theta.dtype;
    let xs = linspace_from_neg_one(w, a.align_corners, dtype).view([1, w, 1]);
    let ys = linspace_from_neg_one(h, a.align_corners, dtype).view([h, 1, 1]);
    let one = Tensor::ones_dtype([1, 1, 1], dtype);
    let base = xs
        .pad([0, 2], 0.0)
        .add(ys.pad([1, 1], 0.0))
        .add(one.pad([2, 0], 0.0));
    let grid = base
        .view([-1, 3, 1])
        .mul(a.theta.transpose(-2, -1).unsqueeze(1))
        .sum_dim(&[-2], false);
    Ok(vec![grid.view([n, h, w, 2])])
}

op_def! {
    pub static AFFINE_GRID_GENERATOR: struct AffineGrid =
        "aten::affine_grid_generator(Tensor theta, SymInt[] size, bool align_corners) -> Tensor" {
        meta: affine_grid_meta,
        composite: affine_grid_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// grid_sampler, grid_sampler_2d

/// How a point between input pixels is read (`interpolation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interpolation {
    Bilinear,
    Nearest,
    Bicubic,
}

/// What a point outside the input reads (`padding_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

fn modes(interpolation: i64, padding: i64) -> Result<(Interpolation, Padding), OpError> {
    let i = match interpolation {
        0 => Interpolation::Bilinear,
        1 => Interpolation::Nearest,
        2 => Interpolation::Bicubic,
        m => op_bail!("grid_sampler(): expected interpolation_mode to be 0 (bilinear), 1 (nearest) or 2 (bicubic), but got: {m}"),
    };
    let p = match padding {
        0 => Padding::Zeros,
        1 => Padding::Border,
        2 => Padding::Reflection,
        m => op_bail!("grid_sampler(): expected padding_mode to be 0 (zeros), 1 (border) or 2 (reflection), but got: {m}"),
    };
    Ok((i, p))
}

fn grid_sampler_meta(a: &GridSampler, op: &str) -> Result<Vec<TensorMeta>, OpError> {
    let x = meta_of(&a.input)?;
    let g = meta_of(&a.grid)?;
    modes(a.interpolation_mode, a.padding_mode)?;
    if x.dtype != g.dtype || !x.dtype.is_float() {
        op_bail!(
            "{op}(): expected input and grid to have the same floating dtype, but input has {} and grid has {}",
            x.dtype,
            g.dtype
        );
    }
    if x.rank() == 5 {
        op_bail!("{op}(): 3-D (volumetric) sampling is not supported yet");
    }
    if x.rank() != 4 || g.rank() != 4 {
        op_bail!(
            "{op}(): expected 4D input and grid with same number of dimensions, but got input with sizes {} and grid with sizes {}",
            format_sizes(&x.sizes),
            format_sizes(&g.sizes)
        );
    }
    if !x.sizes[0].same_as(&g.sizes[0]) {
        op_bail!(
            "{op}(): expected grid and input to have same batch size, but got input with sizes {} and grid with sizes {}",
            format_sizes(&x.sizes),
            format_sizes(&g.sizes)
        );
    }
    if g.sizes[3].as_int() != Some(2) {
        op_bail!(
            "{op}(): expected grid to have size 2 in last dimension, but got grid with sizes {}",
            format_sizes(&g.sizes)
        );
    }
    if x.sizes[2..].iter().any(|s| s.hint() <= 0) {
        op_bail!(
            "{op}(): expected input to have non-empty spatial dimensions, but input has sizes {} with dimension 2 being empty",
            format_sizes(&x.sizes)
        );
    }
    let sizes = vec![
        x.sizes[0].clone(),
        x.sizes[1].clone(),
        g.sizes[1].clone(),
        g.sizes[2].clone(),
    ];
    Ok(vec![TensorMeta::new(x.dtype, sizes)])
}

/// A grid coordinate in [-1, 1] as a pixel position.
fn unnormalize(coord: f64, size: usize, align_corners: bool) -> f64 {
    let size = size as f64;
    match align_corners {
        true => (coord + 1.0) / 2.0 * (size - 1.0),
        false => ((coord + 1.0) * size - 1.0) / 2.0,
    }
}

fn clip(coord: f64, size: usize) -> f64 {
    coord.max(0.0).min(size as f64 - 1.0)
}

/// `coord` reflected into `[twice_low / 2, twice_high / 2]` (ATen's
/// `reflect_coordinates`).
fn reflect(coord: f64, twice_low: f64, twice_high: f64) -> f64 {
    if twice_low == twice_high {
        return 0.0;
    }
    let min = twice_low / 2.0;
    let span = (twice_high - twice_low) / 2.0;
    let c = (coord - min).abs();
    let extra = c % span;
    let flips = (c / span).floor();
    match flips % 2.0 == 0.0 {
        true => extra + min,
        false => span - extra + min,
    }
}

/// A pixel position with the padding applied (ATen's `compute_coordinates`); a position
/// no integer holds becomes -100, outside any input.
fn padded(coord: f64, size: usize, padding: Padding, align_corners: bool) -> f64 {
    let c = match padding {
        Padding::Zeros => coord,
        Padding::Border => clip(coord, size),
        Padding::Reflection => {
            let s = size as f64;
            let r = match align_corners {
                true => reflect(coord, 0.0, 2.0 * (s - 1.0)),
                false => reflect(coord, -1.0, 2.0 * s - 1.0),
            };
            clip(r, size)
        }
    };
    if !c.is_finite() || c > f64::from(i32::MAX - 1) || c < f64::from(i32::MIN) {
        return -100.0;
    }
    c
}

/// One input plane `[h, w]` and how it is read.
struct Plane<'a> {
    data: &'a [f64],
    h: usize,
    w: usize,
    padding: Padding,
    align_corners: bool,
}

impl Plane<'_> {
    /// The pixel at integer position `(y, x)`, 0 outside the plane.
    fn at(&self, y: f64, x: f64) -> f64 {
        let inside = |v: f64, n: usize| v >= 0.0 && v < n as f64;
        match inside(y, self.h) && inside(x, self.w) {
            true => self.data[y as usize * self.w + x as usize],
            false => 0.0,
        }
    }

    /// The value at grid point `(gx, gy)`.
    fn sample(&self, gx: f64, gy: f64, mode: Interpolation) -> f64 {
        let (p, ac) = (self.padding, self.align_corners);
        if mode == Interpolation::Bicubic {
            // The taps get the padding one by one (a reflected tap reads inside).
            let (x, y) = (unnormalize(gx, self.w, ac), unnormalize(gy, self.h, ac));
            let (x0, y0) = (x.floor(), y.floor());
            let (wx, wy) = (cubic_weights(x - x0), cubic_weights(y - y0));
            let tap = |dy: f64, dx: f64| {
                let yy = padded(y0 + dy, self.h, p, ac);
                let xx = padded(x0 + dx, self.w, p, ac);
                self.at(yy.trunc(), xx.trunc())
            };
            let row = |dy: f64| (0..4).map(|i| wx[i] * tap(dy, i as f64 - 1.0)).sum::<f64>();
            return (0..4).map(|j| wy[j] * row(j as f64 - 1.0)).sum();
        }
        let x = padded(unnormalize(gx, self.w, ac), self.w, p, ac);
        let y = padded(unnormalize(gy, self.h, ac), self.h, p, ac);
        match mode {
            Interpolation::Nearest => self.at(y.round_ties_even(), x.round_ties_even()),
            _ => {
                let (x0, y0) = (x.floor(), y.floor());
                let (x1, y1) = (x0 + 1.0, y0 + 1.0);
                self.at(y0, x0) * (x1 - x) * (y1 - y)
                    + self.at(y0, x1) * (x - x0) * (y1 - y)
                    + self.at(y1, x0) * (x1 - x) * (y - y0)
                    + self.at(y1, x1) * (x - x0) * (y - y0)
            }
        }
    }
}

fn grid_sampler_kernel(a: &GridSampler, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (mode, padding) = modes(a.interpolation_mode, a.padding_mode)?;
    let shape = concrete(
        &metas
            .first()
            .ok_or_else(|| OpError::new("grid_sampler: no result meta"))?
            .sizes,
    );
    let x = a.input.storage_or_op_error()?;
    let g = a.grid.storage_or_op_error()?;
    let [n, c, h, w] = <[usize; 4]>::try_from(x.shape())
        .map_err(|_| OpError::new("grid_sampler: expected a 4-D input"))?;
    let [_, oh, ow, _] = <[usize; 4]>::try_from(g.shape())
        .map_err(|_| OpError::new("grid_sampler: expected a 4-D grid"))?;
    let src = x.to_vec::<f64>();
    let grid = g.to_vec::<f64>();
    let (plane, points) = (h * w, oh * ow);
    let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let len = len.ok_or_else(|| OpError::new("grid_sampler: the output size overflows"))?;
    let mut out = ferrex_kernels::try_filled(len, 0f64).map_err(|e| OpError(e.0))?;
    for b in 0..n {
        let grid = &grid[b * points * 2..(b + 1) * points * 2];
        for ch in 0..c {
            let at = (b * c + ch) * plane;
            let input = Plane {
                data: &src[at..at + plane],
                h,
                w,
                padding,
                align_corners: a.align_corners,
            };
            let dst = &mut out[(b * c + ch) * points..(b * c + ch + 1) * points];
            for (o, xy) in dst.iter_mut().zip(grid.chunks_exact(2)) {
                *o = input.sample(xy[0], xy[1], mode);
            }
        }
    }
    Ok(vec![with_float_dtype!(x.dtype(), "grid_sampler", T => {
        let data: Vec<T> = out.into_iter().map(T::from_f64).collect();
        Storage::from_vec(&shape, data).ok_or_else(|| OpError::new("grid_sampler: output shape"))?
    })])
}

op_def! {
    /// `F.grid_sample`'s op: `grid_sampler_2d` for a 4-D input.
    pub static GRID_SAMPLER: struct GridSampler =
        "aten::grid_sampler(Tensor input, Tensor grid, int interpolation_mode, int padding_mode, bool align_corners) -> Tensor" {
        meta: |a: &GridSampler| grid_sampler_meta(a, "grid_sampler"),
        composite: |a: &GridSampler| Ok(Tensor::call_op(&GRID_SAMPLER_2D, vec![
            Value::Tensor(a.input.clone()),
            Value::Tensor(a.grid.clone()),
            Value::Int(SymInt::Int(a.interpolation_mode)),
            Value::Int(SymInt::Int(a.padding_mode)),
            Value::Bool(a.align_corners),
        ])),
        lowering: grid_sampler_lowering,
    }
    /// In PyTorch's Core ATen opset.
    pub static GRID_SAMPLER_2D: GridSampler =
        "aten::grid_sampler_2d(Tensor input, Tensor grid, int interpolation_mode, int padding_mode, bool align_corners) -> Tensor" {
        meta: |a: &GridSampler| grid_sampler_meta(a, "grid_sampler_2d"),
        kernel: grid_sampler_kernel,
        lowering: grid_sampler_lowering,
    }
}

/// Each sample's output reads that sample's input and grid alone (every dim but the
/// first mixed): a planned step of the kernel, which the calls split around.
fn grid_sampler_lowering<T: Clone>(a: &GridSampler<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Lanes {
        inputs: vec![a.input.clone(), a.grid.clone()],
        dims: vec![1, 2, 3],
    })
}
