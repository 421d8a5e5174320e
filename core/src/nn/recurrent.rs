//! `nn::LSTM`, `nn::GRU`, `nn::RNN` and their one-step cells `nn::LSTMCell`,
//! `nn::GRUCell`, `nn::RNNCell`, with PyTorch's parameter names (`weight_ih_l0`,
//! `bias_hh_l1_reverse`, `weight_ih`, …) and initialisation (uniform in ±1/√hidden).
//!
//! A call records what PyTorch's modules record: the layers as one `aten::lstm.input` /
//! `gru.input` / `rnn_tanh.input` / `rnn_relu.input` node, a cell as one
//! `aten::lstm_cell` / `gru_cell` / `rnn_tanh_cell` / `rnn_relu_cell` node; initial
//! states not given are `zeros` of the input's batch; an unbatched input gains its batch
//! dim by `unsqueeze` and loses it again by `squeeze`. The modules are inference modules:
//! the ops are called with `train=False` and no dropout.

use std::panic::Location;

use crate::error::{SourceLocation, TensorError};
use crate::module::{Forward, Module, ModuleVisitor};
use crate::ops::{dispatch, rnn, OpDef, Value};
use crate::symbolic::SymInt;
use crate::tensor::Tensor;

/// The recurrence of an [`RNN`] or [`RNNCell`] (PyTorch's `nonlinearity`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nonlinearity {
    #[default]
    Tanh,
    Relu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recurrence {
    Lstm,
    Gru,
    Rnn(Nonlinearity),
}

impl Recurrence {
    fn gates(self) -> usize {
        match self {
            Recurrence::Lstm => 4,
            Recurrence::Gru => 3,
            Recurrence::Rnn(_) => 1,
        }
    }

    /// The op of a stack of layers.
    fn layers_op(self) -> &'static OpDef {
        match self {
            Recurrence::Lstm => &rnn::LSTM_INPUT,
            Recurrence::Gru => &rnn::GRU_INPUT,
            Recurrence::Rnn(Nonlinearity::Tanh) => &rnn::RNN_TANH_INPUT,
            Recurrence::Rnn(Nonlinearity::Relu) => &rnn::RNN_RELU_INPUT,
        }
    }

    /// The op of one step.
    fn cell_op(self) -> &'static OpDef {
        match self {
            Recurrence::Lstm => &rnn::LSTM_CELL,
            Recurrence::Gru => &rnn::GRU_CELL,
            Recurrence::Rnn(Nonlinearity::Tanh) => &rnn::RNN_TANH_CELL,
            Recurrence::Rnn(Nonlinearity::Relu) => &rnn::RNN_RELU_CELL,
        }
    }

    /// `hx` as the op takes it: a list `[h, c]` for an LSTM, the one state otherwise.
    fn hx(self, mut states: Vec<Tensor>) -> Value {
        match (self, states.len()) {
            (Recurrence::Lstm, _) | (_, 0) => Value::TensorList(states),
            _ => Value::Tensor(states.remove(0)),
        }
    }
}

/// A weight uniform in `[-1/√hidden, 1/√hidden]`, as PyTorch initialises every tensor
/// of a recurrent module.
fn uniform(shape: &[usize], hidden: usize) -> Tensor {
    let bound = 1.0 / (hidden.max(1) as f64).sqrt();
    Tensor::rand(shape).mul(2.0 * bound).sub(bound)
}

/// The module's error as a tensor (a forward never panics).
#[track_caller]
fn failed(module: &str, message: String) -> Tensor {
    Tensor::failed(TensorError::Op {
        op: module.to_string(),
        message,
        at: SourceLocation::from_caller(Location::caller()),
    })
}

/// The `n` outputs of a call, a failed tensor standing in for any missing one.
fn outputs<const N: usize>(module: &str, out: Vec<Tensor>) -> [Tensor; N] {
    let mut out = out.into_iter();
    std::array::from_fn(|_| {
        out.next().unwrap_or_else(|| {
            failed(
                module,
                "the op returned fewer tensors than it declares".into(),
            )
        })
    })
}

/// How a call treats an unbatched input, as PyTorch's modules do: the input gains its
/// batch dim by `unsqueeze`, so do given states, and every output loses it by `squeeze`.
struct Batching {
    batched: bool,
    /// The input's batch dim (the output sequence's).
    input_dim: i64,
    /// The states' batch dim.
    state_dim: i64,
}

impl Batching {
    /// `input` with its batch dim, after checking its rank: `batched_rank` or one less.
    #[track_caller]
    fn of(
        module: &str,
        input: &Tensor,
        batched_rank: usize,
        (input_dim, state_dim): (i64, i64),
    ) -> Result<(Batching, Tensor), Vec<Tensor>> {
        let rank = input.dim();
        if rank != batched_rank && rank + 1 != batched_rank {
            let message = format!(
                "{module}: Expected input to be {}D or {batched_rank}D, got {rank}D input instead",
                batched_rank - 1
            );
            return Err(vec![failed(module, message)]);
        }
        let batched = rank == batched_rank;
        let input = if batched {
            input.clone()
        } else {
            input.unsqueeze(input_dim)
        };
        let batching = Batching {
            batched,
            input_dim,
            state_dim,
        };
        Ok((batching, input))
    }

    /// The given states with their batch dim.
    #[track_caller]
    fn states(&self, states: &[&Tensor]) -> Vec<Tensor> {
        match self.batched {
            true => states.iter().map(|s| (*s).clone()).collect(),
            false => states.iter().map(|s| s.unsqueeze(self.state_dim)).collect(),
        }
    }

    /// The outputs (the input-like one first) without the batch dim they were given.
    #[track_caller]
    fn outputs(&self, out: Vec<Tensor>) -> Vec<Tensor> {
        if self.batched {
            return out;
        }
        let dim = |i: usize| {
            if i == 0 {
                self.input_dim
            } else {
                self.state_dim
            }
        };
        (out.iter().enumerate())
            .map(|(i, t)| t.squeeze_dim(dim(i)))
            .collect()
    }
}

/// A stack of recurrent layers: what [`LSTM`], [`GRU`] and [`RNN`] share.
#[derive(Clone, Debug)]
struct Layers {
    recurrence: Recurrence,
    input_size: usize,
    hidden_size: usize,
    num_layers: usize,
    bias: bool,
    batch_first: bool,
    bidirectional: bool,
    /// An LSTM's projection size (`proj_size`; 0 for none): the hidden state's size.
    proj_size: usize,
    /// Per layer and direction `weight_ih`, `weight_hh`[, `bias_ih`, `bias_hh`][,
    /// `weight_hr`], named and ordered as PyTorch's `_flat_weights`.
    params: Vec<(String, Tensor)>,
}

impl Layers {
    fn new(recurrence: Recurrence, input_size: usize, hidden_size: usize) -> Layers {
        Layers {
            recurrence,
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            bidirectional: false,
            proj_size: 0,
            params: Vec::new(),
        }
        .initialised()
    }

    /// The hidden state's size: the projection's, else the hidden size.
    fn out_size(&self) -> usize {
        match self.proj_size {
            0 => self.hidden_size,
            p => p,
        }
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// The parameters for the current configuration, freshly initialised.
    fn initialised(mut self) -> Layers {
        let (h, g, out) = (self.hidden_size, self.recurrence.gates(), self.out_size());
        self.params.clear();
        for layer in 0..self.num_layers {
            for direction in 0..self.directions() {
                let suffix = if direction == 1 { "_reverse" } else { "" };
                let features = if layer == 0 {
                    self.input_size
                } else {
                    out * self.directions()
                };
                let mut add = |kind: &str, shape: &[usize]| {
                    let name = format!("{kind}_l{layer}{suffix}");
                    self.params.push((name, uniform(shape, h)));
                };
                add("weight_ih", &[g * h, features]);
                add("weight_hh", &[g * h, out]);
                if self.bias {
                    add("bias_ih", &[g * h]);
                    add("bias_hh", &[g * h]);
                }
                if self.proj_size > 0 {
                    add("weight_hr", &[out, h]);
                }
            }
        }
        self
    }

    fn visit(&self, v: &mut dyn ModuleVisitor) {
        for (name, t) in &self.params {
            v.parameter(name, t);
        }
    }

    /// The layers over `input` (`[T, B, F]`, `[B, T, F]` when batch-first, or `[T, F]`
    /// unbatched) from `states` (`h0`[, `c0`], each `[layers·directions, B, H]`), or
    /// from zeros when none are given: the output sequence and the final states.
    #[track_caller]
    fn forward(&self, module: &str, input: &Tensor, states: &[&Tensor]) -> Vec<Tensor> {
        let batch_dim = if self.batch_first { 0 } else { 1 };
        let (batching, input) = match Batching::of(module, input, 3, (batch_dim, 1)) {
            Ok(b) => b,
            Err(failed) => return failed,
        };
        let hx: Vec<Tensor> = if states.is_empty() {
            let slots = SymInt::from(self.num_layers * self.directions());
            // `h0` of the hidden state's size, an LSTM's `c0` of the hidden size.
            let sizes = match self.recurrence {
                Recurrence::Lstm => &[self.out_size(), self.hidden_size][..],
                _ => &[self.hidden_size][..],
            };
            (sizes.iter())
                .map(|&size| {
                    let sizes = vec![slots.clone(), input.size(batch_dim), SymInt::from(size)];
                    Tensor::zeros_dtype(sizes, input.dtype())
                })
                .collect()
        } else {
            batching.states(states)
        };
        let params = self.params.iter().map(|(_, t)| t.clone()).collect();
        let args = vec![
            Value::Tensor(input),
            self.recurrence.hx(hx),
            Value::TensorList(params),
            Value::Bool(self.bias),
            Value::Int(SymInt::from(self.num_layers)),
            Value::Float(0.0),
            Value::Bool(false),
            Value::Bool(self.bidirectional),
            Value::Bool(self.batch_first),
        ];
        let at = SourceLocation::from_caller(Location::caller());
        batching.outputs(dispatch(self.recurrence.layers_op(), args, at))
    }
}

/// One recurrent step: what [`LSTMCell`], [`GRUCell`] and [`RNNCell`] share.
#[derive(Clone, Debug)]
struct Step {
    recurrence: Recurrence,
    input_size: usize,
    hidden_size: usize,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Option<Tensor>,
    bias_hh: Option<Tensor>,
}

impl Step {
    fn new(recurrence: Recurrence, input_size: usize, hidden_size: usize, bias: bool) -> Step {
        let rows = recurrence.gates() * hidden_size;
        let h = hidden_size;
        Step {
            recurrence,
            input_size,
            hidden_size,
            weight_ih: uniform(&[rows, input_size], h),
            weight_hh: uniform(&[rows, h], h),
            bias_ih: bias.then(|| uniform(&[rows], h)),
            bias_hh: bias.then(|| uniform(&[rows], h)),
        }
    }

    fn visit(&self, v: &mut dyn ModuleVisitor) {
        v.parameter("weight_ih", &self.weight_ih);
        v.parameter("weight_hh", &self.weight_hh);
        for (name, b) in [("bias_ih", &self.bias_ih), ("bias_hh", &self.bias_hh)] {
            if let Some(b) = b {
                v.parameter(name, b);
            }
        }
    }

    /// One step of `input` (`[B, F]`, or `[F]` unbatched) from `states` (`h`[, `c`],
    /// each `[B, H]`), or from zeros when none are given: the new states.
    #[track_caller]
    fn forward(&self, module: &str, input: &Tensor, states: &[&Tensor]) -> Vec<Tensor> {
        let (batching, input) = match Batching::of(module, input, 2, (0, 0)) {
            Ok(b) => b,
            Err(failed) => return failed,
        };
        let hx: Vec<Tensor> = if states.is_empty() {
            // One tensor of zeros for both states of an LSTM, as PyTorch's `LSTMCell`.
            let sizes = vec![input.size(0), SymInt::from(self.hidden_size)];
            let zeros = Tensor::zeros_dtype(sizes, input.dtype());
            match self.recurrence {
                Recurrence::Lstm => vec![zeros.clone(), zeros],
                _ => vec![zeros],
            }
        } else {
            batching.states(states)
        };
        let optional = |b: &Option<Tensor>| b.clone().map_or(Value::None, Value::Tensor);
        let args = vec![
            Value::Tensor(input),
            self.recurrence.hx(hx),
            Value::Tensor(self.weight_ih.clone()),
            Value::Tensor(self.weight_hh.clone()),
            optional(&self.bias_ih),
            optional(&self.bias_hh),
        ];
        let at = SourceLocation::from_caller(Location::caller());
        batching.outputs(dispatch(self.recurrence.cell_op(), args, at))
    }
}

/// The accessors and `Module` of a recurrent module (a newtype over [`Layers`] or
/// [`Step`]).
macro_rules! recurrent_module {
    ($name:ident) => {
        impl $name {
            pub fn input_size(&self) -> usize {
                self.0.input_size
            }

            pub fn hidden_size(&self) -> usize {
                self.0.hidden_size
            }
        }

        impl Module for $name {
            fn visit(&self, v: &mut dyn ModuleVisitor) {
                self.0.visit(v)
            }

            fn type_name(&self) -> &'static str {
                stringify!($name)
            }
        }
    };
}

/// The builder methods of a stack of layers, and its accessors and `Module`.
macro_rules! layer_stack {
    ($name:ident, $recurrence:expr, $doc_new:literal) => {
        impl $name {
            #[doc = $doc_new]
            pub fn new(input_size: usize, hidden_size: usize) -> $name {
                $name(Layers::new($recurrence, input_size, hidden_size))
            }

            /// Stacked layers, each reading the previous one's output (builder style;
            /// the parameters are initialised again).
            pub fn num_layers(self, num_layers: usize) -> $name {
                $name(
                    Layers {
                        num_layers,
                        ..self.0
                    }
                    .initialised(),
                )
            }

            /// A second direction per layer, over the reversed sequence; outputs
            /// concatenate both (builder style; parameters initialised again).
            pub fn bidirectional(self, bidirectional: bool) -> $name {
                $name(
                    Layers {
                        bidirectional,
                        ..self.0
                    }
                    .initialised(),
                )
            }

            /// Inputs and output as `[B, T, F]` instead of `[T, B, F]` (builder style).
            pub fn batch_first(self, batch_first: bool) -> $name {
                $name(Layers {
                    batch_first,
                    ..self.0
                })
            }

            /// Whether the layers have biases (builder style; parameters initialised
            /// again).
            pub fn bias(self, bias: bool) -> $name {
                $name(Layers { bias, ..self.0 }.initialised())
            }
        }

        recurrent_module!($name);
    };
}

/// The builder methods of a cell, and its accessors and `Module`.
macro_rules! cell {
    ($name:ident, $recurrence:expr, $doc_new:literal) => {
        impl $name {
            #[doc = $doc_new]
            pub fn new(input_size: usize, hidden_size: usize) -> $name {
                $name(Step::new($recurrence, input_size, hidden_size, true))
            }

            /// Whether the cell has biases (builder style; parameters initialised
            /// again).
            pub fn bias(self, bias: bool) -> $name {
                let s = self.0;
                $name(Step::new(s.recurrence, s.input_size, s.hidden_size, bias))
            }
        }

        recurrent_module!($name);
    };
}

/// PyTorch's `nn.LSTM`: parameters `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
/// `bias_hh_l{k}` (and `…_reverse` when bidirectional), gates in PyTorch's order
/// (input, forget, cell, output); with projections ([`LSTM::proj_size`]) a
/// `weight_hr_l{k}` after them.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[export_module]
/// struct Tagger {
///     lstm: nn::LSTM,
///     head: nn::Linear,
/// }
///
/// #[export_module]
/// impl Tagger {
///     fn forward(&self, x: &Tensor) -> Tensor {
///         let (seq, _) = self.lstm.forward(x);
///         self.head.forward(&seq)
///     }
/// }
///
/// let model = Tagger {
///     lstm: nn::LSTM::new(6, 8).num_layers(2).bidirectional(true).batch_first(true),
///     head: nn::Linear::new(16, 3),
/// };
/// let ep = ferrex::export(&model, (Tensor::randn([2, 5, 6]),))?;
/// assert!(ep.op_targets().contains(&"aten::lstm.input".to_string()));
/// assert_eq!(model.named_parameters()[4].0, "lstm.weight_ih_l0_reverse");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct LSTM(Layers);

layer_stack!(
    LSTM,
    Recurrence::Lstm,
    "One layer over time-major input, with biases (PyTorch's defaults)."
);

impl LSTM {
    /// Projections of the hidden state to `proj_size` values (PyTorch's `proj_size`,
    /// smaller than the hidden size; 0 for none): each step's `h` is `w_hr · h`, the
    /// output sequence and `h` are of that size, `c` stays of the hidden size (builder
    /// style; parameters initialised again). A size not below the hidden size makes
    /// `forward` fail with the op's error, as PyTorch refuses it.
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// let lstm = nn::LSTM::new(6, 16).proj_size(8).batch_first(true);
    /// let (seq, (h, c)) = lstm.forward(&Tensor::randn([2, 5, 6]));
    /// assert_eq!((seq.shape(), h.shape(), c.shape()), (vec![2, 5, 8], vec![1, 2, 8], vec![1, 2, 16]));
    /// assert_eq!(lstm.named_parameters()[4].0, "weight_hr_l0");
    /// ```
    pub fn proj_size(self, proj_size: usize) -> LSTM {
        LSTM(
            Layers {
                proj_size,
                ..self.0
            }
            .initialised(),
        )
    }

    /// The output sequence (`[T, B, D·H]`, `H` the projection's size with projections)
    /// and the final `(h, c)` (`[layers·D, B, H]`), from zero states.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> (Tensor, (Tensor, Tensor)) {
        let [y, h, c] = outputs("LSTM", self.0.forward("LSTM", input, &[]));
        (y, (h, c))
    }

    /// [`LSTM::forward`] from the given `h0` and `c0`.
    #[track_caller]
    pub fn forward_with(
        &self,
        input: &Tensor,
        (h0, c0): (&Tensor, &Tensor),
    ) -> (Tensor, (Tensor, Tensor)) {
        let [y, h, c] = outputs("LSTM", self.0.forward("LSTM", input, &[h0, c0]));
        (y, (h, c))
    }
}

/// PyTorch's `nn.GRU` (gates reset, update, new), parameters named as [`LSTM`]'s.
#[derive(Clone, Debug)]
pub struct GRU(Layers);

layer_stack!(
    GRU,
    Recurrence::Gru,
    "One layer over time-major input, with biases (PyTorch's defaults)."
);

impl GRU {
    /// The output sequence and the final hidden state, from a zero state.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> (Tensor, Tensor) {
        let [y, h] = outputs("GRU", self.0.forward("GRU", input, &[]));
        (y, h)
    }

    /// [`GRU::forward`] from the given `h0`.
    #[track_caller]
    pub fn forward_with(&self, input: &Tensor, h0: &Tensor) -> (Tensor, Tensor) {
        let [y, h] = outputs("GRU", self.0.forward("GRU", input, &[h0]));
        (y, h)
    }
}

/// PyTorch's `nn.RNN`: `h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)` (or `relu`),
/// parameters named as [`LSTM`]'s.
#[derive(Clone, Debug)]
pub struct RNN(Layers);

layer_stack!(
    RNN,
    Recurrence::Rnn(Nonlinearity::Tanh),
    "One tanh layer over time-major input, with biases (PyTorch's defaults)."
);

impl RNN {
    /// The recurrence's nonlinearity (builder style).
    pub fn nonlinearity(self, nonlinearity: Nonlinearity) -> RNN {
        RNN(Layers {
            recurrence: Recurrence::Rnn(nonlinearity),
            ..self.0
        })
    }

    /// The output sequence and the final hidden state, from a zero state.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> (Tensor, Tensor) {
        let [y, h] = outputs("RNN", self.0.forward("RNN", input, &[]));
        (y, h)
    }

    /// [`RNN::forward`] from the given `h0`.
    #[track_caller]
    pub fn forward_with(&self, input: &Tensor, h0: &Tensor) -> (Tensor, Tensor) {
        let [y, h] = outputs("RNN", self.0.forward("RNN", input, &[h0]));
        (y, h)
    }
}

/// PyTorch's `nn.LSTMCell`: one step, parameters `weight_ih`, `weight_hh`, `bias_ih`,
/// `bias_hh`. A loop over time steps in `forward` unrolls into the graph.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[export_module]
/// struct Decoder {
///     cell: nn::LSTMCell,
/// }
///
/// #[export_module]
/// impl Decoder {
///     fn forward(&self, x: &Tensor) -> Tensor {
///         let (mut h, mut c) = self.cell.forward(&x.select(1, 0));
///         for t in 1..3 {
///             (h, c) = self.cell.forward_with(&x.select(1, t), (&h, &c));
///         }
///         h
///     }
/// }
///
/// let model = Decoder { cell: nn::LSTMCell::new(4, 8) };
/// let ep = ferrex::export(&model, (Tensor::randn([2, 3, 4]),))?;
/// let steps = ep.op_targets().iter().filter(|o| *o == "aten::lstm_cell.default").count();
/// assert_eq!(steps, 3); // one node per step
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct LSTMCell(Step);

cell!(
    LSTMCell,
    Recurrence::Lstm,
    "A cell with biases (PyTorch's default)."
);

impl LSTMCell {
    /// The new `(h, c)` (`[B, H]`, or `[H]` for an unbatched `[F]` input) from zero
    /// states.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> (Tensor, Tensor) {
        let [h, c] = outputs("LSTMCell", self.0.forward("LSTMCell", input, &[]));
        (h, c)
    }

    /// [`LSTMCell::forward`] from the given `(h, c)`.
    #[track_caller]
    pub fn forward_with(&self, input: &Tensor, (h, c): (&Tensor, &Tensor)) -> (Tensor, Tensor) {
        let [h, c] = outputs("LSTMCell", self.0.forward("LSTMCell", input, &[h, c]));
        (h, c)
    }
}

/// PyTorch's `nn.GRUCell`, parameters named as [`LSTMCell`]'s.
#[derive(Clone, Debug)]
pub struct GRUCell(Step);

cell!(
    GRUCell,
    Recurrence::Gru,
    "A cell with biases (PyTorch's default)."
);

impl GRUCell {
    /// The new hidden state from a zero state.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let [h] = outputs("GRUCell", self.0.forward("GRUCell", input, &[]));
        h
    }

    /// [`GRUCell::forward`] from the given `h`.
    #[track_caller]
    pub fn forward_with(&self, input: &Tensor, h: &Tensor) -> Tensor {
        let [h] = outputs("GRUCell", self.0.forward("GRUCell", input, &[h]));
        h
    }
}

/// PyTorch's `nn.RNNCell` (tanh, or relu), parameters named as [`LSTMCell`]'s.
#[derive(Clone, Debug)]
pub struct RNNCell(Step);

cell!(
    RNNCell,
    Recurrence::Rnn(Nonlinearity::Tanh),
    "A tanh cell with biases (PyTorch's defaults)."
);

impl RNNCell {
    /// The recurrence's nonlinearity (builder style).
    pub fn nonlinearity(self, nonlinearity: Nonlinearity) -> RNNCell {
        RNNCell(Step {
            recurrence: Recurrence::Rnn(nonlinearity),
            ..self.0
        })
    }

    /// The new hidden state from a zero state.
    #[track_caller]
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let [h] = outputs("RNNCell", self.0.forward("RNNCell", input, &[]));
        h
    }

    /// [`RNNCell::forward`] from the given `h`.
    #[track_caller]
    pub fn forward_with(&self, input: &Tensor, h: &Tensor) -> Tensor {
        let [h] = outputs("RNNCell", self.0.forward("RNNCell", input, &[h]));
        h
    }
}

/// `Forward` of a module called on one input: exportable on its own, and (when it
/// returns one tensor) a [`crate::nn::Layer`] of a `Sequential`.
macro_rules! forward_of_input {
    ($($name:ident -> $out:ty),* $(,)?) => {$(
        impl Forward for $name {
            type Args = (Tensor,);
            type Output = $out;

            fn arg_names(&self) -> &'static [&'static str] {
                &["input"]
            }

            #[track_caller]
            fn forward_args(&self, args: Self::Args) -> $out {
                self.forward(&args.0)
            }
        }
    )*};
}

forward_of_input!(
    LSTM -> (Tensor, (Tensor, Tensor)),
    GRU -> (Tensor, Tensor),
    RNN -> (Tensor, Tensor),
    LSTMCell -> (Tensor, Tensor),
    GRUCell -> Tensor,
    RNNCell -> Tensor,
);
