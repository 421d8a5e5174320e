//! Allocations of the typed `forward` of the generated MLP, counted by a counting global
//! allocator (this test binary's only test, so nothing else allocates meanwhile).
//!
//! The generated steps, the fused epilogues and the bias broadcasts allocate nothing, and
//! `ferrex_kernels::gemm_packed` packs the left operand into a per-thread scratch buffer
//! kept between products: after the first call, a typed `forward` allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[rustfmt::skip]
#[path = "generated/mlp_b8.rs"]
mod mlp_b8;

#[test]
fn typed_forward_allocations() {
    let m = mlp_b8::Model::new().unwrap();
    let mut ws = mlp_b8::Workspace::new().unwrap();
    let x = vec![0.5f32; 160];
    let mut out = vec![0f32; 40];
    m.forward(&mut ws, &x, &mut out).unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..10 {
        m.forward(&mut ws, &x, &mut out).unwrap();
    }
    let per_call = (ALLOCATIONS.load(Ordering::Relaxed) - before) / 10;
    println!("allocations per forward: {per_call}");
    let source = include_str!("generated/mlp_b8.rs");
    let products = source.matches("::ferrex_aot::rt::gemm_packed(").count();
    assert_eq!(products, 3);
    assert_eq!(per_call, 0, "the typed forward allocated");
}
