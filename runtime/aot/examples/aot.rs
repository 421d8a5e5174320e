//! `cargo run --release -p ferrex-aot --example aot`: the generated modules of the test
//! fixtures against the compiled plan and the interpreter, one line per program:
//! `aot: NAME typed X µs, call Y µs, plan Z µs, interpreter W µs`, then start-up
//! (`Model::new` against `ferrex_runtime::load`) and the generator's time and output size.
//! The MLP 784-512-512-10 is one archive with a dynamic batch (1 to 64), run at 1 and 64.

use std::time::{Duration, Instant};

use ferrex::Tensor;

ferrex_aot::include_program!(mod tutorial = "tests/fixtures/tutorial_b8.pt2");
ferrex_aot::include_program!(mod mlp = "tests/fixtures/mlp_b8.pt2");
ferrex_aot::include_program!(mod lenet = "tests/fixtures/lenet_b2.pt2");
ferrex_aot::include_program!(mod transformer = "tests/fixtures/transformer_b2.pt2");
ferrex_aot::include_program!(mod mlp784 = "tests/fixtures/mlp784_dyn.pt2");

/// The wall time of `f`: the smallest of 5 medians, each over as many calls as fit in
/// about 0.1 s (at least 20) — on a shared, loaded machine the least disturbed round.
fn median(mut f: impl FnMut()) -> Duration {
    f();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut times = Vec::new();
        while times.len() < 20
            || (start.elapsed() < Duration::from_millis(100) && times.len() < 100_000)
        {
            let t = Instant::now();
            f();
            times.push(t.elapsed());
        }
        times.sort();
        best = best.min(times[times.len() / 2]);
    }
    best
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

type Typed<'a> = Box<dyn FnMut() + 'a>;
type Called<'a> = Box<dyn Fn(&[Tensor]) -> Vec<Tensor> + 'a>;

fn row(
    name: &str,
    file: &str,
    inputs: &[Tensor],
    mut typed: Typed<'_>,
    call: Called<'_>,
) -> Result<(), Box<dyn std::error::Error>> {
    let path = format!("{}/tests/fixtures/{file}.pt2", env!("CARGO_MANIFEST_DIR"));
    let ep = ferrex::load(&path)?;
    let plan = ferrex_runtime::compile(&ep)?;
    let leaves = |ts: &[Tensor]| -> Vec<ferrex::module::InputLeaf> {
        ts.iter()
            .zip(ep.arg_names())
            .map(|(t, n)| ferrex::module::InputLeaf {
                path: n.clone(),
                value: ferrex::module::LeafValue::Tensor(t.clone()),
            })
            .collect()
    };
    let args = leaves(inputs);
    let t_typed = median(&mut typed);
    let t_call = median(|| {
        call(inputs);
    });
    let t_plan = median(|| {
        plan.call_flat(&args).map(drop).unwrap_or(());
    });
    let t_interp = median(|| {
        ep.module().call_flat(&args).map(drop).unwrap_or(());
    });
    println!(
        "aot: {name} typed {:.2} µs, call {:.2} µs, plan {:.2} µs, interpreter {:.2} µs",
        us(t_typed),
        us(t_call),
        us(t_plan),
        us(t_interp)
    );
    let bytes = std::fs::read(&path)?;
    let t_load = median(|| {
        ferrex_runtime::load(&path).map(drop).unwrap_or(());
    });
    let options = ferrex_aot::AotOptions {
        archive_path: path.clone(),
        display_name: path.clone(),
        regenerate: String::new(),
        steps_per_function: ferrex_aot::STEPS_PER_FUNCTION,
        embed_weights: true,
        prepack: None,
    };
    let t_gen = median(|| {
        ferrex_aot::generate(&bytes, &options)
            .map(drop)
            .unwrap_or(());
    });
    let code = ferrex_aot::generate(&bytes, &options)?;
    println!(
        "     {name}: ferrex_runtime::load {:.0} µs; generator (the macro's work) {:.2} ms for {} lines, {} bytes of code, {} weight bytes read from a {}-byte archive",
        us(t_load),
        us(t_gen) / 1000.0,
        code.code.lines().count(),
        code.code.len(),
        code.weight_bytes,
        bytes.len()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ferrex::manual_seed(1);
    let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    let m = tutorial::Model::new()?;
    let mut ws = tutorial::Workspace::new()?;
    let (xs, ys) = (x.to_vec::<f32>()?, y.to_vec::<f32>()?);
    let mut out = vec![0f32; 80];
    let t_new = median(|| {
        tutorial::Model::new().map(drop).unwrap_or(());
    });
    println!("start-up: tutorial Model::new {:.1} µs", us(t_new));
    row(
        "tutorial (batch 8)",
        "tutorial_b8",
        &[x.copy(), y.copy()],
        Box::new(|| m.forward(&mut ws, &xs, &ys, &mut out).unwrap_or(())),
        Box::new(|t: &[Tensor]| m.call((t[0].clone(), t[1].clone())).unwrap_or_default()),
    )?;
    let x = Tensor::randn([8, 20]);
    let m = mlp::Model::new()?;
    let mut ws = mlp::Workspace::new()?;
    let xs = x.to_vec::<f32>()?;
    let mut out = vec![0f32; 40];
    row(
        "MLP 20-64-32-5 (batch 8)",
        "mlp_b8",
        &[x.copy()],
        Box::new(|| m.forward(&mut ws, &xs, &mut out).unwrap_or(())),
        Box::new(|t: &[Tensor]| m.call((t[0].clone(),)).unwrap_or_default()),
    )?;
    let m = mlp784::Model::new()?;
    for batch in [1, 64] {
        let x = Tensor::randn([batch, 784]);
        let mut ws = mlp784::Workspace::new()?;
        let xs = x.to_vec::<f32>()?;
        let mut out = vec![0f32; batch * 10];
        row(
            &format!("MLP 784-512-512-10 (batch {batch})"),
            "mlp784_dyn",
            &[x.copy()],
            Box::new(|| {
                m.forward(&mut ws, &xs, [batch, 784], &mut out)
                    .unwrap_or(())
            }),
            Box::new(|t: &[Tensor]| m.call((t[0].clone(),)).unwrap_or_default()),
        )?;
    }
    let x = Tensor::randn([2, 1, 28, 28]);
    let m = lenet::Model::new()?;
    let mut ws = lenet::Workspace::new()?;
    let xs = x.to_vec::<f32>()?;
    let mut out = vec![0f32; 20];
    row(
        "LeNet (batch 2)",
        "lenet_b2",
        &[x.copy()],
        Box::new(|| m.forward(&mut ws, &xs, &mut out).unwrap_or(())),
        Box::new(|t: &[Tensor]| m.call((t[0].clone(),)).unwrap_or_default()),
    )?;
    let x = Tensor::randn([2, 10, 32]);
    let m = transformer::Model::new()?;
    let mut ws = transformer::Workspace::new()?;
    let xs = x.to_vec::<f32>()?;
    let mut out = vec![0f32; 640];
    row(
        "transformer block (batch 2 x 10)",
        "transformer_b2",
        &[x.copy()],
        Box::new(|| m.forward(&mut ws, &xs, &mut out).unwrap_or(())),
        Box::new(|t: &[Tensor]| m.call((t[0].clone(),)).unwrap_or_default()),
    )?;
    Ok(())
}
