//! ferrex's two IRs against PyTorch 2.15's for the programs of the `.pt2` corpus
//! (`tests/data/pt2_corpus_ops.json`: the `ops` and `core_ops` of each program in
//! `shared/reference/pytorch-2.15/pt2/manifest.json`, written by
//! `shared/tools/gen_pt2_corpus.py`).
//!
//! Each program's model is rebuilt here (random weights, the same shapes and dynamic
//! dims), exported, and its op set compared with PyTorch's export IR (`ops`, modulo
//! functionalization: ferrex never records `add_`), then `run_decompositions()`'s op set
//! with PyTorch's core ATen IR (`core_ops`). What still differs is listed per program,
//! with its reason; everything else must match exactly. The decomposed program must
//! compute what the exported one does, on random inputs, interpreted and compiled.

use std::collections::BTreeSet;

use ferrex::graph::{Graph, NodeKind};
use ferrex::module::ForwardArgs;
use ferrex::prelude::*;
use ferrex::program::ExportedProgram;
use ferrex::{Dim, DynamicShapes, SymInt};
use serde_json::Value as Json;

const GETITEM: &str = "<built-in function getitem>";

/// The op set of a graph and its subgraphs, spelled as PyTorch's `str(node.target)`.
fn op_set(graph: &Graph, out: &mut BTreeSet<String>) {
    for node in &graph.nodes {
        match &node.kind {
            NodeKind::Call { .. } => {
                if let Some(op) = node.op() {
                    // SymInt arithmetic is a Python operator: `<built-in function mul>`.
                    let name = op.name();
                    out.insert(match name.strip_prefix("_operator::") {
                        Some(f) => {
                            format!("<built-in function {}>", f.trim_end_matches(".default"))
                        }
                        None => name.replacen("::", ".", 1),
                    });
                }
            }
            NodeKind::GetItem { .. } => {
                out.insert(GETITEM.to_string());
            }
            NodeKind::HigherOrder { op, .. } => {
                out.insert(op.name().to_string());
            }
            _ => {}
        }
    }
    for sub in &graph.subgraphs {
        op_set(&sub.graph, out);
    }
}

fn ops_of(ep: &ExportedProgram) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    op_set(ep.graph(), &mut out);
    out
}

fn manifest(name: &str, key: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/pt2_corpus_ops.json"
    ))
    .expect("tests/data/pt2_corpus_ops.json is part of the repository");
    let doc: Json = serde_json::from_str(&text).expect("pt2_corpus_ops.json parses");
    doc[name][key]
        .as_array()
        .unwrap_or_else(|| panic!("{name}.{key} in pt2_corpus_ops.json"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// A known difference: PyTorch's op (or `None`) where ferrex has `ours` (or `None`).
struct Diff {
    pytorch: Option<&'static str>,
    ours: Option<&'static str>,
    #[allow(dead_code)]
    reason: &'static str,
}

fn diff(pytorch: Option<&'static str>, ours: Option<&'static str>, reason: &'static str) -> Diff {
    Diff {
        pytorch,
        ours,
        reason,
    }
}

/// PyTorch's set with the listed differences applied: what ferrex must give exactly.
fn expected(name: &str, key: &str, diffs: &[Diff]) -> BTreeSet<String> {
    let mut want = manifest(name, key);
    for d in diffs {
        if let Some(p) = d.pytorch {
            assert!(want.remove(p), "{name}: {p} is not in PyTorch's {key}");
        }
        if let Some(o) = d.ours {
            want.insert(o.to_string());
        }
    }
    want
}

/// Functionalization: PyTorch's export IR keeps in-place ops, ferrex's never does.
fn functional(inplace: &'static str, functional: &'static str) -> Diff {
    diff(
        Some(inplace),
        Some(functional),
        "ferrex's export IR is functional",
    )
}

/// Exports, checks both op sets, and checks that the decomposed program computes what
/// the exported one does on `inputs`.
fn check<A: ForwardArgs>(
    name: &str,
    ep: ExportedProgram,
    export_diffs: &[Diff],
    core_diffs: &[Diff],
    inputs: impl Fn() -> A,
) {
    let got = ops_of(&ep);
    assert_eq!(
        got,
        expected(name, "ops", export_diffs),
        "{name}: export IR"
    );
    let core = ep.run_decompositions().unwrap();
    assert_eq!(
        ops_of(&core),
        expected(name, "core_ops", core_diffs),
        "{name}: core ATen IR\n{core}"
    );
    // The same random inputs (fresh copies: some programs mutate their inputs).
    ferrex::manual_seed(7);
    let a = ep.module().call(inputs()).unwrap();
    ferrex::manual_seed(7);
    let b = core.module().call(inputs()).unwrap();
    close(&a, &b);
    // The compiled runtime runs both programs too.
    for program in [&ep, &core] {
        let compiled = ferrex_runtime::compile(program).unwrap();
        ferrex::manual_seed(7);
        let c = compiled.call(inputs()).unwrap();
        close(&a, &c);
    }
}

/// ferrex's random generator is global: tests in this binary run one at a time, so that
/// `manual_seed(7)` before building inputs gives every program the same inputs (another
/// test's thread drawing weights in between made them differ).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn close(a: &[Tensor], b: &[Tensor]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.shape(), y.shape());
        let (x, y) = (x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-5 + 1e-5 * q.abs(), "{p} vs {q}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The models of gen_pt2_corpus.py

#[export_module]
struct MyModule {
    lin: nn::Linear,
}

#[export_module]
impl MyModule {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        self.lin.forward(&(x + y)).relu()
    }
}

#[export_module]
struct Mlp {
    layers: Vec<nn::Linear>,
}

#[export_module]
impl Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(&x);
            if i + 1 < self.layers.len() {
                x = x.relu();
            }
        }
        x
    }
}

fn mlp(sizes: &[usize]) -> Mlp {
    Mlp {
        layers: sizes
            .windows(2)
            .map(|w| nn::Linear::new(w[0], w[1]))
            .collect(),
    }
}

#[test]
fn mymodule() {
    let _serial = serial();
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let inputs = || (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    let ep = ferrex::export(&m, inputs()).unwrap();
    check("mymodule", ep, &[], &[], inputs);
}

#[test]
fn mlp_784_512_512_10() {
    let _serial = serial();
    let m = mlp(&[784, 512, 512, 10]);
    let inputs = || (Tensor::randn([8, 784]),);
    let ep = ferrex::export(&m, inputs()).unwrap();
    check("mlp", ep, &[], &[], inputs);
}

#[test]
fn dynbatch() {
    let _serial = serial();
    let m = mlp(&[16, 32, 4]);
    let inputs = || (Tensor::randn([8, 16]),);
    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("batch").min(1).max(1024))]);
    let ep = ferrex::Exporter::new(&m, inputs())
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    check("dynbatch", ep, &[], &[], || (Tensor::randn([37, 16]),));
}

#[export_module]
struct ConvNet {
    conv: nn::Conv2d,
    bn: nn::BatchNorm2d,
    fc: nn::Linear,
}

#[export_module]
impl ConvNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.bn.forward(&self.conv.forward(x)).relu();
        let x = F::max_pool2d(&x, &[2], None, &[0], &[1], false);
        self.fc.forward(&x.flatten(1, -1))
    }
}

#[test]
fn convnet8() {
    let _serial = serial();
    let m = ConvNet {
        conv: nn::Conv2d::new(1, 8, 3).padding(1),
        bn: nn::BatchNorm2d::new(8),
        fc: nn::Linear::new(8 * 14 * 14, 10),
    };
    let inputs = || (Tensor::randn([2, 1, 28, 28]),);
    let ep = ferrex::export(&m, inputs()).unwrap();
    check("convnet8", ep, &[], &[], inputs);
}

#[export_module]
struct CondMod {
    lin: nn::Linear,
}

#[export_module]
impl CondMod {
    fn forward(&self, x: &Tensor) -> Tensor {
        ferrex::cond!(
            x.sum().gt(0),
            |x| self.lin.forward(&x).sin(),
            |x| self.lin.forward(&x).cos(),
            [x]
        )
    }
}

#[test]
fn cond() {
    let _serial = serial();
    let m = CondMod {
        lin: nn::Linear::new(4, 4),
    };
    let ep = ferrex::export(&m, (Tensor::randn([3, 4]).abs(),)).unwrap();
    check(
        "cond",
        ep,
        &[],
        &[],
        || (Tensor::randn([3, 4]).abs().neg(),),
    );
}

#[export_module]
struct SymView {}

#[export_module]
impl SymView {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.reshape([x.size(0), SymInt::from(-1)]) * 2
    }
}

#[test]
fn symview() {
    let _serial = serial();
    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("n").min(2).max(64))]);
    let ep = ferrex::Exporter::new(&SymView {}, (Tensor::randn([4, 3, 5]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    check("symview", ep, &[], &[], || (Tensor::randn([7, 3, 5]),));
}

#[export_module]
struct Derived {}

#[export_module]
impl Derived {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x.slice_from(0, 1) + y
    }
}

#[test]
fn derived() {
    let _serial = serial();
    let d = Dim::new("d").min(2).max(32);
    let shapes = DynamicShapes::new()
        .input("x", [(0, d.clone() + 1)])
        .input("y", [(0, d)]);
    let ep = ferrex::Exporter::new(&Derived {}, (Tensor::randn([6, 3]), Tensor::randn([5, 3])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    check("derived", ep, &[], &[], || {
        (Tensor::randn([10, 3]), Tensor::randn([9, 3]))
    });
}

/// PyTorch's pre-norm block with `nn.MultiheadAttention(32, 4, batch_first=True)`,
/// written with the ops PyTorch's `multi_head_attention_forward` records.
#[export_module]
struct Block {
    ln1: nn::LayerNorm,
    in_proj: nn::Linear,
    out_proj: nn::Linear,
    ln2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

#[export_module]
impl Block {
    fn attention(&self, h: &Tensor) -> Tensor {
        let (b, t) = (h.size(0), h.size(1));
        let q = h.transpose(1, 0);
        let proj = self.in_proj.forward(&q).view([
            t.clone(),
            b.clone(),
            SymInt::from(3),
            SymInt::from(32),
        ]);
        let proj = proj.unsqueeze(0).transpose(0, -2).squeeze_dim(-2).copy();
        let bh = b.mul(&SymInt::from(4));
        let heads = |i: i64| {
            proj.select(0, i)
                .view([t.clone(), bh.clone(), SymInt::from(8)])
                .transpose(0, 1)
                .view([b.clone(), SymInt::from(4), t.clone(), SymInt::from(8)])
        };
        let (q, k, v) = (heads(0), heads(1), heads(2));
        let attn = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, false);
        let attn = attn
            .permute(&[2, 0, 1, 3])
            .reshape([t.mul(&b), SymInt::from(32)]);
        let out = self.out_proj.forward(&attn).view([t, b, SymInt::from(32)]);
        out.transpose(1, 0)
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + self.attention(&self.ln1.forward(x));
        let h = F::gelu(&self.fc1.forward(&self.ln2.forward(&x)), "none");
        &x + self.fc2.forward(&h)
    }
}

#[test]
fn block() {
    let _serial = serial();
    let m = Block {
        ln1: nn::LayerNorm::new(&[32]),
        in_proj: nn::Linear::new(32, 96),
        out_proj: nn::Linear::new(32, 32),
        ln2: nn::LayerNorm::new(&[32]),
        fc1: nn::Linear::new(32, 64),
        fc2: nn::Linear::new(64, 32),
    };
    let shapes = DynamicShapes::new().input(
        "x",
        [
            (0, Dim::new("b").min(1).max(16)),
            (1, Dim::new("t").min(2).max(128)),
        ],
    );
    let ep = ferrex::Exporter::new(&m, (Tensor::randn([2, 7, 32]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let export = [
        diff(
            Some("aten.contiguous.default"),
            Some("aten.clone.default"),
            "`contiguous` is registered by branch pt2-read; ferrex's tensors are always \
             contiguous, so `copy()` (clone) stands in for it",
        ),
        diff(
            Some("aten.unflatten.int"),
            None,
            "`unflatten` is registered by branch pt2-read; `view` (already in the set) \
             stands in for it",
        ),
    ];
    let core = [];
    check(
        "block",
        ep,
        &export,
        &core,
        || (Tensor::randn([3, 11, 32]),),
    );
}

#[export_module]
struct Counter {
    lin: nn::Linear,
    #[buffer]
    calls: Tensor,
    #[buffer]
    running: Tensor,
}

#[export_module]
impl Counter {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.calls.add_(1);
        let y = self.lin.forward(x);
        self.running.mul_(0.9).add_(y.mean_dim(&[0], false) * 0.1);
        y.tanh()
    }
}

#[test]
fn counter() {
    let _serial = serial();
    let m = Counter {
        lin: nn::Linear::new(6, 6),
        calls: Tensor::zeros([1]),
        running: Tensor::zeros([6]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([5, 6]),)).unwrap();
    let export = [
        functional("aten.add_.Tensor", "aten.add.Tensor"),
        diff(
            Some("aten.mul_.Tensor"),
            None,
            "ferrex's export IR is functional (mul.Tensor is already in the set)",
        ),
    ];
    check("counter", ep, &export, &[], || (Tensor::randn([5, 6]),));
}

#[export_module]
struct InputMutation {}

#[export_module]
impl InputMutation {
    fn forward(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        x.add_(1.0);
        (x * y, y.sum())
    }
}

#[test]
fn inputmut() {
    let _serial = serial();
    let ep = ferrex::export(
        &InputMutation {},
        (Tensor::randn([3, 3]), Tensor::randn([3, 3])),
    )
    .unwrap();
    let export = [functional("aten.add_.Tensor", "aten.add.Tensor")];
    check("inputmut", ep, &export, &[], || {
        (Tensor::randn([3, 3]), Tensor::randn([3, 3]))
    });
}

#[export_module]
struct Embed {
    emb: nn::Embedding,
    proj: nn::Linear,
}

#[export_module]
impl Embed {
    fn forward(&self, idx: &Tensor, scale: &Tensor) -> (Tensor, Tensor) {
        let e = self.emb.forward(idx);
        (
            self.proj.forward(&e).softmax(-1),
            (&e * scale).sum_dim(&[-1], false),
        )
    }
}

#[test]
fn embed() {
    let _serial = serial();
    let m = Embed {
        emb: nn::Embedding::new(50, 16),
        proj: nn::Linear::new(16, 4),
    };
    let inputs = || {
        let idx = Tensor::from_vec((0..24).map(|i| (i * 7) % 50).collect::<Vec<i64>>(), [4, 6]);
        (idx, Tensor::from_vec(vec![0.5f32], [0usize; 0]))
    };
    let ep = ferrex::export(&m, inputs()).unwrap();
    check("embed", ep, &[], &[], inputs);
}
