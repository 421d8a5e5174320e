//! f32 GEMM throughput: matrixmultiply (through `gemm` with the own path off: the
//! portable baseline) against the own packed GEMM, at the shapes of the MLP rows.
//!
//! `cargo run --release -p ferrex-kernels --example bench_sgemm` (threads:
//! `FERREX_NUM_THREADS`).

use ferrex_kernels::gemm::gemm_portable;
use ferrex_kernels::{gemm_packed, Mat, PackedB};

#[path = "common/timing.rs"]
mod timing;
use timing::median;

fn main() {
    println!("threads {}", ferrex_kernels::threads::num_threads());
    for (m, k, n) in [
        (1, 784, 512),
        (1, 512, 512),
        (64, 784, 512),
        (64, 512, 512),
        (64, 512, 10),
        (256, 1024, 1024),
        (1024, 1024, 1024),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let bm = Mat {
            data: &bt,
            rows: k,
            cols: n,
            rs: 1,
            cs: k,
        };
        let packed = PackedB::pack(bm).expect("packs");
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let t_mm = median(|| {
            gemm_portable(1.0, Mat::row_major(&a, m, k), bm, 0.0, &mut c).expect("runs");
        });
        let t_own = median(|| {
            gemm_packed(1.0, Mat::row_major(&a, m, k), &packed, 0.0, &mut c).expect("runs");
        });
        println!(
            "{m:>5}x{k:>5}x{n:>5}  portable {:>9.1} µs {:>6.1} GFLOP/s | packed {:>9.1} µs {:>6.1} GFLOP/s | {:.2}x",
            t_mm * 1e6,
            flops / t_mm / 1e9,
            t_own * 1e6,
            flops / t_own / 1e9,
            t_mm / t_own
        );
    }
}
