//! A seedable random generator for `randn` / `rand` (xoshiro256** seeded by SplitMix64,
//! normal deviates by Box–Muller). Like PyTorch, the process-wide default generator
//! starts from a fixed seed, so programs are reproducible until reseeded.

use std::sync::Mutex;

/// A seedable pseudo-random generator.
#[derive(Clone, Debug)]
pub struct Generator {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

/// PyTorch's default CPU seed.
const DEFAULT_SEED: u64 = 67_280_421_310_721;

static DEFAULT: Mutex<Option<Generator>> = Mutex::new(None);

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Generator {
            s: [next(), next(), next(), next()],
            spare_normal: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        if let Some(v) = self.spare_normal.take() {
            return v;
        }
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// Reseeds the process-wide default generator (`torch.manual_seed`).
pub fn manual_seed(seed: u64) {
    let mut g = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
    *g = Some(Generator::new(seed));
}

/// Runs `f` with the process-wide default generator.
pub fn with_default_generator<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Generator::new(DEFAULT_SEED)))
}
