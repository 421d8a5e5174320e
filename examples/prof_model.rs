use ferrex::prelude::*;
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};
fn main() {
    ferrex::manual_seed(0);
    let args: Vec<String> = std::env::args().collect();
    let (model, runner, n) = (
        args[1].as_str(),
        args[2].as_str(),
        args[3].parse::<usize>().unwrap(),
    );
    let (ep, x, eager): (ferrex::ExportedProgram, Tensor, Box<dyn Fn(&Tensor)>) = match model {
        "lenet" => {
            let m = LeNet::new();
            let x = Tensor::randn([8, 1, 28, 28]);
            let ep = ferrex::export(&m, (x.copy(),)).unwrap();
            (
                ep,
                x,
                Box::new(move |x: &Tensor| {
                    m.forward_args((x.copy(),));
                }),
            )
        }
        "mlp1" | "mlp64" => {
            let m = Mlp::new(784, [512, 512], 10);
            let b = if model == "mlp1" { 1 } else { 64 };
            let x = Tensor::randn([b, 784]);
            let ep = ferrex::export(&m, (x.copy(),)).unwrap();
            (
                ep,
                x,
                Box::new(move |x: &Tensor| {
                    m.forward_args((x.copy(),));
                }),
            )
        }
        _ => {
            let m = TransformerBlock::new(64, 4, 128);
            let x = Tensor::randn([2, 16, 64]);
            let ep = ferrex::export(&m, (x.copy(),)).unwrap();
            (
                ep,
                x,
                Box::new(move |x: &Tensor| {
                    m.forward_args((x.copy(),));
                }),
            )
        }
    };
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let module = ep.module();
    let t = std::time::Instant::now();
    for _ in 0..n {
        match runner {
            "compiled" => {
                compiled.call((x.copy(),)).unwrap();
            }
            "interp" => {
                module.call((x.copy(),)).unwrap();
            }
            _ => eager(&x),
        }
    }
    eprintln!("{:.2} us/iter", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
