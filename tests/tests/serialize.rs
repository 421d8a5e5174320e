//! `ferrex::save` / `ferrex::load`: a saved program loads back without the model and
//! prints and runs identically — the zoo, `cond!` subgraphs, dynamic shapes (range
//! constraints and guards still enforced), buffers, constants, mutations — and damaged
//! files are clear errors.

use std::path::PathBuf;

use ferrex::cond;
use ferrex::prelude::*;
use ferrex::program::{InputKind, OutputKind};
use ferrex::{Dim, DynamicShapes, ExportedProgram, Exporter, LoadError};
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};

mod common;
use common::{Block, MyModule};

/// A fresh path in the temp dir, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "ferrex-serialize-{}-{tag}-{n}.pt2",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Saves and loads `ep`; the loaded program prints identically, has the same
/// signature, state and constants.
fn round_trip(ep: &ExportedProgram) -> ExportedProgram {
    let path = TempPath::new(ep.model_name());
    ferrex::save(ep, &path.0).unwrap();
    let loaded = ferrex::load(&path.0).unwrap();
    assert_eq!(loaded.to_string(), ep.to_string());
    assert_eq!(loaded.graph_code(0), ep.graph_code(0));
    assert_eq!(loaded.graph_signature(), ep.graph_signature());
    assert_eq!(loaded.model_name(), ep.model_name());
    assert_eq!(loaded.arg_names(), ep.arg_names());
    assert_eq!(loaded.op_targets(), ep.op_targets());
    assert_eq!(loaded.guards(), ep.guards());
    assert_eq!(
        loaded.range_constraints().to_string(),
        ep.range_constraints().to_string()
    );
    for (a, b) in [
        (loaded.state_dict(), ep.state_dict()),
        (loaded.constants(), ep.constants()),
    ] {
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for ((_, x), (_, y)) in a.iter().zip(b.iter()) {
            assert_eq!(x.shape(), y.shape());
            assert_eq!(x.dtype(), y.dtype());
            assert_eq!(x.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
        }
    }
    loaded
}

/// Both programs give bit-identical outputs (same kernels), and the runtime compiled
/// from the loaded one agrees within rounding.
fn runs_identically<A: ferrex::module::ForwardArgs + Clone>(
    ep: &ExportedProgram,
    loaded: &ExportedProgram,
    args: A,
) {
    let want = ep.module().call(args.clone()).unwrap();
    let got = loaded.module().call(args.clone()).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape());
        assert_eq!(g.dtype(), w.dtype());
        assert_eq!(g.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
    }
    let fast = ferrex_runtime::compile(loaded).unwrap().call(args).unwrap();
    for (g, w) in fast.iter().zip(&want) {
        let (a, b) = (g.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs())));
    }
}

#[test]
fn tutorial_module_round_trips() {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100]))).unwrap();
    let loaded = round_trip(&ep);
    // The source comments survive: they come from the saved source lines.
    assert!(
        loaded
            .to_string()
            .contains("in MyModule::forward, code: F::relu_(self.lin.forward(&(x + y)))"),
        "{loaded}"
    );
    for _ in 0..2 {
        runs_identically(
            &ep,
            &loaded,
            (Tensor::randn([8, 100]), Tensor::randn([8, 100])),
        );
    }
    let err = loaded
        .module()
        .call((Tensor::randn([8, 100]),))
        .unwrap_err();
    assert_eq!(err.to_string(), "expected 2 inputs, got 1");
}

#[test]
fn zoo_models_round_trip() {
    ferrex::manual_seed(7);
    let mlp = Mlp::new(20, [64, 32], 5);
    let ep = ferrex::export(&mlp, (Tensor::randn([4, 20]),)).unwrap();
    let loaded = round_trip(&ep);
    runs_identically(&ep, &loaded, (Tensor::randn([4, 20]),));

    let mut lenet = LeNet::new();
    lenet.bn1.running_mean = Tensor::randn([6]);
    let ep = ferrex::export(&lenet, (Tensor::randn([2, 1, 28, 28]),)).unwrap();
    let loaded = round_trip(&ep);
    // The i64 scalar buffer comes back as an i64 scalar.
    let n = loaded.state_dict().get("bn1.num_batches_tracked").unwrap();
    assert_eq!((n.dtype(), n.shape()), (DType::I64, vec![]));
    runs_identically(&ep, &loaded, (Tensor::randn([2, 1, 28, 28]),));

    let block = TransformerBlock::new(32, 4, 64);
    let ep = ferrex::export(&block, (Tensor::randn([2, 10, 32]),)).unwrap();
    let loaded = round_trip(&ep);
    runs_identically(&ep, &loaded, (Tensor::randn([2, 10, 32]),));
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
            |x| (self.lin.forward(&x), x.mul(&self.scale)),
            |x| (self.lin.forward(&x).neg(), x.add(&bias)),
            [x]
        )
    }
}

#[test]
fn cond_subgraphs_round_trip() {
    let m = WithParams {
        lin: nn::Linear::new(4, 4),
        scale: Tensor::full([4], 3.0),
    };
    let ep = ferrex::export(&m, (Tensor::ones([2, 4]), Tensor::ones([4]))).unwrap();
    let loaded = round_trip(&ep);
    assert_eq!(loaded.graph().subgraphs.len(), 2);
    assert!(loaded
        .to_string()
        .contains("fn true_graph_0(x: f32[2, 4], p_lin_weight: f32[4, 4]"));
    for sign in [1.0, -1.0] {
        runs_identically(
            &ep,
            &loaded,
            (Tensor::full([2, 4], sign), Tensor::randn([4])),
        );
    }
}

#[export_module]
struct Branchy {}

#[export_module]
impl Branchy {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        if x.size(0) <= 16 {
            return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));
        }
        y.clone()
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

#[export_module]
struct Sizes {}

#[export_module]
impl Sizes {
    fn forward(&self, x: &Tensor) -> (Tensor, SymInt) {
        let n = x.size(0);
        (Tensor::zeros([n.clone() * 2]), n + 1)
    }
}

#[test]
fn dynamic_shapes_keep_their_ranges_and_guards() {
    let shared = Dim::new("shared_dim");
    let shapes = DynamicShapes::new()
        .input(
            "x",
            [(0, Dim::new("inp4_dim0").max(16)), (1, shared.clone())],
        )
        .input("y", [(0, shared), (1, Dim::new("inp5_dim1").min(16))]);
    let ep = Exporter::new(
        &Branchy {},
        (Tensor::randn([8, 16]), Tensor::randn([16, 32])),
    )
    .dynamic_shapes(shapes)
    .run()
    .unwrap();
    let loaded = round_trip(&ep);
    assert_eq!(
        loaded.range_constraints().to_string(),
        "{s0: VR[0, 16], s1: VR[0, int_oo], s2: VR[16, int_oo]}"
    );
    runs_identically(
        &ep,
        &loaded,
        (Tensor::randn([4, 32]), Tensor::randn([32, 64])),
    );
    for runner in [&ep, &loaded] {
        let err = runner
            .module()
            .call((Tensor::randn([20, 32]), Tensor::randn([32, 64])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Guard failed: x.size()[0] <= 16, but got 20"
        );
        let err = runner
            .module()
            .call((Tensor::randn([4, 8]), Tensor::randn([4, 20])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Guard failed: y.size()[0] == x.size()[1], but got 4 and 8"
        );
    }

    let dx = Dim::new("dx").min(3).max(6);
    let shapes = DynamicShapes::new()
        .input("z", [(0, &dx + 1)])
        .input("y", [(0, &dx * 3 + 1)]);
    let ep = Exporter::new(&Derived2 {}, (Tensor::randn([4]), Tensor::randn([10])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let loaded = round_trip(&ep);
    assert!(loaded
        .graph_code(0)
        .starts_with("fn forward(z: f32[s0 + 1], y: f32[3*s0 + 1]) {"));
    runs_identically(&ep, &loaded, (Tensor::randn([7]), Tensor::randn([19])));
    let err = loaded
        .module()
        .call((Tensor::randn([4]), Tensor::randn([11])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Guard failed: y.size()[0] == 3*z.size()[0] - 2, but got 11 and 10"
    );
    let err = loaded
        .module()
        .call((Tensor::randn([8]), Tensor::randn([22])))
        .unwrap_err();
    assert_eq!(err.to_string(), "Guard failed: z.size()[0] <= 7, but got 8");

    // Sizes inside arguments (`zeros([2*s0])`) and size outputs.
    let ep = Exporter::new(&Sizes {}, (Tensor::randn([3, 2]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    let loaded = round_trip(&ep);
    let out = loaded.module().call((Tensor::randn([5, 2]),)).unwrap();
    assert_eq!(out[0].shape(), [10]);
    assert_eq!(out[1].item::<i64>().unwrap(), 6);
}

#[export_module]
struct Stack {
    blocks: Vec<Block>,
    #[buffer(persistent = false)]
    shift: Tensor,
    offset: Tensor,
    #[buffer]
    count: Tensor,
}

#[export_module]
impl Stack {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        self.count.add_(1);
        let mut h = x - &self.shift;
        for block in &self.blocks {
            h = block.forward(&h);
        }
        (h.clone() + &self.offset, h.sum() * &self.count)
    }
}

#[test]
fn buffers_constants_and_mutations_round_trip() {
    let m = Stack {
        blocks: (0..2)
            .map(|i| Block {
                lin: nn::Linear::new(6, 6),
                scale: Tensor::full([6], 0.5 + i as f64),
            })
            .collect(),
        shift: Tensor::full([6], 0.25),
        offset: Tensor::from_slice(&[1.0f32, -1.0, 0.5, 0.0, 2.0, 3.0]),
        count: Tensor::zeros([1]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 6]),)).unwrap();
    let loaded = round_trip(&ep);
    let kinds: Vec<(InputKind, &str, Option<bool>)> = loaded
        .graph_signature()
        .input_specs
        .iter()
        .map(|s| (s.kind, s.arg.name(), s.persistent))
        .collect();
    assert!(kinds.contains(&(InputKind::Buffer, "b_shift", Some(false))));
    assert!(kinds.contains(&(InputKind::ConstantTensor, "c_offset", None)));
    assert!(loaded
        .graph_signature()
        .output_specs
        .iter()
        .any(|s| s.kind == OutputKind::BufferMutation && s.target.as_deref() == Some("count")));
    assert_eq!(
        loaded.constants().keys().collect::<Vec<_>>(),
        ["shift", "offset"]
    );
    // Each program has its own buffers now: both count 1, 2, … on their own.
    let x = Tensor::randn([4, 6]);
    for expected in [1.0, 2.0] {
        let a = ep.module().call((x.copy(),)).unwrap();
        let b = loaded.module().call((x.copy(),)).unwrap();
        assert_eq!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
        assert_eq!(a[1].to_vec::<f32>().unwrap(), b[1].to_vec::<f32>().unwrap());
        assert_eq!(
            loaded
                .state_dict()
                .get("count")
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            [expected]
        );
    }
}

#[test]
fn the_runtime_loads_a_saved_program_directly() {
    ferrex::manual_seed(8);
    let mlp = Mlp::new(20, [64, 32], 5);
    let ep = ferrex::export(&mlp, (Tensor::randn([3, 20]),)).unwrap();
    let path = TempPath::new("runtime");
    ferrex::save(&ep, &path.0).unwrap();
    let compiled = ferrex_runtime::load(&path.0).unwrap();
    let x = Tensor::randn([3, 20]);
    let a = compiled.call((x.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let b = ep.module().call((x,)).unwrap()[0].to_vec::<f32>().unwrap();
    assert!(a
        .iter()
        .zip(&b)
        .all(|(p, q)| (p - q).abs() <= 1e-5 * (1.0 + q.abs())));
}

#[test]
fn damaged_files_are_clear_errors() {
    let m = MyModule {
        lin: nn::Linear::new(4, 2),
    };
    let ep = ferrex::export(&m, (Tensor::randn([1, 4]), Tensor::randn([1, 4]))).unwrap();
    let good = ferrex::serialize::pt2::to_bytes(&ep, "good").unwrap();

    // A missing file.
    let missing = TempPath::new("missing");
    let err = ferrex::load(&missing.0).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&missing.0.display().to_string()));

    // Not a zip archive at all.
    let path = TempPath::new("garbage");
    std::fs::write(&path.0, b"this is not a program").unwrap();
    let err = ferrex::load(&path.0).unwrap_err();
    assert!(matches!(err, LoadError::Program { .. }), "{err}");
    assert!(err.to_string().contains("not a zip archive"), "{err}");
    assert!(
        err.to_string().contains(&path.0.display().to_string()),
        "{err}"
    );

    // Truncated at every tenth of its length: an error each time, never a panic.
    for cut in 1..10 {
        let bytes = &good[..good.len() * cut / 10];
        let err = ferrex::serialize::pt2::from_bytes(bytes, "cut.pt2").unwrap_err();
        assert!(matches!(err, LoadError::Program { .. }), "{err}");
    }
    // Flipped bytes anywhere: an error (or, where they hit nothing that matters, the
    // same program) — never a panic.
    for at in (0..good.len()).step_by(good.len() / 97 + 1) {
        let mut bytes = good.clone();
        bytes[at] ^= 0x5a;
        if let Ok(p) = ferrex::serialize::pt2::from_bytes(&bytes, "flipped.pt2") {
            assert_eq!(p.to_string(), ep.to_string());
        }
    }
    // And the intact bytes load.
    let loaded = ferrex::serialize::pt2::from_bytes(&good, "good.pt2").unwrap();
    assert_eq!(loaded.to_string(), ep.to_string());
}

fn tripled(args: &ferrex::ops::OpArgs) -> Result<Vec<Tensor>, ferrex::error::OpError> {
    Ok(vec![args.tensor(0)?.mul(args.float(1)?)])
}

fn same_meta(
    args: &ferrex::ops::OpArgs,
) -> Result<Vec<ferrex::tensor::TensorMeta>, ferrex::error::OpError> {
    Ok(vec![args.meta(0)?])
}

fn custom() -> &'static ferrex::ops::OpDef {
    static OP: std::sync::OnceLock<&'static ferrex::ops::OpDef> = std::sync::OnceLock::new();
    OP.get_or_init(|| {
        ferrex::ops::custom_op("serialize_test::scaled(Tensor x, float scale=3.0) -> Tensor")
            .meta(same_meta)
            .implementation(tripled)
            .register()
            .expect("registers once")
    })
}

#[export_module(strict = false)]
struct UsesCustom {}

#[export_module(strict = false)]
impl UsesCustom {
    fn forward(&self, x: &Tensor) -> Tensor {
        custom().call(&[&x.relu()]) + 1.0
    }
}

#[test]
fn programs_with_custom_ops_load_while_the_op_is_registered() {
    // (A file naming an op that is not registered is a `LoadError::UnknownOp`; see the
    // unit tests of `ferrex::serialize::pt2`.)
    let ep = ferrex::export(&UsesCustom {}, (Tensor::randn([3]),)).unwrap();
    assert!(ep
        .op_targets()
        .contains(&"serialize_test::scaled.default".to_string()));
    let loaded = round_trip(&ep);
    runs_identically(&ep, &loaded, (Tensor::from_slice(&[-1.0f32, 0.5, 2.0]),));
    let out = loaded
        .module()
        .call((Tensor::from_slice(&[-1.0f32, 0.5, 2.0]),))
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [1.0, 2.5, 7.0]);
}

#[export_module]
struct MapLinear {
    lin: nn::Linear,
}

#[export_module]
impl MapLinear {
    fn forward(&self, xs: &Tensor, y: &Tensor) -> Tensor {
        ferrex::map!(|x, y| self.lin.forward(&(x + y)).tanh(), xs, [y])
    }
}

#[test]
fn map_bodies_round_trip() {
    let m = MapLinear {
        lin: nn::Linear::new(4, 3),
    };
    let ep = Exporter::new(&m, (Tensor::randn([5, 4]), Tensor::randn([4])))
        .dynamic_shapes(DynamicShapes::new().input("xs", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    let loaded = round_trip(&ep);
    assert!(
        loaded.to_string().contains("map_impl(body_graph_0"),
        "{loaded}"
    );
    for n in [1, 5, 7] {
        runs_identically(&ep, &loaded, (Tensor::randn([n, 4]), Tensor::randn([4])));
    }
}

/// A transpose, copied, then viewed.
#[export_module]
struct CopyThenView {}

#[export_module]
impl CopyThenView {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.t().copy().view([-1])
    }
}

/// ferrex's values are contiguous, so its `clone` is written with PyTorch's
/// `contiguous_format`: with PyTorch's default (`preserve_format`) the copy would keep the
/// transpose's strides and PyTorch's `view` would refuse it.
#[test]
fn clones_are_written_contiguous_for_pytorch() {
    let ep = ferrex::export(&CopyThenView {}, (Tensor::randn([2, 3]),)).unwrap();
    let json = ferrex::serialize::pt2::program_json(&ep).unwrap();
    let nodes = &json.graph_module.graph.nodes;
    let targets: Vec<&str> = nodes.iter().map(|n| n.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "torch.ops.aten.t.default",
            "torch.ops.aten.clone.default",
            "torch.ops.aten.view.default"
        ]
    );
    let clone = &nodes[1];
    let memory_format = serde_json::to_value(&clone.inputs[1]).unwrap();
    assert_eq!(
        memory_format,
        serde_json::json!({"name": "memory_format", "arg": {"as_memory_format": 1}, "kind": 2})
    );
    // Read back, the program is the same.
    let bytes = ferrex::serialize::pt2::to_bytes(&ep, "copy_then_view").unwrap();
    let loaded = ferrex::serialize::pt2::from_bytes(&bytes, "copy_then_view.pt2").unwrap();
    assert_eq!(loaded.to_string(), ep.to_string());
}
