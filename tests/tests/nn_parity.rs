//! `nn` where real models need PyTorch's behaviour: MultiheadAttention with masks and
//! attention weights, checked against a computation written out in plain Rust.

use ferrex::nn::AttentionOptions;
use ferrex::prelude::*;

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).to_vec::<f64>().expect("eager data")
}

/// `x [rows, k] · w[rows_w, k]ᵀ + b`, in plain Rust.
fn affine(x: &[f64], rows: usize, w: &[f64], b: &[f64], out: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0; rows * out];
    for r in 0..rows {
        for o in 0..out {
            y[r * out + o] = b[o] + (0..k).map(|i| x[r * k + i] * w[o * k + i]).sum::<f64>();
        }
    }
    y
}

/// Multi-head attention for one batch element, written out: returns the output
/// `[L, E]` and the head-averaged weights `[L, S]`.
fn reference(
    mha: &nn::MultiheadAttention,
    q_in: &[f64],
    kv_in: &[f64],
    (l, s): (usize, usize),
    masked: &dyn Fn(usize, usize) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    let e = mha.embed_dim;
    let heads = mha.num_heads;
    let d = e / heads;
    let w = values(&mha.in_proj_weight);
    let b = values(&mha.in_proj_bias);
    let q = affine(q_in, l, &w[..e * e], &b[..e], e, e);
    let k = affine(kv_in, s, &w[e * e..2 * e * e], &b[e..2 * e], e, e);
    let v = affine(kv_in, s, &w[2 * e * e..], &b[2 * e..], e, e);
    let mut merged = vec![0.0; l * e];
    let mut avg = vec![0.0; l * s];
    for h in 0..heads {
        for i in 0..l {
            let scores: Vec<f64> = (0..s)
                .map(|j| {
                    if masked(i, j) {
                        f64::NEG_INFINITY
                    } else {
                        (0..d)
                            .map(|c| q[i * e + h * d + c] * k[j * e + h * d + c])
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    }
                })
                .collect();
            let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let exp: Vec<f64> = scores.iter().map(|x| (x - top).exp()).collect();
            let total: f64 = exp.iter().sum();
            for j in 0..s {
                let p = exp[j] / total;
                avg[i * s + j] += p / heads as f64;
                for c in 0..d {
                    merged[i * e + h * d + c] += p * v[j * e + h * d + c];
                }
            }
        }
    }
    let wo = values(&mha.out_proj.weight);
    let bo = mha
        .out_proj
        .bias
        .as_ref()
        .map(values)
        .unwrap_or_else(|| vec![0.0; e]);
    (affine(&merged, l, &wo, &bo, e, e), avg)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn attention_with_masks_and_weights_matches_the_written_out_computation() {
    ferrex::manual_seed(7);
    let mha = nn::MultiheadAttention::new(4, 2).batch_first(true);
    // Non-zero biases, so that the projections' biases are checked too.
    let mha = nn::MultiheadAttention {
        in_proj_bias: Tensor::randn([12]),
        ..mha
    };
    let (l, s) = (2, 3);
    let q = Tensor::randn([1, l, 4]);
    let kv = Tensor::randn([1, s, 4]);
    // The last key is padding; a bool attention mask forbids query 0 → key 1.
    let padding = Tensor::from_slice(&[false, false, true]).reshape([1, 3]);
    let attn_mask = Tensor::from_slice(&[false, true, false, false, false, false]).reshape([2, 3]);
    let options = AttentionOptions::default()
        .key_padding_mask(&padding)
        .attn_mask(&attn_mask);
    let (out, weights) = mha.forward_with(&q, &kv, &kv, &options);
    let masked = |i: usize, j: usize| j == 2 || (i == 0 && j == 1);
    let (expected_out, expected_weights) =
        reference(&mha, &values(&q), &values(&kv), (l, s), &masked);
    assert_eq!(out.shape(), [1, 2, 4]);
    assert!(max_diff(&values(&out), &expected_out) < 1e-5);
    let weights = weights.expect("need_weights is PyTorch's default");
    assert_eq!(weights.shape(), [1, 2, 3]);
    assert!(max_diff(&values(&weights), &expected_weights) < 1e-6);
    assert_eq!(values(&weights)[..3], [1.0, 0.0, 0.0]);

    // Without weights (scaled_dot_product_attention), the same output.
    let (fast, none) = mha.forward_with(&q, &kv, &kv, &options.clone().need_weights(false));
    assert!(none.is_none());
    assert!(fast.allclose(&out, 1e-5, 1e-6));

    // Causal: query i sees keys 0..=i.
    let causal = AttentionOptions::default().is_causal(true);
    let (out, weights) = mha.forward_with(&q, &kv, &kv, &causal);
    let (expected_out, expected_weights) =
        reference(&mha, &values(&q), &values(&kv), (l, s), &|i, j| j > i);
    assert!(max_diff(&values(&out), &expected_out) < 1e-5);
    assert!(max_diff(&values(&weights.expect("weights")), &expected_weights) < 1e-6);
}

#[test]
fn attention_weights_export_as_explicit_ops() {
    #[export_module]
    struct SelfAttention {
        attn: nn::MultiheadAttention,
    }

    // Non-strict: strict mode on main checks method receivers by type, and
    // `AttentionOptions` is not a traced receiver there yet.
    #[export_module(strict = false)]
    impl SelfAttention {
        fn forward(&self, x: &Tensor, padding: &Tensor) -> (Tensor, Tensor) {
            let options = AttentionOptions::default().key_padding_mask(padding);
            let (out, weights) = self.attn.forward_with(x, x, x, &options);
            (out, weights.unwrap_or_else(|| x.clone()))
        }
    }

    let model = SelfAttention {
        attn: nn::MultiheadAttention::new(4, 2).batch_first(true),
    };
    let x = Tensor::randn([2, 3, 4]);
    let padding = Tensor::from_slice(&[false, false, true, false, false, false]).reshape([2, 3]);
    let ep = ferrex::export(&model, (x.copy(), padding.copy())).expect("exports");
    let ops = ep.op_targets();
    for op in ["aten::softmax.int", "aten::mean.dim", "aten::where.self"] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }
    let eager = model.forward(&x, &padding);
    let out = ep.module().call((x, padding)).expect("runs");
    assert!(out[0].allclose(&eager.0, 1e-5, 1e-6));
    assert!(out[1].allclose(&eager.1, 1e-5, 1e-6));
}

#[test]
fn transformer_encoder_layer_is_pytorchs() {
    use ferrex::nn::{Activation, TransformerEncoderLayer};
    use ferrex_examples::zoo::TransformerBlock;

    ferrex::manual_seed(11);
    let layer = TransformerEncoderLayer::new(8, 2)
        .dim_feedforward(16)
        .activation(Activation::Gelu)
        .batch_first(true);
    // PyTorch's parameter names: the zoo's hand-written block (the same architecture)
    // loads the layer's state dict strictly, and computes the same.
    let names: Vec<String> = layer.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias",
        ]
    );
    let block = TransformerBlock::new(8, 2, 16);
    block
        .load_state_dict(&layer.state_dict(), true)
        .expect("same names and shapes");
    let x = Tensor::randn([2, 5, 8]);
    let out = layer.forward(&x);
    assert!(out.allclose(&block.forward(&x), 1e-5, 1e-6));
    assert!(out.allclose(&layer.forward_with(&x, None, None, false), 1e-5, 1e-6));

    // Pre-norm, written out: x + attn(norm1(x)), then + ff(norm2(·)).
    let pre = TransformerEncoderLayer::new(8, 2)
        .dim_feedforward(16)
        .activation(Activation::Gelu)
        .batch_first(true)
        .norm_first(true);
    let normed = pre.norm1.forward(&x);
    let h = &x + &pre.self_attn.forward(&normed, &normed, &normed);
    let ff = pre.linear2.forward(&F::gelu(
        &pre.linear1.forward(&pre.norm2.forward(&h)),
        "none",
    ));
    assert!(pre.forward(&x).allclose(&(&h + &ff), 1e-5, 1e-6));

    // A padded key changes nothing for the other positions' keys it is masked from.
    let padding = Tensor::from_slice(&[
        false, false, false, false, true, false, false, false, false, false,
    ])
    .reshape([2, 5]);
    let masked = layer.forward_with(&x, None, Some(&padding), false);
    assert_eq!(masked.shape(), [2, 5, 8]);
    assert!(masked
        .narrow(0, 1, 1)
        .allclose(&out.narrow(0, 1, 1), 1e-5, 1e-6));
    assert!(!masked
        .narrow(0, 0, 1)
        .allclose(&out.narrow(0, 0, 1), 1e-5, 1e-6));

    let ep = ferrex::export(&layer, (x.copy(),)).expect("exports");
    let program_out = ep.module().call((x,)).expect("runs");
    assert!(program_out[0].allclose(&out, 1e-5, 1e-6));
    assert!(ep.op_targets().iter().any(|o| o == "aten::gelu.default"));
}

/// Transposed, permuted and broadcast operands are read in place through their
/// strides (heads viewed out of `[b, t, h, d]`, keys shared across the batch): the
/// bits of the same operands made contiguous first.
#[test]
fn attention_reads_strided_operands_like_contiguous_copies() {
    ferrex::manual_seed(11);
    let q = Tensor::randn([2, 70, 3, 8]).transpose(1, 2);
    let k = Tensor::randn([1, 3, 90, 8]);
    let v = Tensor::randn([90, 2, 3, 8]).permute(&[1, 2, 0, 3]);
    // Contiguous copies of the same values.
    let copy = |t: &Tensor, shape: [usize; 4]| {
        let data = t.expand(shape).to_vec::<f32>().expect("eager data");
        Tensor::from_slice(&data).reshape(shape)
    };
    for causal in [false, true] {
        let sdpa = |q: &Tensor, k: &Tensor, v: &Tensor| {
            F::scaled_dot_product_attention(q, k, v, None, 0.0, causal, None, false)
        };
        let strided = sdpa(&q, &k, &v);
        let copied = sdpa(
            &copy(&q, [2, 3, 70, 8]),
            &copy(&k, [2, 3, 90, 8]),
            &copy(&v, [2, 3, 90, 8]),
        );
        assert_eq!(strided.shape(), [2, 3, 70, 8]);
        assert_eq!(values(&strided), values(&copied));
    }
}
