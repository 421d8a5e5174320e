//! Recurrent layers: one LSTM or GRU time step's gate arithmetic in one pass, and a
//! whole layer's steps ([`RecurrentLayer`]), for the eager `lstm` / `gru` (the
//! interpreter's), with the bits of the decomposition's ops run one by one (PyTorch's
//! `lstm_cell` / `gru_cell`: the recurrent `linear`, then the elementwise ops).

use std::ops::Range;

use crate::pointwise::{fma, sigmoid_f32, tanh_f32, Fused, MulAdd, Split};
use crate::sgemm::{GemmEpilogue, PackedB};
use crate::{KernelError, Mat};

/// The cell a recurrent layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrentCell {
    Lstm,
    Gru,
    /// `nn.RNN`: `h' = tanh(gi + gh)`.
    RnnTanh,
    /// `nn.RNN(nonlinearity="relu")`: `h' = relu(gi + gh)`.
    RnnRelu,
}

impl RecurrentCell {
    /// Gates per hidden unit (the projections' width is `gates * hidden`).
    pub fn gates(self) -> usize {
        match self {
            RecurrentCell::Lstm => 4,
            RecurrentCell::Gru => 3,
            RecurrentCell::RnnTanh | RecurrentCell::RnnRelu => 1,
        }
    }
}

/// One recurrent layer in one direction, from its input's projection: per step the
/// hidden state's projection (`h @ w_hh^T + b_hh`, the packed product `linear` runs),
/// then the cell ([`lstm_cell_f32`] / [`gru_cell_f32`]), then for an LSTM with
/// projections (`proj_size`) the new hidden state's projection `h @ w_hr^T`.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentLayer<'a> {
    pub cell: RecurrentCell,
    /// `[steps, batch, hidden]`: `hidden` is the cell's size (an LSTM's cell state's).
    pub shape: [usize; 3],
    /// The input's projection for every step, `[steps, batch, gates * hidden]` (its
    /// bias added), row-major.
    pub projected: &'a [f32],
    /// The recurrent weight `[gates * hidden, out]`, packed as the right operand
    /// `[out, gates * hidden]` of the step's product; `out` is the hidden state's size
    /// ([`RecurrentLayer::out`]).
    pub w_hh: &'a PackedB,
    pub b_hh: Option<&'a [f32]>,
    /// An LSTM's projection weight `[out, hidden]` (`proj_size`), packed as the right
    /// operand `[hidden, out]`: each step's hidden state is then `[batch, out]`.
    pub w_hr: Option<&'a PackedB>,
    /// Steps run from the last to the first (a bidirectional layer's backward half).
    pub reverse: bool,
}

/// A recurrent layer's results: every step's hidden state `[steps, batch, out]` (in
/// time order) and the final states, `h` `[batch, out]` and `c` `[batch, hidden]`
/// (empty for a GRU or an RNN).
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentOutput {
    pub seq: Vec<f32>,
    pub h: Vec<f32>,
    pub c: Vec<f32>,
}

impl RecurrentLayer<'_> {
    /// The hidden state's size: the projection's with `w_hr`, else the cell's.
    pub fn out(&self) -> usize {
        self.w_hr.map_or(self.shape[2], |w| w.shape()[1])
    }

    /// Runs the layer from the states `h0` `[batch, out]` (and `c0` `[batch, hidden]`
    /// for an LSTM).
    ///
    /// With several threads and enough work, the batch is split over the pool, each
    /// share running all its steps on one core — one hand-off per layer, not per step
    /// (splitting each step's product made an LSTM's 2-thread calls slower than 1-thread
    /// ones) — where the shares' products sum as the whole batch's does
    /// ([`crate::sgemm::sums_alike`]): the bits do not depend on the threads.
    pub fn run(&self, h0: &[f32], c0: &[f32]) -> Result<RecurrentOutput, KernelError> {
        let [steps, batch, hidden] = self.shape;
        let lstm = self.cell == RecurrentCell::Lstm;
        let out = self.out();
        let width = hidden.checked_mul(self.cell.gates());
        let n = batch.checked_mul(hidden);
        // A step's projections (`batch * width`) and all steps' states fit too.
        let all = n.and_then(|n| n.checked_mul(steps));
        let per_step = n.zip(width).and_then(|(n, w)| n.checked_mul(w));
        let outs = batch
            .checked_mul(out.max(hidden))
            .and_then(|n| n.checked_mul(steps));
        let (Some(width), Some(n), Some(all), Some(_), Some(_)) = (width, n, all, per_step, outs)
        else {
            return Err(KernelError::new("the recurrent layer's size overflows"));
        };
        if all
            .checked_mul(self.cell.gates())
            .is_none_or(|p| self.projected.len() < p)
            || h0.len() != batch * out
            || (lstm && c0.len() != n)
            || self.w_hh.shape() != [out, width]
            || self.b_hh.is_some_and(|b| b.len() != width)
            || (self.w_hr.is_some_and(|w| !lstm || w.shape()[0] != hidden))
        {
            return Err(KernelError::new(
                "a recurrent layer's operand does not fit its shape",
            ));
        }
        self.run_shares(&self.batch_shares(), h0, c0)
    }

    /// [`RecurrentLayer::run`] with the batch split in `parts` (checked operands).
    fn run_shares(
        &self,
        parts: &[Range<usize>],
        h0: &[f32],
        c0: &[f32],
    ) -> Result<RecurrentOutput, KernelError> {
        let [steps, batch, hidden] = self.shape;
        let out = self.out();
        let (n, all) = (batch * out, steps * batch * out);
        let lstm = self.cell == RecurrentCell::Lstm;
        if parts.len() <= 1 {
            return self.run_rows(0..batch, h0, c0);
        }
        let done = std::sync::Mutex::new((0..parts.len()).map(|_| None).collect::<Vec<_>>());
        let ran = crate::threads::for_each_range(parts, |i, rows| {
            let part = self.run_rows(rows, h0, c0);
            if let Ok(mut done) = done.lock() {
                done[i] = Some(part);
            }
        });
        let done = done
            .into_inner()
            .map_err(|_| KernelError::new("a recurrent layer's worker failed"))?;
        if !ran {
            return Err(KernelError::new("a recurrent layer's worker failed"));
        }
        let mut whole = RecurrentOutput {
            seq: crate::try_filled(all, 0f32)?,
            h: Vec::with_capacity(n),
            c: Vec::with_capacity(if lstm { batch * hidden } else { 0 }),
        };
        for (rows, part) in parts.iter().zip(done) {
            let part =
                part.ok_or_else(|| KernelError::new("a recurrent layer's share did not run"))??;
            let r = rows.len() * out;
            for (t, src) in part.seq.chunks_exact(r.max(1)).enumerate() {
                let at = t * n + rows.start * out;
                whole.seq[at..at + r].copy_from_slice(src);
            }
            whole.h.extend_from_slice(&part.h);
            whole.c.extend_from_slice(&part.c);
        }
        Ok(whole)
    }

    /// The batch's shares, one per thread: one share (the whole batch) on one thread,
    /// for small work, or where a share's product would sum otherwise than the batch's.
    fn batch_shares(&self) -> Vec<Range<usize>> {
        let [steps, batch, hidden] = self.shape;
        let out = self.out();
        let threads = crate::threads::num_threads().min(batch);
        let macs = [batch, out, self.cell.gates() * hidden]
            .iter()
            .try_fold(steps, |acc, &d| acc.checked_mul(d));
        let parts = crate::threads::split_ranges(batch, threads);
        // Both products of a step (the recurrent one over `out`, the projection over
        // `hidden`) must sum a share's rows as the batch's.
        let alike = |rows: usize| {
            crate::sgemm::sums_alike(batch, rows, out)
                && (self.w_hr.is_none() || crate::sgemm::sums_alike(batch, rows, hidden))
        };
        let split = threads > 1
            && macs.is_some_and(|m| m >= crate::threads::PAR_MIN_MACS)
            && (parts.iter()).all(|p| alike(p.len()));
        if split {
            parts
        } else {
            crate::threads::split_ranges(batch, 1)
        }
    }

    /// The steps of the batch rows `rows`, from their states in `h0` / `c0`.
    fn run_rows(
        &self,
        rows: Range<usize>,
        h0: &[f32],
        c0: &[f32],
    ) -> Result<RecurrentOutput, KernelError> {
        let [steps, batch, hidden] = self.shape;
        let (width, out) = (self.cell.gates() * hidden, self.out());
        let (r, n) = (rows.len(), rows.len() * out);
        let mut h = h0[rows.start * out..rows.end * out].to_vec();
        let mut c = match self.cell {
            RecurrentCell::Lstm => c0[rows.start * hidden..rows.end * hidden].to_vec(),
            _ => Vec::new(),
        };
        let mut seq = crate::try_filled(steps * n, 0f32)?;
        // The cell's new hidden state, `[r, hidden]` (projected to `h` when `w_hr`).
        let (mut h_next, mut c_next) = (vec![0f32; r * hidden], vec![0f32; c.len()]);
        let epilogue = GemmEpilogue {
            bias: self.b_hh,
            ..GemmEpilogue::default()
        };
        for k in 0..steps {
            let t = if self.reverse { steps - 1 - k } else { k };
            let gh =
                crate::gemm_packed_new(1.0, &[Mat::row_major(&h, r, out)], self.w_hh, epilogue)?;
            let at = (t * batch + rows.start) * width;
            let gi = &self.projected[at..at + r * width];
            match self.cell {
                RecurrentCell::Lstm => {
                    lstm_cell_f32(&gh, gi, &c, [r, hidden], &mut c_next, &mut h_next)?;
                    std::mem::swap(&mut c, &mut c_next);
                }
                RecurrentCell::Gru => gru_cell_f32(&gh, gi, &h, [r, hidden], &mut h_next)?,
                cell => rnn_cell_f32(cell, &gh, gi, [r, hidden], &mut h_next)?,
            }
            match self.w_hr {
                Some(w_hr) => {
                    let cell_h = Mat::row_major(&h_next, r, hidden);
                    h = crate::gemm_packed_new(1.0, &[cell_h], w_hr, GemmEpilogue::default())?;
                }
                None => std::mem::swap(&mut h, &mut h_next),
            }
            seq[t * n..(t + 1) * n].copy_from_slice(&h);
        }
        Ok(RecurrentOutput { seq, h, c })
    }
}

/// One LSTM step over `[batch, 4 * hidden]` gates: `gh` (the hidden state's projection,
/// bias added) plus `gi` (the input's), in PyTorch's gate order `i, f, g, o`; the cell
/// state `c` `[batch, hidden]`. Writes `c' = σ(f) c + σ(i) tanh(g)` into `c_out` and
/// `h' = σ(o) tanh(c')` into `h_out`, each op rounded as the decomposition's separate
/// ops round it (the same f32 functions, the same order), on the widest vectors.
///
/// ```
/// use ferrex_kernels::rnn::lstm_cell_f32;
/// // Gates all 0: σ = 1/2, tanh = 0, so c' = c / 2 and h' = tanh(c') / 2.
/// let (mut c, mut h) = ([0f32], [0f32]);
/// lstm_cell_f32(&[0.0; 4], &[0.0; 4], &[2.0], [1, 1], &mut c, &mut h).unwrap();
/// assert_eq!(c, [1.0]);
/// assert!((h[0] - 1f32.tanh() / 2.0).abs() < 1e-7);
/// ```
pub fn lstm_cell_f32(
    gh: &[f32],
    gi: &[f32],
    c: &[f32],
    [batch, hidden]: [usize; 2],
    c_out: &mut [f32],
    h_out: &mut [f32],
) -> Result<(), KernelError> {
    let n = state_len("LSTM", [batch, hidden], [gh, gi], 4, &[c, c_out, h_out])?;
    crate::wide(CellStep {
        cell: RecurrentCell::Lstm,
        gh: &gh[..4 * n],
        gi: &gi[..4 * n],
        state: &c[..n],
        hidden,
        c_out: &mut c_out[..n],
        h_out: &mut h_out[..n],
    });
    Ok(())
}

/// The elements of a cell's state (`batch * hidden`), checked: the gates `[batch,
/// gates * hidden]` and every state operand hold at least their shape's elements.
fn state_len(
    cell: &str,
    [batch, hidden]: [usize; 2],
    gates_in: [&[f32]; 2],
    gates: usize,
    states: &[&[f32]],
) -> Result<usize, KernelError> {
    let n = batch
        .checked_mul(hidden)
        .filter(|n| n.checked_mul(gates).is_some())
        .ok_or_else(|| KernelError(format!("the {cell} cell's size overflows")))?;
    if gates_in.iter().any(|g| g.len() < gates * n) || states.iter().any(|s| s.len() < n) {
        return Err(KernelError(format!(
            "a {cell} cell operand is smaller than its shape"
        )));
    }
    Ok(n)
}

/// One cell step's loops ([`lstm_cell_f32`], [`gru_cell_f32`]), run by [`crate::wide`]:
/// `state` is the LSTM's cell state or the GRU's hidden state; `c_out` is empty for a
/// GRU.
struct CellStep<'a> {
    cell: RecurrentCell,
    gh: &'a [f32],
    gi: &'a [f32],
    state: &'a [f32],
    hidden: usize,
    c_out: &'a mut [f32],
    h_out: &'a mut [f32],
}

impl crate::WideLoop for CellStep<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        // As `Unary::apply_f32` chooses for sigmoid and tanh.
        match (self.cell, fma()) {
            (RecurrentCell::Lstm, true) => self.lstm_rows::<Fused>(),
            (RecurrentCell::Lstm, false) => self.lstm_rows::<Split>(),
            (RecurrentCell::Gru, true) => self.gru_rows::<Fused>(),
            (RecurrentCell::Gru, false) => self.gru_rows::<Split>(),
            (RecurrentCell::RnnTanh, true) => self.rnn_rows::<Fused>(false),
            (RecurrentCell::RnnTanh, false) => self.rnn_rows::<Split>(false),
            (RecurrentCell::RnnRelu, _) => self.rnn_rows::<Fused>(true),
        }
    }
}

impl CellStep<'_> {
    #[inline(always)]
    fn lstm_rows<M: MulAdd>(self) {
        let h = self.hidden;
        if h == 0 {
            return;
        }
        let rows = (self.gh.chunks_exact(4 * h))
            .zip(self.gi.chunks_exact(4 * h))
            .zip(self.state.chunks_exact(h))
            .zip(
                self.c_out
                    .chunks_exact_mut(h)
                    .zip(self.h_out.chunks_exact_mut(h)),
            );
        for (((gh, gi), c), (c_out, h_out)) in rows {
            // Each gate's `h` values as slices, so that the loop below has no index
            // to check and vectorizes.
            let (gh_i, gh) = gh.split_at(h);
            let (gh_f, gh) = gh.split_at(h);
            let (gh_g, gh_o) = gh.split_at(h);
            let (gi_i, gi) = gi.split_at(h);
            let (gi_f, gi) = gi.split_at(h);
            let (gi_g, gi_o) = gi.split_at(h);
            let gates = (gh_i.iter().zip(gi_i))
                .zip(gh_f.iter().zip(gi_f))
                .zip(gh_g.iter().zip(gi_g))
                .zip(gh_o.iter().zip(gi_o));
            let cells = c.iter().zip(c_out.iter_mut()).zip(h_out.iter_mut());
            for ((((gi, gf), gg), go), ((c, c_out), h_out)) in gates.zip(cells) {
                let i = sigmoid_f32::<M>(gi.0 + gi.1);
                let f = sigmoid_f32::<M>(gf.0 + gf.1);
                let g = tanh_f32::<M>(gg.0 + gg.1);
                let o = sigmoid_f32::<M>(go.0 + go.1);
                let cn = f * c + i * g;
                *c_out = cn;
                *h_out = o * tanh_f32::<M>(cn);
            }
        }
    }

    /// `h' = act(gh + gi)` element by element (`relu`: `x < 0 ? 0 : x`, as the
    /// elementwise kernel's ReLU; else tanh).
    #[inline(always)]
    fn rnn_rows<M: MulAdd>(self, relu: bool) {
        let pre = self.gh.iter().zip(self.gi);
        for ((gh, gi), h_out) in pre.zip(self.h_out.iter_mut()) {
            let x = gh + gi;
            *h_out = match relu {
                true if x < 0.0 => 0.0,
                true => x,
                false => tanh_f32::<M>(x),
            };
        }
    }

    #[inline(always)]
    fn gru_rows<M: MulAdd>(self) {
        let hd = self.hidden;
        if hd == 0 {
            return;
        }
        let rows = (self.gh.chunks_exact(3 * hd))
            .zip(self.gi.chunks_exact(3 * hd))
            .zip(
                self.state
                    .chunks_exact(hd)
                    .zip(self.h_out.chunks_exact_mut(hd)),
            );
        for ((gh, gi), (h, h_out)) in rows {
            let (gh_r, gh) = gh.split_at(hd);
            let (gh_z, gh_n) = gh.split_at(hd);
            let (gi_r, gi) = gi.split_at(hd);
            let (gi_z, gi_n) = gi.split_at(hd);
            let gates = (gh_r.iter().zip(gi_r))
                .zip(gh_z.iter().zip(gi_z))
                .zip(gh_n.iter().zip(gi_n));
            for ((((hr, ir), (hz, iz)), (hn, inn)), (h, h_out)) in
                gates.zip(h.iter().zip(h_out.iter_mut()))
            {
                let r = sigmoid_f32::<M>(hr + ir);
                let z = sigmoid_f32::<M>(hz + iz);
                let n = tanh_f32::<M>(inn + hn * r);
                *h_out = (h - n) * z + n;
            }
        }
    }
}

/// One GRU step over `[batch, 3 * hidden]` gates: `gh` (the hidden state's projection,
/// bias added) and `gi` (the input's), in PyTorch's gate order `r, z, n`; the hidden
/// state `h` `[batch, hidden]`. Writes `h' = (h - n) z + n` into `h_out`, with
/// `r = σ(gh_r + gi_r)`, `z = σ(gh_z + gi_z)`, `n = tanh(gi_n + gh_n r)`, each op
/// rounded as the decomposition's separate ops round it, on the widest vectors.
///
/// ```
/// use ferrex_kernels::rnn::gru_cell_f32;
/// // Gates all 0: z = 1/2 and n = 0, so h' = h / 2.
/// let mut h = [0f32];
/// gru_cell_f32(&[0.0; 3], &[0.0; 3], &[3.0], [1, 1], &mut h).unwrap();
/// assert_eq!(h, [1.5]);
/// ```
pub fn gru_cell_f32(
    gh: &[f32],
    gi: &[f32],
    h: &[f32],
    [batch, hidden]: [usize; 2],
    h_out: &mut [f32],
) -> Result<(), KernelError> {
    let n = state_len("GRU", [batch, hidden], [gh, gi], 3, &[h, h_out])?;
    crate::wide(CellStep {
        cell: RecurrentCell::Gru,
        gh: &gh[..3 * n],
        gi: &gi[..3 * n],
        state: &h[..n],
        hidden,
        c_out: &mut [],
        h_out: &mut h_out[..n],
    });
    Ok(())
}

/// One plain RNN step (`cell` [`RecurrentCell::RnnTanh`] or `RnnRelu`) over `[batch,
/// hidden]`: `h' = act(gh + gi)`, `gh` the hidden state's projection (bias added), `gi`
/// the input's, rounded as the decomposition's add and activation round it.
///
/// ```
/// use ferrex_kernels::rnn::{rnn_cell_f32, RecurrentCell};
/// let mut h = [0f32; 2];
/// rnn_cell_f32(RecurrentCell::RnnRelu, &[1.0, -3.0], &[0.5, 1.0], [1, 2], &mut h).unwrap();
/// assert_eq!(h, [1.5, 0.0]);
/// ```
pub fn rnn_cell_f32(
    cell: RecurrentCell,
    gh: &[f32],
    gi: &[f32],
    [batch, hidden]: [usize; 2],
    h_out: &mut [f32],
) -> Result<(), KernelError> {
    if !matches!(cell, RecurrentCell::RnnTanh | RecurrentCell::RnnRelu) {
        return Err(KernelError::new("rnn_cell_f32 runs the plain RNN cells"));
    }
    let n = state_len("RNN", [batch, hidden], [gh, gi], 1, &[h_out])?;
    crate::wide(CellStep {
        cell,
        gh: &gh[..n],
        gi: &gi[..n],
        state: &[],
        hidden,
        c_out: &mut [],
        h_out: &mut h_out[..n],
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointwise::Unary;

    /// The plain RNN cells against the add and the activation applied one by one
    /// (`Unary::apply_f32`, the elementwise ReLU), bit for bit; NaN and -0 kept by ReLU.
    #[test]
    fn the_rnn_cells_have_the_bits_of_their_ops() {
        let (batch, h) = (3, 37);
        let val = |i: usize, s: usize| ((i * 7919 + s * 104_729) % 2001) as f32 / 100.0 - 10.0;
        let mut gh: Vec<f32> = (0..batch * h).map(|i| val(i, 1)).collect();
        let gi: Vec<f32> = (0..batch * h).map(|i| val(i, 2) / 3.0).collect();
        (gh[0], gh[1]) = (f32::NAN, -0.0);
        let pre: Vec<f32> = gh.iter().zip(&gi).map(|(a, b)| a + b).collect();
        for (cell, op) in [
            (RecurrentCell::RnnTanh, Unary::Tanh),
            (RecurrentCell::RnnRelu, Unary::Relu),
        ] {
            let mut got = vec![0f32; batch * h];
            rnn_cell_f32(cell, &gh, &gi, [batch, h], &mut got).unwrap();
            let mut want = vec![0f32; batch * h];
            op.apply_f32(&pre, &mut want);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{cell:?}");
            assert!(rnn_cell_f32(cell, &gh[1..], &gi, [batch, h], &mut got).is_err());
        }
        let mut got = vec![0f32; batch * h];
        assert!(rnn_cell_f32(RecurrentCell::Gru, &gh, &gi, [batch, h], &mut got).is_err());
    }

    /// The cell against the decomposition's ops applied one by one (`Unary::apply_f32`
    /// and f32 arithmetic), bit for bit, over values across the functions' ranges.
    #[test]
    fn the_cell_has_the_bits_of_its_ops_one_by_one() {
        let (batch, h) = (3, 37);
        let val = |i: usize, s: usize| ((i * 7919 + s * 104_729) % 2001) as f32 / 100.0 - 10.0;
        let gh: Vec<f32> = (0..batch * 4 * h).map(|i| val(i, 1)).collect();
        let gi: Vec<f32> = (0..batch * 4 * h).map(|i| val(i, 2) / 3.0).collect();
        let c: Vec<f32> = (0..batch * h).map(|i| val(i, 3) / 2.0).collect();
        let (mut c_out, mut h_out) = (vec![0f32; batch * h], vec![0f32; batch * h]);
        lstm_cell_f32(&gh, &gi, &c, [batch, h], &mut c_out, &mut h_out).unwrap();
        let gates: Vec<f32> = gh.iter().zip(&gi).map(|(a, b)| a + b).collect();
        let apply = |op: Unary, k: usize| -> Vec<f32> {
            let x: Vec<f32> = (0..batch)
                .flat_map(|b| gates[(b * 4 + k) * h..(b * 4 + k + 1) * h].to_vec())
                .collect();
            let mut y = vec![0f32; x.len()];
            op.apply_f32(&x, &mut y);
            y
        };
        let (i, f) = (apply(Unary::Sigmoid, 0), apply(Unary::Sigmoid, 1));
        let (g, o) = (apply(Unary::Tanh, 2), apply(Unary::Sigmoid, 3));
        let want_c: Vec<f32> = (0..batch * h).map(|j| f[j] * c[j] + i[j] * g[j]).collect();
        let mut tc = vec![0f32; want_c.len()];
        Unary::Tanh.apply_f32(&want_c, &mut tc);
        let want_h: Vec<f32> = o.iter().zip(&tc).map(|(a, b)| a * b).collect();
        assert_eq!(c_out, want_c);
        assert_eq!(h_out, want_h);
        assert!(lstm_cell_f32(&gh[1..], &gi, &c, [batch, h], &mut c_out, &mut h_out).is_err());
        assert!(lstm_cell_f32(&gh, &gi, &c, [usize::MAX, 2], &mut c_out, &mut h_out).is_err());
    }

    /// The GRU cell against its ops one by one, bit for bit.
    #[test]
    fn the_gru_cell_has_the_bits_of_its_ops_one_by_one() {
        let (batch, h) = (3, 37);
        let val = |i: usize, s: usize| ((i * 7919 + s * 104_729) % 2001) as f32 / 100.0 - 10.0;
        let gh: Vec<f32> = (0..batch * 3 * h).map(|i| val(i, 4)).collect();
        let gi: Vec<f32> = (0..batch * 3 * h).map(|i| val(i, 5) / 3.0).collect();
        let state: Vec<f32> = (0..batch * h).map(|i| val(i, 6) / 4.0).collect();
        let mut got = vec![0f32; batch * h];
        gru_cell_f32(&gh, &gi, &state, [batch, h], &mut got).unwrap();
        let part = |x: &[f32], k: usize| -> Vec<f32> {
            (0..batch)
                .flat_map(|b| x[(b * 3 + k) * h..(b * 3 + k + 1) * h].to_vec())
                .collect()
        };
        let apply = |op: Unary, x: Vec<f32>| -> Vec<f32> {
            let mut y = vec![0f32; x.len()];
            op.apply_f32(&x, &mut y);
            y
        };
        let add =
            |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(a, b)| a + b).collect() };
        let r = apply(Unary::Sigmoid, add(&part(&gh, 0), &part(&gi, 0)));
        let z = apply(Unary::Sigmoid, add(&part(&gh, 1), &part(&gi, 1)));
        let hn_r: Vec<f32> = part(&gh, 2).iter().zip(&r).map(|(a, b)| a * b).collect();
        let n = apply(Unary::Tanh, add(&part(&gi, 2), &hn_r));
        let want: Vec<f32> = (0..batch * h)
            .map(|j| (state[j] - n[j]) * z[j] + n[j])
            .collect();
        assert_eq!(got, want);
        assert!(gru_cell_f32(&gh, &gi[1..], &state, [batch, h], &mut got).is_err());
    }

    /// A layer split over batch shares has the bits of the whole batch on one thread
    /// (both cells, both directions); operands that do not fit the shape are errors.
    #[test]
    fn a_layer_split_by_batch_has_the_bits_of_the_whole() {
        let val = |n: usize, s: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7919 + s * 104_729) % 2001) as f32 / 1000.0 - 1.0) * scale)
                .collect()
        };
        let [steps, batch, hidden] = [7, 5, 24];
        for cell in [RecurrentCell::Lstm, RecurrentCell::Gru] {
            let width = cell.gates() * hidden;
            let w = val(width * hidden, 1, 0.2);
            // `w` is `[width, hidden]`; the product's right operand its transpose.
            let packed = PackedB::pack(Mat {
                data: &w,
                rows: hidden,
                cols: width,
                rs: 1,
                cs: hidden,
            })
            .unwrap();
            let (proj, bias) = (val(steps * batch * width, 2, 2.0), val(width, 3, 0.5));
            let (h0, c0) = (val(batch * hidden, 4, 1.0), val(batch * hidden, 5, 1.0));
            let c0 = if cell == RecurrentCell::Lstm {
                c0
            } else {
                Vec::new()
            };
            for reverse in [false, true] {
                let layer = RecurrentLayer {
                    cell,
                    shape: [steps, batch, hidden],
                    projected: &proj,
                    w_hh: &packed,
                    b_hh: Some(&bias),
                    w_hr: None,
                    reverse,
                };
                let one_share = std::iter::once(0..batch).collect::<Vec<_>>();
                let whole = layer.run_shares(&one_share, &h0, &c0).unwrap();
                let split = layer.run_shares(&[0..2, 2..5], &h0, &c0).unwrap();
                assert_eq!(split, whole);
                assert_eq!(layer.run(&h0, &c0).unwrap(), whole);
                assert_eq!(whole.seq.len(), steps * batch * hidden);
                assert_eq!(whole.c.len(), c0.len());
                // The last step's hidden state is the final one (the first's, reversed).
                let last = if reverse { 0 } else { steps - 1 };
                let n = batch * hidden;
                assert_eq!(whole.seq[last * n..(last + 1) * n], whole.h[..]);
                let short = RecurrentLayer {
                    projected: &proj[1..],
                    ..layer
                };
                assert!(short.run(&h0, &c0).is_err());
                let huge = RecurrentLayer {
                    shape: [usize::MAX, 2, hidden],
                    ..layer
                };
                assert!(huge.run(&h0, &c0).is_err());
                let wide = RecurrentLayer {
                    shape: [2, 1, usize::MAX / 3],
                    ..layer
                };
                assert!(wide.run(&h0, &c0).is_err());
                assert!(layer.run(&h0[1..], &c0).is_err());
            }
        }
    }
}
