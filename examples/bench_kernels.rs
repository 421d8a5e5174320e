//! Throughput of the eager GEMM, convolution and attention kernels, in GFLOP/s.
//!
//! `cargo run --release --example bench_kernels`
//!
//! Each kernel runs a few times to warm up, then the median of several timed runs is
//! reported (threads: `FERREX_NUM_THREADS`, default the cores, at most 4).

use std::time::Instant;

use ferrex::prelude::*;

/// The median wall time of `runs` calls of `f`, after `warmup` untimed calls, in seconds.
fn median_time(warmup: usize, runs: usize, mut f: impl FnMut() -> Tensor) -> f64 {
    for _ in 0..warmup {
        f().check().expect("the benchmarked op succeeds");
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = f();
            let t = start.elapsed().as_secs_f64();
            out.check().expect("the benchmarked op succeeds");
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn report(name: &str, flops: f64, secs: f64) {
    println!(
        "{name:<44} {:>8.3} ms  {:>7.1} GFLOP/s",
        secs * 1e3,
        flops / secs / 1e9
    );
}

fn main() {
    ferrex::manual_seed(0);

    // 1024 x 1024 x 1024 f32 matmul: 2 n^3 flops.
    let n = 1024;
    let a = Tensor::randn([n, n]);
    let b = Tensor::randn([n, n]);
    let secs = median_time(3, 9, || a.matmul(&b));
    report(
        "matmul f32 [1024x1024] @ [1024x1024]",
        2.0 * (n as f64).powi(3),
        secs,
    );

    // 3x3 conv2d, 64 -> 64 channels, 56x56, batch 1, padding 1: 2 * O * C * k^2 * H * W.
    let (c, o, hw) = (64, 64, 56);
    let x = Tensor::randn([1, c, hw, hw]);
    let w = Tensor::randn([o, c, 3, 3]);
    let bias = Tensor::randn([o]);
    let secs = median_time(3, 15, || {
        F::conv2d(&x, &w, Some(&bias), &[1], &[1], &[1], 1)
    });
    let flops = 2.0 * (o * c * 9 * hw * hw) as f64;
    report("conv2d f32 3x3 64->64 @ 56x56 (pad 1)", flops, secs);

    // Attention of 8 x 4 heads, 64 queries and keys of width 64 (a small GPT's block):
    // q k^T and p v, 2 * 2 * L * S * E flops a head (causal: about half are needed).
    let (b, h, l, e) = (8, 4, 64, 64);
    let [q, k, v] = [0, 1, 2].map(|_| Tensor::randn([b, h, l, e]));
    let flops = 4.0 * (b * h * l * l * e) as f64;
    for causal in [false, true] {
        let secs = median_time(3, 15, || {
            F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, causal, None, false)
        });
        report(
            &format!("attention f32 32 heads 64x64x64 causal={causal}"),
            flops,
            secs,
        );
    }
}
