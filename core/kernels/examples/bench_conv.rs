//! f32 convolution throughput at the shapes of common convolutional nets (ResNet-18's
//! stages at 32×32, MobileNetV2's expansions, projections and depthwise layers at 96×96),
//! batch 8, in GFLOP/s of multiply-adds (`2 · c_out · c_in/groups · kh · kw · oh · ow`
//! per sample).
//!
//! `cargo run --release -p ferrex-kernels --example bench_conv [NAME-PART...]` (threads:
//! `FERREX_NUM_THREADS`).

use ferrex_kernels::conv::{conv2d, ConvGeom};

#[path = "common/timing.rs"]
mod timing;
use timing::median;

/// name, batch, c_in, hw (square planes), c_out, k (square kernels, padding `k / 2`),
/// stride, groups.
type Shape = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const SHAPES: &[Shape] = &[
    ("resnet 3x3 32->32 @32", 8, 32, 32, 32, 3, 1, 1),
    ("resnet 3x3 64->64 @16", 8, 64, 16, 64, 3, 1, 1),
    ("resnet 3x3 128->128 @8", 8, 128, 8, 128, 3, 1, 1),
    ("resnet 3x3 256->256 @4", 8, 256, 4, 256, 3, 1, 1),
    ("resnet b1 3x3 256->256 @4", 1, 256, 4, 256, 3, 1, 1),
    ("resnet b1 3x3 128->128 @8", 1, 128, 8, 128, 3, 1, 1),
    ("resnet 3x3 128->256 s2 @8", 8, 128, 8, 256, 3, 2, 1),
    ("resnet 1x1 128->256 s2 @8", 8, 128, 8, 256, 1, 2, 1),
    ("mbv2 stem 3x3 3->32 s2 @96", 8, 3, 96, 32, 3, 2, 1),
    ("mbv2 stem b1 3x3 3->32 s2 @96", 1, 3, 96, 32, 3, 2, 1),
    ("mbv2 1x1 16->96 @48", 8, 16, 48, 96, 1, 1, 1),
    ("mbv2 1x1 32->32 @48", 8, 32, 48, 32, 1, 1, 1),
    ("mbv2 1x1 144->24 @24", 8, 144, 24, 24, 1, 1, 1),
    ("mbv2 1x1 96->576 @6", 8, 96, 6, 576, 1, 1, 1),
    ("mbv2 dw 3x3 32 @48", 8, 32, 48, 32, 3, 1, 32),
    ("mbv2 dw 3x3 96 s2 @48", 8, 96, 48, 96, 3, 2, 96),
    ("mbv2 dw 3x3 144 @24", 8, 144, 24, 144, 3, 1, 144),
    ("mbv2 dw 3x3 576 @6", 8, 576, 6, 576, 3, 1, 576),
];

fn main() {
    println!("threads {}", ferrex_kernels::threads::num_threads());
    // `bench_conv dw` runs the shapes whose name contains "dw".
    let only: Vec<String> = std::env::args().skip(1).collect();
    for &(name, n, c, hw, o, k, s, groups) in SHAPES {
        if !only.is_empty() && !only.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let pad = k / 2;
        let Some(ohw) = ConvGeom::out_dim(hw, k, s, pad, 1) else {
            continue;
        };
        let g = ConvGeom {
            c_in: c,
            h: hw,
            w: hw,
            c_out: o,
            kh: k,
            kw: k,
            stride: [s, s],
            pad: [pad, pad],
            dilation: [1, 1],
            groups,
            oh: ohw,
            ow: ohw,
        };
        let x: Vec<f32> = (0..n * c * hw * hw)
            .map(|i| (i % 13) as f32 * 0.1)
            .collect();
        let w: Vec<f32> = (0..o * (c / groups) * k * k)
            .map(|i| (i % 7) as f32 * 0.1)
            .collect();
        let bias = vec![0.5f32; o];
        let mut out = vec![0f32; n * o * ohw * ohw];
        let secs = median(|| {
            if let Err(e) = conv2d(&x, n, &w, Some(&bias), &g, &mut out) {
                eprintln!("{name}: {e}");
            }
        });
        let flops = 2.0 * (n * o * (c / groups) * k * k * ohw * ohw) as f64;
        println!(
            "  {name:<28} {:>9.1} µs {:>7.1} GFLOP/s",
            secs * 1e6,
            flops / secs / 1e9
        );
    }
}
