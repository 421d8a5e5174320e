//! Hostile sizes and arguments through the public tensor API: each is an error value
//! (never a panic, an abort or a hang), and integers are exact. Issue-10 classes: sizes
//! that overflow or exceed the memory limit, dims of 0-dim tensors, convolution
//! parameters that wrap around, empty tensors with huge dims, i64 through f64, in-place
//! ops that fail, `bool - bool`.

use ferrex::{Dim, DynamicShapes, Tensor, TensorError};

/// The error of `t`, which must have failed.
fn error_of(t: &Tensor) -> TensorError {
    match t.error() {
        Some(e) => e,
        None => panic!("expected an error, got {:?}", t.sizes()),
    }
}

/// The message of an out-of-memory error (and that it is one).
fn out_of_memory(t: &Tensor) -> String {
    match error_of(t) {
        TensorError::OutOfMemory { error, .. } => error.to_string(),
        other => panic!("expected OutOfMemory, got {other}"),
    }
}

#[test]
fn sizes_that_overflow_are_out_of_memory_errors() {
    assert_eq!(
        out_of_memory(&Tensor::zeros([1i64 << 62, 4])),
        "out of memory: the buffer size overflows"
    );
    let up = Tensor::ones([1, 1, 2, 2]).upsample_nearest2d(Some(&[1 << 40, 1 << 40]), None);
    assert_eq!(
        out_of_memory(&up),
        "out of memory: the buffer size overflows"
    );
}

#[test]
fn sizes_above_the_memory_limit_are_errors_not_aborts() {
    let limit = ferrex_kernels_limit();
    let cases = [
        ("zeros", Tensor::zeros([1i64 << 40])),
        ("expand", Tensor::ones([1, 1]).expand([1i64 << 40, 1 << 20])),
        ("repeat", Tensor::ones([2, 3]).repeat([1i64 << 30, 1 << 20])),
        ("pad", Tensor::ones([2, 3]).pad([1i64 << 40, 0], 0.0)),
        (
            "upsample",
            Tensor::ones([1, 1, 2, 2]).upsample_nearest2d(None, Some(&[1e9, 1e9])),
        ),
        (
            "conv padding",
            Tensor::ones([1, 1, 4, 4]).conv2d(
                &Tensor::ones([1, 1, 3, 3]),
                None,
                &[1, 1],
                &[1 << 20, 1 << 20],
                &[1, 1],
                1,
            ),
        ),
    ];
    for (name, t) in cases {
        let msg = out_of_memory(&t);
        assert!(
            msg.starts_with("out of memory: a buffer of ")
                && msg.ends_with(&format!(
                    "bytes exceeds the limit of {limit} bytes (set FERREX_MEMORY_LIMIT to change it)"
                )),
            "{name}: {msg}"
        );
    }
}

/// The limit as `ferrex` reports it in messages (the machine's memory by default).
fn ferrex_kernels_limit() -> u64 {
    let msg = out_of_memory(&Tensor::zeros([1i64 << 50]));
    let tail = msg.split("the limit of ").nth(1).unwrap_or_default();
    tail.split(' ')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap_or(0)
}

#[test]
fn convolution_parameters_that_overflow_are_errors() {
    let x = Tensor::ones([1, 1, 4, 4]);
    let w = Tensor::ones([1, 1, 3, 3]);
    let huge_pad = x.conv2d(&w, None, &[1, 1], &[i64::MAX / 2, 1], &[1, 1], 1);
    assert_eq!(
        out_of_memory(&huge_pad),
        "out of memory: the buffer size overflows"
    );
    let huge_dilation = x.conv2d(&w, None, &[1, 1], &[0, 0], &[i64::MAX, 1], 1);
    assert!(
        error_of(&huge_dilation)
            .to_string()
            .ends_with("Kernel size can't be greater than actual input size"),
        "{}",
        error_of(&huge_dilation)
    );
    let huge_groups =
        Tensor::ones([1, 2, 4, 4]).conv2d(&w, None, &[1, 1], &[0, 0], &[1, 1], i64::MAX);
    assert!(error_of(&huge_groups).to_string().contains("Given groups="));
}

#[test]
fn empty_tensors_with_huge_dims_are_empty_at_once() {
    let z = Tensor::zeros([1i64 << 40, 0]);
    assert_eq!(z.to_vec::<f32>().unwrap(), Vec::<f32>::new());
    // 2^40 empty matrices: the result is made from its shape, not by looping.
    let mm = Tensor::zeros([1i64 << 40, 0, 3]).matmul(&Tensor::zeros([3, 2]));
    assert_eq!(mm.shape(), [1usize << 40, 0, 2]);
    assert_eq!(mm.to_vec::<f32>().unwrap(), Vec::<f32>::new());
}

#[test]
fn dims_of_a_0_dim_tensor_wrap_as_in_pytorch() {
    let s = Tensor::scalar(3.0f32);
    for d in [0, -1] {
        assert_eq!(s.sum_dim(&[d], false).to_vec::<f32>().unwrap(), [3.0]);
        assert_eq!(s.sum_dim(&[d], true).shape(), Vec::<usize>::new());
        assert_eq!(s.mean_dim(&[d], false).to_vec::<f32>().unwrap(), [3.0]);
        assert_eq!(s.roll(&[1], &[d]).to_vec::<f32>().unwrap(), [3.0]);
    }
    assert_eq!(
        error_of(&s.sum_dim(&[1], false))
            .to_string()
            .split(": ")
            .last(),
        Some("dimension out of range (expected to be in range of [-1, 0], but got 1)")
    );
    assert_eq!(
        error_of(&s.select(0, 0)).to_string().split(": ").last(),
        Some("select() cannot be applied to a 0-dim tensor.")
    );
    // `size(d)` of a 0-dim or failed tensor is 0, not a panic.
    assert_eq!(s.size(0).as_int(), Some(0));
    assert_eq!(
        (Tensor::ones([2, 3]) + Tensor::ones([4])).size(0).as_int(),
        Some(0)
    );
}

#[test]
fn from_vec_with_data_that_does_not_fill_the_shape_is_a_failed_tensor() {
    let short = Tensor::from_vec(vec![1.0f32, 2.0], [2, 3]);
    assert_eq!(
        short.to_vec::<f32>().unwrap_err().to_string(),
        "Tensor::from_vec: 2 elements do not fill shape [2, 3] (6 elements)"
    );
    // (2^62 + 1) * 4 overflows usize and wraps to 4, the length of the data: an error,
    // not a tensor built on the wrapped product.
    let huge = Tensor::from_vec(vec![0i64; 4], [(1usize << 62) + 1, 4]);
    assert_eq!(
        huge.error().map(|e| e.to_string()).as_deref(),
        Some(
            "Tensor::from_vec: the element count of shape [4611686018427387905, 4] overflows usize"
        )
    );
    // A later op passes the error on.
    assert_eq!(
        (short + 1.0).error().map(|e| e.to_string()).as_deref(),
        Some("Tensor::from_vec: 2 elements do not fill shape [2, 3] (6 elements)")
    );
}

#[test]
fn i64_values_never_pass_through_f64() {
    let v = (1i64 << 53) + 1; // not an f64
    let t = Tensor::from_vec(vec![v], [1]);
    assert_eq!(t.to_vec::<i64>().unwrap(), [v]);
    assert_eq!(t.item::<i64>().unwrap(), v);
    assert_eq!(Tensor::full([2], v).to_vec::<i64>().unwrap(), [v, v]);
    assert_eq!(t.add(2i64).to_vec::<i64>().unwrap(), [v + 2]);
    assert_eq!(t.mul(3i64).to_vec::<i64>().unwrap(), [3 * v]);
    assert_eq!(t.add_scaled(&t, 2.0).to_vec::<i64>().unwrap(), [3 * v]);
    assert_eq!(
        Tensor::arange_step(v, v + 3, 1).to_vec::<i64>().unwrap(),
        [v, v + 1, v + 2]
    );
    let pair = Tensor::from_vec(vec![v, 2], [2]);
    assert_eq!(pair.sum().item::<i64>().unwrap(), v + 2);
    assert_eq!(pair.cumsum(0).to_vec::<i64>().unwrap(), [v, v + 2]);
    let m = Tensor::from_vec(vec![v, 1], [1, 2]);
    let n = Tensor::from_vec(vec![1i64, 2], [2, 1]);
    assert_eq!(m.mm(&n).to_vec::<i64>().unwrap(), [v + 2]);
    // Integer overflow wraps as in PyTorch, never a panic.
    let big = Tensor::from_vec(vec![i64::MAX, i64::MAX], [2]);
    assert_eq!(big.sum().item::<i64>().unwrap(), -2);
}

#[test]
fn a_failed_in_place_op_leaves_its_tensor_as_it_was() {
    let x = Tensor::ones([2, 3]);
    let r = x.add_(Tensor::ones([4]));
    assert!(error_of(&r).to_string().ends_with(
        "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
    ));
    assert_eq!(x.to_vec::<f32>().unwrap(), [1.0; 6]);
    let r = x.set_item_(&[5, 5], 2.0);
    assert!(r.error().is_some());
    assert_eq!(x.to_vec::<f32>().unwrap(), [1.0; 6]);
    // A good one still works.
    x.add_(1.0);
    assert_eq!(x.to_vec::<f32>().unwrap(), [2.0; 6]);
}

#[test]
fn subtracting_bools_is_an_error_as_in_pytorch() {
    let m = Tensor::full([2], true);
    let msg = error_of(&m.sub(&m)).to_string();
    assert!(
        msg.ends_with("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."),
        "{msg}"
    );
    let msg = error_of(&m.sub(1i64)).to_string();
    assert!(msg.contains("with a bool tensor is not supported"), "{msg}");
}

#[ferrex::export_module]
struct Scaled {}

#[ferrex::export_module]
impl Scaled {
    fn forward(&self, x: &ferrex::Tensor) -> ferrex::Tensor {
        x * 2
    }
}

#[test]
fn a_derived_dim_with_a_zero_scale_is_an_export_error() {
    let batch = Dim::new("batch");
    let zero = std::hint::black_box(0);
    let shapes = DynamicShapes::new().input("x", [(0, &batch * zero)]);
    let err = ferrex::Exporter::new(&Scaled {}, (Tensor::ones([4]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "export failed: `0*batch` (for x.size()[0]): a derived dim needs a positive scale"
    );
}

#[test]
fn extreme_integer_arguments_give_results_or_errors() {
    let x = Tensor::ones([3, 3]);
    // One piece holds everything.
    let pieces = x.split(i64::MAX, 0);
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].shape(), [3, 3]);
    // A stride past the input: one output position.
    let y = x
        .unsqueeze(0)
        .conv1d(&Tensor::ones([1, 3, 1]), None, &[i64::MAX], &[0], &[1], 1);
    assert_eq!(y.shape(), [1, 1, 1]);
    assert_eq!(y.to_vec::<f32>().unwrap(), [3.0]);
    // A dilation no input can hold.
    let p = x.unsqueeze(0).unsqueeze(0).max_pool2d(
        &[2, 2],
        &[1, 1],
        &[0, 0],
        &[i64::MAX, i64::MAX],
        true,
    );
    assert!(p.error().is_some());
    // As many empty chunks as asked for, as far as memory allows.
    let empty = Tensor::zeros([0, 3]);
    assert_eq!(empty.chunk(4, 0).len(), 4);
    let many = empty.chunk(i64::MAX, 0);
    let msg = error_of(&many[0]).to_string();
    assert!(
        msg.contains("chunk(9223372036854775807): out of memory"),
        "{msg}"
    );
    // A crop larger than the input leaves only padding.
    let cropped = Tensor::ones([1, 1]).pad([-3, 3], 0.0);
    assert_eq!(cropped.to_vec::<f32>().unwrap(), [0.0]);
    // Split lengths whose sum overflows.
    let sizes = [i64::MAX, i64::MAX, 2].map(ferrex::SymInt::from).to_vec();
    let s = Tensor::call_op(
        &ferrex::ops::shape::SPLIT_WITH_SIZES,
        vec![
            ferrex::ops::Value::Tensor(x.clone()),
            ferrex::ops::Value::IntList(sizes),
            ferrex::ops::Value::Int(0.into()),
        ],
    );
    assert!(error_of(&s[0])
        .to_string()
        .contains("split_with_sizes expects split_sizes to sum exactly to 3"));
}

#[ferrex::export_module]
struct Huge {}

#[ferrex::export_module]
impl Huge {
    fn forward(&self, x: &ferrex::Tensor) -> ferrex::Tensor {
        x + ferrex::Tensor::zeros([1i64 << 40])
    }
}

#[test]
fn an_exported_program_with_a_huge_size_fails_in_both_runners() {
    // Export records shapes only; running it needs 4 TiB.
    let ep = ferrex::export(&Huge {}, (Tensor::ones([1]),)).unwrap();
    let err = ep.module().call((Tensor::ones([1]),)).unwrap_err();
    assert!(err.to_string().contains("out of memory"), "{err}");
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let err = compiled.call((Tensor::ones([1]),)).unwrap_err();
    assert!(err.to_string().contains("out of memory"), "{err}");
}

#[ferrex::export_module]
struct Lookup {
    emb: ferrex::nn::Embedding,
}

#[ferrex::export_module]
impl Lookup {
    fn forward(&self, ids: &ferrex::Tensor) -> ferrex::Tensor {
        self.emb.forward(ids)
    }
}

/// An id outside the table is the same error eager, interpreted and compiled (one
/// gather kernel), whichever its sign.
#[test]
fn an_embedding_id_outside_the_table_is_an_error_in_every_runner() {
    let m = Lookup {
        emb: ferrex::nn::Embedding::new(10, 4),
    };
    let ids = |v: Vec<i64>| Tensor::from_vec(v, [2, 2]);
    let ep = ferrex::export(&m, (ids(vec![0, 1, 2, 3]),)).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    for (id, message) in [
        (
            10,
            "embedding: index 10 is out of range in self (weight has 10 rows)",
        ),
        (
            -1,
            "embedding: index -1 is out of range in self (weight has 10 rows)",
        ),
    ] {
        let bad = ids(vec![0, id, 2, 3]);
        let eager = error_of(&m.forward(&bad)).to_string();
        assert!(eager.contains(message), "{eager}");
        let interpreted = ep.module().call((bad.clone(),)).unwrap_err().to_string();
        assert!(interpreted.contains(message), "{interpreted}");
        let err = compiled.call((bad,)).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
    // In range: the table's rows.
    let out = compiled.call((ids(vec![9, 0, 9, 1]),)).unwrap();
    let eager = m.forward(&ids(vec![9, 0, 9, 1]));
    let eager = eager.to_vec::<f32>().unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), eager);
    let weight = m.emb.weight.to_vec::<f32>().unwrap();
    assert_eq!(eager[..4], weight[36..40]);
}

#[ferrex::export_module]
struct Fourth {}

#[ferrex::export_module]
impl Fourth {
    fn forward(&self, x: &ferrex::Tensor) -> ferrex::Tensor {
        let n = x.size(0);
        ferrex::Tensor::zeros([n.mul(&n).mul(&n).mul(&n)])
    }
}

#[test]
fn a_size_that_overflows_at_run_time_is_an_error_not_the_example_size() {
    let n = Dim::new("n");
    let ep = ferrex::Exporter::new(&Fourth {}, (Tensor::ones([2]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, n)]))
        .run()
        .unwrap();
    let out = ep.module().call((Tensor::ones([3]),)).unwrap();
    assert_eq!(out[0].shape(), [81]);
    // 65536^4 = 2^64 does not fit: refused, never computed as the example's 16.
    let big = Tensor::ones([1 << 16]);
    let err = ep.module().call((big.clone(),)).unwrap_err();
    assert!(err.to_string().contains("out of memory"), "{err}");
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert!(compiled.call((big,)).is_err());
}

#[test]
fn the_size_of_a_0_dim_tensor_is_an_error_in_sym_size() {
    let out = Tensor::call_op(
        &ferrex::ops::sym::SYM_SIZE,
        vec![
            ferrex::ops::Value::Tensor(Tensor::scalar(1.0f32)),
            ferrex::ops::Value::Int(0.into()),
        ],
    );
    assert!(error_of(&out[0])
        .to_string()
        .ends_with("sym_size.int: dimension specified as 0 but tensor has no dimensions"));
}
