//! nn layers: PyTorch's parameter names, default initialisation, containers.

use ferrex::prelude::*;

#[test]
fn sequential_names_layers_by_position_and_exports() {
    let seq = nn::Sequential::new()
        .append(nn::Linear::new(4, 8))
        .append(nn::ReLU::default())
        .append(nn::Dropout::new(0.1))
        .append(nn::Linear::new(8, 2));
    let names: Vec<String> = seq.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias"]);
    let x = Tensor::randn([5, 4]);
    let ep = ferrex::export(&seq, (x.copy(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::linear.default",
            "aten::relu.default",
            "aten::linear.default"
        ]
    );
    let sig: Vec<&str> = ep
        .graph_signature()
        .input_specs
        .iter()
        .map(|s| s.arg.name())
        .collect();
    assert_eq!(
        sig,
        ["p_0_weight", "p_0_bias", "p_3_weight", "p_3_bias", "input"]
    );
    let want = seq.forward(&x).to_vec::<f32>().unwrap();
    assert_eq!(
        ep.module().call((x,)).unwrap()[0].to_vec::<f32>().unwrap(),
        want
    );
}

#[test]
fn linear_initialisation_follows_pytorch_bounds() {
    let lin = nn::Linear::new(64, 32);
    let bound = 1.0 / 8.0;
    let w = lin.weight.to_vec::<f32>().unwrap();
    assert_eq!(lin.weight.shape(), [32, 64]);
    assert!(w.iter().all(|v| v.abs() <= bound));
    let spread =
        w.iter().cloned().fold(f32::MIN, f32::max) - w.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        spread > 1.8 * bound,
        "uniform over the whole range, spread {spread}"
    );
    let no_bias = nn::Linear::no_bias(3, 2);
    assert_eq!(no_bias.named_parameters().len(), 1);
    let ep = ferrex::export(&no_bias, (Tensor::ones([4, 3]),)).unwrap();
    assert_eq!(ep.op_targets(), ["aten::linear.default"]);
    // Without a bias, ATen's linear is `matmul(x, t(w))`, and a 2-D matmul is `mm`.
    let core = ep.run_decompositions().unwrap();
    assert_eq!(
        core.op_targets(),
        ["aten::permute.default", "aten::mm.default"]
    );
}

/// Multi-head attention against a direct computation in f64 from the same weights:
/// per head, softmax(q kᵀ / sqrt(d)) v, then the output projection.
#[test]
fn multihead_attention_matches_a_direct_computation() {
    let (e, heads, batch, len) = (8usize, 2usize, 2usize, 3usize);
    let mha = nn::MultiheadAttention::new(e, heads).batch_first(true);
    // Non-zero biases so that every term is exercised.
    let mha = nn::MultiheadAttention {
        in_proj_bias: Tensor::randn([3 * e]),
        ..mha
    };
    let x = Tensor::randn([batch, len, e]);
    let got = mha.forward(&x, &x, &x).to_vec::<f32>().unwrap();

    let w = mha.in_proj_weight.to_vec::<f32>().unwrap();
    let b = mha.in_proj_bias.to_vec::<f32>().unwrap();
    let wo = mha.out_proj.weight.to_vec::<f32>().unwrap();
    let bo = mha.out_proj.bias.as_ref().unwrap().to_vec::<f32>().unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    let d = e / heads;
    // proj[which][n][l][j] = x[n][l] · w[which*e + j] + b[which*e + j]
    let proj = |which: usize, n: usize, l: usize, j: usize| -> f64 {
        let mut acc = b[which * e + j] as f64;
        for k in 0..e {
            acc += xs[(n * len + l) * e + k] as f64 * w[(which * e + j) * e + k] as f64;
        }
        acc
    };
    for n in 0..batch {
        for l in 0..len {
            let mut merged = vec![0.0f64; e];
            for h in 0..heads {
                let scores: Vec<f64> = (0..len)
                    .map(|m| {
                        (0..d)
                            .map(|j| proj(0, n, l, h * d + j) * proj(1, n, m, h * d + j))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for j in 0..d {
                    merged[h * d + j] = (0..len)
                        .map(|m| exps[m] / total * proj(2, n, m, h * d + j))
                        .sum();
                }
            }
            for o in 0..e {
                let want = bo[o] as f64
                    + (0..e)
                        .map(|k| merged[k] * wo[o * e + k] as f64)
                        .sum::<f64>();
                let g = got[(n * len + l) * e + o] as f64;
                assert!(
                    (g - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "({n}, {l}, {o}): {g} vs {want}"
                );
            }
        }
    }
    // Sequence-first layout gives the same numbers, transposed.
    let seq_first = nn::MultiheadAttention {
        batch_first: false,
        in_proj_weight: mha.in_proj_weight.clone(),
        in_proj_bias: mha.in_proj_bias.clone(),
        out_proj: nn::Linear::from_weights(mha.out_proj.weight.clone(), mha.out_proj.bias.clone()),
        embed_dim: e,
        num_heads: heads,
    };
    let xt = x.transpose(0, 1);
    let other = seq_first
        .forward(&xt, &xt, &xt)
        .transpose(0, 1)
        .reshape([-1])
        .to_vec::<f32>()
        .unwrap();
    for (a, b) in other.iter().zip(&got) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn layers_have_pytorch_names_and_defaults() {
    let bn = nn::BatchNorm2d::new(4);
    let names: Vec<String> = bn.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked"
        ]
    );
    assert_eq!(bn.running_var.to_vec::<f32>().unwrap(), [1.0; 4]);
    let conv = nn::Conv2d::with_options(4, 8, [3, 3], [1, 1], [1, 1], [1, 1], 2, true);
    assert_eq!(conv.weight.shape(), [8, 2, 3, 3]);
    let bound = 1.0 / (2.0f32 * 9.0).sqrt();
    assert!(conv
        .weight
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|v| v.abs() <= bound));
    let ln = nn::LayerNorm::new(&[5]);
    assert_eq!(ln.named_parameters().len(), 2);
    let emb = nn::Embedding::new(10, 3);
    let out = emb.forward(&Tensor::from_vec(vec![1i64, 9, 1], [3]));
    let rows = emb.weight.to_vec::<f32>().unwrap();
    assert_eq!(out.to_vec::<f32>().unwrap()[..3], rows[3..6]);
    let pooled = nn::AdaptiveAvgPool2d::new([1, 1]).forward(&Tensor::ones([1, 2, 4, 4]));
    assert_eq!(pooled.shape(), [1, 2, 1, 1]);
    let flat = nn::Flatten::default().forward(&Tensor::ones([2, 3, 4]));
    assert_eq!(flat.shape(), [2, 12]);
}

/// `linear` of strided inputs (a transposed 3-D view, a permuted 4-D one, a broadcast
/// one) with and without a bias, against the sums computed in f64 from the elements the
/// view reads: the strided input is read in place (one product per matrix), the bias is
/// the product's initial value.
#[test]
fn linear_of_strided_inputs_matches_the_definition() {
    let (k, n) = (24, 10);
    let w = Tensor::from_vec(
        (0..n * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.125)
            .collect::<Vec<_>>(),
        [n, k],
    );
    let b = Tensor::from_vec(
        (0..n).map(|i| i as f32 * 0.5 - 2.0).collect::<Vec<_>>(),
        [n],
    );
    let base = Tensor::from_vec(
        (0..3 * k * 5)
            .map(|i| ((i * 11 % 17) as f32 - 8.0) * 0.25)
            .collect::<Vec<_>>(),
        [3, k, 5],
    );
    let base4 = Tensor::from_vec(
        (0..2 * k * 15)
            .map(|i| ((i * 5 % 19) as f32 - 9.0) * 0.25)
            .collect::<Vec<_>>(),
        [2, k, 3, 5],
    );
    let views = [
        base.transpose(1, 2),
        base4.permute(&[2, 0, 3, 1]),
        base.select(0, 1).select(1, 2).expand([4, k]),
    ];
    let wv = w.to_vec::<f32>().unwrap();
    let bv = b.to_vec::<f32>().unwrap();
    for x in views {
        let shape = x.shape();
        let xv = x.to_vec::<f32>().unwrap();
        for bias in [None, Some(&b)] {
            let y = F::linear(&x, &w, bias);
            let mut want_shape = shape.clone();
            *want_shape.last_mut().unwrap() = n;
            assert_eq!(y.shape(), want_shape);
            let got = y.to_vec::<f32>().unwrap();
            for (r, row) in xv.chunks_exact(k).enumerate() {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|c| row[c] as f64 * wv[j * k + c] as f64).sum();
                    let want = dot + if bias.is_some() { bv[j] as f64 } else { 0.0 };
                    // Quarter and eighth steps: every product and sum is exact in f32.
                    assert_eq!(got[r * n + j] as f64, want, "{shape:?} row {r} col {j}");
                }
            }
        }
    }
}
