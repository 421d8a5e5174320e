//! Python's positional, `*args`, keyword-only and `**kwargs` parameters. Rust has
//! positional parameters only: a tuple (`tuple0`), a slice for the variadic part
//! (`myargs: &[Tensor]`, carried as a `Vec`), an `Option` for a keyword argument with
//! a default (`mykw0`), and a struct for the named ones (`MyKwargs`, flattened by its
//! `Inputs` impl into `mykwargs_input0`, `mykwargs_input1`). Every tensor leaf is an
//! input of the program, named by its path.

use ferrex::module::{InputLeaf, Inputs};
use ferrex::prelude::*;

/// The named arguments.
#[derive(Clone)]
pub struct MyKwargs {
    pub input0: Tensor,
    pub input1: Tensor,
}

impl Inputs for MyKwargs {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        self.input0.flatten_into(&format!("{path}_input0"), out);
        self.input1.flatten_into(&format!("{path}_input1"), out);
    }
}

#[export_module]
pub struct FnWithKwargs {}

#[export_module]
impl FnWithKwargs {
    fn forward(
        &self,
        pos0: &Tensor,
        tuple0: (Tensor, Tensor),
        myargs: &[Tensor],
        mykw0: Option<&Tensor>,
        mykwargs: &MyKwargs,
    ) -> Tensor {
        let mut out = pos0.clone();
        for arg in [&tuple0.0, &tuple0.1] {
            out = out * arg;
        }
        for arg in myargs {
            out = out * arg;
        }
        if let Some(mykw0) = mykw0 {
            out = out * mykw0;
        }
        out * &mykwargs.input0 * &mykwargs.input1
    }
}

type Args = (
    Tensor,
    (Tensor, Tensor),
    Vec<Tensor>,
    Option<Tensor>,
    MyKwargs,
);

fn example_inputs() -> Args {
    let r = || Tensor::randn([4]);
    (
        r(),
        (r(), r()),
        vec![r(), r()],
        Some(r()),
        MyKwargs {
            input0: r(),
            input1: r(),
        },
    )
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, DeepCopy, Outcome};
use crate::{Case, Verdict};

impl DeepCopy for MyKwargs {
    fn deep_copy(&self) -> Self {
        MyKwargs {
            input0: self.input0.copy(),
            input1: self.input1.copy(),
        }
    }
}

fn run() -> Outcome {
    export_and_compare(&FnWithKwargs {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "fn_with_kwargs",
        tags: &["python.data-structure"],
        verdict: Verdict::Supported,
        file: include_str!("fn_with_kwargs.rs"),
        code: include_str!("fn_with_kwargs.rs"),
        run,
    }
}
