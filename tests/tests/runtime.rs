//! `ferrex-runtime`: compiled plans give the interpreter's results (within float
//! rounding) and the interpreter's input errors, for the tutorial's model, the zoo,
//! `cond!`, dynamic shapes, buffer and input mutation; and the plan specialises what it
//! should (GEMM/GEMV, fused epilogues, convolutions) rather than falling back.

use ferrex::cond;
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, ExportedProgram, Exporter};
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};

mod common;
use common::{f32_bits, Block, Counter, MyModule};

/// Same shape and dtype, and every element within `tol` (relative above 1).
fn assert_close(got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    assert_eq!(got.dtype(), want.dtype(), "dtypes differ");
    let (a, b) = (got.to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "element {i}: runtime {x} vs interpreter {y}"
        );
    }
}

/// Runs `args` through the interpreter and the compiled plan; outputs must agree.
fn check_same<A: ferrex::module::ForwardArgs + Clone>(ep: &ExportedProgram, args: A) {
    let compiled = ferrex_runtime::compile(ep).unwrap();
    let want = ep.module().call(args.clone()).unwrap();
    let got = compiled.call(args).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_close(g, w, 1e-5);
    }
}

/// Both runners reject `args` with the same message.
fn same_error<A: ferrex::module::ForwardArgs + Clone>(
    ep: &ExportedProgram,
    compiled: &ferrex_runtime::CompiledProgram,
    args: A,
) -> String {
    let a = ep.module().call(args.clone()).unwrap_err().to_string();
    let b = compiled.call(args).unwrap_err().to_string();
    assert_eq!(a, b);
    a
}

// ---------------------------------------------------------------------------------------
// The tutorial's MyModule

#[test]
fn tutorial_module_matches_the_interpreter_and_fuses() {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100]))).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert!(stats.fallback_ops.is_empty(), "{}", compiled.describe());
    assert!(compiled.describe().ends_with("\neager fallbacks: none\n"));
    assert_eq!(stats.gemm, 1);
    // `add` is a fused step feeding the product; `relu` runs as its epilogue.
    assert_eq!(stats.fused_groups, 1);
    assert!(
        compiled.describe().contains("+ bias + relu"),
        "{}",
        compiled.describe()
    );
    for _ in 0..3 {
        check_same(&ep, (Tensor::randn([8, 100]), Tensor::randn([8, 100])));
    }
    // The eager model agrees too.
    let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    let eager = m.forward(&x, &y);
    let out = compiled.call((x, y)).unwrap();
    assert_close(&out[0], &eager, 1e-5);
}

#[test]
fn input_errors_are_the_interpreters() {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100]))).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8, 100]),)),
        "expected 2 inputs, got 1"
    );
    assert_eq!(
        same_error(
            &ep,
            &compiled,
            (Tensor::randn([8, 100]), Tensor::randn([8, 99]))
        ),
        "Guard failed: y.size()[1] == 100, but got 99"
    );
    assert_eq!(
        same_error(
            &ep,
            &compiled,
            (Tensor::randn([8, 100]), Tensor::randn([8, 100, 1]))
        ),
        "input `y`: expected 2 dimensions, got 3"
    );
    assert_eq!(
        same_error(
            &ep,
            &compiled,
            (
                Tensor::randn([8, 100]),
                Tensor::zeros([8, 100]).to_dtype(DType::F64)
            )
        ),
        "input `y`: expected dtype f32, got f64"
    );
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8, 100]), 3i64)),
        "input `y`: expected a tensor, got the int 3"
    );
}

// ---------------------------------------------------------------------------------------
// The zoo

#[test]
fn mlp_matches_at_every_batch_size_gemv_and_gemm() {
    ferrex::manual_seed(1);
    let model = Mlp::new(20, [64, 32], 5);
    for batch in [1, 3, 4, 5, 64] {
        let ep = ferrex::export(&model, (Tensor::randn([batch, 20]),)).unwrap();
        let compiled = ferrex_runtime::compile(&ep).unwrap();
        let stats = compiled.stats();
        assert!(stats.fallback_ops.is_empty(), "{}", compiled.describe());
        assert_eq!(stats.gemm, 3);
        // The two hidden layers' relus are epilogues; `linear` reads its `[n, k]` weights
        // as they are (prepacked), so there is no transpose to fold.
        assert_eq!(stats.fused_ops, 2, "{}", compiled.describe());
        assert_eq!(stats.folded_constants, 0);
        assert!(compiled
            .describe()
            .contains("linear: gemm, prepacked weight + bias + relu"));
        for _ in 0..2 {
            check_same(&ep, (Tensor::randn([batch, 20]),));
        }
    }
}

#[test]
fn one_row_linear_takes_the_gemv_path_and_matches() {
    #[export_module]
    struct Wide {
        fc: nn::Linear,
    }

    #[export_module]
    impl Wide {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.fc.forward(x)
        }
    }

    let m = Wide {
        fc: nn::Linear::new(784, 512),
    };
    let ep = ferrex::export(&m, (Tensor::randn([1, 784]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(compiled.stats().gemm, 1);
    let x = Tensor::randn([1, 784]);
    let got = compiled.call((x.copy(),)).unwrap();
    // An independent reference: the dot products in f64.
    let w = m.fc.weight.to_vec::<f32>().unwrap();
    let b = m.fc.bias.as_ref().unwrap().to_vec::<f32>().unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    let want: Vec<f64> = (0..512)
        .map(|j| {
            b[j] as f64
                + (0..784)
                    .map(|k| xs[k] as f64 * w[j * 784 + k] as f64)
                    .sum::<f64>()
        })
        .collect();
    let got = got[0].to_vec::<f64>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
    }
    check_same(&ep, (Tensor::randn([1, 784]),));
}

/// One weight read by several products (a recurrence unrolled over three steps) is
/// packed once: every step reads the same panels, which stay in cache, where each had
/// read a copy of its own. The values are the recurrence's, in f64.
#[test]
fn a_weight_read_by_several_products_is_packed_once() {
    #[export_module]
    struct Unrolled {
        cell: nn::Linear,
    }

    #[export_module]
    impl Unrolled {
        fn forward(&self, x: &Tensor) -> Tensor {
            let h1 = self.cell.forward(x).tanh();
            let h2 = (self.cell.forward(&h1) + x).tanh();
            (self.cell.forward(&h2) + x).tanh()
        }
    }

    ferrex::manual_seed(11);
    let m = Unrolled {
        cell: nn::Linear::new(24, 24),
    };
    let x = Tensor::randn([5, 24]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert_eq!(
        (stats.gemm, stats.packed_weights),
        (3, 1),
        "{}",
        compiled.describe()
    );
    let got = compiled.call((x.copy(),)).unwrap()[0]
        .to_vec::<f64>()
        .unwrap();
    let w = m.cell.weight.to_vec::<f32>().unwrap();
    let b = m.cell.bias.as_ref().unwrap().to_vec::<f32>().unwrap();
    let xs: Vec<f64> = x.to_vec::<f64>().unwrap();
    let cell = |h: &[f64], add: bool| -> Vec<f64> {
        (0..5 * 24)
            .map(|i| {
                let (r, j) = (i / 24, i % 24);
                let dot: f64 = (0..24).map(|k| h[r * 24 + k] * w[j * 24 + k] as f64).sum();
                (dot + b[j] as f64 + if add { xs[i] } else { 0.0 }).tanh()
            })
            .collect()
    };
    let want = cell(&cell(&cell(&xs, false), true), true);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5, "{g} vs {w}");
    }
    check_same(&ep, (Tensor::randn([5, 24]),));
}

#[test]
fn lenet_matches_with_convolutions_and_batch_norm_epilogues() {
    ferrex::manual_seed(2);
    let mut model = LeNet::new();
    // Non-trivial running statistics, so the folded batch norm is really tested.
    model.bn1.running_mean = Tensor::randn([6]);
    model.bn1.running_var = Tensor::rand([6]) + 0.5;
    for batch in [1, 2, 8] {
        let ep = ferrex::export(&model, (Tensor::randn([batch, 1, 28, 28]),)).unwrap();
        let compiled = ferrex_runtime::compile(&ep).unwrap();
        let stats = compiled.stats();
        assert_eq!(stats.conv, 2, "{}", compiled.describe());
        assert_eq!(stats.gemm, 2, "{}", compiled.describe());
        assert!(
            compiled
                .describe()
                .contains("conv2d gemm tiles + batch_norm+relu"),
            "{}",
            compiled.describe()
        );
        // Pooling has its own kernel, and flatten is a view of its buffer: nothing runs
        // eagerly.
        assert_eq!(stats.pools, 2);
        assert_eq!(stats.reshapes, 1);
        assert!(stats.fallback_ops.is_empty(), "{:?}", stats.fallback_ops);
        check_same(&ep, (Tensor::randn([batch, 1, 28, 28]),));
    }
}

/// A ResNet basic block (3×3 convolutions without bias, batch norms with running
/// statistics, ReLU, a residual): the compiled plan runs each batch norm (+ residual) +
/// ReLU in the convolution's tiles, and gives the interpreter's bits exactly, on both
/// the implicit tiles (16-wide rows) and the unrolling (rows of 5), at 1 and 8 samples.
#[test]
fn resnet_block_epilogues_in_the_tiles_give_the_interpreters_bits() {
    #[export_module]
    struct Basic {
        conv1: nn::Conv2d,
        bn1: nn::BatchNorm2d,
        conv2: nn::Conv2d,
        bn2: nn::BatchNorm2d,
    }

    #[export_module]
    impl Basic {
        fn forward(&self, x: &Tensor) -> Tensor {
            let h = self.bn1.forward(&self.conv1.forward(x)).relu();
            (self.bn2.forward(&self.conv2.forward(&h)) + x).relu()
        }
    }

    ferrex::manual_seed(5);
    let c = 16;
    let conv = || nn::Conv2d::with_options(c, c, [3, 3], [1, 1], [1, 1], [1, 1], 1, false);
    let mut m = Basic {
        conv1: conv(),
        bn1: nn::BatchNorm2d::new(c),
        conv2: conv(),
        bn2: nn::BatchNorm2d::new(c),
    };
    for bn in [&mut m.bn1, &mut m.bn2] {
        bn.running_mean = Tensor::randn([c]);
        bn.running_var = Tensor::rand([c]) + 0.5;
    }
    for shape in [[8, c, 16, 16], [1, c, 5, 5]] {
        let ep = ferrex::export(&m, (Tensor::randn(shape),)).unwrap();
        let compiled = ferrex_runtime::compile(&ep).unwrap();
        let d = compiled.describe();
        assert!(d.contains("+ batch_norm+relu"), "{d}");
        assert!(d.contains("+ batch_norm+add+relu"), "{d}");
        let x = Tensor::randn(shape);
        let want = ep.module().call((x.copy(),)).unwrap();
        let got = compiled.call((x.copy(),)).unwrap();
        assert_eq!(f32_bits(&got[0]), f32_bits(&want[0]), "{shape:?}");
        // The eager model too.
        assert_eq!(f32_bits(&m.forward(&x)), f32_bits(&want[0]), "{shape:?}");
    }
}

/// A compiled convolution keeps its weight prepared for the kernel from call to call,
/// and prepares it again when the input's size changes: one compiled program called at
/// alternating sizes (the implicit tiles, the unrolling of one sample and of samples
/// side by side, a depthwise layer) gives the interpreter's bits at every call.
#[test]
fn prepared_convolution_weights_follow_the_input_size() {
    #[export_module]
    struct ConvPair {
        conv: nn::Conv2d,
        depthwise: nn::Conv2d,
        down: nn::Conv2d,
    }

    #[export_module]
    impl ConvPair {
        fn forward(&self, x: &Tensor) -> Tensor {
            let h = self.conv.forward(x).relu();
            self.down.forward(&self.depthwise.forward(&h))
        }
    }

    ferrex::manual_seed(6);
    let m = ConvPair {
        conv: nn::Conv2d::with_options(3, 16, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
        depthwise: nn::Conv2d::with_options(16, 16, [3, 3], [1, 1], [1, 1], [1, 1], 16, true),
        down: nn::Conv2d::with_options(16, 24, [3, 3], [2, 2], [1, 1], [1, 1], 1, false),
    };
    let (batch, h, w) = (
        Dim::new("batch").max(16),
        Dim::new("h").min(4).max(64),
        Dim::new("w").min(4).max(64),
    );
    let ep = Exporter::new(&m, (Tensor::randn([2, 3, 32, 32]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, batch), (2, h), (3, w)]))
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(compiled.stats().conv, 3, "{}", compiled.describe());
    for shape in [
        [2, 3, 32, 32],
        [8, 3, 8, 8],
        [2, 3, 32, 32],
        [1, 3, 5, 7],
        [8, 3, 8, 8],
    ] {
        let x = Tensor::randn(shape);
        let want = ep.module().call((x.copy(),)).unwrap();
        let got = compiled.call((x.copy(),)).unwrap();
        assert_eq!(f32_bits(&got[0]), f32_bits(&want[0]), "{shape:?}");
    }
}

#[test]
fn transformer_block_matches() {
    ferrex::manual_seed(3);
    let model = TransformerBlock::new(32, 4, 64);
    let ep = ferrex::export(&model, (Tensor::randn([2, 10, 32]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert_eq!(stats.gemm, 6, "{}", compiled.describe());
    // The heads' three transposes are read through by the attention; its output's stays.
    assert_eq!(stats.permutes, 1, "{}", compiled.describe());
    assert_eq!(stats.layer_norms, 2, "{}", compiled.describe());
    // Attention runs on the fused kernel: nothing is left to the eager kernels.
    assert_eq!(stats.attentions, 1, "{}", compiled.describe());
    assert_eq!(
        compiled.describe().lines().last(),
        Some("eager fallbacks: none"),
        "{}",
        compiled.describe()
    );
    // linear1's bias initialises the GEMM, its gelu is the epilogue.
    assert!(
        compiled
            .describe()
            .contains("linear_4: gemm, prepacked weight + bias + gelu"),
        "{}",
        compiled.describe()
    );
    for _ in 0..2 {
        check_same(&ep, (Tensor::randn([2, 10, 32]),));
    }
}

// ---------------------------------------------------------------------------------------
// cond!

#[export_module]
struct SinOrCos {}

#[export_module]
impl SinOrCos {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

#[export_module]
struct WithParams {
    lin: nn::Linear,
    #[buffer]
    scale: Tensor,
}

#[export_module]
impl WithParams {
    fn forward(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let bias = y * 2.0;
        cond!(
            x.mean().gt(0.0),
            |x| (self.lin.forward(&x).relu(), x.mul(&self.scale)),
            |x| (self.lin.forward(&x).neg(), x.add(&bias)),
            [x]
        )
    }
}

#[test]
fn cond_branches_run_as_compiled_subplans() {
    let ep = ferrex::export(&SinOrCos {}, (Tensor::randn([3, 3]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(compiled.stats().conds, 1);
    for sign in [1.0, -1.0] {
        check_same(&ep, (Tensor::full([3, 3], sign),));
    }
    let got = compiled.call((Tensor::ones([3, 3]),)).unwrap();
    assert_eq!(got[0].to_vec::<f32>().unwrap(), vec![1f32.sin(); 9]);

    let m = WithParams {
        lin: nn::Linear::new(4, 4),
        scale: Tensor::full([4], 3.0),
    };
    let ep = ferrex::export(&m, (Tensor::ones([2, 4]), Tensor::ones([4]))).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    // Captured weights are constants of the branches: their products are GEMMs too.
    assert!(compiled.stats().gemm >= 2, "{}", compiled.describe());
    for sign in [1.0, -1.0] {
        let x = Tensor::randn([2, 4]).abs() * sign;
        let y = Tensor::randn([4]);
        check_same(&ep, (x.copy(), y.copy()));
        let (a, b) = m.forward(&x, &y);
        let out = compiled.call((x, y)).unwrap();
        assert_close(&out[0], &a, 1e-5);
        assert_close(&out[1], &b, 1e-5);
    }
}

// ---------------------------------------------------------------------------------------
// Dynamic shapes

#[export_module]
struct SliceRelu {}

#[export_module]
impl SliceRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        (x.slice_from(1, 2).relu() * 2.0 + 1.0).tanh()
    }
}

#[export_module]
struct MatMul {}

#[export_module]
impl MatMul {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x.matmul(y)
    }
}

#[export_module]
struct Derived2 {}

#[export_module]
impl Derived2 {
    fn forward(&self, z: &Tensor, y: &Tensor) -> Tensor {
        z.slice_from(0, 1) + y.slice(0, Some(1), None::<i64>, 3)
    }
}

#[test]
fn dynamic_shapes_run_at_every_size_with_the_same_guards() {
    let shapes = DynamicShapes::new().input(
        "x",
        [
            (0, Dim::new("inp1_dim0")),
            (1, Dim::new("inp1_dim1").min(4).max(18)),
        ],
    );
    let ep = Exporter::new(&SliceRelu {}, (Tensor::randn([10, 10, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    // One compiled plan, any admitted size; buffers grow as needed.
    for shape in [[5, 5, 2], [3, 6, 2], [40, 18, 2], [1, 4, 2], [10, 10, 2]] {
        check_same(&ep, (Tensor::randn(shape),));
    }
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8, 1, 2]),)),
        "Guard failed: x.size()[1] >= 4, but got 1"
    );
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8, 20, 2]),)),
        "Guard failed: x.size()[1] <= 18, but got 20"
    );
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8, 8, 3]),)),
        "Guard failed: x.size()[2] == 2, but got 3"
    );

    let inner = Dim::new("inner_dim");
    let shapes = DynamicShapes::new()
        .input("x", [(0, Dim::new("inp2_dim0")), (1, inner.clone())])
        .input("y", [(0, inner), (1, Dim::new("inp3_dim1"))]);
    let ep = Exporter::new(&MatMul {}, (Tensor::randn([4, 8]), Tensor::randn([8, 2])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(compiled.stats().gemm, 1);
    for (m, k, n) in [(2, 16, 4), (1, 3, 7), (9, 1, 1), (33, 70, 20)] {
        check_same(&ep, (Tensor::randn([m, k]), Tensor::randn([k, n])));
    }
    assert_eq!(
        same_error(
            &ep,
            &compiled,
            (Tensor::randn([4, 8]), Tensor::randn([4, 2]))
        ),
        "Guard failed: y.size()[0] == x.size()[1], but got 4 and 8"
    );

    let dx = Dim::new("dx").min(3).max(6);
    let shapes = DynamicShapes::new()
        .input("z", [(0, &dx + 1)])
        .input("y", [(0, &dx * 3 + 1)]);
    let ep = Exporter::new(&Derived2 {}, (Tensor::randn([4]), Tensor::randn([10])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    for d in 3..=6 {
        check_same(&ep, (Tensor::randn([d + 1]), Tensor::randn([3 * d + 1])));
    }
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([4]), Tensor::randn([11]))),
        "Guard failed: y.size()[0] == 3*z.size()[0] - 2, but got 11 and 10"
    );
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([8]), Tensor::randn([22]))),
        "Guard failed: z.size()[0] <= 7, but got 8"
    );
}

#[test]
fn dynamic_batch_mlp_switches_between_gemv_and_gemm() {
    ferrex::manual_seed(4);
    let model = Mlp::new(20, [64, 32], 5);
    let ep = Exporter::new(&model, (Tensor::randn([8, 20]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("batch").max(1024))]))
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert!(compiled.stats().fallback_ops.is_empty());
    for batch in [1, 2, 4, 5, 8, 100, 3] {
        check_same(&ep, (Tensor::randn([batch, 20]),));
    }
    assert_eq!(
        same_error(&ep, &compiled, (Tensor::randn([2000, 20]),)),
        "Guard failed: x.size()[0] <= 1024, but got 2000"
    );
}

// ---------------------------------------------------------------------------------------
// State: buffers, constants, mutation

#[export_module]
struct Stack {
    blocks: Vec<Block>,
    #[buffer(persistent = false)]
    shift: Tensor,
    offset: Tensor,
}

#[export_module]
impl Stack {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let mut h = x - &self.shift;
        for block in &self.blocks {
            h = block.forward(&h);
        }
        let out = h.softmax(-1) + &self.offset;
        (out, h.sum())
    }
}

#[test]
fn buffers_and_constants_are_folded_and_agree() {
    let m = Stack {
        blocks: (0..3)
            .map(|i| Block {
                lin: nn::Linear::new(6, 6),
                scale: Tensor::full([6], 0.5 + i as f64),
            })
            .collect(),
        shift: Tensor::full([6], 0.25),
        offset: Tensor::from_slice(&[1.0f32, -1.0, 0.5, 0.0, 2.0, 3.0]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 6]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert_eq!(stats.gemm, 3);
    // The softmax runs on the shared kernel, not as an eager fallback.
    assert_eq!(stats.softmaxes, 1, "{}", compiled.describe());
    // So does the sum.
    assert_eq!(stats.reductions, 1, "{}", compiled.describe());
    assert!(stats.fallback_ops.is_empty(), "{}", compiled.describe());
    for _ in 0..3 {
        check_same(&ep, (Tensor::randn([4, 6]),));
    }
}

#[test]
fn mutated_buffers_are_shared_with_the_program_like_the_interpreter() {
    let ep = ferrex::export(
        &Counter {
            count: Tensor::zeros([1]),
        },
        (Tensor::ones([3]),),
    )
    .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    // The count is the program's buffer: each call of either runner increments it.
    let a = compiled.call((Tensor::ones([3]),)).unwrap();
    let b = ep.module().call((Tensor::ones([3]),)).unwrap();
    let c = compiled.call((Tensor::ones([3]),)).unwrap();
    assert_eq!(a[0].to_vec::<f32>().unwrap(), [1.0; 3]);
    assert_eq!(b[0].to_vec::<f32>().unwrap(), [2.0; 3]);
    assert_eq!(c[0].to_vec::<f32>().unwrap(), [3.0; 3]);
    assert_eq!(
        ep.state_dict()
            .get("count")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [3.0]
    );
}

#[export_module]
struct Doubler {}

#[export_module]
impl Doubler {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.mul_(2);
        x + 1
    }
}

#[test]
fn mutated_inputs_are_written_back() {
    let ep = ferrex::export(&Doubler {}, (Tensor::ones([2]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let x = Tensor::from_slice(&[1.0f32, 3.0]);
    let out = compiled.call((x.clone(),)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [3.0, 7.0]);
    assert_eq!(x.to_vec::<f32>().unwrap(), [2.0, 6.0]);
}

#[test]
fn many_ops_fall_back_and_still_agree() {
    #[export_module]
    struct Mixed {
        lin: nn::Linear,
    }

    #[export_module]
    impl Mixed {
        fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
            let h = self.lin.forward(x);
            let (values, indices) = h.max_dim(1, false);
            let s = (h.sigmoid() * h.exp().sqrt() - h.abs().neg()).silu();
            // A flip of two dims runs its eager kernel.
            let c = Tensor::cat(&[&s, &h.flip(&[0, 1])], 0).log_softmax(1);
            (values + s.mean(), indices, c.clamp(Some(-3.0), Some(3.0)))
        }
    }

    let m = Mixed {
        lin: nn::Linear::new(5, 7),
    };
    let ep = ferrex::export(&m, (Tensor::randn([3, 5]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert!(!compiled.stats().fallback_ops.is_empty());
    assert!(compiled.stats().fused_ops >= 6, "{}", compiled.describe());
    for _ in 0..3 {
        check_same(&ep, (Tensor::randn([3, 5]),));
    }
}

#[export_module]
struct Joins {
    lin: nn::Linear,
}

#[export_module]
impl Joins {
    fn forward(&self, x: &Tensor, ids: &Tensor) -> (Tensor, Tensor, Tensor) {
        let h = self.lin.forward(x);
        let wide = Tensor::cat(&[&h, x, &h.relu()], -1);
        let tall = Tensor::cat(&[&wide, &wide.sigmoid()], 0);
        let pair = Tensor::stack(&[&h, &h.neg()], 2);
        (tall, pair, Tensor::cat(&[ids, ids], 1))
    }
}

/// `cat` and `stack` of f32 values run as planned copies, along any dim (a negative
/// one too), each element where the interpreter puts it; a `cat` of integers stays
/// eager. With a dynamic batch, at every batch size.
#[test]
fn cat_and_stack_run_as_planned_copies() {
    let m = Joins {
        lin: nn::Linear::new(4, 6),
    };
    let ids = || Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [3, 2]);
    let batch = Dim::new("batch").max(64);
    let exports = [
        ferrex::export(&m, (Tensor::randn([3, 4]), ids())).unwrap(),
        Exporter::new(&m, (Tensor::randn([3, 4]), ids()))
            .dynamic_shapes(
                DynamicShapes::new()
                    .input("x", [(0, batch.clone())])
                    .input("ids", [(0, batch)]),
            )
            .run()
            .unwrap(),
    ];
    for (k, ep) in exports.iter().enumerate() {
        let compiled = ferrex_runtime::compile(ep).unwrap();
        let stats = compiled.stats();
        assert_eq!(stats.concats, 3, "{}", compiled.describe());
        assert_eq!(
            stats.fallback_ops,
            ["aten::cat.default"],
            "{}",
            compiled.describe()
        );
        let d = compiled.describe();
        assert!(d.contains("cat: concat of 3 along dim 1 (copies)"), "{d}");
        assert!(d.contains("stack: concat of 2 along dim 2 (copies)"), "{d}");
        for b in if k == 0 { vec![3] } else { vec![1, 3, 8] } {
            let v: Vec<i64> = (0..2 * b as i64).collect();
            let x = Tensor::randn([b, 4]);
            let args = (x.clone(), Tensor::from_vec(v, [b, 2]));
            let want = ep.module().call(args.clone()).unwrap();
            let got = compiled.call(args).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert_close(g, w, 1e-5);
            }
            // Every element where it belongs, exactly: `x` and `h` inside `wide` (the
            // first `b` rows of `tall`), `h` and `-h` interleaved in `pair`.
            let (tall, pair) = (
                got[0].to_vec::<f32>().unwrap(),
                got[1].to_vec::<f32>().unwrap(),
            );
            assert_eq!(got[0].shape(), [2 * b, 16]);
            assert_eq!(got[1].shape(), [b, 6, 2]);
            let x = x.to_vec::<f32>().unwrap();
            for i in 0..b {
                assert_eq!(tall[i * 16 + 6..i * 16 + 10], x[i * 4..i * 4 + 4]);
                for j in 0..6 {
                    assert_eq!(pair[(i * 6 + j) * 2], tall[i * 16 + j]);
                    assert_eq!(pair[(i * 6 + j) * 2 + 1], -tall[i * 16 + j]);
                }
            }
        }
    }
}

#[export_module]
struct Narrows {}

#[export_module]
impl Narrows {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        (x.narrow(1, 2, 3).relu(), x.narrow(1, -2, 2) * 2.0)
    }
}

/// `narrow` from a start that is not negative is a planned slice, here read in place by
/// the fused `relu` after it; from a negative one it stays eager. Both give the
/// interpreter's bits, at every batch.
#[test]
fn narrow_runs_as_a_planned_slice() {
    let batch = Dim::new("batch").max(64);
    let ep = Exporter::new(&Narrows {}, (Tensor::randn([3, 6]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, batch)]))
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(d.contains("relu: fused relu (1 read through views)"), "{d}");
    assert!(!d.contains("narrow: "), "{d}");
    assert_eq!(
        compiled.stats().fallback_ops,
        ["aten::narrow.default"],
        "{d}"
    );
    for b in [1, 3, 10] {
        let x = Tensor::randn([b, 6]);
        let want = ep.module().call((x.copy(),)).unwrap();
        let got = compiled.call((x,)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.shape(), w.shape());
            assert_eq!(g.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
        }
    }
}

#[export_module]
struct PooledHead {
    conv: nn::Conv2d,
    fc: nn::Linear,
}

#[export_module]
impl PooledHead {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.conv.forward(x).relu();
        let pooled = h.adaptive_avg_pool2d([1, 1]);
        (
            self.fc.forward(&pooled.flatten(1, -1)),
            h.adaptive_avg_pool2d([2, 3]),
        )
    }
}

/// A classifier head's global average pooling (`adaptive_avg_pool2d` to 1×1) is the
/// planned mean of each plane, with the interpreter's bits (both run the shared
/// reduction); other output sizes are a lane step of the op's kernel.
#[test]
fn global_average_pooling_is_a_planned_mean() {
    ferrex::manual_seed(4);
    let m = PooledHead {
        conv: nn::Conv2d::with_options(3, 8, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
        fc: nn::Linear::new(8, 5),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 3, 9, 7]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(
        d.contains("adaptive_avg_pool2d: mean over dims [2, 3]"),
        "{d}"
    );
    assert!(
        d.contains("adaptive_avg_pool2d_1: aten::adaptive_avg_pool2d.default along dims [2, 3] (its kernel)"),
        "{d}"
    );
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    let x = Tensor::randn([4, 3, 9, 7]);
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    assert_close(&got[0], &want[0], 1e-5);
    assert_eq!(
        got[1].to_vec::<f32>().unwrap(),
        want[1].to_vec::<f32>().unwrap()
    );
    // The pooled planes themselves: the mean of each of the 4 × 8 planes of 63 values.
    let h = m.conv.forward(&x).relu();
    let means = h.adaptive_avg_pool2d([1, 1]).to_vec::<f32>().unwrap();
    let planes = h.to_vec::<f32>().unwrap();
    for (p, mean) in means.iter().enumerate() {
        let sum: f64 = planes[p * 63..(p + 1) * 63]
            .iter()
            .map(|&v| f64::from(v))
            .sum();
        assert_eq!(*mean, (sum / 63.0) as f32, "plane {p}");
    }
}

#[export_module]
struct Conv1dBlock {
    conv: nn::Conv1d,
    #[buffer]
    scale: Tensor,
    #[buffer]
    shift: Tensor,
}

#[export_module]
impl Conv1dBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        ((self.conv.forward(x) * &self.scale + &self.shift) + x).relu()
    }
}

/// A 1-D convolution hosts its chain as a 2-D one does (it runs over a height-1 plane):
/// a per-channel scale and shift of `[C, 1]`, a residual of `[N, C, L]` and ReLU run
/// in its tiles, with the values of direct loops in f64, and split halves give the
/// whole call's bits. (A batch norm after an audio model's first convolution had been
/// a pass of its own.)
#[test]
fn a_one_d_convolution_hosts_its_chain() {
    ferrex::manual_seed(8);
    let (c, l, b) = (4usize, 12usize, 2usize);
    let m = Conv1dBlock {
        conv: nn::Conv1d::new(c, c, 3).padding(1),
        scale: Tensor::randn([c, 1]),
        shift: Tensor::randn([c, 1]),
    };
    let x = Tensor::randn([b, c, l]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(d.starts_with("conv1d: conv2d gemm tiles"), "{d}");
    assert!(d.contains("+ mul+add+add+relu -> slot 0"), "{d}");
    assert_eq!(compiled.stats().fused_groups, 0, "{d}");
    let got = compiled.call((x.copy(),)).unwrap()[0].clone();
    let f = |t: &Tensor| t.to_vec::<f64>().unwrap();
    let (xs, w, bias) = (f(&x), f(&m.conv.weight), f(m.conv.bias.as_ref().unwrap()));
    let (scale, shift) = (f(&m.scale), f(&m.shift));
    let values = f(&got);
    for n in 0..b {
        for o in 0..c {
            for t in 0..l {
                let mut acc = bias[o];
                for i in 0..c {
                    for k in 0..3 {
                        if let Some(at) = (t + k).checked_sub(1).filter(|&p| p < l) {
                            acc += w[(o * c + i) * 3 + k] * xs[(n * c + i) * l + at];
                        }
                    }
                }
                let at = (n * c + o) * l + t;
                let want = (acc * scale[o] + shift[o] + xs[at]).max(0.0);
                assert!(
                    (values[at] - want).abs() <= 1e-5,
                    "{at}: {} vs {want}",
                    values[at]
                );
            }
        }
    }
    compiled.set_batch_split(ferrex::program::BatchSplit::Always);
    let halves = compiled.call((x.copy(),)).unwrap();
    assert_eq!(f32_bits(&halves[0]), f32_bits(&got));
}

#[export_module]
struct Pieces {
    qkv: nn::Linear,
}

#[export_module]
impl Pieces {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        // Packed projections cut in three along the last dim, and uneven pieces of 4, 4
        // and 2 rows of the input along dim 1 (the last one returned as it is).
        let qkv = self.qkv.forward(x).chunk(3, -1);
        let attn = (&qkv[0] * &qkv[1]).sigmoid() * &qkv[2];
        let rows = x.split(4, 1);
        (attn, &rows[0] + &rows[1], rows[2].clone())
    }
}

/// `chunk` and `split` of f32 values read through their pieces run as planned slices,
/// the pieces where the interpreter puts them: read in place by the fused steps that
/// take them, a strided copy for the piece returned. No fallback, and the batch splits.
#[test]
fn chunk_and_split_pieces_are_planned_slices() {
    ferrex::manual_seed(6);
    let m = Pieces {
        qkv: nn::Linear::new(10, 12),
    };
    let ep = ferrex::export(&m, (Tensor::randn([6, 10]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    assert_eq!(compiled.stats().views, 1, "{d}");
    assert!(
        d.contains("fused mul+sigmoid+mul (3 read through views)"),
        "{d}"
    );
    assert!(d.contains("add: fused add (2 read through views)"), "{d}");
    assert_eq!(compiled.batch_split(), Ok(()), "{d}");
    let x = Tensor::randn([6, 10]);
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    assert_close(&got[0], &want[0], 1e-5);
    for (g, w) in got[1..].iter().zip(&want[1..]) {
        assert_eq!(g.shape(), w.shape());
        assert_eq!(g.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
    }
    let last = x.to_vec::<f32>().unwrap();
    let piece = got[2].to_vec::<f32>().unwrap();
    for i in 0..6 {
        assert_eq!(piece[i * 2..i * 2 + 2], last[i * 10 + 8..i * 10 + 10]);
    }
    // A static plan lays its views out once: the projections' middle third is the
    // `[6, 4]` from element 4 of the `[6, 12]` product, rows 12 apart.
    let fixed: Vec<ferrex_runtime::plan::FixedView> = (compiled.plan().steps.iter())
        .filter_map(|s| match &s.kind {
            ferrex_runtime::plan::Kind::Fused { views, .. } => Some(views),
            _ => None,
        })
        .flatten()
        .flatten()
        .filter_map(|v| v.fixed.clone())
        .collect();
    assert_eq!(fixed.len(), 5, "{d}");
    let middle = ferrex_runtime::plan::FixedView {
        of: vec![6, 12],
        at: 4,
        sizes: vec![6, 4],
        strides: vec![12, 1],
    };
    assert!(fixed.contains(&middle), "{fixed:?}");
    // Split halves lay theirs out per call, with the whole call's bits.
    compiled.set_batch_split(ferrex::program::BatchSplit::Always);
    let halves = compiled.call((x.copy(),)).unwrap();
    for (h, g) in halves.iter().zip(&got) {
        assert_eq!(f32_bits(h), f32_bits(g));
    }
}

/// At batch 1 every piece of a chunk along the last dim is one run of the product's
/// buffer: the pieces are that buffer at an offset (no copy), with their own sizes —
/// the same values as the interpreter's (a one-sample LSTM or GRU step reads its gates
/// this way).
#[test]
fn pieces_of_one_run_are_the_buffer_at_an_offset() {
    ferrex::manual_seed(7);
    let m = Pieces {
        qkv: nn::Linear::new(10, 12),
    };
    let x = Tensor::randn([1, 10]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    let pieces = ["getitem", "getitem_1", "getitem_2"];
    for piece in pieces {
        assert!(d.contains(&format!("{piece}: slice (no copy)")), "{d}");
    }
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape());
        assert_eq!(f32_bits(g), f32_bits(w));
    }
}

#[export_module]
struct Rounding {}

#[export_module]
impl Rounding {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let steps = (x * 3.0).floor() + (x * 2.0).ceil() - (x * 5.0).round() * x.sign();
        (steps, (x * 0.5).tan() + x.expm1() - (x.abs()).log1p())
    }
}

/// `floor`, `ceil`, `round`, `sign`, `tan`, `expm1` and `log1p` of f32 values join fused
/// chains, with the interpreter's bits (both compute each through the same pointwise
/// function); ties round to even.
#[test]
fn rounding_and_more_functions_are_fused() {
    let ep = ferrex::export(&Rounding {}, (Tensor::randn([4, 8]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    assert_eq!(compiled.stats().fused_groups, 2, "{d}");
    let edges = [
        0.1f32, -0.1, 0.3, -0.5, 0.5, 0.0, -0.0, 1.7, 0.9, -0.9, 0.7, 1.5,
    ];
    let ties: Vec<f32> = (0..32).map(|i| edges[i % edges.len()]).collect();
    let ties = Tensor::from_vec(ties, [4, 8]);
    for x in [Tensor::randn([4, 8]), ties] {
        let want = ep.module().call((x.copy(),)).unwrap();
        let got = compiled.call((x.copy(),)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(f32_bits(g), f32_bits(w));
        }
    }
    // 2.5 rounds to 2 and -2.5 to -2: at 0.5, floor(1.5) + ceil(1) - 2 · 1 = 0; at -0.5,
    // floor(-1.5) + ceil(-1) - (-2) · (-1) = -5.
    let mut v = vec![0f32; 32];
    v[..2].copy_from_slice(&[0.5, -0.5]);
    let got = compiled.call((Tensor::from_vec(v, [4, 8]),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got[..3], [0.0, -5.0, 0.0]);
}

#[export_module]
struct Dropped {
    fc: nn::Linear,
}

#[export_module]
impl Dropped {
    fn forward(&self, x: &Tensor) -> Vec<Tensor> {
        // `aten::dropout(x, 0.1, train=False)`, as PyTorch's programs of models with
        // `nn.Dropout` hold it.
        let args = vec![
            ferrex::ops::Value::Tensor(self.fc.forward(x)),
            ferrex::ops::Value::Float(0.1),
            ferrex::ops::Value::Bool(false),
        ];
        Tensor::call_op(&ferrex::ops::activation::DROPOUT, args)
    }
}

/// Inference dropout is the identity: planned as its input's buffer (no copy), no
/// fallback.
#[test]
fn inference_dropout_is_its_input() {
    let m = Dropped {
        fc: nn::Linear::new(6, 4),
    };
    let ep = ferrex::export(&m, (Tensor::randn([3, 6]),)).unwrap();
    assert!(
        ep.to_string()
            .contains("aten::dropout.default(linear, 0.1, False)"),
        "{ep}"
    );
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    assert_eq!(compiled.stats().reshapes, 1, "{d}");
    let x = Tensor::randn([3, 6]);
    let got = compiled.call((x.copy(),)).unwrap();
    assert_close(&got[0], &m.fc.forward(&x), 1e-6);
}

#[export_module]
struct Upsampled {
    conv: nn::Conv2d,
}

#[export_module]
impl Upsampled {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let h = self.conv.forward(x).relu();
        (
            h.upsample_nearest2d(None, Some(&[2.0, 2.0])),
            h.upsample_nearest2d(Some(&[7, 5]), None),
            x.upsample_nearest2d(None, Some(&[1.5, 2.5])),
        )
    }
}

/// `upsample_nearest2d` (by a factor of 2, to a size, by fractional factors, which
/// choose the source pixels as in PyTorch) runs as a planned gather copy with the
/// interpreter's bits, and the batch splits.
#[test]
fn nearest_upsampling_is_a_planned_copy() {
    ferrex::manual_seed(11);
    let m = Upsampled {
        conv: nn::Conv2d::with_options(2, 3, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 2, 3, 4]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    assert_eq!(compiled.stats().upsamples, 3, "{d}");
    assert_eq!(compiled.batch_split(), Ok(()), "{d}");
    let x = Tensor::randn([4, 2, 3, 4]);
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape());
        assert_eq!(f32_bits(g), f32_bits(w));
    }
    assert_eq!(got[2].shape(), [4, 2, 4, 10]);
    // Twice as large: pixel (y, x) is the input's (y / 2, x / 2).
    let (h, up) = (
        m.conv.forward(&x).relu().to_vec::<f32>().unwrap(),
        got[0].to_vec::<f32>().unwrap(),
    );
    for (i, v) in up.iter().enumerate() {
        let (plane, y, x) = (i / 48, (i / 8) % 6, i % 8);
        assert_eq!(*v, h[plane * 12 + (y / 2) * 4 + x / 2], "at {i}");
    }
}

#[test]
fn concurrent_calls_are_safe_and_agree() {
    ferrex::manual_seed(5);
    let model = Mlp::new(20, [64, 32], 5);
    let ep = ferrex::export(&model, (Tensor::randn([16, 20]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let inputs: Vec<Tensor> = (0..4).map(|_| Tensor::randn([16, 20])).collect();
    let want: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| {
            ep.module().call((x.copy(),)).unwrap()[0]
                .to_vec::<f32>()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for (x, w) in inputs.iter().zip(&want) {
            let compiled = &compiled;
            s.spawn(move || {
                for _ in 0..20 {
                    let got = compiled.call((x.copy(),)).unwrap()[0]
                        .to_vec::<f32>()
                        .unwrap();
                    for (a, b) in got.iter().zip(w) {
                        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
                    }
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// map!

#[export_module]
struct MapAdd {}

#[export_module]
impl MapAdd {
    fn forward(&self, xs: &Tensor, y: &Tensor) -> Tensor {
        ferrex::map!(|x, y| (x + y).relu() * 2.0, xs, [y])
    }
}

#[export_module]
struct MapLinear {
    lin: nn::Linear,
}

#[export_module]
impl MapLinear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        ferrex::map!(|x| self.lin.forward(&x).tanh(), xs, [])
    }
}

#[test]
fn map_bodies_run_as_compiled_subplans() {
    let ep = ferrex::export(&MapAdd {}, (Tensor::randn([3, 2]), Tensor::randn([2]))).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(compiled.stats().maps, 1, "{}", compiled.describe());
    check_same(&ep, (Tensor::randn([3, 2]), Tensor::randn([2])));
    let xs = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0], [3, 2]);
    let out = compiled
        .call((xs, Tensor::from_slice(&[1.0f32, 1.0])))
        .unwrap();
    assert_eq!(
        out[0].to_vec::<f32>().unwrap(),
        [4.0, 0.0, 8.0, 10.0, 12.0, 0.0]
    );

    let ep = Exporter::new(&MapAdd {}, (Tensor::randn([3, 2]), Tensor::randn([2])))
        .dynamic_shapes(DynamicShapes::new().input("xs", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    for n in [0, 1, 5] {
        check_same(&ep, (Tensor::randn([n, 2]), Tensor::randn([2])));
    }

    let m = MapLinear {
        lin: nn::Linear::new(4, 3),
    };
    let ep = ferrex::export(&m, (Tensor::randn([5, 4]),)).unwrap();
    check_same(&ep, (Tensor::randn([5, 4]),));
}

// ---------------------------------------------------------------------------------------
// Convolution and pooling geometry

#[export_module]
struct ConvPool {
    #[buffer]
    w: Tensor,
    #[buffer]
    b: Tensor,
}

#[export_module]
impl ConvPool {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        let a = F::conv2d(x, &self.w, Some(&self.b), &[2], &[1], &[1], 1).relu();
        let b = F::conv2d(x, &self.w, None, &[1], &[2], &[2], 1);
        let c = F::max_pool2d(&a, &[3], Some(&[2]), &[1], &[1], false);
        let d = F::max_pool2d(&b, &[2], None, &[0], &[2], false);
        (a, b, c, d)
    }
}

#[test]
fn convolution_and_pooling_geometry_matches() {
    let m = ConvPool {
        w: Tensor::randn([4, 3, 3, 3]),
        b: Tensor::randn([4]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([2, 3, 11, 9]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert_eq!((stats.conv, stats.pools), (2, 2), "{}", compiled.describe());
    assert!(stats.fallback_ops.is_empty(), "{:?}", stats.fallback_ops);
    for _ in 0..2 {
        check_same(&ep, (Tensor::randn([2, 3, 11, 9]),));
    }
    // NaN propagates through the pooling, as in the interpreter.
    let x = Tensor::randn([2, 3, 11, 9]);
    let mut data = x.to_vec::<f32>().unwrap();
    data[40] = f32::NAN;
    check_same(&ep, (Tensor::from_vec(data, [2, 3, 11, 9]),));
}

#[export_module]
struct Normed {
    lin: nn::Linear,
    norm: nn::LayerNorm,
    bare: nn::LayerNorm,
}

#[export_module]
impl Normed {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.bare
            .forward(&self.norm.forward(&self.lin.forward(x)).relu())
    }
}

#[test]
fn layer_norm_runs_on_the_shared_kernel_with_the_interpreters_numbers() {
    ferrex::manual_seed(11);
    let mut norm = nn::LayerNorm::new(&[8]);
    norm.weight = Some(Tensor::randn([8]));
    norm.bias = Some(Tensor::randn([8]));
    let mut bare = nn::LayerNorm::new(&[3, 8]);
    bare.weight = None;
    bare.bias = None;
    let m = Normed {
        lin: nn::Linear::new(5, 8),
        norm,
        bare,
    };
    let x = Tensor::randn([2, 3, 5]);
    let ep = ferrex::export(&m, (x.clone(),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert_eq!(stats.layer_norms, 2, "{}", compiled.describe());
    assert!(stats.fallback_ops.is_empty(), "{}", compiled.describe());
    // The interpreter's kernel (the GEMM before it rounds differently: within 1e-5).
    check_same(&ep, (x,));
    check_same(&ep, (Tensor::randn([2, 3, 5]),));
}

// ---------------------------------------------------------------------------------------
// An op added through `op_def!` alone (ARCHITECTURE.md, "How to add an op")

#[export_module]
struct LogSigmoidHead {
    lin: nn::Linear,
}

#[export_module]
impl LogSigmoidHead {
    fn forward(&self, x: &Tensor) -> Tensor {
        (self.lin.forward(x) * 2.0).log_sigmoid()
    }
}

/// `log_sigmoid` is recorded whole, runs in the interpreter, and is fused by the compiled
/// runtime through its pointwise function (no eager fallback), with values against
/// `ln(sigmoid(v))` computed here.
#[test]
fn log_sigmoid_exports_and_fuses() {
    let m = LogSigmoidHead {
        lin: nn::Linear::new(4, 3),
    };
    let x = Tensor::randn([5, 4]);
    let ep = ferrex::export(&m, (x.clone(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::linear.default",
            "aten::mul.Tensor",
            "aten::log_sigmoid.default"
        ]
    );
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let stats = compiled.stats();
    assert!(stats.fallback_ops.is_empty(), "{}", compiled.describe());
    // `* 2` and `log_sigmoid` run as the product's epilogue.
    assert_eq!(stats.fused_ops, 2, "{}", compiled.describe());
    assert!(
        compiled.describe().contains("mul+logsigmoid"),
        "{}",
        compiled.describe()
    );
    let pre = (m.lin.forward(&x) * 2.0).to_vec::<f64>().unwrap();
    let want: Vec<f32> = pre
        .iter()
        .map(|&v| (1.0 / (1.0 + (-v).exp())).ln() as f32)
        .collect();
    let want = Tensor::from_vec(want, [5, 3]);
    assert_close(&ep.module().call((x.clone(),)).unwrap()[0], &want, 1e-6);
    assert_close(&compiled.call((x,)).unwrap()[0], &want, 1e-6);
}

/// Adds `0, 1, …, n - 1` to the rows of `x` (`arange` of a dynamic size: a call of sizes
/// alone, run once per size and kept; its cast to f32 is the fused step's load).
#[export_module]
struct AddPositions {}

#[export_module]
impl AddPositions {
    fn forward(&self, x: &Tensor) -> Tensor {
        let positions = Tensor::arange(x.size(0)).to_dtype(DType::F32);
        x + &positions.unsqueeze(1)
    }
}

#[test]
fn a_call_of_sizes_alone_runs_once_per_size() {
    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("n").max(64))]);
    let ep = Exporter::new(&AddPositions {}, (Tensor::zeros([4, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert!(
        compiled.describe().contains(
            "computed once per input size: 1 (aten::arange.default ×1)\n\
             eager fallbacks: none\n"
        ),
        "{}",
        compiled.describe()
    );
    // Each call gets the positions of its own size, whatever size came before.
    for n in [3usize, 5, 5, 1, 3] {
        let x = Tensor::from_vec((0..2 * n).map(|i| i as f32 * 10.0).collect(), [n, 2]);
        let want: Vec<f32> = (0..2 * n)
            .map(|i| i as f32 * 10.0 + (i / 2) as f32)
            .collect();
        let out = compiled.call((x,)).unwrap();
        assert_eq!(out[0].shape(), [n, 2]);
        assert_eq!(out[0].to_vec::<f32>().unwrap(), want, "n = {n}");
    }
}

/// Returns `0, 1, …, n - 1` itself: a kept result handed to the caller.
#[export_module]
struct Positions {}

#[export_module]
impl Positions {
    fn forward(&self, x: &Tensor) -> Tensor {
        Tensor::arange(x.size(0))
    }
}

#[test]
fn a_kept_result_changed_by_the_caller_stays_as_computed() {
    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("n").max(64))]);
    let ep = Exporter::new(&Positions {}, (Tensor::zeros([4]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(
        compiled.stats().per_size_ops.len(),
        1,
        "{}",
        compiled.describe()
    );
    let first = compiled.call((Tensor::zeros([3]),)).unwrap();
    // The caller writes into its result: the kept one is not that tensor's data.
    first[0].add_(100);
    assert_eq!(first[0].to_vec::<i64>().unwrap(), [100, 101, 102]);
    let again = compiled.call((Tensor::zeros([3]),)).unwrap();
    assert_eq!(again[0].to_vec::<i64>().unwrap(), [0, 1, 2]);
}

#[export_module]
struct Extremes {
    conv: nn::Conv2d,
}

#[export_module]
impl Extremes {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let h = self.conv.forward(x);
        (
            h.amax(&[2, 3], false),
            h.amin(&[-1], true),
            h.mean_dim(&[1], false),
        )
    }
}

/// `amax` and `amin` over some dims (a global max pool) are planned reductions, not
/// fallbacks: the interpreter's bits, NaN kept, and the batch splits.
#[test]
fn maxima_and_minima_are_planned_reductions() {
    ferrex::manual_seed(12);
    let m = Extremes {
        conv: nn::Conv2d::with_options(2, 3, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 2, 5, 19]),)).unwrap();
    let mut data = Tensor::randn([4, 2, 5, 19]).to_vec::<f32>().unwrap();
    data[2 * 95 + 7] = f32::NAN; // sample 1, channel 0: every channel sees it
    let x = Tensor::from_vec(data, [4, 2, 5, 19]);
    let (_, d, got) = planned_with_the_interpreters_bits(&ep, &x);
    assert!(d.contains("amax over dims [2, 3]"), "{d}");
    assert!(d.contains("amin over dims [3]"), "{d}");
    let maxima = got[0].to_vec::<f32>().unwrap();
    assert_eq!(maxima.iter().filter(|v| v.is_nan()).count(), 3);
    assert!(maxima[3..6].iter().all(|v| v.is_nan()));
}

#[export_module]
struct Blended {
    conv: nn::Conv2d,
}

#[export_module]
impl Blended {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let h = self.conv.forward(x).relu();
        (
            h.upsample_bilinear2d(None, false, Some(&[2.0, 2.0])),
            h.upsample_bilinear2d(Some(&[7, 5]), true, None),
            x.upsample_bilinear2d(None, false, Some(&[1.5, 2.5])),
        )
    }
}

/// `upsample_bilinear2d` (by a factor of 2, to a size with corners aligned, by
/// fractional factors) is a planned step with the interpreter's bits, in PyTorch's
/// order of operations, and the batch splits.
#[test]
fn bilinear_upsampling_is_a_planned_step() {
    ferrex::manual_seed(13);
    let m = Blended {
        conv: nn::Conv2d::with_options(2, 3, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 2, 3, 4]),)).unwrap();
    let x = Tensor::randn([4, 2, 3, 4]);
    let (compiled, d, got) = planned_with_the_interpreters_bits(&ep, &x);
    assert_eq!(compiled.stats().upsamples, 3, "{d}");
    assert!(
        d.contains("upsample_bilinear2d (align_corners=true)"),
        "{d}"
    );
    assert_eq!(got[2].shape(), [4, 2, 4, 10]);
    // Twice as large, corners not aligned: output (1, 1) is a quarter of the way from
    // input pixel (0, 0) to (1, 1) along both dims.
    let h = m.conv.forward(&x).relu().to_vec::<f32>().unwrap();
    let up = got[0].to_vec::<f32>().unwrap();
    let (x00, x01, x10, x11) = (h[0], h[1], h[4], h[5]);
    let want = 0.75f32 * (0.75 * x00 + 0.25 * x01) + 0.25 * (0.75 * x10 + 0.25 * x11);
    assert_eq!(up[8 + 1].to_bits(), want.to_bits());
    // Corners aligned: the output's corners are the input's.
    let aligned = got[1].to_vec::<f32>().unwrap();
    assert_eq!((aligned[0], aligned[34]), (h[0], h[11]));
}

#[export_module]
struct Transposed {
    conv: nn::Conv2d,
    up: Tensor,
    up_bias: Tensor,
    grouped: Tensor,
}

#[export_module]
impl Transposed {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.conv.forward(x).relu();
        (
            h.conv_transpose2d(
                &self.up,
                Some(&self.up_bias),
                &[2, 2],
                &[1, 1],
                &[1, 0],
                1,
                &[1, 1],
            ),
            h.conv_transpose2d(&self.grouped, None, &[1, 2], &[0, 1], &[0, 0], 2, &[2, 1]),
        )
    }
}

/// Transposed convolutions (stride 2 with padding and output padding; grouped, dilated)
/// are planned steps, not fallbacks: the interpreter's bits, and the batch splits.
#[test]
fn transposed_convolutions_are_planned_steps() {
    ferrex::manual_seed(14);
    let m = Transposed {
        conv: nn::Conv2d::with_options(2, 4, [3, 3], [1, 1], [1, 1], [1, 1], 1, true),
        up: Tensor::randn([4, 3, 3, 3]),
        up_bias: Tensor::randn([3]),
        grouped: Tensor::randn([4, 2, 2, 3]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 2, 5, 6]),)).unwrap();
    let x = Tensor::randn([4, 2, 5, 6]);
    let (compiled, d, got) = planned_with_the_interpreters_bits(&ep, &x);
    assert!(
        d.contains("conv_transpose 3x3 stride [2, 2] (gemm + col2im)"),
        "{d}"
    );
    assert_eq!(got[0].shape(), [4, 3, 10, 11]);
    assert_eq!(got[1].shape(), [4, 4, 7, 11]);
    // Again, into buffers that hold the first call's values.
    let x = Tensor::randn([4, 2, 5, 6]);
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(f32_bits(g), f32_bits(w));
    }
}

/// `ep` compiled with no eager fallback and a batch that splits, and both runners called
/// on `x`: the compiled plan, its description, and the compiled outputs — checked to be
/// the interpreter's, bit for bit (NaN against NaN).
fn planned_with_the_interpreters_bits(
    ep: &ExportedProgram,
    x: &Tensor,
) -> (ferrex_runtime::CompiledProgram, String, Vec<Tensor>) {
    let compiled = ferrex_runtime::compile(ep).unwrap();
    let d = compiled.describe();
    assert!(compiled.stats().fallback_ops.is_empty(), "{d}");
    assert_eq!(compiled.batch_split(), Ok(()), "{d}");
    let want = ep.module().call((x.copy(),)).unwrap();
    let got = compiled.call((x.copy(),)).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape(), "{d}");
        let (g, w) = (g.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
        for (a, b) in g.iter().zip(&w) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{a} vs {b}"
            );
        }
    }
    (compiled, d, got)
}

#[export_module]
struct Heads {
    qkv: nn::Linear,
}

#[export_module]
impl Heads {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.qkv.forward(x);
        // Heads viewed out of the projection, as a GPT block does.
        let p = h.view([4, 6, 3, 2, 8]).permute(&[2, 0, 3, 1, 4]);
        let (q, k, v) = (p.select(0, 0), p.select(0, 1), p.select(0, 2));
        let y1 = q.scaled_dot_product_attention(&k, &v, None, 0.0, true, None, false);
        // As PyTorch's MultiheadAttention does, sequence first: each head's rows are
        // merged with the batch across a permute, which only a copy can view.
        let s = h
            .transpose(0, 1)
            .reshape([6, 4, 3, 16])
            .permute(&[2, 0, 1, 3]);
        let head = |i: i64| {
            s.select(0, i)
                .reshape([6, 8, 8])
                .transpose(0, 1)
                .reshape([4, 2, 6, 8])
        };
        let y2 =
            head(0).scaled_dot_product_attention(&head(1), &head(2), None, 0.0, false, None, false);
        (y1, y2)
    }
}

/// Attention reads its heads through the views that make them instead of their copies
/// (from the innermost copy a chain can be laid out over), with the interpreter's bits,
/// and so do split halves, which lay the views out per call.
#[test]
fn attention_reads_its_heads_through_their_views() {
    ferrex::manual_seed(15);
    let m = Heads {
        qkv: nn::Linear::new(16, 48),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 6, 16]),)).unwrap();
    let x = Tensor::randn([4, 6, 16]);
    let (compiled, d, got) = planned_with_the_interpreters_bits(&ep, &x);
    let copies: Vec<&str> = d.lines().filter(|l| l.contains("strided copy")).collect();
    assert_eq!(copies.len(), 2, "{d}");
    let attention = "attention, fused, causal, q, k, v read through views";
    assert!(d.contains(attention), "{d}");
    assert!(copies[0].contains("permute [1, 0, 2]"), "{d}");
    assert!(copies[1].contains("permute [2, 0, 1, 3]"), "{d}");
    compiled.set_batch_split(ferrex::program::BatchSplit::Always);
    let halves = compiled.call((x.copy(),)).unwrap();
    for (h, g) in halves.iter().zip(&got) {
        assert_eq!(f32_bits(h), f32_bits(g));
    }
}

/// A constant returned as it is, and an input.
#[export_module]
struct Passthrough {
    w: Tensor,
}

#[export_module]
impl Passthrough {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        (self.w.clone(), x.clone())
    }
}

/// Outputs that are the program's constant or the caller's input, returned as they are,
/// are handles of their own in both runners: an in-place op on them changes neither
/// the program's state nor the input.
#[test]
fn outputs_that_are_state_or_inputs_are_the_callers_own() {
    let m = Passthrough {
        w: Tensor::ones([2]),
    };
    let x = Tensor::ones([2]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let interpreted = |x: &Tensor| ep.module().call((x.clone(),)).unwrap();
    let run_compiled = |x: &Tensor| compiled.call((x.clone(),)).unwrap();
    for run in [
        &interpreted as &dyn Fn(&Tensor) -> Vec<Tensor>,
        &run_compiled,
    ] {
        let out = run(&x);
        out[0].add_(5);
        out[1].add_(7);
        assert_eq!(out[0].to_vec::<f32>().unwrap(), [6.0, 6.0]);
        assert_eq!(x.to_vec::<f32>().unwrap(), [1.0, 1.0]);
        let w = ep.constants().get("w").unwrap().to_vec::<f32>().unwrap();
        assert_eq!(w, [1.0, 1.0]);
        // The next call sees the program's constant unchanged.
        assert_eq!(run(&x)[0].to_vec::<f32>().unwrap(), [1.0, 1.0]);
    }
}
