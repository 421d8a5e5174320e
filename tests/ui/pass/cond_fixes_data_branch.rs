// The fix that the `data_branch` error suggests compiles in strict mode, and exports both
// branches as one `cond` node.
use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
struct Bad1Fixed {}

#[export_module]
impl Bad1Fixed {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

fn main() {
    let m = Bad1Fixed {};
    let ep = ferrex::export(&m, (Tensor::randn([3, 3]),)).expect("exports");
    let pos = ep.module().call((Tensor::ones([3, 3]),)).expect("runs");
    assert_eq!(pos[0].to_vec::<f32>().unwrap(), vec![1f32.sin(); 9]);
    let neg = ep.module().call((Tensor::ones([3, 3]) * -1.0,)).expect("runs");
    assert_eq!(neg[0].to_vec::<f32>().unwrap(), vec![(-1f32).cos(); 9]);
}
