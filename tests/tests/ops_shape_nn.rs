//! Shape, indexing and layer ops beyond the PyTorch cases of `op_vectors.rs`: the
//! composites' decompositions agree with their kernels, exports record the composites
//! whole, convolution agrees with a direct reference over strides, padding, dilation and
//! groups, advanced indexing, symbolic sizes, and bad arguments give errors, not panics.

use ferrex::ops::{lookup, run_eager, OpArgs, Value};
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, Exporter};

fn data(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn assert_close(got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.shape(), want.shape());
    assert_eq!(got.dtype(), want.dtype());
    for (i, (g, w)) in data(got).iter().zip(data(want)).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: {g} vs {w}"
        );
    }
}

fn tv(t: &Tensor) -> Value {
    Value::Tensor(t.clone())
}

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

/// The op's eager kernel and its decomposition (run eagerly) on the same arguments.
fn kernel_and_decomposition(name: &str, args: Vec<Value>) -> (Tensor, Tensor) {
    let op = lookup(name).unwrap();
    let kernel = run_eager(op, &args).unwrap().remove(0);
    let decompose = op.decomposition.expect("the composite has a decomposition");
    let decomposed = decompose(&OpArgs::new(op, &args)).unwrap().remove(0);
    (kernel, decomposed)
}

// ---------------------------------------------------------------------------------------
// Composites: decomposition == kernel, recorded whole

#[test]
fn layer_norm_decomposes_into_native_layer_norm() {
    let x = Tensor::randn([2, 3, 8]);
    let (w, b) = (Tensor::randn([8]), Tensor::randn([8]));
    let args = vec![tv(&x), ints(&[8]), tv(&w), tv(&b), Value::Float(1e-5)];
    let (k, d) = kernel_and_decomposition("aten::layer_norm", args);
    assert_close(&k, &d, 1e-6);
    let (out, mean, rstd) = x.native_layer_norm([8], Some(&w), Some(&b), 1e-5);
    assert_close(&out, &k, 0.0);
    assert_eq!(mean.shape(), [2, 3, 1]);
    assert_eq!(rstd.shape(), [2, 3, 1]);
    // Without affine parameters each row has mean 0 and variance 1.
    let plain = F::layer_norm(&x, &[8], None, None, 1e-5);
    let m = plain.mean_dim(&[-1], false);
    assert!(data(&m).iter().all(|v| v.abs() < 1e-5));
}

#[test]
fn group_norm_decomposes_into_native_group_norm() {
    let x = Tensor::randn([2, 6, 3, 5]);
    let (w, b) = (Tensor::randn([6]), Tensor::randn([6]));
    let args = vec![
        tv(&x),
        Value::Int(SymInt::Int(3)),
        tv(&w),
        tv(&b),
        Value::Float(1e-5),
    ];
    let (k, d) = kernel_and_decomposition("aten::group_norm", args);
    assert_close(&k, &d, 1e-6);
    let (_, mean, rstd) = x.native_group_norm(Some(&w), Some(&b), 2, 6, 15, 3, 1e-5);
    assert_eq!(mean.shape(), [2, 3]);
    assert_eq!(rstd.shape(), [2, 3]);
    assert!(
        F::group_norm(&x, 4, None, None, 1e-5).error().is_some(),
        "6 channels, 4 groups"
    );
}

#[test]
fn batch_norm_decomposes_into_native_batch_norm_legit_no_training() {
    let x = Tensor::randn([4, 3, 5, 5]);
    let (w, b, mean) = (Tensor::randn([3]), Tensor::randn([3]), Tensor::randn([3]));
    let var = Tensor::rand([3]) + 0.5;
    let args = vec![
        tv(&x),
        tv(&w),
        tv(&b),
        tv(&mean),
        tv(&var),
        Value::Bool(false),
        Value::Float(0.1),
        Value::Float(1e-5),
        Value::Bool(true),
    ];
    let (k, d) = kernel_and_decomposition("aten::batch_norm", args);
    assert_close(&k, &d, 1e-6);
    let y = F::batch_norm(
        &x,
        Some(&mean),
        Some(&var),
        Some(&w),
        Some(&b),
        false,
        0.1,
        1e-5,
    );
    assert_close(&y, &k, 0.0);
    let (_, saved_mean, saved_invstd) =
        x.native_batch_norm_legit_no_training(Some(&w), Some(&b), &mean, &var, 0.1, 1e-5);
    assert_eq!(saved_mean.shape(), [0]);
    assert_eq!(saved_invstd.shape(), [0]);
    let training = F::batch_norm(&x, Some(&mean), Some(&var), None, None, true, 0.1, 1e-5);
    assert!(
        training.error().is_some(),
        "training mode is refused, not silently wrong"
    );
}

#[test]
fn sdpa_decomposition_matches_the_kernel() {
    let q = Tensor::randn([2, 4, 5, 8]);
    let k = Tensor::randn([2, 4, 7, 8]);
    let v = Tensor::randn([2, 4, 7, 6]);
    let float_mask = Tensor::randn([5, 7]);
    let bool_mask = Tensor::rand([2, 1, 5, 7]).gt(0.3);
    let none = Value::None;
    let cases: Vec<(Option<Value>, bool, Option<f64>)> = vec![
        (None, false, None),
        (None, true, None),
        (None, false, Some(0.3)),
        (Some(tv(&float_mask)), false, None),
        (Some(tv(&bool_mask)), false, Some(0.5)),
    ];
    for (mask, causal, scale) in cases {
        let args = vec![
            tv(&q),
            tv(&k),
            tv(&v),
            mask.unwrap_or(none.clone()),
            Value::Float(0.0),
            Value::Bool(causal),
            scale.map(Value::Float).unwrap_or(Value::None),
        ];
        let (kern, dec) = kernel_and_decomposition("aten::scaled_dot_product_attention", args);
        assert_eq!(kern.shape(), [2, 4, 5, 6]);
        assert_close(&kern, &dec, 1e-5);
    }
    // Causal: the first query attends to the first key only.
    let out = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, true, None, false);
    let first = out.select(2, 0);
    let v0 = v.select(2, 0);
    assert_close(&first, &v0, 1e-6);
}

#[test]
fn sdpa_grouped_query_heads_repeat_key_and_value() {
    let q = Tensor::randn([1, 4, 3, 8]);
    let k = Tensor::randn([1, 2, 5, 8]);
    let v = Tensor::randn([1, 2, 5, 8]);
    let gqa = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, true);
    let repeat = |t: &Tensor| t.index_select(1, &Tensor::from_slice(&[0i64, 0, 1, 1]));
    let full = F::scaled_dot_product_attention(
        &q,
        &repeat(&k),
        &repeat(&v),
        None,
        0.0,
        false,
        None,
        false,
    );
    assert_close(&gqa, &full, 1e-6);
    let args = vec![
        tv(&q),
        tv(&k),
        tv(&v),
        Value::None,
        Value::Float(0.0),
        Value::Bool(false),
        Value::None,
        Value::Bool(true),
    ];
    let (kern, dec) = kernel_and_decomposition("aten::scaled_dot_product_attention", args);
    assert_close(&kern, &dec, 1e-5);
    let without = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, false);
    assert!(
        without.error().is_some(),
        "4 and 2 heads do not broadcast without enable_gqa"
    );
    let dropout = F::scaled_dot_product_attention(&q, &q, &q, None, 0.1, false, None, false);
    assert!(dropout.error().is_some());
}

#[export_module]
struct Block {
    #[param]
    conv_w: Tensor,
    #[param]
    ln_w: Tensor,
    #[param]
    ln_b: Tensor,
    #[buffer(persistent = true)]
    mean: Tensor,
    #[buffer(persistent = true)]
    var: Tensor,
}

#[export_module]
impl Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = F::conv2d(x, &self.conv_w, None, &[1], &[1], &[1], 1);
        let y = F::batch_norm(
            &y,
            Some(&self.mean),
            Some(&self.var),
            None,
            None,
            false,
            0.1,
            1e-5,
        );
        let y = F::group_norm(&y, 2, None, None, 1e-5);
        let y = F::max_pool2d(&y, &[2], None, &[0], &[1], false);
        let seq = y.flatten(2, -1).transpose(1, 2);
        let seq = F::layer_norm(&seq, &[4], Some(&self.ln_w), Some(&self.ln_b), 1e-5);
        F::scaled_dot_product_attention(&seq, &seq, &seq, None, 0.0, true, None, false)
    }
}

fn block() -> Block {
    Block {
        conv_w: Tensor::randn([4, 3, 3, 3]),
        ln_w: Tensor::randn([4]),
        ln_b: Tensor::randn([4]),
        mean: Tensor::randn([4]),
        var: Tensor::rand([4]) + 0.5,
    }
}

#[test]
fn exports_record_the_composites_whole() {
    let m = block();
    let x = Tensor::randn([2, 3, 8, 8]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::conv2d.default",
            "aten::batch_norm.default",
            "aten::group_norm.default",
            "aten::max_pool2d.default",
            "aten::flatten.using_ints",
            "aten::transpose.int",
            "aten::layer_norm.default",
            "aten::scaled_dot_product_attention.default",
        ]
    );
    let want = m.forward(&x);
    let got = ep.module().call((x,)).unwrap().remove(0);
    assert_close(&got, &want, 0.0);
}

// ---------------------------------------------------------------------------------------
// Convolution against a direct reference

/// Direct convolution in f64: `x` `[n, c, h, w]`, `w` `[o, c/g, kh, kw]`.
#[allow(clippy::too_many_arguments)]
fn reference_conv(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    bias: Option<&[f64]>,
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    groups: usize,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [o, cg, kh, kw] = ws;
    let oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
    let ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
    let og = o / groups;
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bias.map_or(0.0, |bs| bs[oc]);
                    for ic in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * stride[0] + i * dil[0]) as i64 - pad[0] as i64;
                                let ix = (xo * stride[1] + j * dil[1]) as i64 - pad[1] as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= wd as i64 {
                                    continue;
                                }
                                let cin = g * cg + ic;
                                acc += x[((b * c + cin) * h + iy as usize) * wd + ix as usize]
                                    * w[((oc * cg + ic) * kh + i) * kw + j];
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    (out, [n, o, oh, ow])
}

#[test]
fn conv2d_matches_a_direct_reference() {
    // (input, weight, stride, padding, dilation, groups)
    type Case = (
        [usize; 4],
        [usize; 4],
        [usize; 2],
        [usize; 2],
        [usize; 2],
        usize,
    );
    let cases: &[Case] = &[
        ([2, 3, 9, 7], [4, 3, 3, 3], [1, 1], [0, 0], [1, 1], 1),
        ([1, 4, 8, 8], [6, 2, 3, 2], [2, 1], [1, 0], [1, 2], 2),
        ([2, 6, 10, 11], [6, 1, 3, 3], [1, 2], [2, 1], [2, 1], 6),
        ([1, 8, 5, 5], [4, 8, 1, 1], [1, 1], [0, 0], [1, 1], 1),
        ([1, 2, 7, 7], [3, 2, 5, 5], [3, 3], [2, 2], [1, 1], 1),
    ];
    for &(xs, ws, stride, pad, dil, groups) in cases {
        let x = Tensor::randn(xs).to_dtype(DType::F64);
        let w = Tensor::randn(ws).to_dtype(DType::F64);
        let b = Tensor::randn([ws[0]]).to_dtype(DType::F64);
        let as_i = |v: [usize; 2]| [v[0] as i64, v[1] as i64];
        let got = F::conv2d(
            &x,
            &w,
            Some(&b),
            &as_i(stride),
            &as_i(pad),
            &as_i(dil),
            groups as i64,
        );
        let (want, shape) = reference_conv(
            &data(&x),
            xs,
            &data(&w),
            ws,
            Some(&data(&b)),
            stride,
            pad,
            dil,
            groups,
        );
        assert_eq!(got.shape(), shape, "case {xs:?} {ws:?}");
        for (g, w) in data(&got).iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{g} vs {w} in case {xs:?} {ws:?}");
        }
        // f32 goes through sgemm.
        let got32 = F::conv2d(
            &x.to_dtype(DType::F32),
            &w.to_dtype(DType::F32),
            Some(&b.to_dtype(DType::F32)),
            &as_i(stride),
            &as_i(pad),
            &as_i(dil),
            groups as i64,
        );
        for (g, w) in data(&got32).iter().zip(&want) {
            assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }
}

#[test]
fn conv1d_is_conv2d_of_height_one_and_accepts_unbatched_input() {
    let x = Tensor::randn([2, 3, 10]);
    let w = Tensor::randn([5, 3, 3]);
    let y1 = F::conv1d(&x, &w, None, &[2], &[1], &[1], 1);
    let y2 = F::conv2d(
        &x.unsqueeze(2),
        &w.unsqueeze(2),
        None,
        &[1, 2],
        &[0, 1],
        &[1],
        1,
    );
    assert_close(&y1, &y2.squeeze_dim(2), 0.0);
    let unbatched = F::conv1d(&x.select(0, 1), &w, None, &[2], &[1], &[1], 1);
    assert_close(&unbatched, &y1.select(0, 1), 0.0);
    let bad = F::conv2d(
        &Tensor::randn([1, 4, 5, 5]),
        &Tensor::randn([2, 3, 3, 3]),
        None,
        &[1],
        &[0],
        &[1],
        1,
    );
    assert!(bad.error().is_some(), "channel mismatch is an error");
    let small = F::conv2d(
        &Tensor::randn([1, 3, 2, 2]),
        &Tensor::randn([2, 3, 3, 3]),
        None,
        &[1],
        &[0],
        &[1],
        1,
    );
    assert!(
        small.error().is_some(),
        "kernel larger than the input is an error"
    );
}

// ---------------------------------------------------------------------------------------
// Pooling and resampling

#[test]
fn pooling_options() {
    let x = Tensor::arange(25).to_dtype(DType::F32).view([1, 1, 5, 5]);
    // ceil_mode keeps a last, partial window.
    let m = F::max_pool2d(&x, &[2], None, &[0], &[1], true);
    assert_eq!(m.shape(), [1, 1, 3, 3]);
    assert_eq!(data(&m), [6., 8., 9., 16., 18., 19., 21., 23., 24.]);
    // count_include_pad=false divides by the real elements only.
    let a = F::avg_pool2d(&x, &[3], Some(&[2]), &[1], false, false, None);
    assert_eq!(data(&a)[0], (0. + 1. + 5. + 6.) / 4.);
    let a = F::avg_pool2d(&x, &[3], Some(&[2]), &[1], false, true, None);
    assert_eq!(data(&a)[0], ((0. + 1. + 5. + 6.) / 9.0f32) as f64);
    let a = F::avg_pool2d(&x, &[2], None, &[0], false, true, Some(1));
    assert_eq!(data(&a)[0], 0. + 1. + 5. + 6.);
    let g = F::adaptive_avg_pool2d(&x, &[1, 1]);
    assert_eq!(data(&g), [12.0]);
    let up = F::interpolate(&x, Some(&[10]), None, "nearest");
    assert_eq!(up.shape(), [1, 1, 10, 10]);
    assert_eq!(data(&up.select(2, 3))[..4], [5., 5., 6., 6.]);
    let up3 = x.upsample_nearest2d(Some(&[7, 3]), None);
    assert_eq!(data(&up3.select(2, 6)), [20., 21., 23.]);
    // Bilinear is `upsample_bilinear2d` with PyTorch's default `align_corners=False`;
    // other modes are refused.
    let bilinear = F::interpolate(&x, None, Some(&[2.0]), "bilinear");
    let direct = x.upsample_bilinear2d(None, false, Some(&[2.0, 2.0]));
    assert_eq!(data(&bilinear), data(&direct));
    let bicubic = F::interpolate(&x, None, Some(&[2.0]), "bicubic");
    let direct = x.upsample_bicubic2d(None, false, Some(&[2.0, 2.0]));
    assert_eq!(data(&bicubic), data(&direct));
    let err = F::interpolate(&x, None, Some(&[2.0]), "nearest-exact").error();
    assert!(
        err.is_some_and(|e| e.to_string().contains("\"nearest-exact\" is not supported")),
        "nearest-exact is refused"
    );
    assert!(
        F::max_pool2d(&x, &[2], None, &[2], &[1], false)
            .error()
            .is_some(),
        "pad > k/2"
    );
}

// ---------------------------------------------------------------------------------------
// Shapes, joins, splits

#[test]
fn views_joins_and_splits() {
    let x = Tensor::arange(24).view([2, 3, 4]);
    assert_eq!(x.expand([2, 2, 3, 4]).shape(), [2, 2, 3, 4]);
    assert_eq!(x.select(1, 0).expand([-1, -1]).shape(), [2, 4]);
    assert!(x.expand([2, 5, 4]).error().is_some());
    assert_eq!(x.unsqueeze(0).squeeze_dim(0).shape(), [2, 3, 4]);
    assert_eq!(
        x.squeeze_dim(1).shape(),
        [2, 3, 4],
        "a dim not of size 1 stays"
    );
    assert_eq!(x.flatten(0, -1).shape(), [24]);
    assert_eq!(
        data(&x.narrow(2, -2, 2).select(0, 1).select(0, 0)),
        [14., 15.]
    );
    assert!(x.narrow(2, 3, 2).error().is_some());
    assert!(x.select(1, 3).error().is_some());
    assert_eq!(
        data(&x.flip(&[2]).select(0, 0).select(0, 0)),
        [3., 2., 1., 0.]
    );
    assert_eq!(data(&x.roll(&[1], &[]).flatten(0, -1))[..3], [23., 0., 1.]);
    assert_eq!(x.repeat([2, 1, 1, 2]).shape(), [2, 2, 3, 8]);
    let parts = x.split(2, 2);
    assert_eq!(parts.len(), 2);
    let chunks = x.chunk(2, 1);
    assert_eq!(
        chunks.iter().map(|c| c.shape()[1]).collect::<Vec<_>>(),
        [2, 1]
    );
    let back = Tensor::cat(&chunks, 1);
    assert_eq!(data(&back), data(&x));
    assert_eq!(Tensor::stack(&[&x, &x], 3).shape(), [2, 3, 4, 2]);
    assert!(Tensor::cat(&[&x, &Tensor::zeros([2, 2, 5])], 1)
        .error()
        .is_some());
    assert!(Tensor::cat::<Tensor>(&[], 0).error().is_some());
    assert!(Tensor::stack(&[&x, &x.select(0, 0)], 0).error().is_some());
    // cat promotes dtypes and skips legacy empty 1-D tensors.
    let mixed = Tensor::cat(
        &[Tensor::ones([2]), Tensor::arange(2), Tensor::zeros([0])],
        0,
    );
    assert_eq!(mixed.dtype(), DType::F32);
    assert_eq!(data(&mixed), [1., 1., 0., 1.]);
    let padded = x.pad([1, -1], 9.0);
    assert_eq!(data(&padded.select(0, 0).select(0, 0)), [9., 0., 1., 2.]);
    assert!(x.pad([1], 0.0).error().is_some());
    assert_eq!(data(&Tensor::eye(2)), [1., 0., 0., 1.]);
    assert_eq!(x.full_like(2.5).dtype(), DType::I64);
    assert_eq!(
        data(&Tensor::ones([2, 3]).triu(1).tril(1)),
        [0., 1., 0., 0., 0., 1.]
    );
}

#[export_module]
struct SplitCat {}

#[export_module]
impl SplitCat {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let mut parts = x.chunk(2, 0).into_iter();
        let (first, second) = (parts.next(), parts.next());
        match (first, second) {
            (Some(a), Some(b)) => Tensor::cat(&[&b, y, &a], 0).relu(),
            _ => y.relu(),
        }
    }
}

#[test]
fn multi_output_ops_export_and_run() {
    let x = Tensor::randn([5, 3]);
    let y = Tensor::randn([2, 3]);
    let ep = ferrex::export(&SplitCat {}, (x.copy(), y.copy())).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::chunk.default",
            "aten::cat.default",
            "aten::relu.default"
        ]
    );
    let want = SplitCat {}.forward(&x, &y);
    let got = ep.module().call((x, y)).unwrap().remove(0);
    assert_close(&got, &want, 0.0);
}

#[test]
fn cat_adds_symbolic_sizes() {
    let shapes = DynamicShapes::new()
        .input("x", [(0, Dim::new("a"))])
        .input("y", [(0, Dim::new("b"))]);
    let ep = Exporter::new(&SplitCat {}, (Tensor::randn([6, 3]), Tensor::randn([4, 3])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let code = ep.graph_code(0);
    assert!(code.contains("aten::cat.default"), "{code}");
    assert!(code.contains("+ s1"), "cat adds the sizes: {code}");
    let out = ep
        .module()
        .call((Tensor::randn([8, 3]), Tensor::randn([3, 3])))
        .unwrap();
    assert_eq!(out[0].shape(), [11, 3]);
}

// ---------------------------------------------------------------------------------------
// Indexing

#[test]
fn advanced_indexing() {
    let x = Tensor::arange(24).view([2, 3, 4]);
    let i = Tensor::from_slice(&[1i64, 0]);
    let j = Tensor::from_slice(&[3i64, -1]);
    // Adjacent indices: the broadcast dims replace them in place.
    let a = x.index(&[None, Some(&Tensor::from_slice(&[2i64, 0])), Some(&j)]);
    assert_eq!(a.shape(), [2, 2]);
    assert_eq!(data(&a), [11., 3., 23., 15.]);
    // Separated indices: the broadcast dims go first.
    let b = x.index(&[Some(&i), None, Some(&j)]);
    assert_eq!(b.shape(), [2, 3]);
    assert_eq!(data(&b), [15., 19., 23., 3., 7., 11.]);
    // A bool mask selects (eagerly).
    let mask = x.select(2, 0).gt(10);
    let m = x.index(&[Some(&mask)]);
    assert_eq!(m.shape(), [3, 4]);
    assert!(x
        .index(&[Some(&Tensor::from_slice(&[2i64]))])
        .error()
        .is_some());
    assert!(x.index(&[None, None, None, Some(&i)]).error().is_some());

    let g = x
        .select(0, 0)
        .gather(1, &Tensor::from_vec(vec![0i64, 3, 1, 1, 2, 0], [3, 2]));
    assert_eq!(data(&g), [0., 3., 5., 5., 10., 8.]);
    let bad = Tensor::from_vec(vec![0i64, 4], [1, 2]);
    assert!(x.select(0, 0).gather(1, &bad).error().is_some());
    assert!(x
        .index_select(2, &Tensor::from_slice(&[4i64]))
        .error()
        .is_some());
    assert!(x
        .index_select(2, &Tensor::from_slice(&[-1i64]))
        .error()
        .is_some());
    let table = Tensor::randn([10, 4]);
    let ids = Tensor::from_vec(vec![1i64, 9, 0, 1], [2, 2]);
    let e = F::embedding(&ids, &table);
    assert_eq!(e.shape(), [2, 2, 4]);
    assert_eq!(
        data(&e.select(0, 0).select(0, 1)),
        data(&table.select(0, 9))
    );
    assert!(F::embedding(&Tensor::from_slice(&[10i64]), &table)
        .error()
        .is_some());
    assert!(F::embedding(&Tensor::from_slice(&[0.5f32]), &table)
        .error()
        .is_some());
}

#[test]
fn bad_dims_are_errors() {
    let x = Tensor::randn([2, 3]);
    assert!(x.flatten(1, 0).error().is_some());
    assert!(x.squeeze_dim(2).error().is_some());
    assert!(x.flip(&[0, 0]).error().is_some());
    assert!(x.roll(&[1, 2], &[0]).error().is_some());
    assert!(x.split(-1, 0)[0].error().is_some());
    assert!(x.chunk(0, 0)[0].error().is_some());
    assert!(Tensor::randn([3]).tril(0).error().is_some());
    assert!(x.bmm(&x).error().is_some());
    assert!(Tensor::randn([2, 2, 3])
        .bmm(&Tensor::randn([3, 3, 4]))
        .error()
        .is_some());
    assert!(x.layer_norm([4], None, None, 1e-5).error().is_some());
}
