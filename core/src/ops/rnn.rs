//! Recurrent layers: `gru.input`, `lstm.input`, `rnn_tanh.input` and `rnn_relu.input`, as
//! PyTorch's `nn.GRU` / `nn.LSTM` / `nn.RNN` record them — composite ops over `linear`,
//! `sigmoid`, `tanh` (or `relu`) and `stack`, one step per
//! time index, layer after layer, both directions when bidirectional. Parameters come
//! per layer and direction as `w_ih, w_hh[, b_ih, b_hh]`; inputs are 3-D (`nn` modules
//! add the batch dim of an unbatched input before calling the op). Dropout between
//! layers is a training feature: an inference graph has none, so `train=True` with a
//! dropout is refused. An LSTM with projections (`proj_size`) has a fifth weight per
//! layer and direction, `w_hr` `[proj, hidden]` (the third without biases), applied to
//! each step's hidden state, which is then of the projection's size.

// GRU: 3 gates, one state; LSTM: 4 gates, hidden and cell state; RNN: 1 gate, one state.
use ferrex_kernels::rnn::{RecurrentCell as Cell, RecurrentLayer};

use super::lowering::Lowering;
use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{view_as_slice, view_to_vec, DType, Storage, Tensor, TensorMeta};

/// The op's name, for messages.
fn op_name(cell: Cell) -> &'static str {
    match cell {
        Cell::Gru => "gru",
        Cell::Lstm => "lstm",
        Cell::RnnTanh => "rnn_tanh",
        Cell::RnnRelu => "rnn_relu",
    }
}

/// The decoded arguments shared by both ops (they have the same layout after `hx`).
struct Rnn {
    spec: RecurrentSpec,
    name: &'static str,
    input: TensorMeta,
    /// `[h0]` for a GRU, `[h0, c0]` for an LSTM.
    states: Vec<Tensor>,
    params: Vec<Tensor>,
    hidden: SymInt,
}

/// The arguments both cells take, `hx` as a list (`[h0]` for a GRU).
struct RnnCall<'a> {
    input: &'a Tensor,
    hx: Vec<Tensor>,
    params: &'a [Tensor],
    has_biases: bool,
    num_layers: i64,
    dropout: f64,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
}

macro_rules! rnn_call {
    ($args:expr, $hx:expr) => {
        RnnCall {
            input: &$args.input,
            hx: $hx,
            params: &$args.params,
            has_biases: $args.has_biases,
            num_layers: $args.num_layers,
            dropout: $args.dropout,
            train: $args.train,
            bidirectional: $args.bidirectional,
            batch_first: $args.batch_first,
        }
    };
}

impl Rnn {
    fn read(args: &RnnCall, cell: Cell) -> Result<Rnn, OpError> {
        let op = op_name(cell);
        let input = meta_of(args.input)?;
        let states = args.hx.clone();
        if states.len() != if cell == Cell::Lstm { 2 } else { 1 } {
            op_bail!(
                "{op}: expected hx to hold (h0, c0), got {} tensors",
                states.len()
            );
        }
        let params = args.params.to_vec();
        let spec = RecurrentSpec::new(
            cell,
            args.num_layers,
            args.bidirectional,
            args.batch_first,
            args.has_biases,
            params.len(),
        );
        if args.train && args.dropout > 0.0 {
            op_bail!("{op}: dropout between layers in training mode is not supported (export an eval() model)");
        }
        if input.rank() != 3 {
            op_bail!(
                "{op}: Expected input to be 3D, got {}D instead",
                input.rank()
            );
        }
        let Some(spec) = spec.filter(|s| s.params() == params.len()) else {
            let layers = usize::try_from(args.num_layers).unwrap_or(0);
            let per_layer = if args.has_biases { 4 } else { 2 };
            let directions = if args.bidirectional { 2 } else { 1 };
            let expected = layers.saturating_mul(directions * per_layer);
            op_bail!(
                "{op}: expected {expected} parameter tensors for {layers} layers, got {}",
                params.len()
            );
        };
        // The states: `h0` of the hidden state's size (the projection's), `c0` of the
        // cell's.
        let h0 = meta_of(&states[0])?;
        if h0.rank() != 3 {
            op_bail!(
                "{op}: Expected hidden size to be 3D, got {}D instead",
                h0.rank()
            );
        }
        let mut cell_size = h0.sizes[2].clone();
        if let Some(c0) = states.get(1) {
            let c0 = meta_of(c0)?;
            let sizes_fit = match spec.projections {
                true => c0.sizes[2].hint() > h0.sizes[2].hint(),
                false => c0.sizes[2].hint() == h0.sizes[2].hint(),
            };
            if c0.rank() != 3 || !sizes_fit {
                let (have, expected) = match spec.projections {
                    true => ("with", "a smaller h0 than c0 (the projection's size)"),
                    false => ("without", "one hidden size for h0 and c0"),
                };
                op_bail!(
                    "lstm: an LSTM {have} projection weights expects {expected}; got h0 {} and c0 {}",
                    format_sizes(&h0.sizes),
                    format_sizes(&c0.sizes)
                );
            }
            cell_size = c0.sizes[2].clone();
        }
        Rnn::check_weights(&spec, op, &params, &input, [&cell_size, &h0.sizes[2]])?;
        Ok(Rnn {
            spec,
            name: op,
            hidden: h0.sizes[2].clone(),
            input,
            states,
            params,
        })
    }

    /// Each layer's `w_ih` `[gates · cell, F]` (`F` the input's size for the first
    /// layer), and with projections its `w_hr` `[out, cell]`.
    fn check_weights(
        spec: &RecurrentSpec,
        op: &str,
        params: &[Tensor],
        input: &TensorMeta,
        [cell_size, out]: [&SymInt; 2],
    ) -> Result<(), OpError> {
        let cell = spec.cell;
        let per_layer = spec.per_layer();
        if spec.projections {
            for w_hr in params.iter().skip(per_layer - 1).step_by(per_layer) {
                let w = meta_of(w_hr)?;
                if w.rank() != 2 || !w.sizes[0].sym_eq(out) || !w.sizes[1].sym_eq(cell_size) {
                    op_bail!(
                        "{op}: expected weight_hr of sizes [{out}, {cell_size}], got {}",
                        format_sizes(&w.sizes)
                    );
                }
            }
        }
        for (i, w) in params.iter().enumerate().step_by(per_layer) {
            let w = meta_of(w)?;
            let first_layer = i < per_layer * spec.directions();
            if first_layer && w.rank() == 2 && !w.sizes[1].sym_eq(&input.sizes[2]) {
                op_bail!(
                    "{op}: input.size(-1) must be equal to input_size. Expected {}, got {}",
                    w.sizes[1],
                    input.sizes[2]
                );
            }
            let rows = (cell.gates() as i64).saturating_mul(cell_size.hint());
            if w.rank() != 2 || w.sizes[0].hint() != rows {
                op_bail!(
                    "{op}: expected weight_ih {} to have {rows} rows ({} gates of the hidden size), got {}",
                    i / per_layer,
                    cell.gates(),
                    format_sizes(&w.sizes)
                );
            }
        }
        Ok(())
    }

    /// Output metas: the sequence output, then the final states (shaped as given).
    fn metas(&self) -> Result<Vec<TensorMeta>, OpError> {
        let mut out = self.input.sizes.clone();
        out[2] = self.hidden.mul(&SymInt::Int(self.spec.directions() as i64));
        let mut metas = vec![TensorMeta::new(self.input.dtype, out)];
        for s in &self.states {
            metas.push(meta_of(s)?);
        }
        Ok(metas)
    }

    /// `(w_ih, w_hh, b_ih, b_hh)` of one layer and direction, and its `w_hr` when the
    /// LSTM has projections.
    fn weights(&self, layer: usize, direction: usize) -> ([Option<&Tensor>; 4], Option<&Tensor>) {
        let (w, w_hr) =
            (self.spec).projection_of(self.spec.weights_of(&self.params, layer, direction));
        ([w.first(), w.get(1), w.get(2), w.get(3)], w_hr)
    }
}

/// One time step, as PyTorch's `gru_cell` / `lstm_cell` decompositions: `gi` is this
/// step's input projection `[B, G·H]`, the states are `[1, B, H]` (a layer's step) or
/// `[B, H]` (a cell op's); the new hidden state (and cell state for an LSTM), the hidden
/// state projected by `w_hr` when given (an LSTM's `proj_size`).
fn step(
    cell: Cell,
    gi: &Tensor,
    state: &[Tensor],
    (w_hh, b_hh): (&Tensor, Option<&Tensor>),
    w_hr: Option<&Tensor>,
) -> Vec<Tensor> {
    let gh = state[0].linear(w_hh, b_hh);
    // The gates are the last dim: `[1, B, G·H]` for a layer's step, `[B, G·H]` for a cell.
    let gates = gh.dim() as i64 - 1;
    match cell {
        Cell::Gru => {
            let (i, h) = (gi.chunk(3, 1), gh.chunk(3, gates));
            let r = (&h[0] + &i[0]).sigmoid();
            let z = (&h[1] + &i[1]).sigmoid();
            let n = (&i[2] + &(&h[2] * &r)).tanh();
            // (h - n) * z + n = (1 - z) * n + z * h
            vec![&(&(&state[0] - &n) * &z) + &n]
        }
        Cell::RnnTanh => vec![(&gh + gi).tanh()],
        Cell::RnnRelu => vec![(&gh + gi).relu()],
        Cell::Lstm => {
            let g = (&gh + gi).chunk(4, gates);
            let (i, f) = (g[0].sigmoid(), g[1].sigmoid());
            let (c_new, o) = (g[2].tanh(), g[3].sigmoid());
            let c = &(&f * &state[1]) + &(&i * &c_new);
            let h = &o * &c.tanh();
            match w_hr {
                Some(w_hr) => vec![h.linear(w_hr, None), c],
                None => vec![h, c],
            }
        }
    }
}

/// Why a call of a program with recurrent layers is not split along its batch by the
/// runners (each half would run every step on half the rows): the layer kernel splits
/// the batch over the threads itself, once per layer.
pub const WHY_CALLS_RUN_WHOLE: &str =
    "runs recurrent layers, whose kernel splits the batch over the threads itself";

/// What a recurrent op computes besides its tensors: the cell and the layout of its
/// layers. The eager kernel and the compiled runtime's recurrent step
/// (`Lowering::Recurrent`) run the same [`recurrent_layers`] of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentSpec {
    pub cell: Cell,
    pub layers: usize,
    pub bidirectional: bool,
    pub batch_first: bool,
    pub has_biases: bool,
    /// An LSTM's projections (`proj_size`): a `w_hr` after each layer and direction's
    /// other parameters.
    pub projections: bool,
}

impl RecurrentSpec {
    /// The spec of a call's arguments, `params` the count of its parameter tensors
    /// (one more per layer and direction for an LSTM with projections: the count says
    /// which, as the sizes say it to PyTorch); `None` for a layer count below 1.
    pub fn new(
        cell: Cell,
        num_layers: i64,
        bidirectional: bool,
        batch_first: bool,
        has_biases: bool,
        params: usize,
    ) -> Option<RecurrentSpec> {
        let layers = usize::try_from(num_layers).ok().filter(|&l| l > 0)?;
        let mut spec = RecurrentSpec {
            cell,
            layers,
            bidirectional,
            batch_first,
            has_biases,
            projections: false,
        };
        let with_projections = RecurrentSpec {
            projections: true,
            ..spec
        };
        if cell == Cell::Lstm && params != spec.params() && params == with_projections.params() {
            spec = with_projections;
        }
        Some(spec)
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// The state tensors a call passes and returns: `h` (and `c` for an LSTM).
    pub fn states(&self) -> usize {
        match self.cell {
            Cell::Lstm => 2,
            Cell::Gru | Cell::RnnTanh | Cell::RnnRelu => 1,
        }
    }

    /// The parameter tensors a call passes (`0` when that overflows).
    pub fn params(&self) -> usize {
        (self
            .layers
            .checked_mul(self.directions() * self.per_layer()))
        .unwrap_or(0)
    }

    /// Whether [`recurrent_layers`] runs f32 layers of this cell size and hidden state
    /// size (`out`: the projection's, else the cell's): their products are `linear`'s
    /// packed ones, on any batch.
    pub fn kernel_runs(&self, [hidden, out]: [usize; 2]) -> bool {
        let width = self.cell.gates().checked_mul(hidden);
        let projection = !self.projections || super::linalg::linear_packs(1, out, hidden);
        projection && width.is_some_and(|w| super::linalg::linear_packs(1, w, out))
    }

    /// Whether the layer kernel runs a call whose results are `results`
    /// (`[output, h_n(, c_n)]`): f32 results and sizes it runs.
    pub fn runs(&self, results: &[TensorMeta]) -> bool {
        // `h_n` is `[layers·directions, B, out]`, an LSTM's `c_n` `[.., .., hidden]`.
        let size = |k: usize| {
            let s = results.get(k).and_then(|m| m.sizes.get(2)?.as_int());
            s.and_then(|s| usize::try_from(s).ok())
        };
        let out = size(1);
        let hidden = if self.cell == Cell::Lstm {
            size(2)
        } else {
            out
        };
        let f32s = !results.is_empty() && results.iter().all(|m| m.dtype == DType::F32);
        f32s && hidden
            .zip(out)
            .is_some_and(|(h, o)| self.kernel_runs([h, o]))
    }

    /// The parameters of `layer` in `direction`: `w_ih, w_hh[, b_ih, b_hh]` (fewer when
    /// `params` is short of the spec's count).
    fn weights_of<'p, T>(&self, params: &'p [T], layer: usize, direction: usize) -> &'p [T] {
        let per = self.per_layer();
        let at = (layer * self.directions() + direction).saturating_mul(per);
        params.get(at..).map_or(&[], |p| &p[..per.min(p.len())])
    }

    /// One layer and direction's parameters ([`RecurrentSpec::weights_of`]) without its
    /// projection weight, and that weight (`w_hr`, the last) when the LSTM has one.
    fn projection_of<'p, T>(&self, w: &'p [T]) -> (&'p [T], Option<&'p T>) {
        match (self.projections, w.split_last()) {
            (true, Some((w_hr, w))) => (w, Some(w_hr)),
            _ => (w, None),
        }
    }

    /// A recurrent step's operands as a plan holds them, `[input, states…, params…]`,
    /// split into the three; `None` when their count is not the spec's.
    pub fn operands<'o, T>(&self, operands: &'o [T]) -> Option<(&'o T, &'o [T], &'o [T])> {
        let (input, rest) = operands.split_first()?;
        let (hx, params) = rest.split_at_checked(self.states())?;
        (params.len() == self.params()).then_some((input, hx, params))
    }

    /// Parameters per layer and direction: `w_ih, w_hh[, b_ih, b_hh][, w_hr]`.
    fn per_layer(&self) -> usize {
        let base = if self.has_biases { 4 } else { 2 };
        base + usize::from(self.projections)
    }
}

/// Every layer of a recurrent op on eager storages — `input` `[T, B, F]` (`[B, T, F]`
/// batch first), the states `hx` `[layers · directions, B, H]`, the parameters as the
/// op takes them — into its results `[output, h_n(, c_n)]`. Each layer's input is
/// projected once by `linear`'s kernel, then its steps run as one [`RecurrentLayer`]
/// (per step the packed product and the fused cell, no tensor made per step), the bits
/// of the decomposition's ops. `None` where that kernel does not apply — data other than
/// f32, a hidden size whose product `linear` does not pack — and the decomposition runs.
pub fn recurrent_layers(
    spec: &RecurrentSpec,
    input: &Storage,
    hx: &[Storage],
    params: &[Storage],
) -> Option<Result<Vec<Storage>, OpError>> {
    let tensors = std::iter::once(input).chain(hx).chain(params);
    if tensors.clone().any(|s| s.dtype() != DType::F32) {
        return None;
    }
    // `h0` is `[L·D, B, out]`; an LSTM's `c0` `[L·D, B, hidden]` (`out` the projection's
    // size, else `hidden`).
    let (&[a, b, _], Some(&[_, batch, out])) = (input.shape(), hx.first().map(Storage::shape))
    else {
        return None;
    };
    let hidden = match hx.get(1).map(Storage::shape) {
        Some(&[_, _, hidden]) => hidden,
        _ => out,
    };
    let (steps, b) = if spec.batch_first { (b, a) } else { (a, b) };
    if b != batch || !spec.kernel_runs([hidden, out]) {
        return None;
    }
    if steps == 0 || batch == 0 {
        // No step: an empty output, the states as they were.
        let mut out_shape = input.shape().to_vec();
        out_shape[2] = out.checked_mul(spec.directions())?;
        let output = Storage::full(&out_shape, 0.0, DType::F32);
        return Some(Ok([vec![output], hx.to_vec()].concat()));
    }
    Some(layers_f32(
        spec,
        input,
        hx,
        params,
        [steps, batch, hidden, out],
    ))
}

/// [`recurrent_layers`] once it applies: `shape` is `[steps, batch, hidden, out]`
/// (`out` the hidden state's size).
fn layers_f32(
    spec: &RecurrentSpec,
    input: &Storage,
    hx: &[Storage],
    params: &[Storage],
    [steps, batch, hidden, out]: [usize; 4],
) -> Result<Vec<Storage>, OpError> {
    let op = op_name(spec.cell);
    let shape = [steps, batch, hidden];
    let directions = spec.directions();
    // `params()` is 0 when the count overflows, and a spec has a layer at least.
    if params.is_empty() || params.len() != spec.params() || hx.len() != spec.states() {
        op_bail!(
            "{op}: expected {} states and {} parameter tensors, got {} and {}",
            spec.states(),
            spec.params(),
            hx.len(),
            params.len()
        );
    }
    let slots = spec.layers * directions;
    let sizes = [[slots, batch, out], [slots, batch, hidden]];
    if let Some((s, want)) = hx.iter().zip(sizes).find(|(s, want)| s.shape() != want) {
        op_bail!(
            "{op}: expected states of sizes {want:?}, got {:?}",
            s.shape()
        );
    }
    let mut layer_input = if spec.batch_first {
        super::shape::transpose_storage(input, 0, 1)
    } else {
        input.clone()
    };
    // Per state, the final values of every layer and direction in order.
    let mut finals: Vec<Vec<f32>> = vec![Vec::new(); hx.len()];
    for layer in 0..spec.layers {
        let mut outputs = Vec::with_capacity(directions);
        for direction in 0..directions {
            let slot = layer * directions + direction;
            let w = spec.weights_of(params, layer, direction);
            let states: Vec<Vec<f32>> = hx.iter().map(|s| state_of(s, slot)).collect();
            let ran = one_direction(spec, &layer_input, w, &states, shape, direction == 1)?;
            outputs.push(ran.seq);
            finals[0].extend(ran.h);
            if let Some(c) = finals.get_mut(1) {
                c.extend(ran.c);
            }
        }
        let joined = join_directions(outputs, out)?;
        layer_input = stored(&[steps, batch, out * directions], joined)?;
    }
    let output = if spec.batch_first {
        super::shape::transpose_storage(&layer_input, 0, 1)
    } else {
        layer_input
    };
    let mut results = vec![output];
    for (f, size) in finals.into_iter().zip(sizes) {
        results.push(stored(&size, f)?);
    }
    Ok(results)
}

/// The `[B, H]` state of layer and direction `slot` of a states tensor `[L·D, B, H]`.
fn state_of(s: &Storage, slot: usize) -> Vec<f32> {
    match s {
        Storage::F32(s) => view_to_vec(&s.index_axis(ndarray::Axis(0), slot)),
        _ => Vec::new(),
    }
}

/// One layer in one direction: `layer_input` `[T, B, F]` projected by `w_ih` (and
/// `b_ih`), then the steps from `states` (`h0`, and `c0` for an LSTM), each step's
/// hidden state projected by `w_hr` (`w`'s last) when the LSTM has projections.
fn one_direction(
    spec: &RecurrentSpec,
    layer_input: &Storage,
    w: &[Storage],
    states: &[Vec<f32>],
    shape: [usize; 3],
    reverse: bool,
) -> Result<ferrex_kernels::rnn::RecurrentOutput, OpError> {
    let op = op_name(spec.cell);
    let hidden = shape[2];
    let width = spec.cell.gates() * hidden;
    let (w, w_hr) = match spec.projection_of(w) {
        (w, Some(Storage::F32(w_hr))) => (w, Some(w_hr)),
        (w, None) if !spec.projections => (w, None),
        _ => op_bail!("{op}: expected an f32 weight_hr"),
    };
    let out = w_hr.map_or(hidden, |w| w.shape().first().copied().unwrap_or(0));
    if w_hr.is_some_and(|w| w.shape() != [out, hidden]) || w.len() < 2 {
        op_bail!("{op}: expected weight_hr of sizes [{out}, {hidden}] after the other weights");
    }
    let (b_ih, b_hh) = match spec.has_biases {
        true => (w.get(2), w.get(3)),
        false => (None, None),
    };
    let mut projected_shape = layer_input.shape().to_vec();
    if let Some(last) = projected_shape.last_mut() {
        *last = width;
    }
    let projected =
        super::linalg::linear_storage(layer_input, &w[0], b_ih, &projected_shape, DType::F32)?;
    let (Storage::F32(projected), Storage::F32(w_hh)) = (&projected, &w[1]) else {
        op_bail!("{op}: expected f32 weights");
    };
    if w_hh.shape() != [width, out] {
        op_bail!(
            "{op}: expected weight_hh of sizes [{width}, {out}], got {:?}",
            w_hh.shape()
        );
    }
    let b_hh = b_hh.map(|b| match b {
        Storage::F32(b) => Some(b.view()),
        _ => None,
    });
    let bias = match &b_hh {
        Some(Some(b)) if b.len() == width => Some(view_as_slice(b)),
        Some(_) => op_bail!("{op}: expected bias_hh of {width} values"),
        None => None,
    };
    let packed = super::prepack::packed_weight(w_hh)?;
    let w_hr = w_hr.map(super::prepack::packed_weight).transpose()?;
    let projected = projected.view();
    let layer = RecurrentLayer {
        cell: spec.cell,
        shape,
        projected: &view_as_slice(&projected),
        w_hh: &packed,
        b_hh: bias.as_deref(),
        w_hr: w_hr.as_deref(),
        reverse,
    };
    let no_state = Vec::new();
    let (h0, c0) = (
        states.first().unwrap_or(&no_state),
        states.get(1).unwrap_or(&no_state),
    );
    layer.run(h0, c0).map_err(|e| OpError(e.0))
}

/// The outputs `[T, B, H]` of a layer's directions side by side along the last dim
/// (`cat(.., 2)`): one row of each per step and sample.
fn join_directions(mut outputs: Vec<Vec<f32>>, hidden: usize) -> Result<Vec<f32>, OpError> {
    if outputs.len() == 1 {
        return Ok(outputs.remove(0));
    }
    let len = outputs.iter().map(Vec::len).sum();
    let mut joined = ferrex_kernels::alloc::try_filled(len, 0.0f32).map_err(|e| OpError(e.0))?;
    let rows = joined.chunks_exact_mut(hidden * outputs.len());
    for (r, row) in rows.enumerate() {
        for (d, part) in row.chunks_exact_mut(hidden).enumerate() {
            part.copy_from_slice(&outputs[d][r * hidden..(r + 1) * hidden]);
        }
    }
    Ok(joined)
}

fn stored(shape: &[usize], data: Vec<f32>) -> Result<Storage, OpError> {
    Storage::from_vec(shape, data).ok_or_else(|| OpError::new("recurrent result of the wrong size"))
}

/// One layer in one direction over the time-major `input` `[T, B, F]`: the input
/// projected once for every step, then the steps (backwards when `reverse`); the
/// outputs `[T, B, H]` and the final states `[B, H]`.
fn one_layer(
    rnn: &Rnn,
    input: &Tensor,
    state: Vec<Tensor>,
    (w, w_hr): ([Option<&Tensor>; 4], Option<&Tensor>),
    reverse: bool,
) -> Result<(Tensor, Vec<Tensor>), OpError> {
    let (Some(w_ih), Some(w_hh)) = (w[0], w[1]) else {
        op_bail!("{}: missing weights", rnn.name);
    };
    let projected = input.linear(w_ih, w[2]);
    one_layer_ops(
        rnn.spec.cell,
        &projected,
        &state,
        (w_hh, w[3]),
        w_hr,
        reverse,
    )
}

/// [`one_layer`]'s steps as the decomposition's ops (what an export records).
fn one_layer_ops(
    cell: Cell,
    projected: &Tensor,
    state: &[Tensor],
    recurrent: (&Tensor, Option<&Tensor>),
    w_hr: Option<&Tensor>,
    reverse: bool,
) -> Result<(Tensor, Vec<Tensor>), OpError> {
    let steps = meta_of(projected)?.sizes[0].guard_int();
    let mut state: Vec<Tensor> = state.iter().map(|s| s.unsqueeze(0)).collect();
    let mut seq = Vec::with_capacity(usize::try_from(steps).unwrap_or(0));
    for k in 0..steps {
        let t = if reverse { steps - 1 - k } else { k };
        // Iterating over a tensor in Python: `unbind`, which PyTorch's core IR writes as
        // `slice` + `squeeze`.
        let gi = projected.slice(0, Some(t), Some(t + 1), 1).squeeze_dim(0);
        state = step(cell, &gi, &state, recurrent, w_hr);
        seq.push(state[0].clone());
    }
    if reverse {
        seq.reverse();
    }
    let finals = state.iter().map(|s| s.squeeze_dim(0)).collect();
    Ok((Tensor::cat(&seq, 0), finals))
}

fn rnn_decomposition(args: &RnnCall, cell: Cell) -> Result<Vec<Tensor>, OpError> {
    let rnn = Rnn::read(args, cell)?;
    // On eager data (not while an export traces it, which records the ops below), the
    // layer kernel.
    if !crate::tensor::hook::is_tracing() {
        let spec = rnn.spec;
        let storages = |ts: &[Tensor]| {
            ts.iter()
                .map(Tensor::try_storage)
                .collect::<Result<Vec<_>, _>>()
        };
        if let (Ok(input), Ok(hx), Ok(params)) = (
            args.input.try_storage(),
            storages(&rnn.states),
            storages(&rnn.params),
        ) {
            if let Some(out) = recurrent_layers(&spec, &input, &hx, &params) {
                return Ok(out?.into_iter().map(Tensor::from_storage).collect());
            }
        }
    }
    rnn_ops(&rnn, args.input)
}

/// The op as the ops of its decomposition: what an export records, and the eager
/// kernel where [`recurrent_layers`] does not apply.
fn rnn_ops(rnn: &Rnn, input: &Tensor) -> Result<Vec<Tensor>, OpError> {
    let mut layer_input = input.clone();
    if rnn.spec.batch_first {
        layer_input = layer_input.transpose(0, 1);
    }
    let mut finals: Vec<Vec<Tensor>> = vec![vec![]; rnn.states.len()];
    for layer in 0..rnn.spec.layers {
        let mut outputs = Vec::with_capacity(rnn.spec.directions());
        for direction in 0..rnn.spec.directions() {
            let slot = (layer * rnn.spec.directions() + direction) as i64;
            let state = rnn.states.iter().map(|s| s.select(0, slot)).collect();
            let w = rnn.weights(layer, direction);
            let (out, last) = one_layer(rnn, &layer_input, state, w, direction == 1)?;
            outputs.push(out);
            for (f, s) in finals.iter_mut().zip(last) {
                f.push(s);
            }
        }
        layer_input = if outputs.len() == 1 {
            outputs.remove(0)
        } else {
            Tensor::cat(&outputs, 2)
        };
    }
    let output = if rnn.spec.batch_first {
        layer_input.transpose(0, 1)
    } else {
        layer_input
    };
    let mut out = vec![output];
    out.extend(finals.iter().map(|f| Tensor::stack(f, 0)));
    Ok(out)
}

fn gru_meta(args: &GruInput) -> Result<Vec<TensorMeta>, OpError> {
    Rnn::read(&rnn_call!(args, vec![args.hx.clone()]), Cell::Gru)?.metas()
}

fn lstm_meta(args: &LstmInput) -> Result<Vec<TensorMeta>, OpError> {
    Rnn::read(&rnn_call!(args, args.hx.clone()), Cell::Lstm)?.metas()
}

fn rnn_tanh_meta(args: &RnnTanhInput) -> Result<Vec<TensorMeta>, OpError> {
    Rnn::read(&rnn_call!(args, vec![args.hx.clone()]), Cell::RnnTanh)?.metas()
}

fn rnn_relu_meta(args: &RnnReluInput) -> Result<Vec<TensorMeta>, OpError> {
    Rnn::read(&rnn_call!(args, vec![args.hx.clone()]), Cell::RnnRelu)?.metas()
}

fn rnn_tanh_decomposition(args: &RnnTanhInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, vec![args.hx.clone()]), Cell::RnnTanh)
}

fn rnn_relu_decomposition(args: &RnnReluInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, vec![args.hx.clone()]), Cell::RnnRelu)
}

fn gru_decomposition(args: &GruInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, vec![args.hx.clone()]), Cell::Gru)
}

fn lstm_decomposition(args: &LstmInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, args.hx.clone()), Cell::Lstm)
}

/// The runtime's step of a call in inference mode: every layer ([`recurrent_layers`]).
macro_rules! recurrent_lowering {
    ($args:expr, $hx:expr, $cell:expr) => {{
        let a = $args;
        let spec = RecurrentSpec::new(
            $cell,
            a.num_layers,
            a.bidirectional,
            a.batch_first,
            a.has_biases,
            a.params.len(),
        );
        match spec {
            Some(spec) if !(a.train && a.dropout > 0.0) => Ok(Lowering::Recurrent {
                input: a.input.clone(),
                hx: $hx,
                params: a.params.clone(),
                spec,
            }),
            _ => Ok(Lowering::Eager),
        }
    }};
}

fn gru_lowering<T: Clone>(a: &GruInput<T>) -> Result<Lowering<T>, OpError> {
    recurrent_lowering!(a, vec![a.hx.clone()], Cell::Gru)
}

fn lstm_lowering<T: Clone>(a: &LstmInput<T>) -> Result<Lowering<T>, OpError> {
    recurrent_lowering!(a, a.hx.clone(), Cell::Lstm)
}

fn rnn_tanh_lowering<T: Clone>(a: &RnnTanhInput<T>) -> Result<Lowering<T>, OpError> {
    recurrent_lowering!(a, vec![a.hx.clone()], Cell::RnnTanh)
}

fn rnn_relu_lowering<T: Clone>(a: &RnnReluInput<T>) -> Result<Lowering<T>, OpError> {
    recurrent_lowering!(a, vec![a.hx.clone()], Cell::RnnRelu)
}

/// The arguments of the one-step ops (`lstm_cell`, `gru_cell`, `rnn_tanh_cell`,
/// `rnn_relu_cell`: PyTorch's `nn.LSTMCell`, `nn.GRUCell`, `nn.RNNCell`), `hx` as a list
/// (`[h]`, or `[h, c]` for an LSTM).
struct CellCall<'a> {
    input: &'a Tensor,
    hx: Vec<Tensor>,
    w_ih: &'a Tensor,
    w_hh: &'a Tensor,
    b_ih: Option<&'a Tensor>,
    b_hh: Option<&'a Tensor>,
}

macro_rules! cell_call {
    ($args:expr, $hx:expr) => {
        CellCall {
            input: &$args.input,
            hx: $hx,
            w_ih: &$args.w_ih,
            w_hh: &$args.w_hh,
            b_ih: $args.b_ih.as_ref(),
            b_hh: $args.b_hh.as_ref(),
        }
    };
}

impl CellCall<'_> {
    /// ATen's checks of a cell call (`check_rnn_cell_forward_*`), then the output metas:
    /// the new states, shaped as the given ones.
    fn metas(&self, cell: Cell) -> Result<Vec<TensorMeta>, OpError> {
        let op = format!("{}_cell", op_name(cell));
        let states = if cell == Cell::Lstm { 2 } else { 1 };
        if self.hx.len() != states {
            op_bail!(
                "{op}: expected hx to hold {states} tensors, got {}",
                self.hx.len()
            );
        }
        let (x, w_ih, w_hh) = (
            meta_of(self.input)?,
            meta_of(self.w_ih)?,
            meta_of(self.w_hh)?,
        );
        if x.rank() != 2 || w_ih.rank() != 2 || w_hh.rank() != 2 {
            op_bail!(
                "{op}: expected a 2-D input and 2-D weights, got input {}, weight_ih {} and weight_hh {}",
                format_sizes(&x.sizes),
                format_sizes(&w_ih.sizes),
                format_sizes(&w_hh.sizes)
            );
        }
        if !x.sizes[1].sym_eq(&w_ih.sizes[1]) {
            op_bail!(
                "{op}: input has inconsistent input_size: got {}, expected {}",
                x.sizes[1],
                w_ih.sizes[1]
            );
        }
        let hidden = &w_hh.sizes[1];
        let rows = hidden.mul(&SymInt::Int(cell.gates() as i64));
        for (name, w) in [("weight_ih", &w_ih), ("weight_hh", &w_hh)] {
            if !w.sizes[0].sym_eq(&rows) {
                op_bail!(
                    "{op}: expected {name} to have {rows} rows ({} gates of the hidden size {hidden}), got {}",
                    cell.gates(),
                    format_sizes(&w.sizes)
                );
            }
        }
        for (name, b) in [("bias_ih", self.b_ih), ("bias_hh", self.b_hh)] {
            let Some(b) = b else { continue };
            let b = meta_of(b)?;
            if b.rank() != 1 || !b.sizes[0].sym_eq(&rows) {
                op_bail!(
                    "{op}: expected {name} of [{rows}], got {}",
                    format_sizes(&b.sizes)
                );
            }
        }
        let mut metas = Vec::with_capacity(states);
        for (i, h) in self.hx.iter().enumerate() {
            let h = meta_of(h)?;
            if h.rank() != 2 || !h.sizes[0].sym_eq(&x.sizes[0]) {
                op_bail!(
                    "{op}: Input batch size {} doesn't match hidden{i} batch size {}",
                    x.sizes[0],
                    h.sizes
                        .first()
                        .map_or_else(|| "(none)".into(), ToString::to_string)
                );
            }
            if !h.sizes[1].sym_eq(hidden) {
                op_bail!(
                    "{op}: hidden{i} has inconsistent hidden_size: got {}, expected {hidden}",
                    h.sizes[1]
                );
            }
            metas.push(TensorMeta::new(x.dtype, h.sizes));
        }
        Ok(metas)
    }

    /// The step as ATen's cells compute it: both projections, then [`step`]'s gates.
    fn ops(&self, cell: Cell) -> Result<Vec<Tensor>, OpError> {
        self.metas(cell)?;
        let gi = self.input.linear(self.w_ih, self.b_ih);
        Ok(step(cell, &gi, &self.hx, (self.w_hh, self.b_hh), None))
    }
}

fn lstm_cell_meta(args: &LstmCell) -> Result<Vec<TensorMeta>, OpError> {
    cell_call!(args, args.hx.clone()).metas(Cell::Lstm)
}

fn lstm_cell_decomposition(args: &LstmCell) -> Result<Vec<Tensor>, OpError> {
    cell_call!(args, args.hx.clone()).ops(Cell::Lstm)
}

fn gru_cell_meta(args: &GruCell) -> Result<Vec<TensorMeta>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).metas(Cell::Gru)
}

fn gru_cell_decomposition(args: &GruCell) -> Result<Vec<Tensor>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).ops(Cell::Gru)
}

fn rnn_tanh_cell_meta(args: &RnnTanhCell) -> Result<Vec<TensorMeta>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).metas(Cell::RnnTanh)
}

fn rnn_tanh_cell_decomposition(args: &RnnTanhCell) -> Result<Vec<Tensor>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).ops(Cell::RnnTanh)
}

fn rnn_relu_cell_meta(args: &RnnReluCell) -> Result<Vec<TensorMeta>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).metas(Cell::RnnRelu)
}

fn rnn_relu_cell_decomposition(args: &RnnReluCell) -> Result<Vec<Tensor>, OpError> {
    cell_call!(args, vec![args.hx.clone()]).ops(Cell::RnnRelu)
}

op_def! {
    pub static GRU_INPUT: struct GruInput =
        "aten::gru.input(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor)" {
        meta: gru_meta,
        composite: gru_decomposition,
        lowering: gru_lowering,
    }
    pub static LSTM_INPUT: struct LstmInput =
        "aten::lstm.input(Tensor input, Tensor[] hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor, Tensor)" {
        meta: lstm_meta,
        composite: lstm_decomposition,
        lowering: lstm_lowering,
    }
    pub static RNN_TANH_INPUT: struct RnnTanhInput =
        "aten::rnn_tanh.input(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor)" {
        meta: rnn_tanh_meta,
        composite: rnn_tanh_decomposition,
        lowering: rnn_tanh_lowering,
    }
    pub static RNN_RELU_INPUT: struct RnnReluInput =
        "aten::rnn_relu.input(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor)" {
        meta: rnn_relu_meta,
        composite: rnn_relu_decomposition,
        lowering: rnn_relu_lowering,
    }
    pub static LSTM_CELL: struct LstmCell =
        "aten::lstm_cell(Tensor input, Tensor[] hx, Tensor w_ih, Tensor w_hh, Tensor? b_ih=None, Tensor? b_hh=None) -> (Tensor, Tensor)" {
        meta: lstm_cell_meta,
        composite: lstm_cell_decomposition,
    }
    pub static GRU_CELL: struct GruCell =
        "aten::gru_cell(Tensor input, Tensor hx, Tensor w_ih, Tensor w_hh, Tensor? b_ih=None, Tensor? b_hh=None) -> Tensor" {
        meta: gru_cell_meta,
        composite: gru_cell_decomposition,
    }
    pub static RNN_TANH_CELL: struct RnnTanhCell =
        "aten::rnn_tanh_cell(Tensor input, Tensor hx, Tensor w_ih, Tensor w_hh, Tensor? b_ih=None, Tensor? b_hh=None) -> Tensor" {
        meta: rnn_tanh_cell_meta,
        composite: rnn_tanh_cell_decomposition,
    }
    pub static RNN_RELU_CELL: struct RnnReluCell =
        "aten::rnn_relu_cell(Tensor input, Tensor hx, Tensor w_ih, Tensor w_hh, Tensor? b_ih=None, Tensor? b_hh=None) -> Tensor" {
        meta: rnn_relu_cell_meta,
        composite: rnn_relu_cell_decomposition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0)
            .map(|v| v * scale)
            .collect()
    }

    /// The layer kernel (the cell kernels, the batch split over the threads when the
    /// work is large enough) has the bits of the decomposition's ops: every cell, an
    /// LSTM with and without projections (`proj_size`), one layer and two bidirectional
    /// batch-first ones, a size that runs on one thread and one large enough to split on
    /// a machine of several cores.
    #[test]
    fn the_layer_kernel_has_the_bits_of_the_ops() {
        for cell in [Cell::Lstm, Cell::Gru, Cell::RnnTanh, Cell::RnnRelu] {
            for sizes in [[5, 3, 16, 12], [24, 6, 96, 40]] {
                for layout in [(1, false), (2, true)] {
                    let projections: &[bool] = match cell {
                        Cell::Lstm => &[false, true],
                        _ => &[false],
                    };
                    for &projections in projections {
                        layers_have_the_bits_of_the_ops(cell, sizes, layout, projections);
                    }
                }
            }
        }
    }

    /// One case of [`the_layer_kernel_has_the_bits_of_the_ops`]: `[steps, batch, hidden,
    /// features]`, `(layers, bidirectional)`; with projections the hidden state is half
    /// the cell's size.
    fn layers_have_the_bits_of_the_ops(
        cell: Cell,
        [steps, batch, hidden, features]: [usize; 4],
        (layers, bidirectional): (usize, bool),
        projections: bool,
    ) {
        let batch_first = bidirectional;
        let out = if projections { hidden / 2 } else { hidden };
        let spec = RecurrentSpec {
            cell,
            layers,
            bidirectional,
            batch_first,
            has_biases: true,
            projections,
        };
        let directions = spec.directions();
        let in_shape = match batch_first {
            true => [batch, steps, features],
            false => [steps, batch, features],
        };
        let input = Tensor::from_vec(values(steps * batch * features, 1, 2.0), in_shape);
        let slots = layers * directions;
        let hx: Vec<Tensor> = [out, hidden][..spec.states()]
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let v = values(slots * batch * size, 2 + i, 1.0);
                Tensor::from_vec(v, [slots, batch, size])
            })
            .collect();
        let width = cell.gates() * hidden;
        let mut params = Vec::new();
        for slot in 0..slots {
            let f = if slot < directions {
                features
            } else {
                out * directions
            };
            params.push(Tensor::from_vec(
                values(width * f, 4 + slot, 0.2),
                [width, f],
            ));
            let w_hh = values(width * out, 5 + slot, 0.2);
            params.push(Tensor::from_vec(w_hh, [width, out]));
            params.push(Tensor::from_vec(values(width, 6 + slot, 0.5), [width]));
            params.push(Tensor::from_vec(values(width, 7 + slot, 0.5), [width]));
            if projections {
                let w_hr = values(out * hidden, 8 + slot, 0.3);
                params.push(Tensor::from_vec(w_hr, [out, hidden]));
            }
        }
        let call = RnnCall {
            input: &input,
            hx: hx.clone(),
            params: &params,
            has_biases: true,
            num_layers: layers as i64,
            dropout: 0.0,
            train: false,
            bidirectional,
            batch_first,
        };
        let rnn = Rnn::read(&call, cell).unwrap();
        assert_eq!(rnn.spec, spec);
        let storages = |ts: &[Tensor]| -> Vec<Storage> {
            ts.iter().map(|t| t.try_storage().unwrap()).collect()
        };
        let got = recurrent_layers(
            &spec,
            &input.try_storage().unwrap(),
            &storages(&hx),
            &storages(&params),
        )
        .expect("f32 data with a packed product runs the layer kernel")
        .unwrap();
        let want = rnn_ops(&rnn, &input).unwrap();
        assert_eq!(got.len(), want.len());
        assert_eq!(got[0].shape()[2], out * directions);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.shape(), w.shape().as_slice());
            assert_eq!(g.to_vec::<f32>(), w.to_vec::<f32>().unwrap());
        }
    }

    /// Data other than f32, or a hidden size whose product `linear` does not pack: the
    /// layer kernel declines and the decomposition's ops run.
    #[test]
    fn the_layer_kernel_declines_what_it_does_not_run() {
        let spec = RecurrentSpec {
            cell: Cell::Gru,
            layers: 1,
            bidirectional: false,
            batch_first: false,
            has_biases: false,
            projections: false,
        };
        let f32s = |shape: &[usize]| Storage::full(shape, 0.5, DType::F32);
        let input = f32s(&[4, 2, 8]);
        let small = [f32s(&[1, 2, 4])];
        let small_params = [f32s(&[12, 8]), f32s(&[12, 4])];
        assert!(recurrent_layers(&spec, &input, &small, &small_params).is_none());
        let h = [f32s(&[1, 2, 8])];
        let params = [f32s(&[24, 8]), f32s(&[24, 8])];
        let f64_input = Storage::full(&[4, 2, 8], 0.5, DType::F64);
        assert!(recurrent_layers(&spec, &f64_input, &h, &params).is_none());
        let out = recurrent_layers(&spec, &input, &h, &params)
            .unwrap()
            .unwrap();
        assert_eq!(out[0].shape(), [4, 2, 8]);
        assert_eq!(out[1].shape(), [1, 2, 8]);
        // A parameter list of the wrong length is an error, not a panic.
        let short = recurrent_layers(&spec, &input, &h, &params[..1]).unwrap();
        assert!(short.unwrap_err().0.contains("parameter tensors"));
    }
}
