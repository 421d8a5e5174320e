//! Recurrent cells: one LSTM or GRU time step's gate arithmetic in one pass, for the
//! eager `lstm` / `gru` (the interpreter's), with the bits of the decomposition's
//! elementwise ops run one by one (PyTorch's `lstm_cell` / `gru_cell`).

use crate::pointwise::{fma, sigmoid_f32, tanh_f32, Fused, MulAdd, Split};
use crate::KernelError;

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
    crate::wide(LstmCell {
        gh: &gh[..4 * n],
        gi: &gi[..4 * n],
        c: &c[..n],
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

/// [`lstm_cell_f32`]'s loops, run by [`crate::wide`].
struct LstmCell<'a> {
    gh: &'a [f32],
    gi: &'a [f32],
    c: &'a [f32],
    hidden: usize,
    c_out: &'a mut [f32],
    h_out: &'a mut [f32],
}

impl crate::WideLoop for LstmCell<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        // As `Unary::apply_f32` chooses for sigmoid and tanh.
        match fma() {
            true => self.run_with::<Fused>(),
            false => self.run_with::<Split>(),
        }
    }
}

impl LstmCell<'_> {
    #[inline(always)]
    fn run_with<M: MulAdd>(self) {
        let h = self.hidden;
        if h == 0 {
            return;
        }
        let rows = (self.gh.chunks_exact(4 * h))
            .zip(self.gi.chunks_exact(4 * h))
            .zip(self.c.chunks_exact(h))
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
    crate::wide(GruCell {
        gh: &gh[..3 * n],
        gi: &gi[..3 * n],
        h: &h[..n],
        hidden,
        h_out: &mut h_out[..n],
    });
    Ok(())
}

/// [`gru_cell_f32`]'s loops, run by [`crate::wide`].
struct GruCell<'a> {
    gh: &'a [f32],
    gi: &'a [f32],
    h: &'a [f32],
    hidden: usize,
    h_out: &'a mut [f32],
}

impl crate::WideLoop for GruCell<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        match fma() {
            true => self.run_with::<Fused>(),
            false => self.run_with::<Split>(),
        }
    }
}

impl GruCell<'_> {
    #[inline(always)]
    fn run_with<M: MulAdd>(self) {
        let hd = self.hidden;
        if hd == 0 {
            return;
        }
        let rows = (self.gh.chunks_exact(3 * hd))
            .zip(self.gi.chunks_exact(3 * hd))
            .zip(self.h.chunks_exact(hd).zip(self.h_out.chunks_exact_mut(hd)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointwise::Unary;

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
}
