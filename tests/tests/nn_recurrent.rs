//! `nn::LSTM`, `nn::GRU`, `nn::RNN` and the cells `nn::LSTMCell`, `nn::GRUCell`,
//! `nn::RNNCell` against PyTorch 2.15: the Rust models of `tests/data/pt2_more/`'s
//! recurrent programs (`gen_more.py`), given the weights of PyTorch's archive, export to
//! PyTorch's ops and parameter names and give PyTorch's values, eagerly and exported.

mod common;

use common::pt2_corpus::check_rust_model;
use ferrex::nn::Nonlinearity;
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

/// `gen_more.py`'s `LSTMBi`: 2 bidirectional batch-first layers, zero initial states.
#[export_module]
struct LstmBi {
    g: nn::LSTM,
}

#[export_module]
impl LstmBi {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (y, (h, c)) = self.g.forward(x);
        (y, h, c)
    }
}

/// `GRUBi`: 2 bidirectional time-major layers from a given `h0`.
#[export_module]
struct GruBi {
    g: nn::GRU,
}

#[export_module]
impl GruBi {
    fn forward(&self, x: &Tensor, h0: &Tensor) -> (Tensor, Tensor) {
        self.g.forward_with(x, h0)
    }
}

/// `LSTMProj`: 2 bidirectional batch-first layers with projections, then a time-major
/// layer with projections and without biases from a given `(h0, c0)`.
#[export_module]
struct LstmProj {
    a: nn::LSTM,
    b: nn::LSTM,
}

#[export_module]
impl LstmProj {
    #[allow(clippy::type_complexity)]
    fn forward(
        &self,
        x: &Tensor,
        h0: &Tensor,
        c0: &Tensor,
    ) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) {
        let (y, (h, c)) = self.a.forward(x);
        let (z, (h2, c2)) = self.b.forward_with(&y.transpose(0, 1), (h0, c0));
        (y, h, c, z, h2, c2)
    }
}

/// `RNNs`: an `nn.RNN` as configured.
#[export_module]
struct Rnns {
    g: nn::RNN,
}

#[export_module]
impl Rnns {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        self.g.forward(x)
    }
}

/// `Cells`: an LSTM cell unrolled over 4 steps (zero states first), then a GRU cell
/// twice, a tanh cell and a relu cell without biases.
#[export_module]
struct Cells {
    l: nn::LSTMCell,
    g: nn::GRUCell,
    t: nn::RNNCell,
    r: nn::RNNCell,
}

#[export_module]
impl Cells {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let (mut h, mut c) = self.l.forward(&x.select(1, 0));
        for t in 1..4 {
            let (h_next, c_next) = self.l.forward_with(&x.select(1, t), (&h, &c));
            h = h_next;
            c = c_next;
        }
        let g = self.g.forward_with(&c, &self.g.forward(&h));
        (self.r.forward(&self.t.forward(&g)), c)
    }
}

fn cells() -> Cells {
    Cells {
        l: nn::LSTMCell::new(6, 8),
        g: nn::GRUCell::new(8, 8),
        t: nn::RNNCell::new(8, 8),
        r: nn::RNNCell::new(8, 5)
            .nonlinearity(Nonlinearity::Relu)
            .bias(false),
    }
}

/// `check_rust_model` on pt2_more's program `name`, with a dynamic batch dim `dynamic`
/// of the input `x` when given.
fn check<M: Forward + ModuleExt>(
    name: &str,
    model: &M,
    dynamic: Option<usize>,
    eager: impl Fn(&M, &[Tensor]) -> Vec<Tensor>,
    args: impl Fn(&[Tensor]) -> M::Args,
) {
    let shapes = dynamic.map(|dim| {
        let batch = Dim::new("batch").min(1).max(64);
        DynamicShapes::new().input("x", [(dim, batch)])
    });
    check_rust_model("pt2_more", name, model, shapes, eager, args);
}

#[test]
fn layer_modules_give_pytorchs_programs_and_values() {
    let lstm = LstmBi {
        g: nn::LSTM::new(6, 8)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(true),
    };
    let eager = |m: &LstmBi, x: &[Tensor]| {
        let (y, h, c) = m.forward(&x[0]);
        vec![y, h, c]
    };
    check("lstm_bi", &lstm, Some(0), eager, |x| (x[0].copy(),));

    let gru = GruBi {
        g: nn::GRU::new(6, 8).num_layers(2).bidirectional(true),
    };
    let eager = |m: &GruBi, x: &[Tensor]| {
        let (y, h) = m.forward(&x[0], &x[1]);
        vec![y, h]
    };
    check("gru_bi", &gru, None, eager, |x| (x[0].copy(), x[1].copy()));

    let eager = |m: &Rnns, x: &[Tensor]| {
        let (y, h) = m.forward(&x[0]);
        vec![y, h]
    };
    let tanh = Rnns {
        g: nn::RNN::new(6, 8).num_layers(2).batch_first(true),
    };
    check("rnn_tanh", &tanh, None, eager, |x| (x[0].copy(),));
    let relu = Rnns {
        g: nn::RNN::new(6, 8)
            .nonlinearity(Nonlinearity::Relu)
            .bidirectional(true),
    };
    check("rnn_relu", &relu, None, eager, |x| (x[0].copy(),));

    let proj = LstmProj {
        a: nn::LSTM::new(6, 16)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(true)
            .proj_size(8),
        b: nn::LSTM::new(16, 12).proj_size(8).bias(false),
    };
    let eager = |m: &LstmProj, x: &[Tensor]| {
        let (y, h, c, z, h2, c2) = m.forward(&x[0], &x[1], &x[2]);
        vec![y, h, c, z, h2, c2]
    };
    let args = |x: &[Tensor]| (x[0].copy(), x[1].copy(), x[2].copy());
    check("lstm_proj", &proj, None, eager, args);
}

#[test]
fn cell_modules_give_pytorchs_program_and_values() {
    let eager = |m: &Cells, x: &[Tensor]| {
        let (y, c) = m.forward(&x[0]);
        vec![y, c]
    };
    check("cells", &cells(), Some(0), eager, |x| (x[0].copy(),));
}

/// The graph of a cell call is PyTorch's: one `lstm_cell` node reading `[h, c]` (one
/// `zeros` for both when no state is given), `getitem`s of its two results, and a GRU
/// cell's `None` biases when it has none.
#[test]
fn cells_record_one_node_per_step() {
    #[export_module]
    struct TwoSteps {
        l: nn::LSTMCell,
        g: nn::GRUCell,
    }

    #[export_module]
    impl TwoSteps {
        fn forward(&self, x: &Tensor) -> Tensor {
            let (h, c) = self.l.forward(x);
            let (h, _) = self.l.forward_with(x, (&h, &c));
            self.g.forward(&h)
        }
    }

    let model = TwoSteps {
        l: nn::LSTMCell::new(3, 4),
        g: nn::GRUCell::new(4, 2).bias(false),
    };
    let ep = ferrex::export(&model, (Tensor::randn([5, 3]),)).unwrap();
    expect_test::expect![[r#"
        fn forward(p_l_weight_ih: f32[16, 3], p_l_weight_hh: f32[16, 4], p_l_bias_ih: f32[16], p_l_bias_hh: f32[16], p_g_weight_ih: f32[6, 4], p_g_weight_hh: f32[6, 2], x: f32[5, 3]) {
        let zeros: f32[5, 4] = aten::zeros.default([5, 4], dtype=f32);
        let lstm_cell: (f32[5, 4], f32[5, 4]) = aten::lstm_cell.default(x, [zeros, zeros], p_l_weight_ih, p_l_weight_hh, p_l_bias_ih, p_l_bias_hh);
        let getitem: f32[5, 4] = lstm_cell[0];
        let getitem_1: f32[5, 4] = lstm_cell[1];
        let lstm_cell_1: (f32[5, 4], f32[5, 4]) = aten::lstm_cell.default(x, [getitem, getitem_1], p_l_weight_ih, p_l_weight_hh, p_l_bias_ih, p_l_bias_hh);
        let getitem_2: f32[5, 4] = lstm_cell_1[0];
        let zeros_1: f32[5, 2] = aten::zeros.default([5, 2], dtype=f32);
        let gru_cell: f32[5, 2] = aten::gru_cell.default(getitem_2, zeros_1, p_g_weight_ih, p_g_weight_hh);
        return (gru_cell,);
        }
    "#]]
    .assert_eq(&common::joined(&common::body(&ep.graph_code(0))));
    let names: Vec<String> = model.named_parameters().into_iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        [
            "l.weight_ih",
            "l.weight_hh",
            "l.bias_ih",
            "l.bias_hh",
            "g.weight_ih",
            "g.weight_hh"
        ]
    );
}

/// An unbatched input (`[T, F]` for the layers, `[F]` for a cell) gives the values of a
/// batch of one, without the batch dim, as PyTorch's modules do; the exported program
/// records the `unsqueeze` and `squeeze`.
#[test]
fn unbatched_inputs_are_a_batch_of_one() {
    let lstm = nn::LSTM::new(3, 4).num_layers(2).batch_first(true);
    let x = Tensor::randn([5, 3]);
    let (y, (h, c)) = lstm.forward(&x);
    let (yb, (hb, cb)) = lstm.forward(&x.unsqueeze(0));
    assert_eq!(y.shape(), [5, 4]);
    assert_eq!(h.shape(), [2, 4]);
    assert!(y.allclose(&yb.squeeze_dim(0), 0.0, 0.0));
    assert!(h.allclose(&hb.squeeze_dim(1), 0.0, 0.0));
    assert!(c.allclose(&cb.squeeze_dim(1), 0.0, 0.0));

    let gru = nn::GRU::new(3, 4);
    let h0 = Tensor::randn([1, 4]);
    let (y, h) = gru.forward_with(&x, &h0);
    let (yb, hb) = gru.forward_with(&x.unsqueeze(1), &h0.unsqueeze(1));
    assert!(y.allclose(&yb.squeeze_dim(1), 0.0, 0.0));
    assert!(h.allclose(&hb.squeeze_dim(1), 0.0, 0.0));

    let cell = nn::RNNCell::new(3, 4);
    let v = Tensor::randn([3]);
    let h = cell.forward(&v);
    assert_eq!(h.shape(), [4]);
    assert!(h.allclose(&cell.forward(&v.unsqueeze(0)).squeeze_dim(0), 0.0, 0.0));
    let ep = ferrex::export(&cell, (v.copy(),)).unwrap();
    let ops = ep.op_targets();
    for op in [
        "aten::unsqueeze.default",
        "aten::rnn_tanh_cell.default",
        "aten::squeeze.dim",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }
    let out = ep.module().call((v,)).unwrap();
    assert!(out[0].allclose(&h, 0.0, 0.0));
}

/// The modules' and the ops' messages for inputs they cannot take.
#[test]
fn wrong_inputs_are_errors_not_panics() {
    let lstm = nn::LSTM::new(3, 4);
    let err = lstm
        .forward(&Tensor::randn([2]))
        .0
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("LSTM: Expected input to be 2D or 3D, got 1D input instead"),
        "{err}"
    );
    let (y, _) = lstm.forward(&Tensor::randn([5, 2, 7]));
    let err = y.check().unwrap_err().to_string();
    assert!(
        err.contains("lstm: input.size(-1) must be equal to input_size. Expected 3, got 7"),
        "{err}"
    );

    let cell = nn::LSTMCell::new(3, 4);
    let err = cell
        .forward(&Tensor::randn([2, 5]))
        .0
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lstm_cell: input has inconsistent input_size: got 5, expected 3"),
        "{err}"
    );
    let x = Tensor::randn([2, 3]);
    let h = Tensor::randn([3, 4]);
    let err = cell
        .forward_with(&x, (&h, &h))
        .0
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lstm_cell: Input batch size 2 doesn't match hidden0 batch size 3"),
        "{err}"
    );
    let gru = nn::GRUCell::new(3, 4);
    let err = gru
        .forward_with(&x, &Tensor::randn([2, 5]))
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gru_cell: hidden0 has inconsistent hidden_size: got 5, expected 4"),
        "{err}"
    );
    let err = (nn::RNNCell::new(3, 4).forward(&Tensor::randn([1, 2, 3])))
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RNNCell: Expected input to be 1D or 2D, got 3D input instead"),
        "{err}"
    );
}

/// The compiled runtime runs a recurrent layer as one step of the layer kernel when the
/// kernel runs its hidden size (8 and up), and plans any other (hidden size 5) as its
/// per-step ops — never one eager fallback — with the interpreter's values.
#[test]
fn compiled_layers_are_one_step_or_their_ops() {
    for (hidden, whole) in [(5, false), (8, true)] {
        let model = Rnns {
            g: nn::RNN::new(3, hidden).num_layers(2).batch_first(true),
        };
        let x = Tensor::randn([2, 6, 3]);
        let ep = ferrex::export(&model, (x.copy(),)).unwrap();
        let compiled = ferrex_runtime::compile(&ep).unwrap();
        let describe = compiled.describe();
        assert!(describe.ends_with("eager fallbacks: none\n"), "{describe}");
        assert_eq!(describe.contains("RNN (tanh)"), whole, "{describe}");
        let got = compiled.call((x.copy(),)).unwrap();
        let want = ep.module().call((x,)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(g.allclose(w, 1e-6, 1e-6), "hidden {hidden}");
        }
    }
}
