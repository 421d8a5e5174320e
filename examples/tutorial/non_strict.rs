//! Non-Strict Export: `#[export_module(strict = false)]` skips the compile-time proof and
//! traces whatever forward runs, as `export(..., strict=False)` does with the Python
//! interpreter. The tutorial's Bad2, Bad3 and Bad4 now export; Bad1 (a branch on tensor
//! data) still cannot, and fails at export time with the file, line and code.

use ferrex::prelude::*;

#[export_module]
pub struct Bad1 {}

#[export_module(strict = false)]
impl Bad1 {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.sum().item::<f32>().unwrap() > 0.0 {
            return x.sin();
        }
        x.cos()
    }
}

#[export_module]
pub struct Bad2 {}

#[export_module(strict = false)]
impl Bad2 {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.data().set_item_(&[0, 0], 3.0);
        x.clone()
    }
}

#[export_module]
pub struct Bad3 {}

#[export_module(strict = false)]
impl Bad3 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + 1.0;
        &x + x.id() as f64
    }
}

#[export_module]
pub struct Bad4 {}

#[export_module(strict = false)]
impl Bad4 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = x.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            x = &x + 1.0;
            panic!("bad");
        }));
        if result.is_err() {
            x = &x + 2.0;
        }
        x
    }
}

pub fn run() -> crate::SectionResult {
    println!("- Accessing tensor data with .data now works correctly:\n");
    let bad2_nonstrict = ferrex::export(&Bad2 {}, (Tensor::randn([3, 3]),))?;
    crate::keep("tutorial_non_strict_data", &bad2_nonstrict);
    println!("{bad2_nonstrict}");
    let input = Tensor::ones([3, 3]);
    println!("{}\n", bad2_nonstrict.module().call((input.clone(),))?[0]);
    println!("The input was written too (USER_INPUT_MUTATION):\n{input}\n");

    println!(
        "- Calling unsupported functions traces through; x.id() is specialised as a constant:\n"
    );
    let bad3_nonstrict = ferrex::export(&Bad3 {}, (Tensor::randn([3, 3]),))?;
    crate::keep("tutorial_non_strict_id", &bad3_nonstrict);
    println!("{bad3_nonstrict}");
    println!(
        "{}\n",
        bad3_nonstrict.module().call((Tensor::ones([3, 3]),))?[0]
    );

    println!("- Unsupported language features (catching a panic) are traced through:\n");
    // The closure panics on purpose; keep the default hook from printing it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let bad4 = ferrex::export(&Bad4 {}, (Tensor::randn([3, 3]),));
    std::panic::set_hook(hook);
    let bad4_nonstrict = bad4?;
    println!(
        "{}\n",
        bad4_nonstrict.module().call((Tensor::ones([3, 3]),))?[0]
    );

    println!("- A branch on tensor data still needs a rewrite (`cond!`):\n");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let bad1 = ferrex::export(&Bad1 {}, (Tensor::randn([3, 3]),));
    std::panic::set_hook(hook);
    match bad1 {
        Ok(_) => return Err("Bad1 exported, but it branches on tensor data".into()),
        Err(e) => println!("{e}"),
    }
    Ok(())
}
