//! Constraints/Dynamic Shapes: static by default; `Dim`s make sizes symbolic, with
//! bounds, shared between inputs, or derived (`a * dim + b`); export explains which
//! constraints a program needs.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, Exporter};

#[export_module]
pub struct MyModule2 {
    lin: nn::Linear,
}

#[export_module]
impl MyModule2 {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

#[export_module]
pub struct DynamicShapesExample1 {}

#[export_module]
impl DynamicShapesExample1 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x.slice_from(1, 2);
        x.relu()
    }
}

#[export_module]
pub struct DynamicShapesExample2 {}

#[export_module]
impl DynamicShapesExample2 {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x.matmul(y)
    }
}

#[export_module]
pub struct DerivedDimExample1 {}

#[export_module]
impl DerivedDimExample1 {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x + y.slice_from(0, 1)
    }
}

#[export_module]
pub struct DerivedDimExample2 {}

#[export_module]
impl DerivedDimExample2 {
    fn forward(&self, z: &Tensor, y: &Tensor) -> Tensor {
        z.slice_from(0, 1) + y.slice(0, Some(1), None::<i64>, 3)
    }
}

#[export_module]
pub struct DynamicShapesExample3 {}

#[export_module]
impl DynamicShapesExample3 {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        // PyTorch's report for this model also lists `2 <= L['x'].size()[0]` (its 0/1
        // specialisation) and `L['y'].size()[1] != 16` (the contiguity check of the view
        // `y[:, :16]`); neither changes what ferrex computes, so neither is a guard here.
        if x.size(0) <= 16 {
            return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));
        }
        y.clone()
    }
}

fn show_err<T>(what: &str, r: Result<T, impl std::fmt::Display>) {
    match r {
        Ok(_) => println!("{what}: ok"),
        Err(e) => println!("{what}: error: {e}"),
    }
}

pub fn run() -> crate::SectionResult {
    static_by_default()?;
    bounded_dims()?;
    shared_dim()?;
    derived_dims()?;
    suggested_fixes()
}

/// Without dynamic shapes, other input shapes are rejected.
fn static_by_default() -> crate::SectionResult {
    // Static by default: other shapes are rejected.
    let mod2 = MyModule2 {
        lin: nn::Linear::new(100, 10),
    };
    let exported_mod2 = ferrex::export(&mod2, (Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    crate::keep("tutorial_static_shapes", &exported_mod2);
    show_err(
        "exported_mod2 on (10, 100)",
        exported_mod2
            .module()
            .call((Tensor::randn([10, 100]), Tensor::randn([10, 100]))),
    );
    println!();
    Ok(())
}

/// One unbounded dim and one with bounds.
fn bounded_dims() -> crate::SectionResult {
    // One unbounded dim, one bounded in [4, 18].
    let inp1 = Tensor::randn([10, 10, 2]);
    let inp1_dim0 = Dim::new("inp1_dim0");
    let inp1_dim1 = Dim::new("inp1_dim1").min(4).max(18);
    let dynamic_shapes1 = DynamicShapes::new().input("x", [(0, inp1_dim0), (1, inp1_dim1)]);
    let ep1 = Exporter::new(&DynamicShapesExample1 {}, (inp1,))
        .dynamic_shapes(dynamic_shapes1)
        .run()?;
    crate::keep("tutorial_dynamic_ep1", &ep1);
    println!("{ep1}");
    let out = ep1.module().call((Tensor::randn([5, 5, 2]),))?;
    println!("on (5, 5, 2): shape {:?}", out[0].shape());
    show_err(
        "on (8, 1, 2)",
        ep1.module().call((Tensor::randn([8, 1, 2]),)),
    );
    show_err(
        "on (8, 20, 2)",
        ep1.module().call((Tensor::randn([8, 20, 2]),)),
    );
    show_err(
        "on (8, 8, 3)",
        ep1.module().call((Tensor::randn([8, 8, 3]),)),
    );
    println!();
    Ok(())
}

/// One dim object for sizes that must be equal.
fn shared_dim() -> crate::SectionResult {
    // A dim shared by two inputs.
    let inner_dim = Dim::new("inner_dim");
    let dynamic_shapes2 = DynamicShapes::new()
        .input("x", [(0, Dim::new("inp2_dim0")), (1, inner_dim.clone())])
        .input("y", [(0, inner_dim), (1, Dim::new("inp3_dim1"))]);
    let ep2 = Exporter::new(
        &DynamicShapesExample2 {},
        (Tensor::randn([4, 8]), Tensor::randn([8, 2])),
    )
    .dynamic_shapes(dynamic_shapes2)
    .run()?;
    crate::keep("tutorial_dynamic_ep2", &ep2);
    println!("{ep2}");
    let out = ep2
        .module()
        .call((Tensor::randn([2, 16]), Tensor::randn([16, 4])))?;
    println!("on (2, 16) @ (16, 4): shape {:?}", out[0].shape());
    show_err(
        "on (4, 8) @ (4, 2)",
        ep2.module()
            .call((Tensor::randn([4, 8]), Tensor::randn([4, 2]))),
    );
    println!();
    Ok(())
}

/// Dims defined as `a * dim + b` of another.
fn derived_dims() -> crate::SectionResult {
    // Derived dims: dimy = dimx + 1.
    let dimx = Dim::new("dimx").min(3).max(6);
    let dimy = &dimx + 1;
    let derived1 = DynamicShapes::new()
        .input("x", [(0, dimx)])
        .input("y", [(0, dimy)]);
    let ep3 = Exporter::new(
        &DerivedDimExample1 {},
        (Tensor::randn([5]), Tensor::randn([6])),
    )
    .dynamic_shapes(derived1)
    .run()?;
    crate::keep("tutorial_dynamic_ep3", &ep3);
    let out = ep3
        .module()
        .call((Tensor::randn([4]), Tensor::randn([5])))?;
    println!(
        "derived_dim_example1 on (4), (5): shape {:?}",
        out[0].shape()
    );
    show_err(
        "derived_dim_example1 on (4), (6)",
        ep3.module().call((Tensor::randn([4]), Tensor::randn([6]))),
    );
    println!();

    // dz = dx + 1, dy = 3 * dx + 1.
    let dx = Dim::new("dx").min(3).max(6);
    let derived2 = DynamicShapes::new()
        .input("z", [(0, &dx + 1)])
        .input("y", [(0, &dx * 3 + 1)]);
    let ep4 = Exporter::new(
        &DerivedDimExample2 {},
        (Tensor::randn([4]), Tensor::randn([10])),
    )
    .dynamic_shapes(derived2)
    .run()?;
    crate::keep("tutorial_dynamic_ep4", &ep4);
    println!("{ep4}");
    let out = ep4
        .module()
        .call((Tensor::randn([7]), Tensor::randn([19])))?;
    println!(
        "derived_dim_example2 on (7), (19): shape {:?}",
        out[0].shape()
    );
    println!();
    Ok(())
}

/// Export's suggestions for a model whose dims are all dynamic, then the fixed export.
fn suggested_fixes() -> crate::SectionResult {
    // Let export say which constraints are needed: every dim dynamic, unbounded.
    let (inp4, inp5) = (Tensor::randn([8, 16]), Tensor::randn([16, 32]));
    let all_dynamic = |name: &str, rank: usize| -> Vec<(usize, Dim)> {
        (0..rank)
            .map(|i| (i, Dim::new(format!("{name}_dim{i}"))))
            .collect()
    };
    let dynamic_shapes3 = DynamicShapes::new()
        .input("x", all_dynamic("inp4", 2))
        .input("y", all_dynamic("inp5", 2));
    show_err(
        "DynamicShapesExample3 with every dim dynamic",
        Exporter::new(&DynamicShapesExample3 {}, (inp4.copy(), inp5.copy()))
            .dynamic_shapes(dynamic_shapes3)
            .run(),
    );

    // Following the suggested fixes.
    let inp4_dim1 = Dim::new("shared_dim");
    let inp4_dim0 = Dim::new("inp4_dim0").max(16);
    let inp5_dim1 = Dim::new("inp5_dim1").min(16);
    let inp5_dim0 = inp4_dim1.clone();
    let fixed = DynamicShapes::new()
        .input("x", [(0, inp4_dim0), (1, inp4_dim1)])
        .input("y", [(0, inp5_dim0), (1, inp5_dim1)]);
    let ep5 = Exporter::new(&DynamicShapesExample3 {}, (inp4, inp5))
        .dynamic_shapes(fixed)
        .run()?;
    crate::keep("tutorial_dynamic_ep5", &ep5);
    let out = ep5
        .module()
        .call((Tensor::randn([4, 32]), Tensor::randn([32, 64])))?;
    println!(
        "\nfixed example 3 on (4, 32), (32, 64): shape {:?}",
        out[0].shape()
    );
    println!("range constraints: {}", ep5.range_constraints());
    Ok(())
}
