//! `include_program!` compiles a saved program into the crate: the module it expands to
//! is the one `ferrex aot` writes, so it computes the same bits.

ferrex_aot::include_program!(
    /// The zoo's MLP at batch 8, compiled at compile time.
    pub mod mlp8 = "tests/fixtures/mlp_b8.pt2"
);

#[rustfmt::skip]
#[path = "generated/mlp_b8.rs"]
mod checked_in;

use ferrex::Tensor;

#[test]
fn the_macros_module_computes_what_the_checked_in_module_computes() {
    ferrex::manual_seed(8);
    let (a, b) = (
        mlp8::Model::new().unwrap(),
        checked_in::Model::new().unwrap(),
    );
    let x = Tensor::randn([8, 20]);
    let (ya, yb) = (a.call((x.copy(),)).unwrap(), b.call((x,)).unwrap());
    let bits = |t: &Tensor| -> Vec<u32> {
        t.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&ya[0]), bits(&yb[0]));
    let mut ws = mlp8::Workspace::new().unwrap();
    let mut out = [0f32; 40];
    a.forward(&mut ws, &[1.0; 160], &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}
