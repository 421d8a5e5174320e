//! A call split along its batch (two halves, one per thread) gives the bits of the
//! whole call, compiled or interpreted; programs with a step that mixes samples do not
//! split, and say which.

use ferrex::prelude::*;
use ferrex::ExportedProgram;
use ferrex::{Dim, DynamicShapes, Exporter};
use ferrex_examples::zoo::{GroupNormResidual, LeNet, Mlp, TransformerBlock};
use ferrex_runtime::{BatchSplit, CompiledProgram};

/// Every output's f32 elements as bits, in order.
fn to_bits(out: &[Tensor]) -> Vec<u32> {
    (out.iter())
        .flat_map(|t| t.to_vec::<f32>().unwrap())
        .map(f32::to_bits)
        .collect()
}

fn bits(c: &CompiledProgram, x: &Tensor, mode: BatchSplit) -> Vec<u32> {
    c.set_batch_split(mode);
    to_bits(&c.call((x.clone(),)).unwrap())
}

/// The interpreter's outputs on `x` as bits, its calls split as `mode` says.
fn interpreter_bits(ep: &ExportedProgram, x: &Tensor, mode: BatchSplit) -> Vec<u32> {
    let module = ep.module();
    module.set_batch_split(mode);
    to_bits(&module.call((x.clone(),)).unwrap())
}

/// Splits, compiled and interpreted, and gives the whole call's bits on `x`.
fn splits_alike<M: ferrex::Forward<Args = (Tensor,)>>(m: &M, x: &Tensor) {
    let ep = ferrex::export(m, (x.copy(),)).unwrap();
    assert_eq!(ep.module().batch_split(), Ok(()));
    let whole = interpreter_bits(&ep, x, BatchSplit::Never);
    // The first split call records its halves' metas, the next runs on them.
    for _ in 0..2 {
        assert_eq!(interpreter_bits(&ep, x, BatchSplit::Always), whole);
    }
    for _ in 0..40 {
        assert_eq!(interpreter_bits(&ep, x, BatchSplit::Auto), whole);
    }
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(c.batch_split(), Ok(()));
    let line = "\nbatch split: two halves, one per thread\n";
    assert!(c.describe().contains(line));
    let whole = bits(&c, x, BatchSplit::Never);
    assert_eq!(bits(&c, x, BatchSplit::Always), whole);
    // `Auto` times both ways on its first calls and keeps one: the same bits.
    for _ in 0..32 {
        assert_eq!(bits(&c, x, BatchSplit::Auto), whole);
    }
}

fn ids(batch: usize) -> Tensor {
    let v: Vec<i64> = (0..batch * 32).map(|i| (i * 37 % 1000) as i64).collect();
    Tensor::from_vec(v, [batch, 32])
}

#[test]
fn zoo_models_split_their_batch_with_the_same_bits() {
    ferrex::manual_seed(7);
    splits_alike(&GroupNormResidual::new(1000, 64, 8), &ids(8));
    splits_alike(
        &TransformerBlock::new(64, 4, 128),
        &Tensor::randn([4, 32, 64]),
    );
    splits_alike(&LeNet::new(), &Tensor::randn([8, 1, 28, 28]));
    // 32 rows a half: the products sum over k in the same blocks as at 64.
    splits_alike(&Mlp::new(784, [512, 512], 10), &Tensor::randn([64, 784]));
}

/// A spatial transformer's sampling, bucketized features and a reversed sequence: ops
/// run by their own kernels as planned steps, each sample's results from that sample
/// alone.
#[export_module]
struct PerSample {
    loc: nn::Linear,
    edges: Tensor,
    table: nn::Embedding,
}

#[export_module]
impl PerSample {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        // (An affine grid's size names the batch: it cannot split.)
        let grid = self
            .loc
            .forward(&x.flatten(1, -1))
            .tanh()
            .view([-1, 5, 6, 2]);
        let sampled = F::grid_sample(x, &grid, "bilinear", "zeros", false);
        let buckets = x.mean_dim(&[1], false).bucketize(&self.edges, false);
        let rows = self.table.forward(&buckets).flip(&[1]);
        (sampled, rows)
    }
}

#[test]
fn per_sample_kernels_split_with_the_same_bits() {
    ferrex::manual_seed(9);
    let m = PerSample {
        loc: nn::Linear::new(2 * 5 * 6, 5 * 6 * 2),
        edges: Tensor::from_slice(&[-0.5f32, 0.0, 0.5]),
        table: nn::Embedding::new(4, 3),
    };
    splits_alike(&m, &Tensor::randn([4, 2, 5, 6]));
}

/// A region of each sample written in place through a view (`slice_scatter` once
/// functionalized, and `copy` in PyTorch's core IR of such writes): planned steps, split
/// along the batch with the same bits.
#[export_module]
struct Regions {}

#[export_module]
impl Regions {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.relu();
        y.slice(2, Some(1), Some(4), 1)
            .copy_(&x.slice(2, Some(0), Some(3), 1).tanh());
        y.slice(3, Some(0), Some(6), 2)
            .copy_(&x.slice(3, Some(1), Some(4), 1));
        y * 2.0
    }
}

#[test]
fn regions_written_through_views_split_with_the_same_bits() {
    ferrex::manual_seed(11);
    let x = Tensor::randn([4, 2, 5, 6]);
    splits_alike(&Regions {}, &x);
    let ep = ferrex::export(&Regions {}, (x.copy(),)).unwrap();
    let targets = ep.op_targets();
    assert!(
        targets.contains(&"aten::slice_scatter.default".to_string()),
        "{targets:?}"
    );
    // The writes, by hand: rows 1..4 from tanh of rows 0..3, then columns 0, 2, 4 from
    // columns 1..4 (after the first write), all doubled.
    let xs = x.to_vec::<f32>().unwrap();
    let mut want: Vec<f32> = xs.iter().map(|v| v.max(0.0)).collect();
    for plane in 0..8 {
        let at = |r: usize, c: usize| plane * 30 + r * 6 + c;
        for r in 1..4 {
            for c in 0..6 {
                want[at(r, c)] = xs[at(r - 1, c)].tanh();
            }
        }
        for r in 0..5 {
            for (k, c) in [0, 2, 4].into_iter().enumerate() {
                want[at(r, c)] = xs[at(r, k + 1)];
            }
        }
    }
    let want: Vec<f32> = want.iter().map(|v| v * 2.0).collect();
    let eager = Regions {}.forward(&x).to_vec::<f32>().unwrap();
    let exported = ep.module().call((x.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    // (ferrex's `tanh` is within an ulp or two of the standard library's.)
    for got in [eager, exported] {
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
    for p in [ep.clone(), ep.run_decompositions().unwrap()] {
        let c = ferrex_runtime::compile(&p).unwrap();
        assert!(c.stats().fallback_ops.is_empty(), "{}", c.describe());
        assert!(
            c.describe()
                .contains("slice_scatter: aten::slice_scatter.default along dim 2 (its kernel)"),
            "{}",
            c.describe()
        );
    }
}

/// A 3-D convolution and poolings, adaptive poolings to sizes other than 1, `tril` of
/// each sample's matrix and a variance over a dim: planned steps of the ops' kernels.
#[export_module]
struct Volumes {
    conv: nn::Conv3d,
}

#[export_module]
impl Volumes {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        let v = self.conv.forward(x).relu();
        let pooled = v.max_pool3d(&[2], &[2], &[0], &[1], false);
        let adaptive = v.adaptive_avg_pool3d([2, 1, 3]);
        let planes = v.flatten(1, 2).adaptive_avg_pool2d([3, 2]);
        let tri = planes.flatten(2, 3).tril(0).var_dim(&[1], 1, false);
        (pooled, adaptive, planes, tri)
    }
}

#[test]
fn volumes_and_adaptive_poolings_split_with_the_same_bits() {
    ferrex::manual_seed(10);
    let m = Volumes {
        conv: nn::Conv3d::new(2, 3, 3),
    };
    let x = Tensor::randn([4, 2, 6, 6, 6]);
    splits_alike(&m, &x);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    for p in [ep.clone(), ep.run_decompositions().unwrap()] {
        let c = ferrex_runtime::compile(&p).unwrap();
        assert!(c.stats().fallback_ops.is_empty(), "{}", c.describe());
    }
}

#[test]
fn a_dynamic_batch_splits_at_every_size() {
    ferrex::manual_seed(8);
    let m = TransformerBlock::new(64, 4, 128);
    let shapes = DynamicShapes::new().input("src", [(0, Dim::new("batch"))]);
    let ep = Exporter::new(&m, (Tensor::randn([4, 32, 64]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(c.batch_split(), Ok(()));
    assert_eq!(ep.module().batch_split(), Ok(()));
    // Odd batches split 1 + 2 and 2 + 3; a batch of 1 runs whole. The sizes seen again
    // run their halves on the metas their first halves recorded (half 2 of batch 5 is
    // not half 2 of batch 3: the whole call's symbols differ).
    for b in [1, 2, 3, 5, 8, 3, 5, 8] {
        let x = Tensor::randn([b, 32, 64]);
        assert_eq!(
            bits(&c, &x, BatchSplit::Always),
            bits(&c, &x, BatchSplit::Never),
            "batch {b}"
        );
        assert_eq!(
            interpreter_bits(&ep, &x, BatchSplit::Always),
            interpreter_bits(&ep, &x, BatchSplit::Never),
            "batch {b}"
        );
    }
}

/// A batch of 6 halves into products of 3 rows, which sum a 784-deep product in one k
/// block where 6 rows take several: the call runs whole, with the whole call's bits.
#[test]
fn halves_that_would_sum_otherwise_run_whole() {
    ferrex::manual_seed(9);
    let m = Mlp::new(784, [512, 512], 10);
    let x = Tensor::randn([6, 784]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(c.batch_split(), Ok(()));
    assert_eq!(
        bits(&c, &x, BatchSplit::Always),
        bits(&c, &x, BatchSplit::Never)
    );
    assert_eq!(ep.module().batch_split(), Ok(()));
    assert_eq!(
        interpreter_bits(&ep, &x, BatchSplit::Always),
        interpreter_bits(&ep, &x, BatchSplit::Never)
    );
    let reference = ferrex::export(&m, (x.copy(),))
        .unwrap()
        .module()
        .call((x.clone(),))
        .unwrap();
    let got = c.call((x.clone(),)).unwrap();
    assert!(got[0].allclose(&reference[0], 1e-5, 1e-5));
}

#[export_module]
struct Mixer {
    lin: nn::Linear,
    #[config]
    how: usize,
}

#[export_module]
impl Mixer {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.lin.forward(x);
        match self.how {
            0 => h.mean_dim(&[0], true) + &h,
            1 => h.softmax(0),
            2 => h.t().relu(),
            3 => Tensor::cat(&[&h, &h.relu()], 0),
            4 => Tensor::cat(&[&Tensor::stack(&[&h, &h.relu()], 1), &h.unsqueeze(1)], 1),
            6 => h.reshape([2, -1]),
            7 => h.cumsum(0),
            12 => h.flip(&[0]),
            8 => F::scaled_dot_product_attention(&h, &h, &h, None, 0.0, false, None, false),
            9 => h.t().relu().t(),
            10 => &h + &Tensor::ones([4, 8]),
            11 => &h * &Tensor::arange(32).to_dtype(DType::F32).reshape([4, 8]),
            _ => h.relu(),
        }
    }
}

/// Why the compiled runtime and the interpreter keep `Mixer`'s calls whole ("": they
/// split).
fn refusal(how: usize, batch: usize) -> (String, String) {
    let m = Mixer {
        lin: nn::Linear::new(8, 8),
        how,
    };
    let ep = ferrex::export(&m, (Tensor::randn([batch, 8]),)).unwrap();
    let interpreter = ep
        .module()
        .batch_split()
        .err()
        .unwrap_or_default()
        .to_string();
    let c = ferrex_runtime::compile(&ep).unwrap();
    let why = c.batch_split().map_err(str::to_string);
    assert!(c.describe().contains(&format!(
        "\nbatch split: {}\n",
        match &why {
            Ok(()) => "two halves, one per thread".to_string(),
            Err(e) => format!("no ({e})"),
        }
    )));
    (why.err().unwrap_or_default(), interpreter)
}

#[test]
fn steps_that_mix_samples_keep_the_call_whole() {
    let cases = [
        (0, 4),
        (1, 4),
        (2, 4),
        (3, 4),
        (5, 1),
        (6, 4),
        (7, 4),
        (8, 4),
        (4, 4),
        (5, 4),
        (9, 4),
        (10, 4),
        (11, 4),
        (12, 4),
    ];
    let (compiled, interpreter): (Vec<String>, Vec<String>) = cases
        .iter()
        .map(|&(how, batch)| refusal(how, batch))
        .unzip();
    assert_eq!(
        compiled,
        [
            "`mean` reduces over the batch",
            "`softmax` normalizes over the batch",
            "output `relu` does not lead with the batch",
            "`cat` joins its inputs along the batch",
            "the example batch is 1",
            "`reshape` splits the batch",
            "`cumsum` works along the batch",
            "`scaled_dot_product_attention` attends across the batch",
            "",
            "",
            "",
            "",
            "`linear` reads a constant of the batch's size whose samples differ",
            "`flip` works along the batch",
        ]
    );
    assert_eq!(
        interpreter,
        [
            "`mean` reduces over the batch",
            "`softmax` normalizes over the batch",
            "`t` moves the batch from the first dim",
            "`cat` joins its inputs along the batch",
            "the example batch is 1",
            "`reshape` does not lead with the batch",
            "`cumsum` works along the batch",
            "`scaled_dot_product_attention` attends across the batch",
            "",
            "",
            // The interpreter follows a batch that leads, or none (see
            // `the_batch_moved_within_the_plan_still_splits`).
            "`t` moves the batch from the first dim",
            "`add` reads `ones`, of the batch's size, across samples",
            "`mul` reads `reshape`, of the batch's size, across samples",
            "`flip` works along the batch",
        ]
    );
}

/// A `stack` and a `cat` along dim 1 keep the samples apart: split, the call gives the
/// whole call's bits (batch 6: halves of 3).
#[test]
fn concatenations_off_the_batch_split_with_the_same_bits() {
    ferrex::manual_seed(9);
    let m = Mixer {
        lin: nn::Linear::new(8, 8),
        how: 4,
    };
    splits_alike(&m, &Tensor::randn([6, 8]));
}

#[export_module]
struct Scaled {
    fc: nn::Linear,
}

#[export_module]
impl Scaled {
    fn forward(&self, scale: &Tensor, x: &Tensor, table: &Tensor) -> Tensor {
        // `scale` and `table` do not lead with the batch: each half reads all of them.
        let shift = table.sum_dim(&[0], false);
        self.fc.forward(&(x * scale + shift)).relu()
    }
}

#[test]
fn inputs_without_the_batch_are_read_whole_by_each_half() {
    ferrex::manual_seed(10);
    let m = Scaled {
        fc: nn::Linear::new(16, 8),
    };
    let args = || {
        (
            Tensor::randn([16]),
            Tensor::randn([6, 16]),
            Tensor::randn([5, 16]),
        )
    };
    let ep = ferrex::export(&m, args()).unwrap();
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(c.batch_split(), Ok(()));
    let (s, x, t) = args();
    let run = |mode| {
        c.set_batch_split(mode);
        let out = c.call((s.clone(), x.clone(), t.clone())).unwrap();
        out[0].to_vec::<f32>().unwrap()
    };
    let whole = run(BatchSplit::Never);
    assert_eq!(run(BatchSplit::Always), whole);
    let module = ep.module();
    assert_eq!(module.batch_split(), Ok(()));
    let interpret = |mode| {
        module.set_batch_split(mode);
        let out = module.call((s.clone(), x.clone(), t.clone())).unwrap();
        out[0].to_vec::<f32>().unwrap()
    };
    assert_eq!(interpret(BatchSplit::Always), interpret(BatchSplit::Never));
    module.set_batch_split(BatchSplit::Never);
    let reference = ep.module().call((s, x, t)).unwrap();
    assert!(Tensor::from_vec(whole, [6, 8]).allclose(&reference[0], 1e-5, 1e-5));
}

/// `profile` times a call as it runs: split, the whole plan's steps (each the slower
/// half's time) and the stacking of the halves; whole, the steps alone. Both give the
/// call's outputs.
#[test]
fn a_split_call_is_profiled_as_it_runs() {
    ferrex::manual_seed(8);
    let x = Tensor::randn([4, 32, 64]);
    let m = TransformerBlock::new(64, 4, 128);
    let c = ferrex_runtime::compile(&ferrex::export(&m, (x.copy(),)).unwrap()).unwrap();
    c.set_batch_split(BatchSplit::Never);
    let (whole_out, whole) = c.profile((x.clone(),)).unwrap();
    c.set_batch_split(BatchSplit::Always);
    let (split_out, split) = c.profile((x.clone(),)).unwrap();
    let names = |p: &[(String, std::time::Duration)]| -> Vec<String> {
        p.iter().map(|(n, _)| n.clone()).collect()
    };
    let mut want = names(&whole);
    want.push("stack halves".to_string());
    assert_eq!(names(&split), want);
    assert!(!names(&whole).contains(&"stack halves".to_string()));
    assert_eq!(to_bits(&split_out), to_bits(&whole_out));
}

#[export_module]
struct Unbatched {
    conv: nn::Conv2d,
}

#[export_module]
impl Unbatched {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(x)
    }
}

/// A convolution of an unbatched `[C, H, W]` input mixes its leading dim (channels):
/// neither runner splits it, though its leading size (4) could be a batch.
#[test]
fn an_unbatched_convolution_keeps_the_call_whole() {
    ferrex::manual_seed(11);
    let m = Unbatched {
        conv: nn::Conv2d::new(4, 8, 3),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 6, 6]),)).unwrap();
    assert_eq!(
        ep.module().batch_split(),
        Err("`conv2d` convolves an input without a batch dim")
    );
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert!(c.batch_split().is_err(), "{}", c.describe());
}

/// The compiled plan follows the batch wherever a step moves it (`t`, then back) and
/// reads a constant of the batch's size whose samples are equal (`ones`) as one
/// sample's slice: split, the call gives the whole call's bits (batch 4, halves of 2).
#[test]
fn the_batch_moved_within_the_plan_still_splits() {
    ferrex::manual_seed(12);
    for how in [9, 10] {
        let m = Mixer {
            lin: nn::Linear::new(8, 8),
            how,
        };
        let x = Tensor::randn([4, 8]);
        let ep = ferrex::export(&m, (x.copy(),)).unwrap();
        let c = ferrex_runtime::compile(&ep).unwrap();
        assert_eq!(c.batch_split(), Ok(()), "{how}");
        let whole = bits(&c, &x, BatchSplit::Never);
        assert_eq!(bits(&c, &x, BatchSplit::Always), whole, "{how}");
        let reference = to_bits(&ep.module().call((x.clone(),)).unwrap());
        assert_eq!(whole, reference, "{how}");
    }
}

#[export_module]
struct TimeMajor {
    lin: nn::Linear,
}

#[export_module]
impl TimeMajor {
    /// Attention's layout in `nn.MultiheadAttention`: `[B, T, E] -> [T, B, E] -> [T * B,
    /// E]` (each sample's rows `B` apart), a product, and back.
    fn forward(&self, x: &Tensor) -> Tensor {
        let rows = x.transpose(0, 1).reshape([-1, 8]);
        let y = self.lin.forward(&rows).relu();
        y.reshape([4, -1, 8]).transpose(0, 1)
    }
}

/// A batch merged into rows behind another dim (`[T * B, E]`) is followed as such: the
/// plan splits, with the whole call's bits (batch 6, halves of 3).
#[test]
fn a_batch_behind_another_dim_still_splits() {
    ferrex::manual_seed(13);
    let m = TimeMajor {
        lin: nn::Linear::new(8, 8),
    };
    let x = Tensor::randn([6, 4, 8]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let c = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(c.batch_split(), Ok(()));
    let whole = bits(&c, &x, BatchSplit::Never);
    assert_eq!(bits(&c, &x, BatchSplit::Always), whole);
    assert_eq!(whole, to_bits(&ep.module().call((x.clone(),)).unwrap()));
}
