//! Control Flow Ops: a branch on tensor data, written with `cond!`, exports as one
//! `cond` node with both branches as subgraphs.

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct Bad1Fixed {}

#[export_module]
impl Bad1Fixed {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

pub fn run() -> crate::SectionResult {
    let exported_bad1_fixed = ferrex::export(&Bad1Fixed {}, (Tensor::randn([3, 3]),))?;
    crate::keep("tutorial_cond", &exported_bad1_fixed);
    println!("{exported_bad1_fixed}");
    let on_ones = exported_bad1_fixed.module().call((Tensor::ones([3, 3]),))?;
    println!("on ones (sin):\n{}", on_ones[0]);
    let on_minus_ones = exported_bad1_fixed
        .module()
        .call((Tensor::ones([3, 3]).neg(),))?;
    println!("on -ones (cos):\n{}", on_minus_ones[0]);
    println!(
        "\nLimits of cond!, each checked: the predicate is a one-element tensor (or a bool \
         from shapes, which picks the branch at export time); operands are tensors; both \
         branches return tensors with the same dtypes and shapes; branches may not mutate \
         their inputs; tensors a branch reads from the enclosing scope (parameters, other \
         values) become extra operands."
    );
    Ok(())
}
