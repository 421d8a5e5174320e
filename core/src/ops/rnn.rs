//! Recurrent layers: `gru.input` and `lstm.input`, as PyTorch's `nn.GRU` / `nn.LSTM`
//! record them — composite ops over `linear`, `sigmoid`, `tanh` and `stack`, one step per
//! time index, layer after layer, both directions when bidirectional. Parameters come
//! per layer and direction as `w_ih, w_hh[, b_ih, b_hh]`; inputs are 3-D (`nn` modules
//! add the batch dim of an unbatched input before calling the op). Dropout between
//! layers is a training feature: an inference graph has none, so `train=True` with a
//! dropout is refused. LSTM projections (`proj_size`) are refused.

// GRU: 3 gates, one state; LSTM: 4 gates, hidden and cell state.
use ferrex_kernels::rnn::{RecurrentCell as Cell, RecurrentLayer};

use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Storage, Tensor, TensorMeta};

/// The op's name, for messages.
fn op_name(cell: Cell) -> &'static str {
    match cell {
        Cell::Gru => "gru",
        Cell::Lstm => "lstm",
    }
}

/// The decoded arguments shared by both ops (they have the same layout after `hx`).
struct Rnn {
    cell: Cell,
    name: &'static str,
    input: TensorMeta,
    /// `[h0]` for a GRU, `[h0, c0]` for an LSTM.
    states: Vec<Tensor>,
    params: Vec<Tensor>,
    has_biases: bool,
    layers: usize,
    directions: usize,
    batch_first: bool,
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
        let has_biases = args.has_biases;
        let layers = usize::try_from(args.num_layers).unwrap_or(0);
        let (dropout, train) = (args.dropout, args.train);
        let directions = if args.bidirectional { 2 } else { 1 };
        if train && dropout > 0.0 {
            op_bail!("{op}: dropout between layers in training mode is not supported (export an eval() model)");
        }
        if input.rank() != 3 {
            op_bail!(
                "{op}: Expected input to be 3D, got {}D instead",
                input.rank()
            );
        }
        let per_layer = if has_biases { 4 } else { 2 };
        let expected = layers.saturating_mul(directions * per_layer);
        if layers == 0 || params.len() != expected {
            op_bail!(
                "{op}: expected {expected} parameter tensors for {layers} layers, got {}",
                params.len()
            );
        }
        let h0 = meta_of(&states[0])?;
        if h0.rank() != 3 {
            op_bail!(
                "{op}: Expected hidden size to be 3D, got {}D instead",
                h0.rank()
            );
        }
        if let Some(c0) = states.get(1) {
            let c0 = meta_of(c0)?;
            if c0.rank() != 3 || c0.sizes[2].hint() != h0.sizes[2].hint() {
                op_bail!("lstm: LSTM projections (proj_size) are not supported; h0 {} and c0 {} must have one hidden size", format_sizes(&h0.sizes), format_sizes(&c0.sizes));
            }
        }
        for (i, w) in params.iter().enumerate().step_by(per_layer) {
            let w = meta_of(w)?;
            let rows = (cell.gates() as i64).saturating_mul(h0.sizes[2].hint());
            if w.rank() != 2 || w.sizes[0].hint() != rows {
                op_bail!(
                    "{op}: expected weight_ih {} to have {rows} rows ({} gates of the hidden size), got {}",
                    i / per_layer,
                    cell.gates(),
                    format_sizes(&w.sizes)
                );
            }
        }
        Ok(Rnn {
            cell,
            name: op,
            hidden: h0.sizes[2].clone(),
            input,
            states,
            params,
            has_biases,
            layers,
            directions,
            batch_first: args.batch_first,
        })
    }

    /// Output metas: the sequence output, then the final states (shaped as given).
    fn metas(&self) -> Result<Vec<TensorMeta>, OpError> {
        let mut out = self.input.sizes.clone();
        out[2] = self.hidden.mul(&SymInt::Int(self.directions as i64));
        let mut metas = vec![TensorMeta::new(self.input.dtype, out)];
        for s in &self.states {
            metas.push(meta_of(s)?);
        }
        Ok(metas)
    }

    /// `(w_ih, w_hh, b_ih, b_hh)` of one layer and direction.
    fn weights(&self, layer: usize, direction: usize) -> [Option<&Tensor>; 4] {
        let per = if self.has_biases { 4 } else { 2 };
        let at = (layer * self.directions + direction) * per;
        let p = |i: usize| (i < per).then(|| &self.params[at + i]);
        [p(0), p(1), p(2), p(3)]
    }
}

/// One time step, as PyTorch's `gru_cell` / `lstm_cell` decompositions: `gi` is this
/// step's input projection `[B, G·H]`, the states are `[1, B, H]`; the new hidden state
/// (and cell state for an LSTM).
fn step(
    cell: Cell,
    gi: &Tensor,
    state: &[Tensor],
    w_hh: &Tensor,
    b_hh: Option<&Tensor>,
) -> Vec<Tensor> {
    let gh = state[0].linear(w_hh, b_hh);
    match cell {
        Cell::Gru => {
            let (i, h) = (gi.chunk(3, 1), gh.chunk(3, 2));
            let r = (&h[0] + &i[0]).sigmoid();
            let z = (&h[1] + &i[1]).sigmoid();
            let n = (&i[2] + &(&h[2] * &r)).tanh();
            // (h - n) * z + n = (1 - z) * n + z * h
            vec![&(&(&state[0] - &n) * &z) + &n]
        }
        Cell::Lstm => {
            let g = (&gh + gi).chunk(4, 2);
            let (i, f) = (g[0].sigmoid(), g[1].sigmoid());
            let (c_new, o) = (g[2].tanh(), g[3].sigmoid());
            let c = &(&f * &state[1]) + &(&i * &c_new);
            vec![&o * &c.tanh(), c]
        }
    }
}

/// [`one_layer`]'s steps run eagerly on f32 data ([`RecurrentLayer`]), from the
/// input's projection `projected` `[T, B, G·H]` and the states `[B, H]`: per step the
/// packed product `linear` runs on f32 (the same weight panels, bias and rows) and the
/// cell's kernel, the bits of the decomposition's ops; the batch split over threads
/// where that keeps them. `None` while an export traces the layer (the graph records the
/// decomposition's ops), for other dtypes, or where `linear` would take another path.
fn one_layer_eager(
    cell: Cell,
    projected: &Tensor,
    state: &[Tensor],
    (w_hh, b_hh): (&Tensor, Option<&Tensor>),
    reverse: bool,
) -> Option<Result<(Tensor, Vec<Tensor>), OpError>> {
    let tensors = std::iter::once(projected).chain(state);
    if crate::tensor::hook::is_tracing() || tensors.clone().any(|t| t.dtype() != DType::F32) {
        return None;
    }
    let (pshape, hshape) = (projected.shape(), state.first()?.shape());
    let ([steps, batch, width], [b, hidden]) = (&pshape[..], &hshape[..]) else {
        return None;
    };
    let shape = [*steps, *batch, *hidden];
    if *b != *batch
        || Some(*width) != hidden.checked_mul(cell.gates())
        || !super::linalg::linear_packs(*batch, *width, *hidden)
    {
        return None;
    }
    let (Ok(Storage::F32(w)), bias) = (w_hh.try_storage(), b_hh.map(Tensor::try_storage)) else {
        return None;
    };
    let bias = match &bias {
        None => None,
        Some(Ok(Storage::F32(b))) if b.ndim() == 1 => Some(b.as_slice()?),
        Some(_) => return None,
    };
    let run = || -> Result<(Tensor, Vec<Tensor>), OpError> {
        let packed = super::prepack::packed_weight(&w)?;
        let data = |t: &Tensor| t.to_vec::<f32>().map_err(|e| OpError::new(e.to_string()));
        // The projection, `linear`'s new output, is read where it lies.
        let stored = projected.try_storage();
        let in_place = match &stored {
            Ok(Storage::F32(p)) => p.as_slice(),
            _ => None,
        };
        let proj = match in_place {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(data(projected)?),
        };
        let h0 = data(&state[0])?;
        let c0 = match state.get(1) {
            Some(c) => data(c)?,
            None => Vec::new(),
        };
        let layer = RecurrentLayer {
            cell,
            shape,
            projected: &proj,
            w_hh: &packed,
            b_hh: bias,
            reverse,
        };
        let out = layer.run(&h0, &c0).map_err(|e| OpError(e.0))?;
        let mut finals = vec![Tensor::from_vec(out.h, [shape[1], shape[2]])];
        if cell == Cell::Lstm {
            finals.push(Tensor::from_vec(out.c, [shape[1], shape[2]]));
        }
        Ok((Tensor::from_vec(out.seq, shape), finals))
    };
    Some(run())
}

/// One layer in one direction over the time-major `input` `[T, B, F]`: the input
/// projected once for every step, then the steps (backwards when `reverse`); the
/// outputs `[T, B, H]` and the final states `[B, H]`.
fn one_layer(
    rnn: &Rnn,
    input: &Tensor,
    state: Vec<Tensor>,
    w: [Option<&Tensor>; 4],
    reverse: bool,
) -> Result<(Tensor, Vec<Tensor>), OpError> {
    let (Some(w_ih), Some(w_hh)) = (w[0], w[1]) else {
        op_bail!("{}: missing weights", rnn.name);
    };
    let projected = input.linear(w_ih, w[2]);
    if let Some(done) = one_layer_eager(rnn.cell, &projected, &state, (w_hh, w[3]), reverse) {
        return done;
    }
    one_layer_ops(rnn.cell, &projected, &state, (w_hh, w[3]), reverse)
}

/// [`one_layer`]'s steps as the decomposition's ops (what an export records).
fn one_layer_ops(
    cell: Cell,
    projected: &Tensor,
    state: &[Tensor],
    (w_hh, b_hh): (&Tensor, Option<&Tensor>),
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
        state = step(cell, &gi, &state, w_hh, b_hh);
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
    let mut layer_input = args.input.clone();
    if rnn.batch_first {
        layer_input = layer_input.transpose(0, 1);
    }
    let mut finals: Vec<Vec<Tensor>> = vec![vec![]; rnn.states.len()];
    for layer in 0..rnn.layers {
        let mut outputs = Vec::with_capacity(rnn.directions);
        for direction in 0..rnn.directions {
            let slot = (layer * rnn.directions + direction) as i64;
            let state = rnn.states.iter().map(|s| s.select(0, slot)).collect();
            let w = rnn.weights(layer, direction);
            let (out, last) = one_layer(&rnn, &layer_input, state, w, direction == 1)?;
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
    let output = if rnn.batch_first {
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

fn gru_decomposition(args: &GruInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, vec![args.hx.clone()]), Cell::Gru)
}

fn lstm_decomposition(args: &LstmInput) -> Result<Vec<Tensor>, OpError> {
    rnn_decomposition(&rnn_call!(args, args.hx.clone()), Cell::Lstm)
}

op_def! {
    pub static GRU_INPUT: struct GruInput =
        "aten::gru.input(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor)" {
        meta: gru_meta,
        composite: gru_decomposition,
    }
    pub static LSTM_INPUT: struct LstmInput =
        "aten::lstm.input(Tensor input, Tensor[] hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor, Tensor)" {
        meta: lstm_meta,
        composite: lstm_decomposition,
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

    /// The eager layer (the cell kernels, the batch split over the threads when the
    /// work is large enough) has the bits of the decomposition's ops, both cells, both
    /// directions, for a layer small enough to run on one thread and one large enough
    /// to split on a machine of several cores.
    #[test]
    fn the_eager_layer_has_the_bits_of_the_ops() {
        for cell in [Cell::Lstm, Cell::Gru] {
            for [steps, batch, hidden] in [[5, 3, 16], [24, 6, 96]] {
                let width = cell.gates() * hidden;
                let projected =
                    Tensor::from_vec(values(steps * batch * width, 1, 2.0), [steps, batch, width]);
                let states: Vec<Tensor> = (0..if cell == Cell::Lstm { 2 } else { 1 })
                    .map(|i| Tensor::from_vec(values(batch * hidden, 2 + i, 1.0), [batch, hidden]))
                    .collect();
                let w_hh = Tensor::from_vec(values(width * hidden, 4, 0.2), [width, hidden]);
                let b_hh = Tensor::from_vec(values(width, 5, 0.5), [width]);
                for reverse in [false, true] {
                    let w = (&w_hh, Some(&b_hh));
                    let (seq, finals) = one_layer_eager(cell, &projected, &states, w, reverse)
                        .expect("f32 data with a packed product runs eagerly")
                        .unwrap();
                    let (want_seq, want_finals) =
                        one_layer_ops(cell, &projected, &states, w, reverse).unwrap();
                    assert_eq!(seq.shape(), [steps, batch, hidden]);
                    assert_eq!(
                        seq.to_vec::<f32>().unwrap(),
                        want_seq.to_vec::<f32>().unwrap()
                    );
                    assert_eq!(finals.len(), want_finals.len());
                    for (f, want) in finals.iter().zip(&want_finals) {
                        assert_eq!(f.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
                    }
                }
            }
        }
    }
}
