//! The interpreter (`ep.module().call`) against the compiled plan (`ferrex_runtime`):
//! median wall time per call, and GFLOP/s for the models' multiply-adds.
//!
//! `cargo run --release --example bench_runtime` (add `-- --plans` to print the plans).
//!
//! Each runner is warmed up, then the median of the timed calls is reported. Threads:
//! `FERREX_NUM_THREADS` (default the cores, at most 4) for all of ferrex's kernels.

use std::time::Instant;

use ferrex::prelude::*;
use ferrex::ExportedProgram;
use ferrex_examples::zoo::{LeNet, Mlp};

#[export_module]
struct OneLinear {
    fc: nn::Linear,
}

#[export_module]
impl OneLinear {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

/// The median wall time of `f` in seconds: `warmup` untimed calls, then calls until
/// `runs` are timed or about a second has passed (at least 15).
fn median_time(warmup: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let budget = Instant::now();
    let mut times = Vec::with_capacity(runs);
    while times.len() < runs && (times.len() < 15 || budget.elapsed().as_secs_f64() < 1.0) {
        let start = Instant::now();
        f();
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn bench(
    name: &str,
    ep: &ExportedProgram,
    input: &Tensor,
    flops: f64,
    show_plan: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let compiled = ferrex_runtime::compile(ep)?;
    if show_plan {
        println!("plan of {name}:\n{}", compiled.describe());
        for _ in 0..20 {
            compiled.call((input.copy(),))?;
        }
        let (_, steps) = compiled.profile((input.copy(),))?;
        for (step, t) in steps {
            println!("  {step:<16} {:>8.1} µs", t.as_secs_f64() * 1e6);
        }
    }
    // Same results first.
    let a = ep.module().call((input.copy(),))?[0].to_vec::<f32>()?;
    let b = compiled.call((input.copy(),))?[0].to_vec::<f32>()?;
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let run_interp = || {
        ep.module()
            .call((input.copy(),))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let run_compiled = || {
        compiled
            .call((input.copy(),))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let t_interp = median_time(10, 400, run_interp);
    let t_comp = median_time(10, 400, run_compiled);
    println!(
        "{name:<34} interpreter {:>9.1} µs {:>6.1} GFLOP/s | compiled {:>9.1} µs {:>6.1} GFLOP/s | {:>5.1}x  (max diff {diff:.1e})",
        t_interp * 1e6,
        flops / t_interp / 1e9,
        t_comp * 1e6,
        flops / t_comp / 1e9,
        t_interp / t_comp,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let show_plans = std::env::args().any(|a| a == "--plans");
    ferrex::manual_seed(0);
    println!(
        "threads: {} | AVX2+FMA kernels: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ferrex_runtime::uses_avx2()
    );

    // The zoo's MLP at MNIST size: 784 → 512 → 256 → 10.
    let mlp = Mlp::new(784, [512, 256], 10);
    for batch in [1usize, 64] {
        let x = Tensor::randn([batch, 784]);
        let ep = ferrex::export(&mlp, (x.copy(),))?;
        let flops = 2.0 * batch as f64 * (784.0 * 512.0 + 512.0 * 256.0 + 256.0 * 10.0);
        bench(
            &format!("MLP 784-512-256-10, batch {batch}"),
            &ep,
            &x,
            flops,
            show_plans,
        )?;
    }

    // LeNet at batch 8.
    let lenet = LeNet::new();
    let batch = 8.0;
    let x = Tensor::randn([8, 1, 28, 28]);
    let ep = ferrex::export(&lenet, (x.copy(),))?;
    let flops = 2.0
        * batch
        * (6.0 * 25.0 * 28.0 * 28.0 + 16.0 * 150.0 * 10.0 * 10.0 + 400.0 * 120.0 + 120.0 * 10.0);
    bench("LeNet, batch 8", &ep, &x, flops, show_plans)?;

    // One row through one wide linear: 1x784 · 784x512.
    let lin = OneLinear {
        fc: nn::Linear::new(784, 512),
    };
    let x = Tensor::randn([1, 784]);
    let ep = ferrex::export(&lin, (x.copy(),))?;
    bench(
        "linear 1x784 · 784x512",
        &ep,
        &x,
        2.0 * 784.0 * 512.0,
        show_plans,
    )?;
    Ok(())
}
