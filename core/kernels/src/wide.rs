//! Loops compiled for the widest vectors the CPU has. Release builds target the
//! baseline x86-64 (SSE2, 4 lanes), so a plain slice loop — an add, a ReLU — runs at a
//! quarter of what AVX-512 does. [`wide`] runs a [`WideLoop`] inside a function
//! compiled with AVX-512 (or AVX2 + FMA) enabled, chosen once at run time: its `run`,
//! `#[inline(always)]`, is compiled there, its loops vectorised for those registers. (A
//! closure would not do: it stays a function of its own, called, on 4 lanes.)
//!
//! The arithmetic is the same element by element (Rust never contracts `a * b + c`
//! into a fused multiply-add by itself), so the results are the same bits on every
//! path; only the speed differs.

use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Width {
    Avx512,
    Avx2,
    Baseline,
}

fn width() -> Width {
    static WIDTH: OnceLock<Width> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        if crate::threads::has_avx512f() {
            return Width::Avx512;
        }
        if crate::threads::has_avx2_fma() {
            return Width::Avx2;
        }
        Width::Baseline
    })
}

/// Whether [`wide`]'s loops run where fused multiply-adds are instructions: the x86-64
/// paths it compiles with AVX2 + FMA or AVX-512 (which implies FMA), and aarch64, whose
/// baseline has them. (`f32::mul_add` elsewhere is a library call.)
pub fn has_fma() -> bool {
    match width() {
        Width::Avx512 | Width::Avx2 => true,
        Width::Baseline => cfg!(target_arch = "aarch64"),
    }
}

/// A loop for [`wide`]. Its `run` must be `#[inline(always)]`, so that it is
/// compiled inside the vector-enabled function that calls it.
pub trait WideLoop {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `l`, its loops vectorised for the widest registers this CPU has.
#[inline(always)]
pub fn wide<L: WideLoop>(l: L) -> L::Output {
    match width() {
        // SAFETY: the CPU has AVX-512F (detected above), all the function enables.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { on_avx512(l) },
        // SAFETY: the CPU has AVX2 and FMA (detected above).
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { on_avx2(l) },
        _ => l.run(),
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn on_avx512<L: WideLoop>(l: L) -> L::Output {
    l.run()
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn on_avx2<L: WideLoop>(l: L) -> L::Output {
    l.run()
}

/// A place a loop writes a `T` into: a value, or new memory (`MaybeUninit`) that the
/// loop initializes — so one loop serves an output buffer and a fresh allocation.
pub trait Slot<T> {
    fn set(&mut self, value: T);
}

impl<T> Slot<T> for T {
    #[inline(always)]
    fn set(&mut self, value: T) {
        *self = value;
    }
}

impl<T> Slot<T> for std::mem::MaybeUninit<T> {
    #[inline(always)]
    fn set(&mut self, value: T) {
        self.write(value);
    }
}

/// `xs` mapped by `map` and reduced by `combine` over 8 interleaved partial results,
/// then across them: a reduction in order is one dependent chain the compiler may not
/// reorder, so it never uses vectors. Inside a [`WideLoop`] this one does. `xs` may be
/// of any element type `map` takes to f64 (a layer norm's f32 row, converted as it is
/// read).
#[inline(always)]
pub fn fold8<T: Copy>(
    xs: &[T],
    init: f64,
    map: impl Fn(T) -> f64,
    combine: impl Fn(f64, f64) -> f64,
) -> f64 {
    let mut acc = [init; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = combine(*a, map(x));
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = combine(*a, map(x));
    }
    let [a, b, c, d, e, f, g, h] = acc;
    combine(
        combine(combine(a, b), combine(c, d)),
        combine(combine(e, f), combine(g, h)),
    )
}

/// [`fold8`] for f32 on 16 interleaved lanes (one AVX-512 vector), the lanes then
/// combined as a tree (a chain of 16 dependent steps was a third of a short row's time).
#[inline(always)]
pub fn fold16(xs: &[f32], init: f32, combine: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = combine(*a, x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = combine(*a, x);
    }
    let c8: [f32; 8] = std::array::from_fn(|i| combine(acc[i], acc[i + 8]));
    let c4: [f32; 4] = std::array::from_fn(|i| combine(c8[i], c8[i + 4]));
    combine(combine(c4[0], c4[2]), combine(c4[1], c4[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Zip<'a>(&'a [f32], &'a [f32], fn(f32, f32) -> f32);

    impl WideLoop for Zip<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn run(self) -> Vec<f32> {
            self.0
                .iter()
                .zip(self.1)
                .map(|(&x, &y)| (self.2)(x, y))
                .collect()
        }
    }

    #[test]
    fn a_wide_loop_gives_the_baseline_loops_bits() {
        let a: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let b: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.11).cos() / 7.0).collect();
        for f in [
            (|x, y| x + y) as fn(f32, f32) -> f32,
            |x, y| x * y,
            |x, y| x / y,
            |x, y| x * y + 1.5 * x,
            |x, y| ((x as f64).exp() * y as f64) as f32,
        ] {
            let want = Zip(&a, &b, f).run();
            let got = wide(Zip(&a, &b, f));
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
