use ferrex_kernels::attention::{attention, AttentionGeom};
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (batch, l, e, causal) = (
        args.first().copied().unwrap_or(32),
        args.get(1).copied().unwrap_or(64),
        args.get(2).copied().unwrap_or(64),
        args.get(3).copied().unwrap_or(1) == 1,
    );
    let g = AttentionGeom {
        batch,
        l,
        s: l,
        e,
        ev: e,
        scale: 1.0 / (e as f64).sqrt(),
        causal,
    };
    let n = batch * l * e;
    let mk = |s: u32| {
        (0..n)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(s) >> 8) % 1000) as f32 / 1000.0
                    - 0.5
            })
            .collect::<Vec<f32>>()
    };
    let (q, k, v) = (mk(1), mk(2), mk(3));
    let mut out = vec![0f32; n];
    let it = 50;
    let mut best = f64::MAX;
    for _ in 0..9 {
        let t = std::time::Instant::now();
        for _ in 0..it {
            attention(&q, &k, &v, None, &g, &mut out).unwrap();
            std::hint::black_box(&out);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / it as f64);
    }
    let flops = 4.0 * (batch * l * l * e) as f64;
    println!(
        "attention b{batch} l{l} e{e} causal {causal}: {best:.1} us ({:.1} GFLOP/s dense)",
        flops / best / 1e3
    );
}
