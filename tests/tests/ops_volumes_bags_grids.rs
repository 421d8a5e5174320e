//! The ops added for stop 43's probe models (3-D convolution and pooling, embedding
//! bags, spatial transformers, bicubic upsampling, running extremes, `erfinv`,
//! `diag_embed`), each against an independent computation — plain loops written from
//! the ops' definitions, identities — and their refusals of hostile arguments.
//! `tests/data/pt2_more/` (`scans`, `volumes`, `bags`, `spatial`) runs them against
//! PyTorch's values.

mod common;

use common::values::{assert_close, data, tensor};
use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{SymInt, Tensor};

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

fn int(i: i64) -> Value {
    Value::Int(SymInt::Int(i))
}

fn call(op: &str, args: &[Value]) -> Result<Vec<Tensor>, String> {
    let op = lookup(op).unwrap_or_else(|| panic!("no op {op}"));
    run_eager(op, args).map_err(|e| e.to_string())
}

/// `conv3d` against the definition: every output a sum over channels of the group and
/// kernel taps inside the input (stride, padding, dilation, groups, bias).
#[test]
fn conv3d_matches_the_direct_sum() {
    let (n, c, d, h, w) = (2, 4, 5, 6, 7);
    let (o, g, k) = (6, 2, [2usize, 3, 3]);
    let (stride, pad, dil) = ([1usize, 2, 1], [1usize, 1, 0], [2usize, 1, 1]);
    let x = tensor(&[n, c, d, h, w], 1);
    let wt = tensor(&[o, c / g, k[0], k[1], k[2]], 2);
    let b = tensor(&[o], 3);
    let out = call(
        "aten::conv3d",
        &[
            Value::Tensor(x.clone()),
            Value::Tensor(wt.clone()),
            Value::Tensor(b.clone()),
            ints(&stride.map(|v| v as i64)),
            ints(&pad.map(|v| v as i64)),
            ints(&dil.map(|v| v as i64)),
            int(g as i64),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let size = |i: usize, a: usize| (i + 2 * pad[a] - dil[a] * (k[a] - 1) - 1) / stride[a] + 1;
    let (od, oh, ow) = (size(d, 0), size(h, 1), size(w, 2));
    assert_eq!(out[0].shape(), [n, o, od, oh, ow]);
    let (xv, wv, bv) = (data(&x), data(&wt), data(&b));
    let mut want = Vec::new();
    for ni in 0..n {
        for (oi, &bias) in bv.iter().enumerate() {
            let group = oi / (o / g);
            for z in 0..od {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut acc = f64::from(bias);
                        for cl in 0..c / g {
                            let ci = group * (c / g) + cl;
                            for (kz, ky, kx) in (0..k[0]).flat_map(|a| {
                                (0..k[1]).flat_map(move |b| (0..k[2]).map(move |c| (a, b, c)))
                            }) {
                                let iz = (z * stride[0] + kz * dil[0]) as i64 - pad[0] as i64;
                                let iy = (y * stride[1] + ky * dil[1]) as i64 - pad[1] as i64;
                                let ix = (xo * stride[2] + kx * dil[2]) as i64 - pad[2] as i64;
                                if iz < 0 || iy < 0 || ix < 0 {
                                    continue;
                                }
                                let (iz, iy, ix) = (iz as usize, iy as usize, ix as usize);
                                if iz >= d || iy >= h || ix >= w {
                                    continue;
                                }
                                let xi = (((ni * c + ci) * d + iz) * h + iy) * w + ix;
                                let wi =
                                    (((oi * (c / g) + cl) * k[0] + kz) * k[1] + ky) * k[2] + kx;
                                acc += f64::from(xv[xi]) * f64::from(wv[wi]);
                            }
                        }
                        want.push(acc);
                    }
                }
            }
        }
    }
    assert_close(&data(&out[0]), &want, 1e-5, "conv3d");
    // The core IR's `convolution` with a 5-D weight is the same computation.
    let core = call(
        "aten::convolution",
        &[
            Value::Tensor(x),
            Value::Tensor(wt),
            Value::Tensor(b),
            ints(&stride.map(|v| v as i64)),
            ints(&pad.map(|v| v as i64)),
            ints(&dil.map(|v| v as i64)),
            Value::Bool(false),
            ints(&[0, 0, 0]),
            int(g as i64),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data(&core[0]), data(&out[0]));
}

/// `max_pool3d_with_indices` against a loop over each window (the first tap inside the
/// input starts, a greater value takes over), and `avg_pool3d`'s three divisors.
#[test]
fn pool3d_windows_indices_and_divisors() {
    let (d, h, w) = (4, 5, 6);
    let x = tensor(&[1, 2, d, h, w], 7);
    let out = call(
        "aten::max_pool3d_with_indices",
        &[
            Value::Tensor(x.clone()),
            ints(&[2, 3, 2]),
            ints(&[2, 2, 2]),
            ints(&[1, 1, 0]),
            ints(&[1, 1, 1]),
            Value::Bool(true),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // ceil((4 + 2 - 2) / 2) + 1 = 3, but the last window would start in the padding:
    // ceil mode keeps windows that start inside the input or the left padding.
    assert_eq!(out[0].shape(), [1, 2, 3, 3, 3]);
    let xv = data(&x);
    let (mut want, mut want_idx) = (Vec::new(), Vec::new());
    for p in 0..2 {
        for z in 0..3i64 {
            for y in 0..3i64 {
                for c in 0..3i64 {
                    let mut best: Option<(f32, i64)> = None;
                    for kz in 0..2 {
                        for ky in 0..3 {
                            for kx in 0..2 {
                                let (iz, iy, ix) = (z * 2 - 1 + kz, y * 2 - 1 + ky, c * 2 + kx);
                                if iz < 0 || iy < 0 || ix < 0 || iz >= 4 || iy >= 5 || ix >= 6 {
                                    continue;
                                }
                                let at = (iz * 5 + iy) * 6 + ix;
                                let v = xv[p * 120 + at as usize];
                                if best.is_none_or(|(b, _)| v > b) {
                                    best = Some((v, at));
                                }
                            }
                        }
                    }
                    let (v, i) = best.unwrap();
                    want.push(f64::from(v));
                    want_idx.push(i);
                }
            }
        }
    }
    assert_close(&data(&out[0]), &want, 0.0, "max_pool3d");
    assert_eq!(out[1].to_vec::<i64>().unwrap(), want_idx);

    // A 3x3x3 window at stride 3 over 4x4x4 with padding 1: the corner window holds
    // 8 inputs, 27 positions of the padded input, and `divisor_override` sets its own.
    let ones = Tensor::ones([1, 1, 4, 4, 4]);
    let avg = |count_include_pad: bool, divisor: Value| {
        let args = [
            Value::Tensor(ones.clone()),
            ints(&[3, 3, 3]),
            ints(&[3, 3, 3]),
            ints(&[1, 1, 1]),
            Value::Bool(false),
            Value::Bool(count_include_pad),
            divisor,
        ];
        data(&call("aten::avg_pool3d", &args).unwrap_or_else(|e| panic!("{e}"))[0])
    };
    assert_eq!(avg(false, Value::None)[0], 1.0);
    assert!((avg(true, Value::None)[0] - 8.0 / 27.0).abs() < 1e-7);
    assert_eq!(avg(true, int(4))[0], 2.0);
    let err = call(
        "aten::avg_pool3d",
        &[
            Value::Tensor(ones),
            ints(&[2]),
            ints(&[]),
            ints(&[2]),
            Value::Bool(false),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("pad should be smaller than or equal to half of kernel size"),
        "{err}"
    );
}

/// `embedding_bag` against sums of rows: per-sample weights, a padding index left out of
/// the mean's count, max with its row indices, an empty bag, `include_last_offset`; and
/// its refusals.
#[test]
fn embedding_bag_reduces_each_bag() {
    let (rows, dim) = (6, 3);
    let weight = tensor(&[rows, dim], 11);
    let wv = data(&weight);
    let ids = [1i64, 2, 4, 2, 5, 0];
    let offsets = [0i64, 3, 3];
    let psw = [0.5f32, -1.0, 2.0, 1.5, 0.25, 3.0];
    let bag = |mode: i64, psw: Option<&[f32]>, last: bool, pad: Option<i64>| {
        let args = [
            Value::Tensor(weight.clone()),
            Value::Tensor(Tensor::from_vec(ids.to_vec(), [ids.len()])),
            Value::Tensor(Tensor::from_vec(offsets.to_vec(), [offsets.len()])),
            Value::Bool(false),
            int(mode),
            Value::Bool(false),
            psw.map_or(Value::None, |p| {
                Value::Tensor(Tensor::from_vec(p.to_vec(), [p.len()]))
            }),
            Value::Bool(last),
            pad.map_or(Value::None, int),
        ];
        call("aten::embedding_bag.padding_idx", &args)
    };
    let row = |i: i64| &wv[i as usize * dim..(i as usize + 1) * dim];
    let bags = [0..3, 3..3, 3..6];
    // Sum, weighted.
    let out = bag(0, Some(&psw), false, None).unwrap_or_else(|e| panic!("{e}"));
    let mut want = Vec::new();
    for r in bags.clone() {
        for c in 0..dim {
            want.push(
                r.clone()
                    .map(|k| f64::from(row(ids[k])[c]) * f64::from(psw[k]))
                    .sum(),
            );
        }
    }
    assert_close(&data(&out[0]), &want, 1e-6, "weighted sum");
    // Mean with row 2 as padding: bag 0 averages rows 1 and 4, bag 2 rows 5 and 0.
    let out = bag(1, None, false, Some(2)).unwrap_or_else(|e| panic!("{e}"));
    let mean =
        |a: i64, b: i64| (0..dim).map(move |c| (f64::from(row(a)[c]) + f64::from(row(b)[c])) / 2.0);
    let want: Vec<f64> = mean(1, 4).chain([0.0; 3]).chain(mean(5, 0)).collect();
    assert_close(&data(&out[0]), &want, 1e-6, "mean");
    assert_eq!(out[2].to_vec::<i64>().unwrap(), [2, 0, 2], "bag sizes");
    // Max and the row each maximum came from.
    let out = bag(2, None, false, None).unwrap_or_else(|e| panic!("{e}"));
    let (mut want, mut want_rows) = (Vec::new(), Vec::new());
    for r in bags.clone() {
        for c in 0..dim {
            let best = r
                .clone()
                .map(|k| (row(ids[k])[c], ids[k]))
                .fold(None, |b: Option<(f32, i64)>, v| {
                    Some(b.filter(|b| b.0 >= v.0).unwrap_or(v))
                });
            want.push(best.map_or(0.0, |b| f64::from(b.0)));
            want_rows.push(best.map_or(0, |b| b.1));
        }
    }
    assert_close(&data(&out[0]), &want, 0.0, "max");
    assert_eq!(out[3].to_vec::<i64>().unwrap(), want_rows);
    // The last offset ends the last bag.
    let out = bag(0, None, true, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].shape(), [2, dim]);

    let err = bag(1, Some(&psw), false, None).unwrap_err();
    assert!(
        err.contains("per_sample_weights is only supported for mode='sum' (got mode='mean')"),
        "{err}"
    );
}

/// Offsets out of order or past the indices, and an index past the weight's rows, are
/// errors.
#[test]
fn embedding_bag_refuses_hostile_offsets_and_indices() {
    let weight = tensor(&[6, 3], 11);
    let hostile = |ids: Vec<i64>, offsets: Vec<i64>| {
        let args = [
            Value::Tensor(weight.clone()),
            Value::Tensor(Tensor::from_vec(ids.clone(), [ids.len()])),
            Value::Tensor(Tensor::from_vec(offsets.clone(), [offsets.len()])),
        ];
        call("aten::_embedding_bag", &args).unwrap_err()
    };
    let err = hostile(vec![1, 2], vec![0, 5]);
    assert!(
        err.contains("offsets must be non-decreasing and at most the number of indices"),
        "{err}"
    );
    let err = hostile(vec![1, 2], vec![1, 0]);
    assert!(err.contains("offsets must be non-decreasing"), "{err}");
    let err = hostile(vec![1, 60], vec![0]);
    assert!(err.contains("index 60 is out of range"), "{err}");
}

/// An identity `affine_grid` samples the input back (bilinear, both corner rules),
/// nearest sampling of a shifted grid reads the neighbour, and points outside read by
/// each padding mode; `grid_sampler` refuses mismatched shapes.
#[test]
fn affine_grid_and_grid_sample_identities() {
    let x = tensor(&[2, 3, 4, 5], 21);
    let theta = Tensor::from_vec([1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0].repeat(2), [2, 2, 3]);
    for align in [false, true] {
        let grid = call(
            "aten::affine_grid_generator",
            &[
                Value::Tensor(theta.clone()),
                ints(&[2, 3, 4, 5]),
                Value::Bool(align),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for mode in [0, 1, 2] {
            let out = call(
                "aten::grid_sampler_2d",
                &[
                    Value::Tensor(x.clone()),
                    Value::Tensor(grid[0].clone()),
                    int(mode),
                    int(0),
                    Value::Bool(align),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let want: Vec<f64> = data(&x).into_iter().map(f64::from).collect();
            assert_close(
                &data(&out[0]),
                &want,
                1e-5,
                &format!("identity, mode {mode}, align {align}"),
            );
        }
    }
    // One point at x = 2 (past the right edge, align_corners): zeros reads 0, border
    // the last column, reflection mirrors back to column w - 1 - 1 = 3... of row y = 0.
    let row = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0, 4.0], [1, 1, 1, 5]);
    let point = |x: f32, pad: i64| {
        let g = Tensor::from_vec(vec![x, -1.0], [1, 1, 1, 2]);
        let args = [
            Value::Tensor(row.clone()),
            Value::Tensor(g),
            int(0),
            int(pad),
            Value::Bool(true),
        ];
        data(&call("aten::grid_sampler_2d", &args).unwrap_or_else(|e| panic!("{e}"))[0])[0]
    };
    // x = 1.5 is pixel 5 (one past the last, 4): border clamps to 4, reflection about
    // pixel 4 gives 3, zeros blends 0.0 * ... of nothing inside: 0.
    assert_eq!(point(1.5, 0), 0.0);
    assert_eq!(point(1.5, 1), 4.0);
    assert_eq!(point(1.5, 2), 3.0);
    // Pixel 2.5 between 2 and 3.
    assert!((point(0.25, 0) - 2.5).abs() < 1e-6);
    let err = call(
        "aten::grid_sampler_2d",
        &[
            Value::Tensor(x),
            Value::Tensor(Tensor::zeros([1, 2, 2, 2])),
            int(0),
            int(0),
            Value::Bool(false),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("expected grid and input to have same batch size"),
        "{err}"
    );
}

/// Bicubic upsampling with `align_corners` keeps the corner pixels and reproduces a
/// linear ramp exactly (cubic convolution is exact on polynomials of degree 1 inside).
#[test]
fn bicubic_upsampling_keeps_corners_and_ramps() {
    let ramp: Vec<f32> = (0..4)
        .flat_map(|y| (0..6).map(move |x| (2 * x + 3 * y) as f32))
        .collect();
    let x = Tensor::from_vec(ramp, [1, 1, 4, 6]);
    let out = call(
        "aten::upsample_bicubic2d.vec",
        &[
            Value::Tensor(x),
            ints(&[7, 11]),
            Value::Bool(true),
            Value::None,
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = data(&out[0]);
    let mut want = Vec::new();
    for oy in 0..7 {
        for ox in 0..11 {
            let (sy, sx) = (oy as f64 * 3.0 / 6.0, ox as f64 * 5.0 / 10.0);
            want.push(2.0 * sx + 3.0 * sy);
        }
    }
    // Clamped taps at the borders bend a ramp only beyond the corners' neighbours; the
    // interior and the corners are exact.
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let (oy, ox) = (i / 11, i % 11);
        let interior = (2..5).contains(&oy) && (2..9).contains(&ox);
        let corner = (oy == 0 || oy == 6) && (ox == 0 || ox == 10);
        if interior || corner {
            assert!((f64::from(*g) - w).abs() < 1e-5, "[{oy}, {ox}]: {g} vs {w}");
        }
    }
}

/// `cummax` / `cummin`: a later equal value takes the index, a NaN stays; `erfinv`
/// inverts `erf`; `diag_embed` places the last dim on a shifted diagonal.
#[test]
fn running_extremes_erfinv_and_diag_embed() {
    let x = Tensor::from_vec(vec![2.0f32, 2.0, 1.0, 3.0, 1.0, f32::NAN, 0.0, 5.0], [2, 4]);
    let (v, i) = x.cummax(1);
    let v = data(&v);
    assert_eq!(&v[..4], [2.0, 2.0, 2.0, 3.0]);
    assert_eq!(v[4], 1.0);
    assert!(v[5..].iter().all(|v| v.is_nan()));
    assert_eq!(i.to_vec::<i64>().unwrap(), [0, 1, 1, 3, 0, 1, 1, 1]);
    let (v, i) = x.cummin(0);
    assert_eq!(&data(&v)[..1], [2.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), [0, 0, 0, 0, 1, 1, 1, 0]);

    let ys: Vec<f32> = (-99..=99).map(|k| k as f32 / 100.0).collect();
    let y = Tensor::from_vec(ys.clone(), [ys.len()]);
    let back = data(&y.erfinv().erf());
    assert_close(
        &back,
        &ys.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        2e-7,
        "erf(erfinv(y))",
    );
    let edges = data(&Tensor::from_vec(vec![1.0f32, -1.0, 1.5, 0.0], [4]).erfinv());
    assert_eq!(&edges[..2], [f32::INFINITY, f32::NEG_INFINITY]);
    assert!(edges[2].is_nan());
    assert_eq!(edges[3], 0.0);

    let v = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    let out = call(
        "aten::diag_embed",
        &[Value::Tensor(v), int(1), int(-2), int(-1)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].shape(), [2, 3, 3]);
    let mut want = vec![0.0f64; 18];
    for (b, pair) in [[1.0, 2.0], [3.0, 4.0]].iter().enumerate() {
        for (k, value) in pair.iter().enumerate() {
            want[b * 9 + k * 3 + k + 1] = *value;
        }
    }
    assert_close(&data(&out[0]), &want, 0.0, "diag_embed offset 1");
}

/// Hostile sizes give errors, never an abort: a 3-D convolution whose padding would
/// overflow, a pooled output too small, a 5-D weight of a transposed call.
#[test]
fn hostile_volumes_are_errors() {
    let x = tensor(&[1, 1, 2, 2, 2], 3);
    let w = tensor(&[1, 1, 1, 1, 1], 4);
    let conv = |pad: i64, transposed: bool| {
        call(
            "aten::convolution",
            &[
                Value::Tensor(x.clone()),
                Value::Tensor(w.clone()),
                Value::None,
                ints(&[1]),
                ints(&[pad]),
                ints(&[1]),
                Value::Bool(transposed),
                ints(&[0]),
                int(1),
            ],
        )
    };
    let err = conv(i64::MAX / 2, false).unwrap_err();
    assert!(
        err.contains("overflow") || err.contains("memory") || err.contains("too large"),
        "{err}"
    );
    // Zero input channels or a zero-size kernel dim: an error or a result, not a panic.
    for (xs, ws) in [
        ([1, 0, 2, 2, 2], [1, 0, 1, 1, 1]),
        ([1, 1, 2, 2, 2], [1, 1, 0, 1, 1]),
    ] {
        let args = [
            Value::Tensor(Tensor::zeros(xs)),
            Value::Tensor(Tensor::zeros(ws)),
            Value::None,
            ints(&[1]),
            ints(&[0]),
            ints(&[1]),
            Value::Bool(false),
            ints(&[0]),
            int(1),
        ];
        if let Ok(out) = call("aten::convolution", &args) {
            assert!(data(&out[0]).iter().all(|v| *v == 0.0));
        }
    }
    let err = conv(0, true).unwrap_err();
    assert!(
        err.contains("conv_transpose3d is not supported yet"),
        "{err}"
    );
    let err = call(
        "aten::max_pool3d",
        &[
            Value::Tensor(x),
            ints(&[3]),
            ints(&[]),
            ints(&[0]),
            ints(&[1]),
            Value::Bool(false),
        ],
    )
    .unwrap_err();
    assert!(err.contains("Output size is too small"), "{err}");
}

/// uint8 tensors as PyTorch computes them: arithmetic wraps, sums are i64, floats
/// truncate into them, and they survive safetensors.
#[test]
fn uint8_tensors_wrap_sum_and_round_trip() {
    let img = Tensor::from_vec(vec![0u8, 100, 200, 255], [2, 2]);
    assert_eq!(img.dtype(), ferrex::DType::U8);
    assert_eq!(img.add(100).to_vec::<u8>().unwrap(), [100, 200, 44, 99]);
    let sum = img.sum_dim(&[1], false);
    assert_eq!(sum.dtype(), ferrex::DType::I64);
    assert_eq!(sum.to_vec::<i64>().unwrap(), [100, 455]);
    let scaled = img.to_dtype(ferrex::DType::F32).div(255.0);
    assert_eq!(scaled.dtype(), ferrex::DType::F32);
    assert!((data(&scaled)[2] - 200.0 / 255.0).abs() < 1e-7);
    let back = scaled.mul(255.0).add(0.5).to_dtype(ferrex::DType::U8);
    assert_eq!(back.to_vec::<u8>().unwrap(), [0, 100, 200, 255]);
    assert_eq!(
        img.gt(128).to_vec::<bool>().unwrap(),
        [false, false, true, true]
    );
    let bytes = ferrex::tensor::safetensors::to_bytes([("img", &img)]).unwrap();
    let read = ferrex::tensor::safetensors::from_bytes(&bytes).unwrap();
    assert_eq!(read[0].1.to_vec::<u8>().unwrap(), [0, 100, 200, 255]);
    assert_eq!(read[0].1.dtype(), ferrex::DType::U8);
}

/// `Tensor.unfold` windows against their index formula, and its refusals; `pow.Scalar`
/// (`number ** tensor`) and `max.other` against element-wise formulas.
#[test]
fn unfold_windows_number_powers_and_pairwise_max() {
    let x = Tensor::from_vec((0..12).map(|v| v as f32).collect::<Vec<_>>(), [2, 6]);
    let w = x.unfold(1, 3, 2);
    assert_eq!(w.shape(), [2, 2, 3]);
    let want: Vec<f64> = (0..2)
        .flat_map(|r| (0..2).flat_map(move |k| (0..3).map(move |j| (r * 6 + k * 2 + j) as f64)))
        .collect();
    assert_close(&data(&w), &want, 0.0, "unfold");
    let rows = x.unfold(0, 2, 1);
    assert_eq!(rows.shape(), [1, 6, 2]);
    assert_eq!(data(&rows)[..4], [0.0, 6.0, 1.0, 7.0]);
    let err = x
        .unfold(1, 7, 1)
        .error()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("maximum size for tensor at dimension 1 is 6 but size is 7"),
        "{err}"
    );
    let err = x
        .unfold(1, 2, 0)
        .error()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("step is 0 but must be > 0"), "{err}");

    let e = Tensor::from_vec(vec![0.0f32, 0.5, 2.0, -1.0], [4]);
    let out = call(
        "aten::pow.Scalar",
        &[Value::Float(10.0), Value::Tensor(e.clone())],
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let want: Vec<f64> = data(&e).iter().map(|&v| 10f64.powf(f64::from(v))).collect();
    assert_close(&data(&out[0]), &want, 1e-5, "10 ** e");
    let ints = Tensor::from_vec(vec![0i64, 1, 3], [3]);
    let out = call("aten::pow.Scalar", &[int(2), Value::Tensor(ints)]).unwrap();
    assert_eq!(out[0].to_vec::<i64>().unwrap(), [1, 2, 8]);

    let (a, b) = (tensor(&[3, 4], 5), tensor(&[4], 6));
    let out = call(
        "aten::max.other",
        &[Value::Tensor(a.clone()), Value::Tensor(b.clone())],
    )
    .unwrap();
    let (av, bv) = (data(&a), data(&b));
    let want: Vec<f64> = (0..12).map(|i| f64::from(av[i].max(bv[i % 4]))).collect();
    assert_close(&data(&out[0]), &want, 0.0, "max.other");
}
