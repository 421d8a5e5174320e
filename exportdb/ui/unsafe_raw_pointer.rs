// ExportDB `unsafe_raw_pointer`: the address of a tensor (Python's `id(x)`), a raw
// pointer to it, and an `unsafe` block that reads through the pointer.
use ferrex::prelude::*;

#[export_module]
struct UnsafeRawPointer {}

#[export_module]
impl UnsafeRawPointer {
    fn forward(&self, x: &Tensor) -> Tensor {
        let key = x.id();
        let pointer = x as *const Tensor;
        let y = unsafe { &*pointer };
        y + key as f64
    }
}

fn main() {}
