// Calls strict mode resolves to what they are: a submodule's `forward` through its type
// (generic too),
// `Tensor` through a `use … as`, `self: &Self`, a raw-identifier `#[export_fn]`, a
// function-typed parameter of an `export_fn` given a closure, and an `export_fn` used as a
// value.
use ferrex::prelude::*;
use ferrex::Tensor as T;

#[export_module]
struct Block {
    lin: nn::Linear,
}

#[export_module]
impl Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.lin.forward(x).relu()
    }
}

/// A generic module, called through its type without naming its parameter.
#[export_module]
struct Scaled<M: Module> {
    #[module]
    inner: M,
}

#[export_module]
impl<M: Module + Forward<Args = (Tensor,), Output = Tensor>> Scaled<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.inner.forward_args((x.clone(),)) * 0.5
    }
}

#[ferrex::export_fn]
fn r#try(x: &Tensor) -> Tensor {
    x * 2.0
}

#[ferrex::export_fn]
fn apply_twice<F: Fn(&Tensor) -> Tensor>(f: F, x: &Tensor) -> Tensor {
    f(&f(x))
}

#[export_module]
struct Model {
    block: Block,
    scaled: Scaled<Block>,
}

#[export_module]
impl Model {
    fn forward(self: &Self, x: &Tensor) -> Tensor {
        let y = Block::forward(&self.block, x) + Scaled::forward(&self.scaled, x);
        let doubled: Vec<Tensor> = [y.clone(), y].iter().map(r#try).collect();
        let joined = T::cat(&doubled, 0);
        apply_twice(|t| t + 1.0, &joined)
    }
}

fn main() {
    let m = Model {
        block: Block {
            lin: nn::Linear::new(3, 3),
        },
        scaled: Scaled {
            inner: Block {
                lin: nn::Linear::new(3, 3),
            },
        },
    };
    let x = Tensor::randn([2, 3]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = ep.module().call((x,)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, want);
}
