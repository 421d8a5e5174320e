//! The cost of strict mode's run-time safety net: `ferrex::export` of the tutorial's
//! `MyModule` (Linear 100 → 10 on `x + y`), strict (traced twice and compared) against the
//! same model non-strict (traced once). Run with
//! `cargo run --release --example bench_export`.

use std::time::Instant;

use ferrex::prelude::*;

#[export_module]
struct Strict {
    lin: nn::Linear,
}

#[export_module]
impl Strict {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

#[export_module]
struct TracedOnce {
    lin: nn::Linear,
}

#[export_module(strict = false)]
impl TracedOnce {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

/// The median time of one export, in microseconds.
fn median_us(mut export: impl FnMut()) -> f64 {
    for _ in 0..200 {
        export();
    }
    let mut samples: Vec<f64> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            export();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let strict = Strict {
        lin: nn::Linear::new(100, 10),
    };
    let once = TracedOnce {
        lin: nn::Linear::new(100, 10),
    };
    let x = Tensor::randn([8, 100]);
    let y = Tensor::randn([8, 100]);
    ferrex::export(&strict, (x.clone(), y.clone()))?;
    ferrex::export(&once, (x.clone(), y.clone()))?;
    let twice = median_us(|| {
        let _ = ferrex::export(&strict, (x.clone(), y.clone()));
    });
    let single = median_us(|| {
        let _ = ferrex::export(&once, (x.clone(), y.clone()));
    });
    println!("export, traced once (non-strict):         {single:8.1} µs");
    println!("export, traced twice and compared (strict): {twice:8.1} µs");
    println!(
        "cost of the second trace:                   {:8.1} µs (+{:.0}%)",
        twice - single,
        (twice / single - 1.0) * 100.0
    );
    Ok(())
}
