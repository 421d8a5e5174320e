//! The kernel benchmarks' timing: shared by the examples with `#[path]` (a directory
//! without a `main.rs` is no example of its own).

use std::time::Instant;

/// The median time of `f` in seconds: 3 warm-up calls, then at least 9 calls and as
/// many as fit in about half a second (at most 2000).
pub fn median(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 9 || (times.len() < 2000 && start.elapsed().as_secs_f64() < 0.5) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
