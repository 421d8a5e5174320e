use ferrex_kernels::{conv2d, gemm_packed, ConvGeom, Mat, PackedB};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let m: usize = args[1].parse().unwrap();
    let k: usize = args[2].parse().unwrap();
    let n: usize = args[3].parse().unwrap();
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let pb = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
    let mut c = vec![0f32; m * n];
    let reps = if m == 0 {
        0
    } else {
        (2e9 / (2.0 * (m * n * k) as f64)) as usize + 1
    };
    for _ in 0..reps.min(3) {
        gemm_packed(1.0, Mat::row_major(&a, m, k), &pb, 0.0, &mut c).unwrap();
    }
    let t = std::time::Instant::now();
    for _ in 0..reps {
        gemm_packed(1.0, Mat::row_major(&a, m, k), &pb, 0.0, &mut c).unwrap();
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "gemm {m}x{k}x{n}: {:.1} us, {:.1} GFLOP/s",
        s * 1e6,
        2.0 * (m * n * k) as f64 / s / 1e9
    );
    // the conv of resblock: 8 images 32->32 3x3 pad1 16x16
    let g = ConvGeom {
        c_in: 32,
        h: 16,
        w: 16,
        c_out: 32,
        kh: 3,
        kw: 3,
        stride: [1, 1],
        pad: [1, 1],
        dilation: [1, 1],
        groups: 1,
        oh: 16,
        ow: 16,
    };
    let x: Vec<f32> = (0..8 * 32 * 256).map(|i| (i % 11) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..32 * 288).map(|i| (i % 3) as f32 * 0.1).collect();
    let mut o = vec![0f32; 8 * 32 * 256];
    let t = std::time::Instant::now();
    for _ in 0..500 {
        conv2d(&x, 8, &w, None, &g, &mut o).unwrap();
    }
    let s = t.elapsed().as_secs_f64() / 500.0;
    println!(
        "conv b8 32->32 3x3 16x16: {:.1} us, {:.1} GFLOP/s",
        s * 1e6,
        2.0 * (8 * 32 * 288 * 256) as f64 / s / 1e9
    );
}
