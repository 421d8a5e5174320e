// ExportDB `mut_self_forward` (Rust-only): forward replaces a model attribute, which in Rust
// needs `&mut self`.
use ferrex::prelude::*;

#[export_module]
struct ModelAttrMutation {
    attr_list: Vec<Tensor>,
}

#[export_module]
impl ModelAttrMutation {
    fn recreate_list(&self) -> Vec<Tensor> {
        vec![Tensor::zeros([3, 2]), Tensor::zeros([3, 2])]
    }

    fn forward(&mut self, x: &Tensor) -> Tensor {
        self.attr_list = self.recreate_list();
        x.sum() + self.attr_list[0].sum()
    }
}

fn main() {}
