//! Issue 12: the compiled runtime runs every op of the zoo (MLP, LeNet, the transformer
//! block, a GroupNorm/Embedding residual block), the reference models and PyTorch's
//! `.pt2` corpus (both IRs) on its own planned kernels — no eager fallback — and each
//! planned step gives the interpreter's numbers (within 1e-6; attention, reductions and
//! views, which run the eager op's own kernel or copy, bit for bit). Where a plan's calls
//! can split along the batch (30 of the programs here), split and whole calls give the
//! same bits; so do the interpreter's where its calls split.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::prelude::*;
use ferrex::{ExportedProgram, Tensor};
use ferrex_examples::zoo::{GroupNormResidual, LeNet, Mlp, TransformerBlock};
use ferrex_runtime::{BatchSplit, CompiledProgram};

/// The largest difference relative to `1 + |want|`, after checking shapes and dtypes.
fn rel_diff(got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    assert_eq!(got.dtype(), want.dtype(), "dtypes differ");
    let g = got.to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let w = want.to_dtype(DType::F64).to_vec::<f64>().unwrap();
    g.iter()
        .zip(&w)
        .map(|(a, b)| match a.is_nan() && b.is_nan() {
            true => 0.0,
            false => (a - b).abs() / (1.0 + b.abs()),
        })
        .fold(0.0, f64::max)
}

/// Compiles `ep`, asserts no eager fallback, and runs both runners on `leaves`: the
/// largest relative difference of their outputs.
fn compiled_vs_interpreter(ep: &ExportedProgram, leaves: &[InputLeaf]) -> (CompiledProgram, f64) {
    let compiled = ferrex_runtime::compile(ep).unwrap();
    assert!(
        compiled.stats().fallback_ops.is_empty(),
        "{}",
        compiled.describe()
    );
    assert!(compiled.describe().ends_with("eager fallbacks: none\n"));
    let copy = |l: &[InputLeaf]| -> Vec<InputLeaf> {
        l.iter()
            .map(|x| InputLeaf {
                path: x.path.clone(),
                value: match &x.value {
                    LeafValue::Tensor(t) => LeafValue::Tensor(t.copy()),
                    other => other.clone(),
                },
            })
            .collect()
    };
    let module = ep.module();
    module.set_batch_split(BatchSplit::Never);
    let want = module.call_flat(&copy(leaves)).unwrap();
    if module.batch_split().is_ok() {
        // The interpreter's calls split as the plan's do: the same bits as whole ones.
        module.set_batch_split(BatchSplit::Always);
        let split = module.call_flat(&copy(leaves)).unwrap();
        module.set_batch_split(BatchSplit::Auto);
        assert_eq!(split.len(), want.len());
        for (s, w) in split.iter().zip(&want) {
            let bits = |t: &Tensor| -> Vec<u64> {
                let v = t.to_dtype(DType::F64).to_vec::<f64>().unwrap();
                v.into_iter().map(f64::to_bits).collect()
            };
            assert_eq!(bits(s), bits(w), "{}", ep.model_name());
        }
    }
    let got = compiled.call_flat(&copy(leaves)).unwrap();
    assert_eq!(got.len(), want.len());
    if compiled.batch_split().is_ok() {
        // Split along the batch (two halves, one per thread) or whole: the same bits.
        let bits = |mode| {
            compiled.set_batch_split(mode);
            let out = compiled.call_flat(&copy(leaves)).unwrap();
            (out.iter())
                .map(|t| t.to_dtype(DType::F64).to_vec::<f64>().unwrap())
                .map(|v| v.into_iter().map(f64::to_bits).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let whole = bits(BatchSplit::Never);
        assert_eq!(bits(BatchSplit::Always), whole, "{}", compiled.describe());
        compiled.set_batch_split(BatchSplit::Auto);
    }
    let diff = got
        .iter()
        .zip(&want)
        .map(|(g, w)| rel_diff(g, w))
        .fold(0.0, f64::max);
    (compiled, diff)
}

/// Both IRs of `model` on `args`: no fallback, compiled within `tol` of the interpreter.
fn check_both_irs<M: Forward>(model: &M, args: M::Args, tol: f64) -> Vec<CompiledProgram>
where
    M::Args: Clone,
{
    let ep = ferrex::export(model, args.clone()).unwrap();
    let core = ep.run_decompositions().unwrap();
    [ep, core]
        .iter()
        .map(|p| {
            let leaves = p.flatten_inputs(args.clone());
            let (c, diff) = compiled_vs_interpreter(p, &leaves);
            assert!(diff <= tol, "{diff} > {tol}\n{}", c.describe());
            c
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The corpus

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pt2")
}

/// PyTorch's inputs of input set `prefix` for program `name`.
fn corpus_inputs(name: &str, prefix: &str, n: usize) -> Vec<Tensor> {
    let bytes = std::fs::read(corpus_dir().join(format!("{name}.io.safetensors"))).unwrap();
    let io: HashMap<String, Tensor> = ferrex::serialize::safetensors::from_bytes(&bytes)
        .unwrap()
        .into_iter()
        .collect();
    (0..n)
        .map(|i| io[&format!("{prefix}in{i}")].clone())
        .collect()
}

#[test]
fn every_corpus_archive_runs_compiled_without_fallbacks_and_as_the_interpreter() {
    let text = std::fs::read_to_string(corpus_dir().join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let programs = manifest["programs"].as_object().unwrap();
    let mut archives = 0;
    for (name, p) in programs {
        let n = usize::try_from(p["n_inputs"].as_u64().unwrap()).unwrap();
        for file in [format!("{name}.pt2"), format!("{name}.core.pt2")] {
            // Loaded afresh per input set: a program may mutate its buffers.
            for set in p["input_sets"].as_array().unwrap() {
                let ep = ferrex::load(corpus_dir().join(&file)).unwrap();
                let inputs = corpus_inputs(name, set.as_str().unwrap(), n);
                let leaves: Vec<InputLeaf> = ep
                    .arg_names()
                    .iter()
                    .zip(inputs)
                    .map(|(path, t)| InputLeaf {
                        path: path.clone(),
                        value: LeafValue::Tensor(t),
                    })
                    .collect();
                let (compiled, diff) = compiled_vs_interpreter(&ep, &leaves);
                assert!(diff <= 1e-6, "{file}: {diff}\n{}", compiled.describe());
            }
            archives += 1;
        }
    }
    assert_eq!(archives, 22);
}

// ---------------------------------------------------------------------------------------
// The zoo and the reference models

#[test]
fn zoo_models_run_without_fallbacks_in_both_irs() {
    ferrex::manual_seed(21);
    let mlp = Mlp::new(784, [512, 512], 10);
    for batch in [1, 64] {
        check_both_irs(&mlp, (Tensor::randn([batch, 784]),), 1e-6);
    }
    let mut lenet = LeNet::new();
    lenet.bn1.running_mean = Tensor::randn([6]);
    lenet.bn1.running_var = Tensor::rand([6]) + 0.5;
    let plans = check_both_irs(&lenet, (Tensor::randn([8, 1, 28, 28]),), 1e-6);
    // The core IR's convolution, batch norm and pooling are the export IR's steps.
    assert_eq!(plans[1].stats().conv, 2, "{}", plans[1].describe());
    assert_eq!(plans[1].stats().pools, 2, "{}", plans[1].describe());
    let block = TransformerBlock::new(32, 4, 64);
    let plans = check_both_irs(&block, (Tensor::randn([2, 10, 32]),), 1e-6);
    assert_eq!(plans[0].stats().attentions, 1, "{}", plans[0].describe());
    // The core IR spells attention as bmm + safe softmax: the softmax runs safe.
    assert!(
        plans[1].describe().contains("safe softmax dim 3"),
        "{}",
        plans[1].describe()
    );
}

#[test]
fn reference_models_with_pytorch_weights_run_without_fallbacks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models");
    let io = |name: &str| -> HashMap<String, Tensor> {
        ferrex::serialize::safetensors::load_file(dir.join(format!("{name}.io.safetensors")))
            .unwrap()
            .into_iter()
            .collect()
    };
    let mlp = Mlp::new(20, [64, 32], 5);
    mlp.load_safetensors(dir.join("mlp.weights.safetensors"), true)
        .unwrap();
    let plans = check_both_irs(&mlp, (io("mlp")["x"].copy(),), 1e-6);
    let out = plans[0].call((io("mlp")["x"].copy(),)).unwrap();
    assert!(rel_diff(&out[0], &io("mlp")["output"]) <= 1e-5);
    if dir.join("lenet.weights.safetensors").exists() {
        let lenet = LeNet::new();
        lenet
            .load_safetensors(dir.join("lenet.weights.safetensors"), true)
            .unwrap();
        let x = io("lenet")["x"].copy();
        let plans = check_both_irs(&lenet, (x.copy(),), 1e-6);
        let out = plans[1].call((x,)).unwrap();
        assert!(rel_diff(&out[0], &io("lenet")["output"]) <= 1e-5);
    }
}

#[test]
fn group_norm_embedding_residual_block_runs_without_fallbacks() {
    ferrex::manual_seed(22);
    let mut m = GroupNormResidual::new(50, 16, 4);
    m.norm.weight = Tensor::randn([16]);
    m.norm.bias = Tensor::randn([16]);
    let ids: Vec<i64> = (0..24).map(|i| (i * 7) % 50).collect();
    let ids = Tensor::from_slice(&ids).reshape([3, 8]).copy();
    let plans = check_both_irs(&m, (ids,), 1e-6);
    let stats = plans[0].stats();
    assert_eq!(
        (stats.gathers, stats.layer_norms, stats.reductions),
        (2, 1, 1),
        "{}",
        plans[0].describe()
    );
}

// ---------------------------------------------------------------------------------------
// Single steps, bit for bit where the eager op runs the same kernel

#[export_module]
struct Steps {}

#[export_module]
impl Steps {
    fn forward(&self, x: &Tensor, q: &Tensor, mask: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        // Views of an input (not a planned buffer): select, slice, unsqueeze, expand.
        let v = x
            .select(0, 1)
            .slice(1, Some(1), None::<i64>, 2)
            .unsqueeze(0);
        let e = v.expand([3, 4, 3]) * 2.0;
        // Reductions over several dims, kept and dropped.
        let s = x.sum_dim(&[0, 2], true) + x.mean_dim(&[-1], true).sum_dim(&[0], true);
        // Attention with an additive [L, S] mask over batch dims [2, 3], and causal.
        let a = F::scaled_dot_product_attention(q, q, q, Some(mask), 0.0, false, None, false);
        let c = F::scaled_dot_product_attention(q, q, q, None, 0.0, true, Some(0.5), false);
        (e, s, a, c)
    }
}

#[test]
fn views_reductions_and_attention_give_the_interpreters_bits() {
    ferrex::manual_seed(23);
    let mut mask = Tensor::randn([4, 4]).to_vec::<f32>().unwrap();
    mask[5] = f32::NEG_INFINITY;
    let args = (
        Tensor::randn([2, 4, 6]),
        Tensor::randn([2, 3, 4, 8]),
        Tensor::from_slice(&mask).reshape([4, 4]).copy(),
    );
    let plans = check_both_irs(&Steps {}, args.clone(), 0.0);
    let stats = plans[0].stats();
    // The unsqueeze of the slice's buffer is an alias, the expand is read in place by
    // the `mul` after it; the others are strided copies.
    assert_eq!(
        (stats.views, stats.reshapes),
        (2, 1),
        "{}",
        plans[0].describe()
    );
    assert!(
        plans[0]
            .describe()
            .contains("mul: fused mul (1 read through views)"),
        "{}",
        plans[0].describe()
    );
    assert_eq!(stats.reductions, 3, "{}", plans[0].describe());
    assert_eq!(stats.attentions, 2, "{}", plans[0].describe());
    // The fused kernel against the textbook formula, computed here in f64.
    let out = plans[0].call(args.clone()).unwrap();
    let q = args.1.to_vec::<f32>().unwrap();
    let m = args.2.to_vec::<f32>().unwrap();
    let got = out[2].to_vec::<f32>().unwrap();
    for b in 0..6 {
        for i in 0..4 {
            let row = |j: usize| -> f64 {
                let dot: f64 = (0..8)
                    .map(|d| f64::from(q[(b * 4 + i) * 8 + d]) * f64::from(q[(b * 4 + j) * 8 + d]))
                    .sum();
                dot / 8f64.sqrt() + f64::from(m[i * 4 + j])
            };
            let mx = (0..4).map(row).fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = (0..4).map(|j| (row(j) - mx).exp()).sum();
            for d in 0..8 {
                let want: f64 = (0..4)
                    .map(|j| (row(j) - mx).exp() / z * f64::from(q[(b * 4 + j) * 8 + d]))
                    .sum();
                let g = f64::from(got[(b * 4 + i) * 8 + d]);
                assert!(
                    (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{g} vs {want}"
                );
            }
        }
    }
}

#[export_module]
struct Predicate {
    lin: nn::Linear,
}

#[export_module]
impl Predicate {
    fn forward(&self, x: &Tensor) -> Tensor {
        ferrex::cond!(
            x.sum().gt(0.0),
            |x| self.lin.forward(&x).sin(),
            |x| self.lin.forward(&x).cos(),
            [x]
        )
    }
}

#[test]
fn a_cond_predicate_is_a_planned_step() {
    ferrex::manual_seed(24);
    let m = Predicate {
        lin: nn::Linear::new(4, 4),
    };
    for sign in [1.0, -1.0] {
        let x = Tensor::randn([3, 4]).abs() * sign;
        let plans = check_both_irs(&m, (x,), 1e-6);
        assert_eq!(plans[0].stats().compares, 1, "{}", plans[0].describe());
    }
}

/// Average poolings (padding counted or not, a divisor override) beside max poolings,
/// and both with `ceil_mode` (a partial window at the end of the width of 8).
#[export_module]
struct Pools {}

#[export_module]
impl Pools {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        let a = F::avg_pool2d(x, &[3], Some(&[2]), &[1], false, false, None);
        let b = F::avg_pool2d(x, &[2], None, &[0], false, true, Some(3));
        let m = F::max_pool2d(x, &[3], Some(&[2]), &[1], &[1], false);
        let ceil_max = F::max_pool2d(x, &[3], Some(&[2]), &[1], &[1], true);
        let ceil_avg = F::avg_pool2d(x, &[3], Some(&[2]), &[1], true, true, None);
        (a, b, m, ceil_max, ceil_avg)
    }
}

#[test]
fn poolings_are_planned_steps_with_the_interpreters_bits() {
    ferrex::manual_seed(25);
    let x = Tensor::randn([2, 3, 9, 8]);
    let plans = check_both_irs(&Pools {}, (x.clone(),), 0.0);
    for plan in &plans {
        let describe = plan.describe();
        assert_eq!(plan.stats().pools, 5, "{describe}");
        assert!(plan.stats().fallback_ops.is_empty(), "{describe}");
        assert!(describe.contains("avg_pool2d 3x3"), "{describe}");
        assert!(describe.contains("avg_pool2d 2x2"), "{describe}");
        assert!(
            describe.contains("max_pool2d 3x3 (ceil_mode)"),
            "{describe}"
        );
        assert!(
            describe.contains("avg_pool2d 3x3 (ceil_mode)"),
            "{describe}"
        );
    }
    let out = plans[0].call((x.clone(),)).unwrap();
    assert_eq!(out[3].shape(), [2, 3, 5, 5]);
    // The last column's windows are the input's columns 7 and its padding.
    let (xs, got) = (x.to_vec::<f32>().unwrap(), out[3].to_vec::<f32>().unwrap());
    for plane in 0..6 {
        for oy in 0..5usize {
            let rows = (2 * oy).saturating_sub(1)..(2 * oy + 2).min(9);
            let want = rows
                .map(|y| xs[(plane * 9 + y) * 8 + 7])
                .fold(f32::MIN, f32::max);
            assert_eq!(got[(plane * 5 + oy) * 5 + 4], want);
        }
    }
}

#[export_module]
struct Scores {}

#[export_module]
impl Scores {
    fn forward(&self, q: &Tensor, k: &Tensor) -> Tensor {
        // Hand-written attention scores: a product of two batched operands.
        q.matmul(&k.transpose(-2, -1)) * 0.5
    }
}

/// `matmul` of two 4-D operands with the same batch dims is the planned `bmm` step (no
/// fallback, in both IRs), each product the one an independent f64 loop gives; its
/// calls split along the batch.
#[test]
fn a_batched_matmul_is_a_planned_bmm() {
    ferrex::manual_seed(31);
    let (b, h, t, d) = (2usize, 3usize, 5usize, 4usize);
    let args = (Tensor::randn([b, h, t, d]), Tensor::randn([b, h, t, d]));
    let plans = check_both_irs(&Scores {}, args.clone(), 1e-6);
    let describe = plans[0].describe();
    assert!(describe.contains("matmul: bmm"), "{describe}");
    assert!(describe.contains("batch split: two halves"), "{describe}");
    let out = plans[0].call(args.clone()).unwrap();
    assert_eq!(out[0].shape(), [b, h, t, t]);
    let (q, k) = (
        args.0.to_vec::<f32>().unwrap(),
        args.1.to_vec::<f32>().unwrap(),
    );
    let got = out[0].to_vec::<f32>().unwrap();
    for g in 0..b * h {
        for i in 0..t {
            for j in 0..t {
                let dot: f64 = (0..d)
                    .map(|x| f64::from(q[(g * t + i) * d + x]) * f64::from(k[(g * t + j) * d + x]))
                    .sum();
                let want = dot * 0.5;
                let have = f64::from(got[(g * t + i) * t + j]);
                assert!(
                    (have - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{have} vs {want}"
                );
            }
        }
    }
}

#[export_module]
struct MixedRanks {}

#[export_module]
impl MixedRanks {
    fn forward(
        &self,
        v: &Tensor,
        m: &Tensor,
        b3: &Tensor,
        b4: &Tensor,
    ) -> (Tensor, Tensor, Tensor) {
        // A vector, a matrix and a 3-D batch against 3-D and 4-D operands: broadcast
        // batches, which the `bmm` step does not take.
        (v.matmul(b3), m.matmul(b3), b4.matmul(b3))
    }
}

/// `matmul`s whose operands differ in rank or batch compile (as eager calls) and give
/// the interpreter's values.
#[test]
fn matmuls_of_other_ranks_compile_and_agree() {
    ferrex::manual_seed(37);
    let args = (
        Tensor::randn([4]),
        Tensor::randn([3, 4]),
        Tensor::randn([2, 4, 5]),
        Tensor::randn([3, 2, 5, 4]),
    );
    let ep = ferrex::export(&MixedRanks {}, args.clone()).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let got = compiled.call(args.clone()).unwrap();
    let want = ep.module().call(args).unwrap();
    assert_eq!(got.len(), 3);
    for (g, w) in got.iter().zip(&want) {
        assert!(rel_diff(g, w) <= 1e-6, "{}", compiled.describe());
    }
    assert_eq!(got[2].shape(), [3, 2, 5, 5]);
}

/// Attention-style masks: a padding mask given as an input (bool, and as integers), a
/// causal bool constant, a mask computed from the data, fills and casts.
#[export_module]
struct Masks {
    causal: Tensor,
}

#[export_module]
impl Masks {
    fn forward(
        &self,
        x: &Tensor,
        pad: &Tensor,
        keep: &Tensor,
    ) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) {
        // `x`: `[B, T, T]` scores; `pad`: `[B, T]`, true at padded keys; `keep`: its
        // complement as integers (a tokenizer's attention mask).
        let keys = pad.unsqueeze(1);
        let padded = x.masked_fill(&keys, f32::NEG_INFINITY);
        let future = x.masked_fill(&self.causal.logical_not(), -1e9).softmax(-1);
        let kept = Tensor::where_(&x.gt(0.0), x, &x.full_like(0.5));
        let bias = x.zeros_like().masked_fill(&keys, -1e9) + x;
        let additive = (keep.unsqueeze(1).to_dtype(DType::F32) - 1.0) * 1e4 + x;
        let zeroed = x.masked_fill(&pad.logical_not().unsqueeze(1), 0.0);
        (padded, future, kept, bias, additive, zeroed)
    }
}

/// `where` (and `masked_fill`, which decomposes to it) is a fused select, its bool
/// condition an input, a constant or a comparison's result; `zeros_like`/`full_like`
/// fill and a cast of an integer mask converts in the same program; the mask's views
/// and logical ops are steps on bool/integer data: no fallback, the calls split along
/// the batch, and each value is the one computed here element by element.
#[test]
fn masks_are_planned_and_where_is_fused() {
    ferrex::manual_seed(41);
    let (b, t) = (4usize, 6usize);
    let causal: Vec<bool> = (0..t * t).map(|k| k % t <= k / t).collect();
    let m = Masks {
        causal: Tensor::from_slice(&causal).reshape([t, t]).copy(),
    };
    // Sample `s` pads its last `s` keys.
    let pad: Vec<bool> = (0..b * t).map(|k| k % t >= t - k / t).collect();
    let keep: Vec<i64> = pad.iter().map(|&p| i64::from(!p)).collect();
    let args = (
        Tensor::randn([b, t, t]),
        Tensor::from_slice(&pad).reshape([b, t]).copy(),
        Tensor::from_slice(&keep).reshape([b, t]).copy(),
    );
    let plans = check_both_irs(&m, args.clone(), 1e-6);
    for plan in &plans {
        let describe = plan.describe();
        assert!(describe.contains("fused where"), "{describe}");
        assert!(
            describe.contains("unsqueeze: reshape of bool/integer data"),
            "{describe}"
        );
        assert!(
            describe.contains("logical_not.default on bool/integer data (its kernel)"),
            "{describe}"
        );
        assert!(describe.contains("batch split: two halves"), "{describe}");
        assert!(plan.stats().typed >= 4, "{describe}");
    }
    let out = plans[0].call(args.clone()).unwrap();
    let x = args.0.to_vec::<f32>().unwrap();
    let vals = |i: usize| out[i].to_vec::<f32>().unwrap();
    let (padded, future, kept, bias) = (vals(0), vals(1), vals(2), vals(3));
    let (additive, zeroed) = (vals(4), vals(5));
    for s in 0..b {
        for i in 0..t {
            let row = (s * t + i) * t;
            let logits: Vec<f64> = (0..t)
                .map(|j| match causal[i * t + j] {
                    true => f64::from(x[row + j]),
                    false => -1e9,
                })
                .collect();
            let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = logits.iter().map(|l| (l - top).exp()).sum();
            for j in 0..t {
                let (k, v) = (row + j, x[row + j]);
                let masked = pad[s * t + j];
                assert_eq!(padded[k], if masked { f32::NEG_INFINITY } else { v });
                assert_eq!(kept[k], if v > 0.0 { v } else { 0.5 });
                assert_eq!(bias[k], if masked { -1e9f32 + v } else { 0.0 + v });
                let keep = if masked { 0.0f32 } else { 1.0 };
                assert_eq!(additive[k], (keep - 1.0) * 1e4 + v);
                assert_eq!(zeroed[k], if masked { v } else { 0.0 });
                let want = (logits[j] - top).exp() / total;
                assert!((f64::from(future[k]) - want).abs() <= 1e-6, "{k}");
            }
        }
    }
}

/// A ViT's class token: a parameter expanded over the batch (folded into a constant of
/// equal samples) and joined to each sample's patch tokens.
#[export_module]
struct ClassToken {
    cls: Tensor,
    proj: nn::Linear,
}

#[export_module]
impl ClassToken {
    fn forward(&self, x: &Tensor) -> Tensor {
        let tokens = self.proj.forward(x);
        let cls = self.cls.expand([x.size(0), 1.into(), 8.into()]);
        Tensor::cat(&[&cls, &tokens], 1).softmax(-1)
    }
}

/// The class token's join splits along the batch: each half joins the constant's first
/// sample to every one of its own samples, the same bits as a whole call (asserted by
/// `compiled_vs_interpreter`), and each output row is the token's or its patch's.
#[test]
fn a_class_token_joined_to_each_sample_splits() {
    ferrex::manual_seed(47);
    let m = ClassToken {
        cls: Tensor::randn([1, 1, 8]),
        proj: nn::Linear::new(6, 8),
    };
    let x = Tensor::randn([4, 5, 6]);
    let plans = check_both_irs(&m, (x.clone(),), 1e-6);
    for plan in &plans {
        let describe = plan.describe();
        assert!(describe.contains("concat of 2 along dim 1"), "{describe}");
        assert!(describe.contains("batch split: two halves"), "{describe}");
    }
    let out = plans[0].call((x.clone(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let token = m.cls.softmax(-1).to_vec::<f32>().unwrap();
    let patches = m.proj.forward(&x).softmax(-1).to_vec::<f32>().unwrap();
    for s in 0..4 {
        let row = |r: usize| &out[(s * 6 + r) * 8..(s * 6 + r + 1) * 8];
        assert_eq!(row(0), &token[..]);
        for p in 0..5 {
            let want = &patches[(s * 5 + p) * 8..(s * 5 + p + 1) * 8];
            for (a, b) in row(p + 1).iter().zip(want) {
                assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
            }
        }
    }
}

/// Attention with bool masks: a padding mask given as an input and a causal bool
/// constant (true keeps a score).
#[export_module]
struct BoolMaskAttention {
    causal: Tensor,
}

#[export_module]
impl BoolMaskAttention {
    fn forward(&self, q: &Tensor, pad: &Tensor) -> Tensor {
        let keys = pad.unsqueeze(1).unsqueeze(1);
        let a = F::scaled_dot_product_attention(q, q, q, Some(&keys), 0.0, false, None, false);
        let b =
            F::scaled_dot_product_attention(q, q, q, Some(&self.causal), 0.0, false, None, false);
        a + b
    }
}

/// A bool attention mask is the attention step's (no fallback), added as 0 and -inf
/// as the eager op adds it: the interpreter's values, split calls' bits, and each
/// masked score's weight 0 (a padded key changes nothing).
#[test]
fn a_bool_attention_mask_is_the_attention_steps() {
    ferrex::manual_seed(53);
    let (b, h, t, e) = (4usize, 2usize, 5usize, 8usize);
    let causal: Vec<bool> = (0..t * t).map(|k| k % t <= k / t).collect();
    let m = BoolMaskAttention {
        causal: Tensor::from_slice(&causal).reshape([t, t]).copy(),
    };
    // Sample `s` pads its last `s` keys.
    let pad: Vec<bool> = (0..b * t).map(|k| k % t < t - k / t).collect();
    let q = Tensor::randn([b, h, t, e]);
    let args = (q.clone(), Tensor::from_slice(&pad).reshape([b, t]).copy());
    let plans = check_both_irs(&m, args.clone(), 1e-6);
    let describe = plans[0].describe();
    assert_eq!(
        describe.matches("attention, fused + mask").count(),
        2,
        "{describe}"
    );
    assert!(describe.contains("batch split: two halves"), "{describe}");
    // Each output against attention computed here, the masked scores left out.
    let out = plans[0].call(args.clone()).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let qv = q.to_vec::<f32>().unwrap();
    for s in 0..b {
        for hh in 0..h {
            for i in 0..t {
                // softmax over kept keys of q_i · q_j / sqrt(e), for each mask, summed.
                let base = (s * h + hh) * t;
                let row = |j: usize| &qv[(base + j) * e..(base + j + 1) * e];
                let attend = |keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
                    let scores: Vec<f64> = (0..t)
                        .map(|j| match keep(j) {
                            true => {
                                row(i)
                                    .iter()
                                    .zip(row(j))
                                    .map(|(a, c)| f64::from(*a) * f64::from(*c))
                                    .sum::<f64>()
                                    / (e as f64).sqrt()
                            }
                            false => f64::NEG_INFINITY,
                        })
                        .collect();
                    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let w: Vec<f64> = scores.iter().map(|x| (x - top).exp()).collect();
                    let total: f64 = w.iter().sum();
                    (0..e)
                        .map(|d| (0..t).map(|j| w[j] / total * f64::from(row(j)[d])).sum())
                        .collect()
                };
                let a = attend(&|j| pad[s * t + j]);
                let c = attend(&|j| causal[i * t + j]);
                for d in 0..e {
                    let got = f64::from(out[(base + i) * e + d]);
                    assert!((got - (a[d] + c[d])).abs() <= 1e-5, "{s} {hh} {i} {d}");
                }
            }
        }
    }
}

/// Reflection padding, instance norm, a roll, a gather by a constant index and one by
/// an index with negative entries: the ops of style-transfer and shifted-window models.
#[export_module]
struct PaddedWindows {
    weight: Tensor,
    bias: Tensor,
    perm: Tensor,
    rows: Tensor,
}

#[export_module]
impl PaddedWindows {
    fn forward(&self, x: &Tensor) -> Tensor {
        let p = F::pad(x, &[1, 1, 1, 1], "reflect", None);
        let n = p.instance_norm(Some(&self.weight), Some(&self.bias), 1e-5);
        let r = n.roll(&[1, -2], &[2, 3]);
        r.index_select(1, &self.perm)
            .index(&[None, None, Some(&self.rows)])
    }
}

/// Sizes `[b, c, h, w]` of a contiguous buffer, read at `[i, j, k, l]`.
fn at4(v: &[f64], [_, c, h, w]: [usize; 4], [i, j, k, l]: [usize; 4]) -> f64 {
    v[((i * c + j) * h + k) * w + l]
}

/// Reflection padding and indexing (`index_select`, `index.Tensor`) are planned gathers
/// by indices the plan computes once per size, the roll two block copies per run, and
/// instance norm a group norm of one channel per group: no fallback in either IR, the
/// calls split along the batch with the same bits, and every output element is the one
/// a loop here computes from the input.
#[test]
fn pads_rolls_gathers_and_instance_norms_are_planned() {
    ferrex::manual_seed(59);
    let (b, c, h, w) = (4usize, 3usize, 5usize, 6usize);
    let m = PaddedWindows {
        weight: Tensor::randn([c]),
        bias: Tensor::randn([c]),
        perm: Tensor::from_slice(&[2i64, 0, 2, 1]),
        rows: Tensor::from_slice(&[0i64, -1, 3, -7]),
    };
    let x = Tensor::randn([b, c, h, w]);
    let plans = check_both_irs(&m, (x.clone(),), 1e-5);
    for plan in &plans {
        let describe = plan.describe();
        assert!(
            describe.contains("gather along dim 1 by 1 index"),
            "{describe}"
        );
        assert!(
            describe.contains("gather along dim 2 by 1 index"),
            "{describe}"
        );
        assert!(plan.stats().gathers >= 4, "{describe}");
    }
    // The core IR's instance norm is a batch norm of the `[1, b * c, …]` view: a group
    // per plane, where the calls cannot split.
    assert!(plans[1].describe().contains("group_norm, 12 groups"));
    let export_ir = plans[0].describe();
    assert!(export_ir.contains("group_norm, 3 groups"), "{export_ir}");
    assert!(
        export_ir.contains("roll by (shift, dim) [(1, 2), (-2, 3)]"),
        "{export_ir}"
    );
    assert!(export_ir.contains("batch split: two halves"), "{export_ir}");
    // The same values, computed here in f64.
    let xs = x.to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let (wt, bs) = (
        m.weight.to_vec::<f32>().unwrap(),
        m.bias.to_vec::<f32>().unwrap(),
    );
    let (hp, wp) = (h + 2, w + 2);
    let reflect = |k: usize, n: usize| match k {
        0 => 1,
        k if k > n => 2 * n - k - 1,
        k => k - 1,
    };
    let mut padded = vec![0.0; b * c * hp * wp];
    for (at, v) in padded.iter_mut().enumerate() {
        let (i, j, k, l) = (
            at / (c * hp * wp),
            at / (hp * wp) % c,
            at / wp % hp,
            at % wp,
        );
        *v = at4(&xs, [b, c, h, w], [i, j, reflect(k, h), reflect(l, w)]);
    }
    let mut normed = padded.clone();
    for plane in normed
        .chunks_mut(hp * wp)
        .enumerate()
        .map(|(p, v)| (p % c, v))
    {
        let (ch, v) = plane;
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
        for a in v.iter_mut() {
            *a = (*a - mean) / (var + 1e-5).sqrt() * f64::from(wt[ch]) + f64::from(bs[ch]);
        }
    }
    let (perm, rows) = ([2usize, 0, 2, 1], [0usize, hp - 1, 3, hp - 7]);
    let out = plans[0].call((x.clone(),)).unwrap()[0]
        .to_dtype(DType::F64)
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(out.len(), b * 4 * 4 * wp);
    for (at, got) in out.iter().enumerate() {
        let (i, j, t, l) = (at / (4 * 4 * wp), at / (4 * wp) % 4, at / wp % 4, at % wp);
        // Rolled by 1 along the rows and by -2 along the columns.
        let (k, l) = ((rows[t] + hp - 1) % hp, (l + 2) % wp);
        let want = at4(&normed, [b, c, hp, wp], [i, perm[j], k, l]);
        assert!((got - want).abs() <= 1e-4, "{at}: {got} vs {want}");
    }
}

/// A classifier's readouts along the last dim.
#[export_module]
struct Readouts;

#[export_module]
impl Readouts {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        let y = x.relu() + x;
        let (values, indices) = y.topk(2, -1, true);
        (y.argmax(Some(-1), false), values, indices, y.cumsum(1))
    }
}

/// `argmax`, `topk` (values and indices, each read by a getitem) and `cumsum` are lane
/// steps run by their op's kernel: no fallback, and the calls split along the batch
/// (their lanes are not the batch) with the same bits; each output is the one a loop
/// here computes.
#[test]
fn argmax_topk_and_cumsum_are_lane_steps_that_split() {
    ferrex::manual_seed(61);
    let (b, t, d) = (4usize, 3usize, 5usize);
    let x = Tensor::randn([b, t, d]);
    let plans = check_both_irs(&Readouts, (x.clone(),), 1e-6);
    for plan in &plans {
        let describe = plan.describe();
        assert!(
            describe.contains("aten::topk.default along dim 2 (its kernel)"),
            "{describe}"
        );
        assert!(describe.contains("batch split: two halves"), "{describe}");
        assert_eq!(plan.stats().lanes, 3, "{describe}");
    }
    let y: Vec<f32> = (x.to_vec::<f32>().unwrap().iter())
        .map(|&v| v.max(0.0) + v)
        .collect();
    let out = plans[1].call((x.clone(),)).unwrap();
    let argmax = out[0].to_vec::<i64>().unwrap();
    let (values, indices) = (
        out[1].to_vec::<f32>().unwrap(),
        out[2].to_vec::<i64>().unwrap(),
    );
    let cumsum = out[3].to_vec::<f32>().unwrap();
    for (lane, row) in y.chunks(d).enumerate() {
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        assert_eq!(argmax[lane], order[0] as i64);
        assert_eq!(
            &indices[lane * 2..lane * 2 + 2],
            &[order[0] as i64, order[1] as i64]
        );
        assert_eq!(
            &values[lane * 2..lane * 2 + 2],
            &[row[order[0]], row[order[1]]]
        );
    }
    for (i, v) in cumsum.iter().enumerate() {
        let (s, k, e) = (i / (t * d), i / d % t, i % d);
        let want: f32 = (0..=k).map(|r| y[(s * t + r) * d + e]).sum();
        assert!((v - want).abs() <= 1e-5, "{i}: {v} vs {want}");
    }
}

/// A constant pad (and crop) and a gather by per-sample indices.
#[export_module]
struct PadAndPick;

#[export_module]
impl PadAndPick {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let (_, top) = x.topk(2, -1, true);
        (x.pad([1, 2, 0, -1], 0.5), x.gather(-1, &top))
    }
}

/// `constant_pad_nd` is a planned pad (a fill and block copies) and `gather` by indices
/// of the input's rank a lane step: no fallback, the calls split with the same bits, and
/// each output is the one a loop here computes (the gather of `topk`'s indices is the
/// two largest values of each lane).
#[test]
fn constant_pads_and_gathers_are_planned_and_split() {
    ferrex::manual_seed(67);
    let (b, t, d) = (4usize, 3usize, 5usize);
    let x = Tensor::randn([b, t, d]);
    let plans = check_both_irs(&PadAndPick, (x.clone(),), 1e-6);
    for plan in &plans {
        let describe = plan.describe();
        assert!(
            describe.contains("constant pad [(0, 0), (0, -1), (1, 2)] with 0.5"),
            "{describe}"
        );
        assert!(
            describe.contains("aten::gather.default along dim 2 (its kernel)"),
            "{describe}"
        );
        assert!(describe.contains("batch split: two halves"), "{describe}");
    }
    let xs = x.to_vec::<f32>().unwrap();
    let out = plans[0].call((x.clone(),)).unwrap();
    let (padded, picked) = (
        out[0].to_vec::<f32>().unwrap(),
        out[1].to_vec::<f32>().unwrap(),
    );
    assert_eq!(out[0].shape(), [b, t - 1, d + 3]);
    for (at, v) in padded.iter().enumerate() {
        let (s, r, c) = (
            at / ((t - 1) * (d + 3)),
            at / (d + 3) % (t - 1),
            at % (d + 3),
        );
        let want = match c {
            1..=5 => xs[(s * t + r) * d + c - 1],
            _ => 0.5,
        };
        assert_eq!(*v, want, "{at}");
    }
    for (lane, row) in xs.chunks(d).enumerate() {
        let mut sorted = row.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(&picked[lane * 2..lane * 2 + 2], &sorted[..2], "{lane}");
    }
}

/// `maximum` and `minimum`: of two values, of a value and a per-channel constant after a
/// convolution (the convolution's epilogue).
#[export_module]
struct Extremes {
    conv: nn::Conv2d,
    floor: Tensor,
}

#[export_module]
impl Extremes {
    fn forward(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor, Tensor) {
        let c = self.conv.forward(x).maximum(&self.floor);
        (x.maximum(y).relu_(), x.minimum(&(y * 0.5)).neg(), c)
    }
}

/// `maximum` / `minimum` are fused binary steps (and a convolution's epilogue step):
/// no fallback, the interpreter's values, and each element's bits as the rule gives
/// them: NaN where either operand is NaN, and the second operand where they are equal
/// (so -0 and 0 give the same bits in every loop).
#[test]
fn maximum_and_minimum_are_fused_with_the_eager_bits() {
    ferrex::manual_seed(71);
    let m = Extremes {
        conv: nn::Conv2d::new(2, 3, 3),
        floor: Tensor::randn([3, 1, 1]) * 0.1,
    };
    let mut xs = Tensor::randn([2, 2, 6, 6]).to_vec::<f32>().unwrap();
    let mut ys = Tensor::randn([2, 2, 6, 6]).to_vec::<f32>().unwrap();
    (xs[0], xs[1], xs[2], ys[3]) = (f32::NAN, -0.0, 0.0, f32::NAN);
    (ys[1], ys[2], xs[4], ys[4]) = (0.0, -0.0, -0.0, -0.0);
    let (x, y) = (
        Tensor::from_vec(xs.clone(), [2, 2, 6, 6]),
        Tensor::from_vec(ys.clone(), [2, 2, 6, 6]),
    );
    // `a` where `a > b` (or `a < b`), else `b`; NaN if either is.
    let pick = |a: f32, b: f32, keep_a: bool| match (a.is_nan() || b.is_nan(), keep_a) {
        (true, _) => f32::NAN,
        (false, true) => a,
        (false, false) => b,
    };
    let bits = |v: Vec<f32>| -> Vec<u32> { v.into_iter().map(f32::to_bits).collect() };
    let max: Vec<f32> = (xs.iter().zip(&ys))
        .map(|(&a, &b)| pick(a, b, a > b))
        .collect();
    let max = max.into_iter().map(|v| if v < 0.0 { 0.0 } else { v });
    let min = (xs.iter().zip(&ys)).map(|(&a, &b)| -pick(a, b * 0.5, a < b * 0.5));
    for plan in check_both_irs(&m, (x.clone(), y.clone()), 0.0) {
        let describe = plan.describe();
        for step in ["conv2d gemm tiles + max", "fused max+relu", "min+neg"] {
            assert!(describe.contains(step), "{describe}");
        }
        let out = plan.call((x.clone(), y.clone())).unwrap();
        assert_eq!(
            bits(out[0].to_vec::<f32>().unwrap()),
            bits(max.clone().collect())
        );
        assert_eq!(
            bits(out[1].to_vec::<f32>().unwrap()),
            bits(min.clone().collect())
        );
    }
}

/// Index tensors that broadcast (an `im2col`'s rows `[2, 1]` and columns `[3]`), a flip
/// and a `logsumexp` along one dim, and a weight times batched columns (`w @ cols`, a
/// 2-D matrix by a 3-D value): the ops of unfold-based convolutions, bidirectional RNNs
/// in the core IR and contrastive heads.
#[export_module]
struct Unfolded {
    rows: Tensor,
    cols: Tensor,
    w: Tensor,
}

#[export_module]
impl Unfolded {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        let picked = x.index(&[None, None, Some(&self.rows), Some(&self.cols)]);
        let flipped = x.flip(&[2]);
        let lse = x.logsumexp(&[-1], false);
        let mixed = self.w.matmul(&x.flatten(2, 3));
        (picked, flipped, lse, mixed)
    }
}

/// Every output element against a loop here, no fallback in either IR.
#[test]
fn broadcast_indices_flips_logsumexp_and_shared_matrices_are_planned() {
    ferrex::manual_seed(61);
    let (b, c, h, w) = (4usize, 3usize, 5usize, 6usize);
    let m = Unfolded {
        rows: Tensor::from_slice(&[4i64, -5]).reshape([2, 1]),
        cols: Tensor::from_slice(&[0i64, 5, 2]),
        w: Tensor::randn([2, c]),
    };
    let x = Tensor::randn([b, c, h, w]);
    let plans = check_both_irs(&m, (x.clone(),), 1e-5);
    for plan in &plans {
        let describe = plan.describe();
        assert!(plan.stats().fallback_ops.is_empty(), "{describe}");
        assert!(
            describe.contains("gather along dim 2 by 2 index"),
            "{describe}"
        );
    }
    let export_ir = plans[0].describe();
    assert!(
        export_ir.contains("aten::flip.default along dim 2"),
        "{export_ir}"
    );
    assert!(
        export_ir.contains("aten::logsumexp.default along dim 3"),
        "{export_ir}"
    );
    assert!(export_ir.contains("matmul: bmm"), "{export_ir}");
    let xs = x.to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let ws = m.w.to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let out = plans[0].call((x.clone(),)).unwrap();
    let got = |i: usize| out[i].to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
    let (rows, cols) = ([4usize, 0], [0usize, 5, 2]);
    let (picked, flipped, lse, mixed) = (got(0), got(1), got(2), got(3));
    assert_eq!(out[0].shape(), [b, c, 2, 3]);
    for (at, &v) in picked.iter().enumerate() {
        let (i, j, r, q) = (at / (c * 6), at / 6 % c, at / 3 % 2, at % 3);
        assert_eq!(v, at4(&xs, [b, c, h, w], [i, j, rows[r], cols[q]]), "{at}");
    }
    for (at, &v) in flipped.iter().enumerate() {
        let (i, j, k, l) = (at / (c * h * w), at / (h * w) % c, at / w % h, at % w);
        assert_eq!(v, at4(&xs, [b, c, h, w], [i, j, h - 1 - k, l]), "{at}");
    }
    for (at, &v) in lse.iter().enumerate() {
        let row = &xs[at * w..(at + 1) * w];
        let want = row.iter().map(|a| a.exp()).sum::<f64>().ln();
        assert!(close(v, want), "{at}: {v} vs {want}");
    }
    assert_eq!(out[3].shape(), [b, 2, h * w]);
    for (at, &v) in mixed.iter().enumerate() {
        let (i, o, p) = (at / (2 * h * w), at / (h * w) % 2, at % (h * w));
        let want: f64 = (0..c)
            .map(|j| ws[o * c + j] * xs[(i * c + j) * h * w + p])
            .sum();
        assert!(close(v, want), "{at}: {v} vs {want}");
    }
}

#[export_module]
struct Bicubic {}

#[export_module]
impl Bicubic {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let by_factor = F::interpolate(x, None, Some(&[2.0]), "bicubic");
        let to_size = x.upsample_bicubic2d(Some(&[7, 5]), true, None);
        (by_factor, to_size)
    }
}

/// Bicubic upsampling (both corner rules) is a planned step with the interpreter's bits
/// in both IRs (PyTorch's values: `nn_volumes_bags_grids.rs`' spatial model), and its
/// calls split along the batch.
#[test]
fn bicubic_upsampling_is_a_planned_step() {
    ferrex::manual_seed(62);
    let plans = check_both_irs(&Bicubic {}, (Tensor::randn([2, 3, 4, 6]),), 0.0);
    for plan in &plans {
        let describe = plan.describe();
        assert!(plan.stats().fallback_ops.is_empty(), "{describe}");
        assert_eq!(plan.stats().upsamples, 2, "{describe}");
        assert!(
            describe.contains("upsample_bicubic2d (align_corners=false)"),
            "{describe}"
        );
        assert!(
            describe.contains("upsample_bicubic2d (align_corners=true)"),
            "{describe}"
        );
        assert!(describe.contains("batch split: two halves"), "{describe}");
    }
}
