//! The ops added for PyTorch programs outside the corpus (`tests/data/pt2_more/`), each
//! against an independent computation: PyTorch's documented values, a gather-form loop
//! where the kernel scatters, an identity through other ops, plain-Rust recurrences.

mod common;

use common::values::{assert_close, data, tensor};
use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{DType, SymInt, Tensor};

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

#[test]
fn topk_values_indices_and_ties() {
    let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 3.0, 5.0, -1.0, 0.0, 5.0], [2, 4]);
    let (v, i) = x.topk(2, 1, true);
    assert_eq!(v.shape(), [2, 2]);
    assert_eq!(data(&v), [3.0, 3.0, 5.0, 5.0]);
    // Equal values keep their index order.
    assert_eq!(i.to_vec::<i64>().unwrap(), [1, 3, 0, 3]);
    let (v, i) = x.topk(3, 1, false);
    assert_eq!(data(&v), [1.0, 2.0, 3.0, -1.0, 0.0, 5.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), [0, 2, 1, 1, 2, 0]);
    let (v, i) = x.topk(1, 0, true);
    assert_eq!(data(&v), [5.0, 3.0, 2.0, 5.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), [1, 0, 0, 1]);
    // NaN is the largest value.
    let n = Tensor::from_vec(vec![1.0f32, f32::NAN, 2.0], [3]);
    let (v, i) = n.topk(2, 0, true);
    assert!(data(&v)[0].is_nan());
    assert_eq!(i.to_vec::<i64>().unwrap(), [1, 2]);
    let err = x
        .topk(5, 1, true)
        .0
        .to_vec::<f32>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("selected index k out of range"), "{err}");
}

/// `out[b, i, k] = Σ_j a[b, i, j] · c[b, j, k]`, in f64 loops.
fn batched_product(a: &[f32], c: &[f32], b: usize, n: usize, m: usize, p: usize) -> Vec<f64> {
    let mut out = vec![0.0; b * n * p];
    for bb in 0..b {
        for i in 0..n {
            for k in 0..p {
                out[(bb * n + i) * p + k] = (0..m)
                    .map(|j| {
                        f64::from(a[(bb * n + i) * m + j]) * f64::from(c[(bb * m + j) * p + k])
                    })
                    .sum();
            }
        }
    }
    out
}

#[test]
fn einsum_matches_loops() {
    let (a, c) = (tensor(&[2, 3, 4], 1), tensor(&[2, 4, 5], 2));
    let got = Tensor::einsum("bij,bjk->bik", &[&a, &c]);
    assert_eq!(got.shape(), [2, 3, 5]);
    let want = batched_product(&data(&a), &data(&c), 2, 3, 4, 5);
    assert_close(&data(&got), &want, 1e-5, "bij,bjk->bik");
    // Output order other than the inputs': "bik" → "bki".
    let got = Tensor::einsum("bij,bjk->bki", &[&a, &c]);
    let mut want_t = vec![0.0; want.len()];
    for b in 0..2 {
        for i in 0..3 {
            for k in 0..5 {
                want_t[(b * 5 + k) * 3 + i] = want[(b * 3 + i) * 5 + k];
            }
        }
    }
    assert_close(&data(&got), &want_t, 1e-5, "bij,bjk->bki");
    // Implicit output (labels used once, sorted), a dot product, a full sum, a transpose.
    let (m, n) = (tensor(&[3, 4], 3), tensor(&[4, 2], 4));
    let got = Tensor::einsum("ik,kj", &[&m, &n]);
    assert_close(
        &data(&got),
        &batched_product(&data(&m), &data(&n), 1, 3, 4, 2),
        1e-5,
        "ik,kj",
    );
    let v = tensor(&[4], 5);
    let dot: f64 = data(&v).iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    assert_close(
        &data(&Tensor::einsum("i,i->", &[&v, &v])),
        &[dot],
        1e-5,
        "i,i->",
    );
    let total: f64 = data(&m).iter().map(|x| f64::from(*x)).sum();
    assert_close(
        &data(&Tensor::einsum("ij->", &[&m])),
        &[total],
        1e-5,
        "ij->",
    );
    let t = Tensor::einsum("ij->ji", &[&m]);
    assert_eq!(t.shape(), [4, 3]);
    assert_eq!(data(&t), data(&m.t().copy()));
    // Three operands: a bilinear form `x_b · W_a · y_b`.
    let (x, w, y) = (
        tensor(&[2, 3], 6),
        tensor(&[5, 3, 4], 7),
        tensor(&[2, 4], 8),
    );
    let got = Tensor::einsum("bn,anm,bm->ba", &[&x, &w, &y]);
    let (xd, wd, yd) = (data(&x), data(&w), data(&y));
    let mut want = vec![0.0; 10];
    for b in 0..2 {
        for a in 0..5 {
            for n in 0..3 {
                for m in 0..4 {
                    want[b * 5 + a] += f64::from(xd[b * 3 + n])
                        * f64::from(wd[(a * 3 + n) * 4 + m])
                        * f64::from(yd[b * 4 + m]);
                }
            }
        }
    }
    assert_close(&data(&got), &want, 1e-5, "bn,anm,bm->ba");
    let err = Tensor::einsum("ii->i", &[&m])
        .to_vec::<f32>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("diagonal"), "{err}");
}

#[test]
fn pixel_shuffle_moves_channels_into_space() {
    let x = tensor(&[2, 8, 3, 3], 9);
    let y = x.pixel_shuffle(2);
    assert_eq!(y.shape(), [2, 2, 6, 6]);
    let (xd, yd) = (data(&x), data(&y));
    for n in 0..2 {
        for c in 0..2 {
            for h in 0..6 {
                for w in 0..6 {
                    let ch = c * 4 + (h % 2) * 2 + (w % 2);
                    let from = ((n * 8 + ch) * 3 + h / 2) * 3 + w / 2;
                    assert_eq!(yd[((n * 2 + c) * 6 + h) * 6 + w], xd[from]);
                }
            }
        }
    }
    assert_eq!(data(&y.pixel_unshuffle(2)), xd);
    let err = tensor(&[1, 6, 2, 2], 1)
        .pixel_shuffle(2)
        .to_vec::<f32>()
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("divisible by the square of upscale_factor"));
}

#[test]
fn bilinear_upsampling_matches_pytorch() {
    // PyTorch: F.interpolate([[1, 2], [3, 4]], size=(4, 4), mode="bilinear").
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
    let y = x.upsample_bilinear2d(Some(&[4, 4]), false, None);
    let want = [
        1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
    ];
    assert_close(&data(&y), &want, 1e-6, "align_corners=False");
    // align_corners=True keeps the corners: a linear ramp.
    let y = x.upsample_bilinear2d(Some(&[3, 3]), true, None);
    let want = [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0];
    assert_close(&data(&y), &want, 1e-6, "align_corners=True");
    // By scale factor, the same as by size.
    let by_scale = x.upsample_bilinear2d(None, false, Some(&[2.0, 2.0]));
    assert_eq!(
        data(&by_scale),
        data(&x.upsample_bilinear2d(Some(&[4, 4]), false, None))
    );
    // The `.default` overload (sizes and optional scales).
    let op = lookup("aten::upsample_bilinear2d").unwrap();
    let out = run_eager(
        op,
        &[Value::Tensor(x.clone()), ints(&[3, 3]), Value::Bool(true)],
    )
    .unwrap();
    assert_close(
        &data(&out[0]),
        &[1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0],
        1e-6,
        ".default",
    );
}

#[test]
fn avg_pool1d_windows() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], [1, 1, 5]);
    assert_eq!(data(&x.avg_pool1d(2, None, 0, false, true)), [1.5, 3.5]);
    assert_eq!(data(&x.avg_pool1d(2, None, 0, true, true)), [1.5, 3.5, 5.0]);
    // Padding counted: (0 + 1) / 2, (2 + 3) / 2, (4 + 5) / 2; not counted: 1 / 1.
    assert_eq!(
        data(&x.avg_pool1d(2, Some(2), 1, false, true)),
        [0.5, 2.5, 4.5]
    );
    assert_eq!(
        data(&x.avg_pool1d(2, Some(2), 1, false, false)),
        [1.0, 2.5, 4.5]
    );
    assert_eq!(
        data(&x.avg_pool1d(3, Some(1), 0, false, true)),
        [2.0, 3.0, 4.0]
    );
    let err = x
        .avg_pool1d(2, None, 2, false, true)
        .to_vec::<f32>()
        .unwrap_err();
    assert!(
        err.to_string().contains("pad should be at most half"),
        "{err}"
    );
}

/// The transposed convolution in gather form: each output position sums the input
/// positions whose scattered taps land on it.
#[allow(clippy::too_many_arguments)]
fn conv_transpose_gather(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    [n, ci, h, wd]: [usize; 4],
    [co_g, kh, kw]: [usize; 3],
    [s, p, d, groups]: [usize; 4],
    [oh, ow]: [usize; 2],
) -> Vec<f64> {
    let (ci_g, co) = (ci / groups, co_g * groups);
    let mut out = vec![0.0; n * co * oh * ow];
    for b in 0..n {
        for oc in 0..co {
            let g = oc / co_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = f64::from(bias[oc]);
                    for c in g * ci_g..(g + 1) * ci_g {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let ty = (oy + p) as i64 - (ky * d) as i64;
                                let tx = (ox + p) as i64 - (kx * d) as i64;
                                if ty < 0 || tx < 0 || ty % s as i64 != 0 || tx % s as i64 != 0 {
                                    continue;
                                }
                                let (iy, ix) = (ty as usize / s, tx as usize / s);
                                if iy < h && ix < wd {
                                    acc += f64::from(x[((b * ci + c) * h + iy) * wd + ix])
                                        * f64::from(
                                            w[((c * co_g + oc % co_g) * kh + ky) * kw + kx],
                                        );
                                }
                            }
                        }
                    }
                    out[((b * co + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    out
}

#[test]
fn conv_transpose2d_matches_gather_form() {
    // stride 2, padding 1, output_padding 1, groups 2, dilation 2.
    let (x, w, b) = (
        tensor(&[2, 4, 3, 3], 10),
        tensor(&[4, 3, 3, 3], 11),
        tensor(&[6], 12),
    );
    let y = x.conv_transpose2d(&w, Some(&b), &[2], &[1], &[1], 2, &[2]);
    // (3 - 1) * 2 - 2 + 2 * 2 + 1 + 1 = 8
    assert_eq!(y.shape(), [2, 6, 8, 8]);
    let want = conv_transpose_gather(
        &data(&x),
        &data(&w),
        &data(&b),
        [2, 4, 3, 3],
        [3, 3, 3],
        [2, 1, 2, 2],
        [8, 8],
    );
    assert_close(&data(&y), &want, 1e-5, "conv_transpose2d");
    // Large enough that its output channels split over the threads (16 of them, 48×48).
    let (x, w, b) = (
        tensor(&[1, 8, 24, 24], 15),
        tensor(&[8, 16, 3, 3], 16),
        tensor(&[16], 17),
    );
    let y = x.conv_transpose2d(&w, Some(&b), &[2], &[1], &[1], 1, &[1]);
    assert_eq!(y.shape(), [1, 16, 48, 48]);
    let want = conv_transpose_gather(
        &data(&x),
        &data(&w),
        &data(&b),
        [1, 8, 24, 24],
        [16, 3, 3],
        [2, 1, 1, 1],
        [48, 48],
    );
    assert_close(&data(&y), &want, 1e-5, "conv_transpose2d over threads");
    // Stride 1, no padding: a full convolution with the flipped, transposed weight.
    let (x, w) = (tensor(&[1, 2, 4, 4], 13), tensor(&[2, 3, 2, 2], 14));
    let y = x.conv_transpose2d(&w, None, &[1], &[0], &[0], 1, &[1]);
    let full = x.pad([1, 1, 1, 1], 0.0).conv2d(
        &w.flip(&[2, 3]).transpose(0, 1).copy(),
        None,
        &[1],
        &[0],
        &[1],
        1,
    );
    assert_close(
        &data(&y),
        &data(&full)
            .iter()
            .map(|v| f64::from(*v))
            .collect::<Vec<_>>(),
        1e-5,
        "as a convolution",
    );
    // The Core ATen form, `convolution(..., transposed=True, ...)`, gives the same.
    let op = lookup("aten::convolution").unwrap();
    let out = run_eager(
        op,
        &[
            Value::Tensor(x),
            Value::Tensor(w),
            Value::None,
            ints(&[1, 1]),
            ints(&[0, 0]),
            ints(&[1, 1]),
            Value::Bool(true),
            ints(&[0, 0]),
            Value::Int(SymInt::Int(1)),
        ],
    )
    .unwrap();
    assert_eq!(data(&out[0]), data(&y));
}

/// Mean and biased variance of `v`.
fn moments(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
    (mean, var)
}

#[test]
fn instance_norm_and_batch_statistics() {
    let (x, w, b) = (
        tensor(&[2, 3, 4, 5], 15),
        tensor(&[3], 16),
        tensor(&[3], 17),
    );
    let eps = 1e-5;
    let y = x.instance_norm(Some(&w), Some(&b), eps);
    let (xd, wd, bd) = (data(&x), data(&w), data(&b));
    let mut want = vec![0.0; xd.len()];
    for plane in 0..6 {
        let v: Vec<f64> = xd[plane * 20..][..20]
            .iter()
            .map(|x| f64::from(*x))
            .collect();
        let (mean, var) = moments(&v);
        let c = plane % 3;
        for (k, x) in v.iter().enumerate() {
            want[plane * 20 + k] =
                (x - mean) / (var + eps).sqrt() * f64::from(wd[c]) + f64::from(bd[c]);
        }
    }
    assert_close(&data(&y), &want, 1e-5, "instance_norm");
    // _native_batch_norm_legit.no_stats: per channel over batch and space.
    let op = lookup("aten::_native_batch_norm_legit.no_stats").unwrap();
    let out = run_eager(
        op,
        &[
            Value::Tensor(x),
            Value::None,
            Value::None,
            Value::Bool(true),
            Value::Float(0.1),
            Value::Float(eps),
        ],
    )
    .unwrap();
    for c in 0..3 {
        let v: Vec<f64> = (0..2)
            .flat_map(|n| xd[(n * 3 + c) * 20..][..20].iter().map(|x| f64::from(*x)))
            .collect();
        let (mean, var) = moments(&v);
        assert_close(&data(&out[1])[c..=c], &[mean], 1e-6, "save_mean");
        assert_close(
            &data(&out[2])[c..=c],
            &[1.0 / (var + eps).sqrt()],
            1e-4,
            "save_invstd",
        );
        let first = (xd[c * 20] as f64 - mean) / (var + eps).sqrt();
        assert_close(
            &data(&out[0])[c * 20..=c * 20],
            &[first],
            1e-5,
            "normalized",
        );
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `W · v + b` for a `[rows, v.len()]` weight.
fn affine(w: &[f32], b: &[f32], v: &[f64]) -> Vec<f64> {
    (0..b.len())
        .map(|r| {
            f64::from(b[r])
                + v.iter()
                    .enumerate()
                    .map(|(j, x)| f64::from(w[r * v.len() + j]) * x)
                    .sum::<f64>()
        })
        .collect()
}

/// One plain-Rust cell step for one sample: the new `h` (and `c`).
fn cell_step(lstm: bool, p: &[Vec<f32>], x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = h.len();
    let gi = affine(&p[0], &p[2], x);
    let gh = affine(&p[1], &p[3], h);
    if lstm {
        let g: Vec<f64> = gi.iter().zip(&gh).map(|(a, b)| a + b).collect();
        let c2: Vec<f64> = (0..n)
            .map(|k| sigmoid(g[n + k]) * c[k] + sigmoid(g[k]) * g[2 * n + k].tanh())
            .collect();
        let h2 = (0..n)
            .map(|k| sigmoid(g[3 * n + k]) * c2[k].tanh())
            .collect();
        (h2, c2)
    } else {
        let h2 = (0..n)
            .map(|k| {
                let r = sigmoid(gi[k] + gh[k]);
                let z = sigmoid(gi[n + k] + gh[n + k]);
                let nn = (gi[2 * n + k] + r * gh[2 * n + k]).tanh();
                (1.0 - z) * nn + z * h[k]
            })
            .collect();
        (h2, c.to_vec())
    }
}

/// A 2-layer bidirectional batch-first GRU or LSTM against plain-Rust recurrences: of a
/// hidden size the layer kernel runs (8: `ferrex::ops::rnn::recurrent_layers`) and of
/// one it leaves to the decomposition's ops (5).
fn check_recurrent(lstm: bool) {
    for hidden in [5, 8] {
        check_recurrent_of(lstm, hidden);
    }
}

fn check_recurrent_of(lstm: bool, hidden: usize) {
    let (batch, steps, features, layers) = (2, 4, 3, 2);
    let gates = if lstm { 4 } else { 3 };
    let x = tensor(&[batch, steps, features], 20);
    let mut params = Vec::new();
    for layer in 0..layers {
        let input = if layer == 0 { features } else { 2 * hidden };
        for dir in 0..2 {
            let seed = 100 + (layer * 2 + dir) as u64 * 4;
            params.push(tensor(&[gates * hidden, input], seed));
            params.push(tensor(&[gates * hidden, hidden], seed + 1));
            params.push(tensor(&[gates * hidden], seed + 2));
            params.push(tensor(&[gates * hidden], seed + 3));
        }
    }
    let h0 = tensor(&[layers * 2, batch, hidden], 30);
    let c0 = tensor(&[layers * 2, batch, hidden], 31);
    let hx = if lstm {
        Value::TensorList(vec![h0.clone(), c0.clone()])
    } else {
        Value::Tensor(h0.clone())
    };
    let op = lookup(if lstm {
        "aten::lstm.input"
    } else {
        "aten::gru.input"
    })
    .unwrap();
    let mut args = vec![
        Value::Tensor(x.clone()),
        hx,
        Value::TensorList(params.clone()),
    ];
    args.extend([
        Value::Bool(true),
        Value::Int(SymInt::Int(layers as i64)),
        Value::Float(0.0),
        Value::Bool(false),
        Value::Bool(true),
        Value::Bool(true),
    ]);
    let out = run_eager(op, &args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].shape(), [batch, steps, 2 * hidden]);
    let p: Vec<Vec<f32>> = params.iter().map(data).collect();
    let (xd, h0d, c0d) = (data(&x), data(&h0), data(&c0));
    let mut want_out = vec![0.0; batch * steps * 2 * hidden];
    let mut want_h = vec![0.0; layers * 2 * batch * hidden];
    for b in 0..batch {
        let mut seq: Vec<Vec<f64>> = (0..steps)
            .map(|t| {
                xd[(b * steps + t) * features..][..features]
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect()
            })
            .collect();
        for layer in 0..layers {
            let mut next = vec![vec![0.0; 2 * hidden]; steps];
            for dir in 0..2 {
                let slot = layer * 2 + dir;
                let at = (slot * batch + b) * hidden;
                let mut h: Vec<f64> = h0d[at..at + hidden].iter().map(|v| f64::from(*v)).collect();
                let mut c: Vec<f64> = c0d[at..at + hidden].iter().map(|v| f64::from(*v)).collect();
                for k in 0..steps {
                    let t = if dir == 0 { k } else { steps - 1 - k };
                    (h, c) = cell_step(lstm, &p[slot * 4..slot * 4 + 4], &seq[t], &h, &c);
                    next[t][dir * hidden..(dir + 1) * hidden].copy_from_slice(&h);
                }
                want_h[at..at + hidden].copy_from_slice(&h);
            }
            seq = next;
        }
        for (t, v) in seq.iter().enumerate() {
            want_out[(b * steps + t) * 2 * hidden..][..2 * hidden].copy_from_slice(v);
        }
    }
    assert_close(&data(&out[0]), &want_out, 1e-5, "output");
    assert_close(&data(&out[1]), &want_h, 1e-5, "h_n");
    assert_eq!(out.len(), if lstm { 3 } else { 2 });
    assert_eq!(out[0].dtype(), DType::F32);
}

#[test]
fn gru_matches_plain_recurrence() {
    check_recurrent(false);
}

#[test]
fn lstm_matches_plain_recurrence() {
    check_recurrent(true);
}

/// Hostile sizes and factors are errors, never panics or overflows.
#[test]
fn hostile_arguments_are_errors() {
    let err = |out: Result<Vec<Tensor>, ferrex::error::OpError>| match out {
        Ok(t) => t[0].to_vec::<f32>().unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    // A weight with an empty kernel dim.
    let x = tensor(&[1, 2, 3, 3], 1);
    let w = Tensor::zeros([2, 1, 0, 2]);
    let y = x.conv_transpose2d(&w, None, &[1], &[0], &[0], 1, &[5]);
    assert!(y
        .to_vec::<f32>()
        .unwrap_err()
        .to_string()
        .contains("non-empty"));
    // A factor whose square overflows, on an empty plane.
    let empty = Tensor::zeros([1, 1, 0, 0]);
    let _ = empty.pixel_unshuffle(1 << 40).shape();
    // A layer count whose parameter count overflows.
    let op = lookup("aten::gru.input").unwrap();
    let args = [
        Value::Tensor(tensor(&[1, 2, 3], 2)),
        Value::Tensor(tensor(&[1, 1, 4], 3)),
        Value::TensorList(vec![tensor(&[12, 2], 4), tensor(&[12, 4], 5)]),
        Value::Bool(false),
        Value::Int(SymInt::Int(i64::MAX)),
        Value::Float(0.0),
        Value::Bool(false),
        Value::Bool(true),
        Value::Bool(false),
    ];
    assert!(err(run_eager(op, &args)).contains("parameter tensors"));
    // k larger than the dim, negative k.
    let (v, _) = tensor(&[3], 4).topk(-1, 0, true);
    assert!(v.to_vec::<f32>().is_err());
    // An einsum equation naming more operands than given.
    let e = Tensor::einsum("ij,jk->ik", &[&tensor(&[2, 2], 5)]);
    assert!(e.to_vec::<f32>().is_err());
}

/// The input index a padded position of a dim of size `n` reads (`i` from `-left`),
/// as PyTorch defines each mode.
fn edge_index(mode: &str, i: i64, n: i64) -> i64 {
    match mode {
        "reflect" => {
            let j = i.abs();
            if j >= n {
                2 * (n - 1) - j
            } else {
                j
            }
        }
        "replicate" => i.clamp(0, n - 1),
        _ => i.rem_euclid(n),
    }
}

/// `F.pad`'s reflect, replicate and circular modes (`aten::pad`) and the Core ATen
/// `reflection_pad1d/2d` and `replication_pad1d/2d`, against the index maps written out;
/// a constant pad with its value; pads too wide for the mode are errors.
#[test]
fn edge_pads_read_the_mapped_input_index() {
    let x = tensor(&[2, 3, 4, 5], 21);
    let xs = data(&x);
    let pads = [2i64, 1, 3, 0]; // last dim (2, 1), then dim 2 (3, 0)
    let (oh, ow) = (4 + 3, 5 + 3);
    for mode in ["reflect", "replicate", "circular"] {
        let args = vec![
            Value::Tensor(x.clone()),
            ints(&pads),
            Value::Str(mode.into()),
            Value::None,
        ];
        let got = run_eager(lookup("aten::pad").unwrap(), &args).unwrap();
        assert_eq!(got[0].shape(), [2, 3, oh, ow], "{mode}");
        let mut want = Vec::new();
        for plane in 0..6 {
            for y in 0..oh as i64 {
                for xo in 0..ow as i64 {
                    let (iy, ix) = (edge_index(mode, y - 3, 4), edge_index(mode, xo - 2, 5));
                    want.push(f64::from(xs[plane * 20 + (iy * 5 + ix) as usize]));
                }
            }
        }
        assert_close(&data(&got[0]), &want, 0.0, mode);
        let core = match mode {
            "reflect" => Some("aten::reflection_pad2d"),
            "replicate" => Some("aten::replication_pad2d"),
            _ => None,
        };
        if let Some(op) = core {
            let out = run_eager(
                lookup(op).unwrap(),
                &[Value::Tensor(x.clone()), ints(&pads)],
            );
            assert_eq!(data(&out.unwrap()[0]), data(&got[0]), "{op}");
        }
    }
    // 1-D forms over the last dim of a [2, 3, 5] input.
    let v = tensor(&[2, 3, 5], 22);
    let vs = data(&v);
    for (op, mode) in [
        ("aten::reflection_pad1d", "reflect"),
        ("aten::replication_pad1d", "replicate"),
    ] {
        let out = run_eager(
            lookup(op).unwrap(),
            &[Value::Tensor(v.clone()), ints(&[3, 4])],
        );
        let out = out.unwrap();
        assert_eq!(out[0].shape(), [2, 3, 12], "{op}");
        let want: Vec<f64> = (0..6)
            .flat_map(|row| {
                let vs = &vs;
                (0..12).map(move |o| f64::from(vs[row * 5 + edge_index(mode, o - 3, 5) as usize]))
            })
            .collect();
        assert_close(&data(&out[0]), &want, 0.0, op);
    }
    // The constant mode takes a value; a reflection as wide as the dim does not fit.
    let args = vec![
        Value::Tensor(v.clone()),
        ints(&[1, 1]),
        Value::Str("constant".into()),
        Value::Float(0.5),
    ];
    let c = run_eager(lookup("aten::pad").unwrap(), &args).unwrap();
    assert_eq!(
        data(&c[0])[..7],
        [0.5, vs[0], vs[1], vs[2], vs[3], vs[4], 0.5]
    );
    let args = vec![
        Value::Tensor(v),
        ints(&[5, 0]),
        Value::Str("reflect".into()),
        Value::None,
    ];
    let err = run_eager(lookup("aten::pad").unwrap(), &args).unwrap_err();
    assert!(
        err.0.contains("does not fit dimension 2 of size 5"),
        "{}",
        err.0
    );
}

/// `gather` along each dim of a 3-D input with an index smaller than the input in the
/// other dims (so rows of the index skip input elements), against `out[i][j][k] =
/// x[..index[i][j][k]..]` written out; a negative index is out of bounds, as in ATen.
#[test]
fn gather_along_every_dim_matches_its_definition() {
    let x = tensor(&[3, 4, 5], 31);
    let xs = data(&x);
    let ishape = [2, 3, 4];
    for dim in 0..3usize {
        let size = [3i64, 4, 5][dim];
        let idx: Vec<i64> = (0..24).map(|n| n * 7 % size).collect();
        let index = Tensor::from_vec(idx.clone(), ishape);
        let got = x.gather(dim as i64, &index);
        assert_eq!(got.shape(), ishape);
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    let v = idx[(i * 3 + j) * 4 + k] as usize;
                    let mut at = [i, j, k];
                    at[dim] = v;
                    want.push(f64::from(xs[(at[0] * 4 + at[1]) * 5 + at[2]]));
                }
            }
        }
        assert_close(&data(&got), &want, 0.0, &format!("gather along {dim}"));
    }
    for bad in [5i64, -1] {
        let out_of_range = x.gather(2, &Tensor::from_vec(vec![bad], [1, 1, 1]));
        let err = out_of_range.to_vec::<f32>().unwrap_err().to_string();
        let want = format!("index {bad} is out of bounds for dimension 2 with size 5");
        assert!(err.contains(&want), "{err}");
    }
}

fn call(name: &str, args: Vec<Value>) -> Result<Tensor, ferrex::error::OpError> {
    run_eager(lookup(name).unwrap(), &args).map(|mut out| out.remove(0))
}

/// `addr` (`beta * self + alpha * vec1 ⊗ vec2`, `self` broadcast, `beta = 0` ignoring a
/// NaN `self` as ATen does) against its definition written out; vectors of another rank
/// are an error.
#[test]
fn addr_matches_its_definition() {
    let (v1, v2) = (tensor(&[3], 1), tensor(&[4], 2));
    let (a, b) = (data(&v1), data(&v2));
    let row = Tensor::from_vec(vec![1.0f32, f32::NAN, 3.0, -2.0], [4]);
    for (beta, alpha) in [(1.0, 1.0), (0.5, -2.0), (0.0, 3.0)] {
        let got = call(
            "aten::addr",
            vec![
                Value::Tensor(row.clone()),
                Value::Tensor(v1.clone()),
                Value::Tensor(v2.clone()),
                Value::Float(beta),
                Value::Float(alpha),
            ],
        )
        .unwrap();
        assert_eq!(got.shape(), [3, 4]);
        let want: Vec<f64> = (0..12)
            .map(|k| {
                let (i, j) = (k / 4, k % 4);
                let term = if beta == 0.0 {
                    0.0
                } else {
                    beta * f64::from(data(&row)[j])
                };
                term + alpha * f64::from(a[i]) * f64::from(b[j])
            })
            .collect();
        let got = data(&got);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            match w.is_nan() {
                true => assert!(g.is_nan(), "addr({beta}, {alpha})[{k}]"),
                false => assert!((f64::from(*g) - w).abs() < 1e-5, "addr[{k}]: {g} vs {w}"),
            }
        }
    }
    let bad = call(
        "aten::addr",
        vec![
            Value::Tensor(row.clone()),
            Value::Tensor(tensor(&[3, 1], 3)),
            Value::Tensor(v2),
        ],
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("Expected 1-D argument vec1 and vec2"));
}

/// `take_along_dim` (`out[i, j] = x[i, idx[i, j]]` along dim 1 with the operands
/// broadcast to each other, along dim 0, and flattened with no dim) against its
/// definition written out; operands of other ranks are an error.
#[test]
fn take_along_dim_matches_its_definition() {
    // x [3, 4]; idx [1, 2] broadcast over x's rows along dim 1.
    let x = tensor(&[3, 4], 4);
    let xs = data(&x);
    let idx = Tensor::from_vec(vec![3i64, -1], [1, 2]);
    let take = |idx: &Tensor, dim: Value| {
        call(
            "aten::take_along_dim",
            vec![Value::Tensor(x.clone()), Value::Tensor(idx.clone()), dim],
        )
    };
    let got = take(&idx, Value::Int(SymInt::Int(1))).unwrap();
    assert_eq!(got.shape(), [3, 2]);
    let want: Vec<f32> = (0..3)
        .flat_map(|i| [xs[i * 4 + 3], xs[i * 4 + 3]])
        .collect();
    assert_eq!(data(&got), want);
    let rows = Tensor::from_vec(vec![2i64, 0, 1, 1], [1, 4]);
    let got = take(&rows, Value::Int(SymInt::Int(0))).unwrap();
    assert_eq!(data(&got), [xs[8], xs[1], xs[6], xs[7]]);
    let flat = Tensor::from_vec(vec![11i64, 0, 5], [3]);
    let got = take(&flat, Value::None).unwrap();
    assert_eq!(data(&got), [xs[11], xs[0], xs[5]]);
    let err = take(&flat, Value::Int(SymInt::Int(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("should have the same number of dimensions"),
        "{err}"
    );
    // Along a dim an index wraps (PyTorch's `remainder`); flattened it does not.
    let wrapped = Tensor::from_vec(vec![-5i64, 6], [1, 2]);
    let got = take(&wrapped, Value::Int(SymInt::Int(1))).unwrap();
    assert_eq!(data(&got), [xs[3], xs[2], xs[7], xs[6], xs[11], xs[10]]);
    let negative = Tensor::from_vec(vec![-1i64], [1]);
    assert!(take(&negative, Value::None).is_err());
}
