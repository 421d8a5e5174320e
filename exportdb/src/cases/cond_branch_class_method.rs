//! `cond!` branches may call methods: of a submodule (`self.subm.forward(&x)`) and of
//! the model's own impl block (`self.bar(&x)`), whose bodies strict export checks too.
//! The predicate `x.size(0) <= 2` is a `bool` known while exporting, so only the taken
//! branch (`bar`: `sin`) is traced.

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct MySubModule {}

#[export_module]
impl MySubModule {
    fn foo(&self, x: &Tensor) -> Tensor {
        x.cos()
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.foo(x)
    }
}

#[export_module]
pub struct CondBranchClassMethod {
    subm: MySubModule,
}

#[export_module]
impl CondBranchClassMethod {
    fn bar(&self, x: &Tensor) -> Tensor {
        x.sin()
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(
            x.size(0) <= 2,
            |x| self.subm.forward(&x),
            |x| self.bar(&x),
            [x]
        )
    }
}

fn model() -> CondBranchClassMethod {
    CondBranchClassMethod {
        subm: MySubModule {},
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "cond_branch_class_method",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("cond_branch_class_method.rs"),
        code: include_str!("cond_branch_class_method.rs"),
        run,
    }
}
