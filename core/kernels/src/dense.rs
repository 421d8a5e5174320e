//! Dense factorizations of small square matrices, in f64, one matrix at a time (a
//! batch is a loop of them): LU with partial pivoting (LAPACK's `getrf`: the pivots
//! 1-based, `info` the first zero pivot, 1-based) and what it gives — the determinant,
//! its sign and log, the solution of `A X = B`, the inverse — and Cholesky (`potrf`:
//! `info` the order of the first leading minor that is not positive-definite).
//! Row-major storage throughout.

/// An LU factorization of an `n × n` matrix, in place: `L` (unit diagonal) below the
/// diagonal, `U` on and above it.
pub struct Lu {
    pub n: usize,
    pub lu: Vec<f64>,
    /// `pivots[i]`: the row (1-based) swapped with row `i + 1` at step `i`.
    pub pivots: Vec<i32>,
    /// 0, or the 1-based index of the first exactly zero pivot (the matrix is singular).
    pub info: i32,
}

/// Factors the row-major `n × n` matrix `a` (LAPACK's `getrf`, partial pivoting by
/// the largest absolute value in the column).
pub fn lu(mut a: Vec<f64>, n: usize) -> Lu {
    let mut pivots = vec![0i32; n];
    let mut info = 0;
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs()))
            .unwrap_or(k);
        pivots[k] = (p + 1) as i32;
        if p != k {
            for c in 0..n {
                a.swap(k * n + c, p * n + c);
            }
        }
        let pivot = a[k * n + k];
        if pivot == 0.0 {
            if info == 0 {
                info = (k + 1) as i32;
            }
            continue;
        }
        for i in k + 1..n {
            let f = a[i * n + k] / pivot;
            a[i * n + k] = f;
            if f != 0.0 {
                for c in k + 1..n {
                    a[i * n + c] -= f * a[k * n + c];
                }
            }
        }
    }
    Lu {
        n,
        lu: a,
        pivots,
        info,
    }
}

impl Lu {
    /// The number of row swaps' parity as a sign, times the product of `U`'s diagonal.
    pub fn det(&self) -> f64 {
        let (sign, product) = self.diagonal();
        sign * product
    }

    /// `(sign, log |det|)`: the sign 0 and the log `-inf` for a singular matrix.
    pub fn slogdet(&self) -> (f64, f64) {
        let n = self.n;
        let mut sign = self.swap_sign();
        let mut log = 0.0;
        for i in 0..n {
            let d = self.lu[i * n + i];
            if d == 0.0 {
                return (0.0, f64::NEG_INFINITY);
            }
            sign *= d.signum();
            log += d.abs().ln();
        }
        (sign, log)
    }

    fn swap_sign(&self) -> f64 {
        let swaps = (self.pivots.iter().enumerate())
            .filter(|&(i, &p)| p as usize != i + 1)
            .count();
        if swaps % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    fn diagonal(&self) -> (f64, f64) {
        let n = self.n;
        let product = (0..n).map(|i| self.lu[i * n + i]).product();
        (self.swap_sign(), product)
    }

    /// Solves `A X = B` for the row-major `n × k` `b`, in place (`getrs`).
    pub fn solve(&self, b: &mut [f64], k: usize) {
        let n = self.n;
        for (i, &p) in self.pivots.iter().enumerate() {
            let p = p as usize - 1;
            if p != i {
                for c in 0..k {
                    b.swap(i * k + c, p * k + c);
                }
            }
        }
        // L y = P b (unit diagonal), then U x = y.
        for i in 0..n {
            for j in 0..i {
                let l = self.lu[i * n + j];
                if l != 0.0 {
                    for c in 0..k {
                        b[i * k + c] -= l * b[j * k + c];
                    }
                }
            }
        }
        for i in (0..n).rev() {
            for j in i + 1..n {
                let u = self.lu[i * n + j];
                if u != 0.0 {
                    for c in 0..k {
                        b[i * k + c] -= u * b[j * k + c];
                    }
                }
            }
            let d = self.lu[i * n + i];
            for c in 0..k {
                b[i * k + c] /= d;
            }
        }
    }

    /// `A⁻¹` (the solution of `A X = I`).
    pub fn inverse(&self) -> Vec<f64> {
        let n = self.n;
        let mut x = vec![0.0; n * n];
        for i in 0..n {
            x[i * n + i] = 1.0;
        }
        self.solve(&mut x, n);
        x
    }
}

/// The lower Cholesky factor `L` (`A = L Lᵀ`) of the row-major symmetric `n × n` `a`
/// (its lower triangle is read), or the 1-based order of the first leading minor that is
/// not positive-definite.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return Err(j + 1);
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / d;
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], n: usize, k: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * k];
        for i in 0..n {
            for j in 0..k {
                c[i * k + j] = (0..n).map(|t| a[i * n + t] * b[t * k + j]).sum();
            }
        }
        c
    }

    #[test]
    fn lu_solves_inverts_and_gives_the_determinant() {
        // A pivot is needed at once (a zero in the corner).
        let a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let f = lu(a.clone(), 3);
        assert_eq!(f.info, 0);
        // det by the rule of Sarrus: 0·(1·1 − 0·0) − 2·(1·1 − 0·3) + 1·(1·0 − 1·3) = −5.
        assert!((f.det() + 5.0).abs() < 1e-12);
        let (sign, log) = f.slogdet();
        assert_eq!(sign, -1.0);
        assert!((log - 5f64.ln()).abs() < 1e-12);
        let inv = f.inverse();
        let eye = matmul(&a, &inv, 3, 3);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((eye[i * 3 + j] - want).abs() < 1e-12, "{eye:?}");
            }
        }
        let mut b = vec![1.0, 2.0, 3.0];
        f.solve(&mut b, 1);
        let back = matmul(&a, &b, 3, 1);
        assert!(back
            .iter()
            .zip([1.0, 2.0, 3.0])
            .all(|(g, w)| (g - w).abs() < 1e-12));
        // Singular: the first zero pivot is reported, the determinant is 0.
        let s = lu(vec![1.0, 2.0, 2.0, 4.0], 2);
        assert_eq!(
            (s.info, s.det(), s.slogdet()),
            (2, 0.0, (0.0, f64::NEG_INFINITY))
        );
    }

    #[test]
    fn cholesky_factors_and_names_the_failing_minor() {
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).unwrap();
        assert_eq!(l, [2.0, 0.0, 1.0, 2f64.sqrt()]);
        assert_eq!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2), Err(2));
        assert_eq!(cholesky(&[-1.0], 1), Err(1));
    }
}
