//! Running the Exported Program: `ep.module()` runs the graph eagerly (the same as
//! running the model); `ferrex_runtime::compile` is the optimising backend, Rust's
//! counterpart of `torch.compile` / AOTInductor; `ferrex::save` writes the program to a
//! `.pt2` archive that `ferrex_runtime::load` runs without the model's source.

use ferrex::prelude::*;

#[export_module]
pub struct M {
    linear: nn::Linear,
}

#[export_module]
impl M {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.linear.forward(x)
    }
}

/// The largest elementwise difference of two f32 tensors.
fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32, Box<dyn std::error::Error>> {
    let (a, b) = (a.to_vec::<f32>()?, b.to_vec::<f32>()?);
    Ok(a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max))
}

pub fn run() -> crate::SectionResult {
    let inp = Tensor::randn([2, 3]);
    let m = M {
        linear: nn::Linear::new(3, 3),
    };
    let ep = ferrex::export(&m, (inp.copy(),))?;
    crate::keep("tutorial_running", &ep);

    // Run it eagerly: the interpreter, equal to running the model.
    let res = ep.module().call((inp.copy(),))?;
    println!("{}", res[0]);

    // Run it compiled: a plan with prepacked weights and fused kernels.
    let compiled = ferrex_runtime::compile(&ep)?;
    let res_compiled = compiled.call((inp.copy(),))?;
    println!("{}", res_compiled[0]);
    print!("plan:\n{}", compiled.describe());

    // Save the program, then load and run it with no `M` in sight (AOTInductor's
    // aot_compile + aot_load).
    let path = std::env::temp_dir().join(format!("ferrex-tutorial-{}.pt2", std::process::id()));
    ferrex::save(&ep, &path)?;
    let loaded = ferrex_runtime::load(&path)?;
    let res_loaded = loaded.call((inp.copy(),))?;
    println!("{}", path.display());
    println!("{}", res_loaded[0]);
    std::fs::remove_file(&path)?;

    let diff = max_diff(&res[0], &res_compiled[0])?.max(max_diff(&res[0], &res_loaded[0])?);
    println!("max |eager - compiled|, |eager - loaded| = {diff:e}");
    if diff > 1e-5 {
        return Err(format!("the runners disagree by {diff}").into());
    }
    Ok(())
}
