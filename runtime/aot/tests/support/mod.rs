//! The fixtures of the generated-code tests: zoo models exported and saved with
//! `ferrex::save`'s format (committed in `tests/fixtures/`), and the code `ferrex aot`
//! generates from them (committed in `tests/generated/`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ferrex::{ExportedProgram, Tensor};
use ferrex_examples::zoo::{GroupNormResidual, LeNet, Mlp, TransformerBlock};

/// A fixture: its name (`tests/fixtures/NAME.pt2`, `tests/generated/NAME.rs`) and how
/// its program is made.
pub struct Fixture {
    pub name: &'static str,
    pub export: fn() -> ExportedProgram,
}

fn mlp(batch: usize) -> ExportedProgram {
    ferrex::manual_seed(13);
    let m = Mlp::new(20, [64, 32], 5);
    let x = Tensor::randn([batch, 20]);
    match ferrex::export(&m, (x,)) {
        Ok(ep) => ep,
        Err(e) => panic!("exporting the zoo MLP failed: {e}"),
    }
}

/// The torch.export tutorial's module: `relu(linear(x + y))`, `Linear(100, 10)`.
#[ferrex::export_module]
pub struct Tutorial {
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Tutorial {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        ferrex::nn::functional::relu_(self.lin.forward(&(x + y)))
    }
}

/// A classifier head: `log_softmax(softmax(linear(x), 1) * 3, 1)` — softmax steps of
/// both kinds around a fused chain.
#[ferrex::export_module]
pub struct Classifier {
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Classifier {
    fn forward(&self, x: &Tensor) -> Tensor {
        (self.lin.forward(x).softmax(1) * 3.0).log_softmax(1)
    }
}

fn classifier() -> ExportedProgram {
    ferrex::manual_seed(29);
    let m = Classifier {
        lin: ferrex::nn::Linear::new(16, 8),
    };
    ferrex::export(&m, (Tensor::randn([4, 16]),))
        .unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

/// Views, reductions, group norm, `bmm`, `cat`, `stack` and upsampling: a slice of the
/// input (`slice`, planned as a strided view, as `narrow` is), a batched product with
/// its transpose (`bmm`, and a `matmul` of 4-D operands), a group norm, an expand, both joined along their last dim and stacked
/// along a new dim 1, the input upsampled to 4×9 (nearest and bilinear) and widened by
/// a transposed convolution, means, maxima and minima.
#[ferrex::export_module]
pub struct Ops {
    norm: ferrex::nn::GroupNorm,
    up: Tensor,
}

#[ferrex::export_module]
impl Ops {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = x.slice(2, Some(1), Some(5), 1);
        // A `matmul` of two 4-D operands (attention scores): the `bmm` step.
        let heads = x.reshape([2, 2, 2, -1]);
        let scores = heads.matmul(&heads.transpose(-2, -1));
        let b = a.bmm(&a.transpose(1, 2));
        let g = self.norm.forward(&b);
        let m = x.select(2, 0).unsqueeze(2).expand([2, 4, 4]);
        let joined = Tensor::cat(&[&g, &m], -1).mean_dim(&[2], false);
        let stacked = Tensor::stack(&[&g, &m], 1).mean_dim(&[1, 3], false);
        let up = x.unsqueeze(1).upsample_nearest2d(Some(&[4, 9]), None);
        let blend = x
            .unsqueeze(1)
            .upsample_bilinear2d(Some(&[4, 9]), true, None);
        (g + m).mean_dim(&[2], false) + joined * stacked + up.mean_dim(&[1, 3], false)
            - blend.amax(&[1, 3], false) * up.amin(&[1, 3], false)
            + (x.unsqueeze(1))
                .conv_transpose2d(&self.up, None, &[1, 2], &[0, 0], &[0, 1], 1, &[1, 1])
                .mean_dim(&[1, 3], false)
            + scores.sum_dim(&[3], false).reshape([2, 4])
    }
}

/// An LSTM cell's gates, time-major: four gates cut from one product (`chunk(4, -1)`)
/// and read in place by the fused gate arithmetic; the first time step (`select`) and
/// the others (`slice` along dim 0) read in place as runs of the hidden states' buffer;
/// the others' time and batch dims swapped (a permute keeping the last dim), read in
/// place by the add.
#[ferrex::export_module]
pub struct Gates {
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Gates {
    fn forward(&self, x: &Tensor, c: &Tensor) -> Tensor {
        let g = self.lin.forward(x).chunk(4, -1);
        let c = &g[1].sigmoid() * c + &g[0].sigmoid() * &g[2].tanh();
        let h = &g[3].sigmoid() * &c.tanh();
        let first = h.select(0, 0).unsqueeze(1);
        let rest = h.slice(0, Some(1), None::<i64>, 1).transpose(0, 1);
        rest + first
    }
}

/// Ops the plan runs through the registry's eager kernels (`narrow` from a negative
/// start, `cumsum`, `flip`, `max.dim` with two outputs) between planned steps.
#[ferrex::export_module]
pub struct Eager {
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Eager {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = x.narrow(1, -5, 3).cumsum(1);
        let (m, _) = a.max_dim(1, true);
        self.lin.forward(&(a.flip(&[1]) * 2.0)) + m
    }
}

/// A buffer updated by every call (a running sum of the batch's rows), read after the
/// update: the state carries from call to call.
#[ferrex::export_module]
pub struct Running {
    #[buffer]
    total: Tensor,
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Running {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.total.add_(x.sum_dim(&[0], false));
        self.lin.forward(x) + &self.total
    }
}

/// Two 1-D convolutions (stride, padding) with a ReLU between: planned as 2-D ones over
/// a height-1 plane.
#[ferrex::export_module]
pub struct Conv1dNet {
    a: ferrex::nn::Conv1d,
    b: ferrex::nn::Conv1d,
}

#[ferrex::export_module]
impl Conv1dNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.b.forward(&self.a.forward(x).relu())
    }
}

fn conv1d_net() -> ExportedProgram {
    ferrex::manual_seed(37);
    let mut a = ferrex::nn::Conv1d::new(2, 6, 5);
    (a.stride, a.padding) = (2, 2);
    let m = Conv1dNet {
        a,
        b: ferrex::nn::Conv1d::new(6, 4, 3),
    };
    exported(&m, Tensor::randn([2, 2, 16]))
}

fn ops() -> ExportedProgram {
    ferrex::manual_seed(31);
    let m = Ops {
        norm: ferrex::nn::GroupNorm::new(2, 4),
        up: Tensor::randn([1, 2, 1, 2]),
    };
    ferrex::export(&m, (Tensor::randn([2, 4, 6]),))
        .unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

/// Attention masks: a bool padding mask and its integer complement as inputs; a
/// `masked_fill` through a view of the bool mask, a `where` reading it as it is (a fused
/// select beside a fill), the integer mask cast into the scores' arithmetic, a
/// logical op on bool data, and attention with a bool mask.
#[ferrex::export_module]
pub struct Masks {}

#[ferrex::export_module]
impl Masks {
    fn forward(&self, x: &Tensor, pad: &Tensor, keep: &Tensor) -> Tensor {
        let keys = pad.unsqueeze(1);
        let padded = x.masked_fill(&keys, -1e9);
        let additive = (keep.unsqueeze(1).to_dtype(ferrex::DType::F32) - 1.0) * 1e4;
        let zeroed = x.masked_fill(&pad.logical_not().unsqueeze(1), 0.0);
        let sums = x.sum_dim(&[1], false);
        let direct = Tensor::where_(pad, &sums, &sums.full_like(2.0));
        let attended = ferrex::nn::functional::scaled_dot_product_attention(
            x,
            x,
            x,
            Some(&pad.logical_not().unsqueeze(1)),
            0.0,
            false,
            None,
            false,
        );
        padded + additive + zeroed + direct.unsqueeze(1) + attended
    }
}

/// Reflection padding (a gather by indices computed per size), instance norm, a roll,
/// a gather by an index input with negative entries, a constant pad and crop, lane
/// ops, and a gather by two index inputs whose shapes broadcast (`n[:, :, pick, rows]`,
/// `pick` a column).
#[ferrex::export_module]
pub struct Indexing {}

#[ferrex::export_module]
impl Indexing {
    fn forward(&self, x: &Tensor, rows: &Tensor, pick: &Tensor) -> (Tensor, Tensor) {
        let p = ferrex::nn::functional::pad(x, &[1, 1, 1, 1], "reflect", None);
        let n = p.instance_norm(None, None, 1e-5);
        let g = n.roll(&[1, -2], &[2, 3]).index(&[None, None, Some(rows)]);
        let g = g.pad([1, -2], -2.0);
        let (top, _) = g.topk(2, -1, true);
        let picked = n.index(&[None, None, Some(pick), Some(rows)]);
        let argmax = g.argmax(Some(-1), false).unsqueeze(-1);
        (top + argmax.to_dtype(ferrex::DType::F32), picked)
    }
}

/// The inputs of [`Indexing`] at batch 2.
pub fn indexing_inputs() -> (Tensor, Tensor, Tensor) {
    (
        Tensor::randn([2, 3, 5, 6]),
        Tensor::from_slice(&[0i64, -1, 3, -7]),
        Tensor::from_vec(vec![1i64, -2, 6], [3, 1]),
    )
}

/// The inputs of [`Masks`] at batch 2: scores and sample `s`'s last `s + 1` keys padded.
pub fn masks_inputs() -> (Tensor, Tensor, Tensor) {
    let pad: Vec<bool> = (0..8).map(|k| k % 4 >= 3 - k / 4).collect();
    let keep: Vec<i64> = pad.iter().map(|&p| i64::from(!p)).collect();
    (
        Tensor::randn([2, 4, 4]),
        Tensor::from_vec(pad, [2, 4]),
        Tensor::from_vec(keep, [2, 4]),
    )
}

fn tutorial() -> ExportedProgram {
    ferrex::manual_seed(23);
    let m = Tutorial {
        lin: ferrex::nn::Linear::new(100, 10),
    };
    let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    ferrex::export(&m, (x, y)).unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

fn exported<M: ferrex::Forward<Args = (Tensor,), Output = Tensor>>(
    m: &M,
    x: Tensor,
) -> ExportedProgram {
    ferrex::export(m, (x,)).unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

/// `m` exported on `args` with dims `dims` of its inputs dynamic: `(input, [(dim, Dim)])`.
fn dynamic<M: ferrex::Forward>(
    m: &M,
    args: M::Args,
    dims: &[(&str, &[(usize, ferrex::Dim)])],
) -> ExportedProgram {
    let mut shapes = ferrex::DynamicShapes::new();
    for (input, d) in dims {
        shapes = shapes.input(*input, d.iter().cloned());
    }
    ferrex::Exporter::new(m, args)
        .dynamic_shapes(shapes)
        .run()
        .unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

/// The fixtures with dynamic dims: `(name, input shapes with their dims)` — each is run
/// by `tests/dynamic.rs` at every dim's min, example, max and 0 where allowed.
pub const DYNAMIC: &[Fixture] = &[
    Fixture {
        name: "mlp_dyn",
        export: || {
            ferrex::manual_seed(41);
            let m = Mlp::new(20, [64, 32], 5);
            let batch = ferrex::Dim::new("batch").max(64);
            dynamic(&m, (Tensor::randn([8, 20]),), &[("x", &[(0, batch)])])
        },
    },
    Fixture {
        name: "tutorial_dyn",
        export: || {
            ferrex::manual_seed(42);
            let m = Tutorial {
                lin: ferrex::nn::Linear::new(100, 10),
            };
            let batch = ferrex::Dim::new("batch").max(32);
            let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
            dynamic(
                &m,
                (x, y),
                &[("x", &[(0, batch.clone())]), ("y", &[(0, batch)])],
            )
        },
    },
    Fixture {
        name: "classifier_dyn",
        export: || {
            ferrex::manual_seed(43);
            let m = Classifier {
                lin: ferrex::nn::Linear::new(16, 8),
            };
            let batch = ferrex::Dim::new("batch");
            dynamic(&m, (Tensor::randn([4, 16]),), &[("x", &[(0, batch)])])
        },
    },
    Fixture {
        name: "lenet_dyn",
        export: || {
            ferrex::manual_seed(44);
            let batch = ferrex::Dim::new("batch").max(8);
            dynamic(
                &LeNet::new(),
                (Tensor::randn([2, 1, 28, 28]),),
                &[("x", &[(0, batch)])],
            )
        },
    },
    Fixture {
        name: "transformer_dyn",
        export: || {
            ferrex::manual_seed(45);
            let batch = ferrex::Dim::new("batch").max(4);
            let seq = ferrex::Dim::new("seq").min(1).max(16);
            dynamic(
                &TransformerBlock::new(32, 4, 64),
                (Tensor::randn([2, 10, 32]),),
                &[("src", &[(0, batch), (1, seq)])],
            )
        },
    },
    Fixture {
        name: "transformer4_dyn",
        export: || {
            // Four blocks: one block function for the repeated ones, sizes from `d`.
            ferrex::manual_seed(57);
            let batch = ferrex::Dim::new("batch").max(4);
            let seq = ferrex::Dim::new("seq").min(1).max(16);
            dynamic(
                &encoder(4),
                (Tensor::randn([2, 10, 32]),),
                &[("src", &[(0, batch), (1, seq)])],
            )
        },
    },
    Fixture {
        name: "mlp784_dyn",
        export: || {
            // The benchmark MLP, 784-512-512-10, one archive for batch 1 and 64.
            ferrex::manual_seed(48);
            let m = Mlp::new(784, [512, 512], 10);
            let batch = ferrex::Dim::new("batch").min(1).max(64);
            dynamic(&m, (Tensor::randn([8, 784]),), &[("x", &[(0, batch)])])
        },
    },
    Fixture {
        name: "residual_dyn",
        export: || {
            ferrex::manual_seed(47);
            let m = GroupNormResidual::new(50, 16, 4);
            let ids =
                Tensor::from_vec((0..12i64).map(|i| (i * 7) % 50).collect::<Vec<_>>(), [2, 6]);
            let batch = ferrex::Dim::new("batch").max(8);
            let seq = ferrex::Dim::new("seq").min(1).max(32);
            dynamic(&m, (ids,), &[("ids", &[(0, batch), (1, seq)])])
        },
    },
    Fixture {
        name: "eager_dyn",
        export: || {
            ferrex::manual_seed(49);
            let m = Eager {
                lin: ferrex::nn::Linear::new(3, 4),
            };
            let batch = ferrex::Dim::new("batch").max(16);
            dynamic(&m, (Tensor::randn([4, 6]),), &[("x", &[(0, batch)])])
        },
    },
    Fixture {
        name: "running_dyn",
        export: || {
            ferrex::manual_seed(50);
            let m = Running {
                total: Tensor::zeros([4]),
                lin: ferrex::nn::Linear::new(4, 4),
            };
            let batch = ferrex::Dim::new("batch").max(16);
            dynamic(&m, (Tensor::randn([3, 4]),), &[("x", &[(0, batch)])])
        },
    },
    Fixture {
        // PyTorch's `nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)`,
        // its batch dynamic (1…64): one recurrent step.
        name: "lstm_dyn",
        export: || {
            let pt2 = root().join("../../tests/data/pt2_more/lstm_bi.pt2");
            ferrex::load(&pt2).unwrap_or_else(|e| panic!("{e}"))
        },
    },
    Fixture {
        name: "gates_dyn",
        export: || {
            ferrex::manual_seed(47);
            let m = Gates {
                lin: ferrex::nn::Linear::new(6, 20),
            };
            let steps = ferrex::Dim::new("steps").min(2).max(16);
            let args = (Tensor::randn([4, 3, 6]), Tensor::randn([4, 3, 5]));
            dynamic(
                &m,
                args,
                &[("x", &[(0, steps.clone())]), ("c", &[(0, steps)])],
            )
        },
    },
    Fixture {
        name: "ops_dyn",
        export: || {
            ferrex::manual_seed(46);
            let m = Ops {
                norm: ferrex::nn::GroupNorm::new(2, 4),
                up: Tensor::randn([1, 2, 1, 2]),
            };
            let w = ferrex::Dim::new("w").min(5).max(12);
            dynamic(&m, (Tensor::randn([2, 4, 6]),), &[("x", &[(2, w)])])
        },
    },
];

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "mlp_b1",
        export: || mlp(1),
    },
    Fixture {
        name: "mlp_b8",
        export: || mlp(8),
    },
    Fixture {
        name: "classifier_b4",
        export: classifier,
    },
    Fixture {
        name: "ops_b2",
        export: ops,
    },
    Fixture {
        name: "tutorial_b8",
        export: tutorial,
    },
    Fixture {
        name: "masks_b2",
        export: || {
            ferrex::manual_seed(43);
            ferrex::export(&Masks {}, masks_inputs())
                .unwrap_or_else(|e| panic!("exporting failed: {e}"))
        },
    },
    Fixture {
        name: "indexing_b2",
        export: || {
            ferrex::manual_seed(48);
            ferrex::export(&Indexing {}, indexing_inputs())
                .unwrap_or_else(|e| panic!("exporting failed: {e}"))
        },
    },
    Fixture {
        name: "lenet_b2",
        export: || {
            ferrex::manual_seed(17);
            exported(&LeNet::new(), Tensor::randn([2, 1, 28, 28]))
        },
    },
    Fixture {
        name: "transformer_b2",
        export: || {
            ferrex::manual_seed(19);
            exported(
                &TransformerBlock::new(32, 4, 64),
                Tensor::randn([2, 10, 32]),
            )
        },
    },
    Fixture {
        name: "transformer4_b2",
        export: || transformer_stack(4),
    },
    Fixture {
        name: "conv1d_b2",
        export: conv1d_net,
    },
];

/// `blocks` transformer blocks (d_model 32, 4 heads, feed-forward 64) in a
/// `Sequential`, exported at `[2, 10, 32]`: the same steps `blocks` times, on other
/// weights — the generator emits them once (`block0`, called per block).
pub fn transformer_stack(blocks: usize) -> ExportedProgram {
    ferrex::manual_seed(53);
    exported(&encoder(blocks), Tensor::randn([2, 10, 32]))
}

/// `blocks` transformer blocks (d_model 32, 4 heads, feed-forward 64).
fn encoder(blocks: usize) -> Encoder {
    let mut layers = ferrex::nn::Sequential::new();
    for _ in 0..blocks {
        layers = layers.append(TransformerBlock::new(32, 4, 64));
    }
    Encoder { layers }
}

/// Transformer blocks applied in turn.
#[ferrex::export_module]
pub struct Encoder {
    #[module]
    layers: ferrex::nn::Sequential,
}

#[ferrex::export_module]
impl Encoder {
    fn forward(&self, src: &Tensor) -> Tensor {
        self.layers.forward(src)
    }
}

/// `mlp_b1` with its program's schema major version raised: an archive a newer ferrex
/// wrote (`tests/fixtures/newer_format.pt2`).
pub fn newer_format() -> Vec<u8> {
    let ep = mlp(1);
    let bytes = ferrex::serialize::pt2::to_bytes(&ep, "newer_format").expect("saving");
    let mut entries = ferrex::serialize::pt2::read_entries(&bytes).expect("reading");
    for (name, data) in &mut entries {
        if name.ends_with("models/model.json") {
            let text = String::from_utf8(data.clone()).expect("utf-8");
            let at = text.find("\"schema_version\"").expect("a schema version");
            let major = at + text[at..].find("\"major\"").expect("a major version");
            let digits = major
                + text[major..]
                    .find(|c: char| c.is_ascii_digit())
                    .expect("digits");
            let end = digits
                + text[digits..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(0);
            *data = format!("{}99{}", &text[..digits], &text[end..]).into_bytes();
        }
    }
    ferrex::serialize::pt2::write_stored(&entries).expect("writing")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/NAME.pt2`, relative to the crate root as `ferrex aot` is run there.
pub fn archive(name: &str) -> PathBuf {
    Path::new("tests/fixtures").join(format!("{name}.pt2"))
}

pub fn generated(name: &str) -> PathBuf {
    Path::new("tests/generated").join(format!("{name}.rs"))
}

/// The code `ferrex aot tests/fixtures/NAME.pt2 -o tests/generated/NAME.rs` writes,
/// run in the crate root.
pub fn generate(name: &str) -> String {
    generate_split(name, name, ferrex_aot::STEPS_PER_FUNCTION)
}

/// [`generate`] of fixture `name` into `tests/generated/OUT.rs`, `per` steps a function.
pub fn generate_split(name: &str, out: &str, per: usize) -> String {
    let _cwd = root();
    let (program, output) = (root().join(archive(name)), root().join(generated(out)));
    let mut options = match ferrex_aot::AotOptions::for_files(&program, &output) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    options.display_name = archive(name).display().to_string();
    options.regenerate = format!(
        "ferrex aot {} -o {}",
        archive(name).display(),
        generated(out).display()
    );
    options.steps_per_function = per;
    let bytes = std::fs::read(&program).unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    match ferrex_aot::generate(&bytes, &options) {
        Ok(g) => g.code,
        Err(e) => panic!("{e}"),
    }
}

/// The layout a test forces on prepacked panels so that no build uses them.
pub const NO_SUCH_LAYOUT: &str = "a layout no kernel packs in (a forced mismatch)";

/// The prepacked modules `tests/prepacked.rs` runs: `(fixture, output, layout)`, each
/// including `tests/generated/FIXTURE.prepacked`; `None`: this build's layout.
pub const PREPACKED: &[(&str, &str, Option<&str>)] = &[
    ("lenet_b2", "lenet_b2_prepacked", None),
    ("lenet_b2", "lenet_b2_other_layout", Some(NO_SUCH_LAYOUT)),
    ("transformer_b2", "transformer_b2_prepacked", None),
];

/// What the `Builder` with `prepack()` generates for fixture `name` (the code of
/// `tests/generated/OUT.rs` and the bytes of `tests/generated/NAME.prepacked`), the
/// panels' layout recorded as `layout` (this build's by default).
pub fn generate_prepacked(name: &str, out: &str, layout: Option<&str>) -> (String, Vec<u8>) {
    let (program, output) = (root().join(archive(name)), root().join(generated(out)));
    let mut options = match ferrex_aot::AotOptions::for_files(&program, &output) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    options.display_name = archive(name).display().to_string();
    options.regenerate = "FERREX_BLESS=1 cargo test -p ferrex-aot --test fixtures".into();
    options.prepack = Some(ferrex_aot::Prepack {
        path: format!("{name}.prepacked"),
        layout: layout.map_or_else(ferrex_aot::packed_layout, str::to_string),
    });
    let bytes = std::fs::read(&program).unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    match ferrex_aot::generate(&bytes, &options) {
        Ok(g) => (g.code, g.prepacked.expect("prepacked bytes")),
        Err(e) => panic!("{e}"),
    }
}

/// The fixture's program, loaded from its committed archive.
pub fn load(name: &str) -> ExportedProgram {
    let path = root().join(archive(name));
    ferrex::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The control-flow and data-dependent fixtures (their own file, so that the models
/// above keep their source lines, which the archives record).
pub mod control;
