//! The thread model: a program's call is atomic with respect to its buffers (calls that
//! mutate buffers are serialized, so concurrent calls keep every update), and exporting a
//! model traces on this thread's private view of its tensors, so other threads keep
//! using the model — eagerly or in their own export — while it is exported.

use ferrex::prelude::*;

mod common;
use common::Counter;

const THREADS: usize = 4;
const CALLS: usize = 250;

#[test]
fn concurrent_calls_keep_every_buffer_update_in_both_runners() {
    let ep = ferrex::export(
        &Counter {
            count: Tensor::zeros([1]),
        },
        (Tensor::ones([3]),),
    )
    .unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (ep, compiled) = (&ep, &compiled);
            s.spawn(move || {
                for _ in 0..CALLS {
                    let out = if t % 2 == 0 {
                        ep.module().call((Tensor::ones([3]),))
                    } else {
                        compiled.call((Tensor::ones([3]),))
                    };
                    assert!(out.is_ok());
                }
            });
        }
    });
    let count = ep
        .state_dict()
        .get("count")
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(count, [(THREADS * CALLS) as f32]);
}

#[export_module]
struct Affine {
    lin: nn::Linear,
    #[buffer]
    shift: Tensor,
}

#[export_module]
impl Affine {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.lin.forward(x) + &self.shift
    }
}

#[test]
fn exporting_does_not_take_the_model_from_other_threads() {
    ferrex::manual_seed(3);
    let model = Affine {
        lin: nn::Linear::new(4, 2),
        shift: Tensor::ones([2]),
    };
    let x = Tensor::ones([3, 4]);
    let expected = model.forward(&x).to_vec::<f32>().unwrap();
    std::thread::scope(|s| {
        // Two threads export the same model again and again…
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..50 {
                    let ep = ferrex::export(&model, (Tensor::ones([3, 4]),)).unwrap();
                    let out = ep.module().call((Tensor::ones([3, 4]),)).unwrap();
                    assert_eq!(out[0].to_vec::<f32>().unwrap(), expected);
                }
            });
        }
        // …while two others run it eagerly, on the same tensors.
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..200 {
                    let out = model.forward(&x);
                    assert_eq!(out.to_vec::<f32>().unwrap(), expected);
                }
            });
        }
    });
    // And the model is still the same model afterwards.
    assert!(!model.lin.weight.is_traced());
    assert_eq!(model.forward(&x).to_vec::<f32>().unwrap(), expected);
}
