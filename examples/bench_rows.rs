//! ferrex's side of the speed comparison with PyTorch (issue 12's table), timed as
//! `../shared/tools/bench_torch.py` times PyTorch's: warm up ~0.2 s (>= 3 calls), then
//! 15 rounds of >= 0.08 s, per-call mean per round; the median, min and max over rounds,
//! the median over "clean" rounds (run-queue wait < 3% of wall, from
//! `/proc/self/task/*/schedstat`), CPU time of all threads / wall and run-queue wait /
//! wall.
//!
//! `FERREX_NUM_THREADS=1 cargo run --release --example bench_rows [export tut mlp784
//! mlp1024 lenet transformer residual resblock invres gemm]`
//!
//! Prints one `RESULT side=ferrex case=... runner=interpreter|compiled|eager ...` line
//! per measurement, in the format of the PyTorch script, so both can be compared line
//! by line.

use std::time::Instant;

use ferrex::prelude::*;
use ferrex_examples::zoo::{GroupNormResidual, LeNet, Mlp, TransformerBlock};

const ROUNDS: usize = 15;
const ROUND_SECS: f64 = 0.08;
const CLEAN_DELAY: f64 = 0.03;

/// A ResNet basic block (`relu(bn2(conv2(relu(bn1(conv1(x))))) + x)`, 3×3 convolutions
/// without bias), a model outside issue 12's table measured beside it.
#[export_module]
struct ResBlock {
    conv1: nn::Conv2d,
    bn1: nn::BatchNorm2d,
    conv2: nn::Conv2d,
    bn2: nn::BatchNorm2d,
}

impl ResBlock {
    fn new(c: usize) -> ResBlock {
        let conv = || nn::Conv2d::with_options(c, c, [3, 3], [1, 1], [1, 1], [1, 1], 1, false);
        ResBlock {
            conv1: conv(),
            bn1: nn::BatchNorm2d::new(c),
            conv2: conv(),
            bn2: nn::BatchNorm2d::new(c),
        }
    }
}

#[export_module]
impl ResBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.bn1.forward(&self.conv1.forward(x)).relu();
        (self.bn2.forward(&self.conv2.forward(&h)) + x).relu()
    }
}

/// A MobileNetV2 inverted residual (1×1 expand, 3×3 depthwise, 1×1 project, batch norms,
/// a skip), another model outside issue 12's table.
#[export_module]
struct InvertedResidual {
    expand: nn::Conv2d,
    bn1: nn::BatchNorm2d,
    depthwise: nn::Conv2d,
    bn2: nn::BatchNorm2d,
    project: nn::Conv2d,
    bn3: nn::BatchNorm2d,
}

impl InvertedResidual {
    fn new(c: usize, e: usize) -> InvertedResidual {
        let conv = |i, o, k: usize, groups| {
            let p = (k / 2) as i64;
            nn::Conv2d::with_options(i, o, [k, k], [1, 1], [p, p], [1, 1], groups, false)
        };
        InvertedResidual {
            expand: conv(c, e, 1, 1),
            bn1: nn::BatchNorm2d::new(e),
            depthwise: conv(e, e, 3, e),
            bn2: nn::BatchNorm2d::new(e),
            project: conv(e, c, 1, 1),
            bn3: nn::BatchNorm2d::new(c),
        }
    }
}

#[export_module]
impl InvertedResidual {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.bn1.forward(&self.expand.forward(x)).relu();
        let h = self.bn2.forward(&self.depthwise.forward(&h)).relu();
        self.bn3.forward(&self.project.forward(&h)) + x
    }
}

#[export_module]
struct Mlp1024 {
    l1: nn::Linear,
    l2: nn::Linear,
    l3: nn::Linear,
    l4: nn::Linear,
}

#[export_module]
impl Mlp1024 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.l1.forward(x).relu();
        let h = self.l2.forward(&h).relu();
        let h = self.l3.forward(&h).relu();
        self.l4.forward(&h)
    }
}

/// (ns run, ns waited on the run queue) summed over this process's threads.
fn sched_ns() -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return total;
    };
    for t in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        let v: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() >= 2 {
            total.0 += v[0];
            total.1 += v[1];
        }
    }
    total
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
    clean: f64,
    clean_n: usize,
    cpu_ratio: f64,
    delay_frac: f64,
}

fn measure(mut f: impl FnMut()) -> Stats {
    let t0 = Instant::now();
    let mut warm = 0;
    while warm < 3 || t0.elapsed().as_secs_f64() < 0.2 {
        f();
        warm += 1;
    }
    let per_call = t0.elapsed().as_secs_f64() / warm as f64;
    let calls = ((ROUND_SECS / per_call).ceil() as usize).max(1);
    let (mut means, mut clean) = (Vec::new(), Vec::new());
    let (mut wall_sum, mut exec_sum, mut delay_sum) = (0.0, 0.0, 0.0);
    for _ in 0..ROUNDS {
        let (e0, d0) = sched_ns();
        let s = Instant::now();
        for _ in 0..calls {
            f();
        }
        let wall = s.elapsed().as_secs_f64();
        let (e1, d1) = sched_ns();
        let (ex, de) = ((e1 - e0) as f64 * 1e-9, (d1 - d0) as f64 * 1e-9);
        wall_sum += wall;
        exec_sum += ex;
        delay_sum += de;
        means.push(wall / calls as f64);
        if de < CLEAN_DELAY * wall {
            clean.push(wall / calls as f64);
        }
    }
    means.sort_by(f64::total_cmp);
    clean.sort_by(f64::total_cmp);
    Stats {
        median: means[means.len() / 2],
        min: means[0],
        max: means[means.len() - 1],
        clean: if clean.len() >= 3 {
            clean[clean.len() / 2]
        } else {
            f64::NAN
        },
        clean_n: clean.len(),
        cpu_ratio: exec_sum / wall_sum,
        delay_frac: delay_sum / wall_sum,
    }
}

fn report(case: &str, runner: &str, s: &Stats, flops: Option<f64>) {
    let threads = ferrex_kernels_threads();
    let extra = flops.map_or(String::new(), |f| {
        format!(" gflops={:.2}", f / s.median / 1e9)
    });
    println!(
        "RESULT side=ferrex case={case} runner={runner} threads={threads} median_us={:.3} min_us={:.3} max_us={:.3} clean_us={:.3} clean_n={} cpu_ratio={:.2} delay_frac={:.3}{extra}",
        s.median * 1e6,
        s.min * 1e6,
        s.max * 1e6,
        s.clean * 1e6,
        s.clean_n,
        s.cpu_ratio,
        s.delay_frac
    );
}

fn ferrex_kernels_threads() -> usize {
    std::env::var("FERREX_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// Each runner is given the same input tensor every call (a handle, `x.clone()`), as
/// `bench_torch.py` passes PyTorch its tensors: no copy is timed.
fn bench_model<M: ferrex::Forward<Args = (Tensor,)>>(
    case: &str,
    m: &M,
    x: &Tensor,
    flops: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let ep = ferrex::export(m, (x.copy(),))?;
    let compiled = ferrex_runtime::compile(&ep)?;
    let module = ep.module();
    let s = measure(|| {
        module
            .call((x.clone(),))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    });
    report(case, "interpreter", &s, flops);
    let s = measure(|| {
        compiled
            .call((x.clone(),))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    });
    report(case, "compiled", &s, flops);
    let s = measure(|| {
        m.forward_args((x.clone(),));
    });
    report(case, "eager", &s, flops);
    Ok(())
}

/// The tutorial's `MyModule` (`relu_(Linear 100 → 10 of x + y)`), as `bench_torch.py`'s
/// `tut` and `export` rows.
#[export_module]
struct MyModule {
    lin: nn::Linear,
}

#[export_module]
impl MyModule {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

/// The tutorial module at batch 8 on each runner, and its export's latency.
fn bench_tutorial(export_only: bool) -> Result<(), Box<dyn std::error::Error>> {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    let args = || (x.clone(), y.clone());
    let ep = ferrex::export(&m, args())?;
    if export_only {
        let s = measure(|| {
            ferrex::export(&m, args())
                .map(|_| ())
                .unwrap_or_else(|e| panic!("{e}"));
        });
        report("export_tutorial", "export", &s, None);
        return Ok(());
    }
    let compiled = ferrex_runtime::compile(&ep)?;
    let module = ep.module();
    let s = measure(|| {
        module
            .call(args())
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    });
    report("tutorial_mymodule_b8", "interpreter", &s, None);
    let s = measure(|| {
        compiled
            .call(args())
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"));
    });
    report("tutorial_mymodule_b8", "compiled", &s, None);
    let s = measure(|| {
        m.forward(&x, &y);
    });
    report("tutorial_mymodule_b8", "eager", &s, None);
    Ok(())
}

fn mlp_flops(batch: usize, dims: &[usize]) -> f64 {
    2.0 * batch as f64 * dims.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ferrex::manual_seed(0);
    let modes: Vec<String> = std::env::args().skip(1).collect();
    let all = [
        "export",
        "tut",
        "mlp784",
        "mlp1024",
        "lenet",
        "transformer",
        "residual",
        "resblock",
        "invres",
        "gemm",
    ];
    let modes: Vec<&str> = if modes.is_empty() {
        all.to_vec()
    } else {
        modes.iter().map(String::as_str).collect()
    };
    for mode in modes {
        bench_mode(mode)?;
    }
    Ok(())
}

/// One row group of the comparison.
fn bench_mode(mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    match mode {
        "export" => bench_tutorial(true)?,
        "tut" => bench_tutorial(false)?,
        "mlp784" => {
            let mlp = Mlp::new(784, [512, 512], 10);
            for b in [1, 64] {
                let flops = mlp_flops(b, &[784, 512, 512, 10]);
                bench_model(
                    &format!("mlp784_b{b}"),
                    &mlp,
                    &Tensor::randn([b, 784]),
                    Some(flops),
                )?;
            }
        }
        "mlp1024" => {
            let m = Mlp1024 {
                l1: nn::Linear::new(1024, 1024),
                l2: nn::Linear::new(1024, 1024),
                l3: nn::Linear::new(1024, 1024),
                l4: nn::Linear::new(1024, 1024),
            };
            let flops = mlp_flops(256, &[1024; 5]);
            bench_model(
                "mlp1024x4_b256",
                &m,
                &Tensor::randn([256, 1024]),
                Some(flops),
            )?;
        }
        "lenet" => {
            let fl =
                2.0 * 8.0 * (6.0 * 25.0 * 784.0 + 16.0 * 150.0 * 100.0 + 400.0 * 120.0 + 1200.0);
            bench_model(
                "lenet_b8",
                &LeNet::new(),
                &Tensor::randn([8, 1, 28, 28]),
                Some(fl),
            )?;
        }
        "transformer" => {
            // The zoo's block: attention runs on the fused kernel when compiled.
            bench_model(
                "transformer_d64_b4x32",
                &TransformerBlock::new(64, 4, 128),
                &Tensor::randn([4, 32, 64]),
                None,
            )?;
        }
        "gemm" => {
            for n in [1024usize, 2048] {
                let a = Tensor::randn([n, n]);
                let b = Tensor::randn([n, n]);
                let s = measure(|| {
                    a.matmul(&b).check().unwrap_or_else(|e| panic!("{e}"));
                });
                report(
                    &format!("sgemm{n}"),
                    "eager",
                    &s,
                    Some(2.0 * (n as f64).powi(3)),
                );
            }
        }
        other => bench_outside_the_table(other)?,
    }
    Ok(())
}

/// The rows of models outside issue 12's table.
fn bench_outside_the_table(mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    match mode {
        "residual" => {
            let ids = Tensor::from_vec(
                (0..8 * 32)
                    .map(|i| (i * 37 % 1000) as i64)
                    .collect::<Vec<_>>(),
                [8, 32],
            );
            bench_model(
                "residual_b8x32",
                &GroupNormResidual::new(1000, 64, 8),
                &ids,
                None,
            )?;
        }
        "resblock" => {
            let (c, hw, b) = (32usize, 16usize, 8usize);
            let flops = 2.0 * 2.0 * (b * c * c * 9 * hw * hw) as f64;
            bench_model(
                "resblock_c32_16x16_b8",
                &ResBlock::new(c),
                &Tensor::randn([b, c, hw, hw]),
                Some(flops),
            )?;
        }
        "invres" => bench_model(
            "invres_c32e64_16x16_b8",
            &InvertedResidual::new(32, 64),
            &Tensor::randn([8, 32, 16, 16]),
            None,
        )?,
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
