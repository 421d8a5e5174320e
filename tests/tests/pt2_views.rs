//! In-place ops that write through views in PyTorch 2.15 archives
//! (`tests/data/pt2_views/`, see its README): the reader functionalizes a write into a
//! `select` / `slice` view as a `select_scatter` / `slice_scatter` into the viewed tensor
//! (as PyTorch's core IR records it), takes stale views again, and both runners give
//! PyTorch's outputs and buffer mutations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;

use common::joined;
use common::pt2_io::{io_file, leaves, max_diff};
use expect_test::expect;
use ferrex::Tensor;

const ATOL: f64 = 1e-5;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/pt2_views/{file}"))
}

fn io(name: &str) -> HashMap<String, Tensor> {
    io_file(&data(&format!("{name}.io.safetensors")))
}

fn assert_close(got: &Tensor, want: &Tensor, what: &str) {
    let diff = max_diff(got, want, what);
    assert!(diff <= ATOL, "{what}: max diff {diff}");
}

#[test]
fn writes_through_views_give_pytorchs_values_in_both_irs_with_both_runners() {
    for name in ["kvcache", "inplace_view", "stale_view", "reshaping_views"] {
        let io = io(name);
        for ir in ["", ".core"] {
            let file = data(&format!("{name}{ir}.pt2"));
            for prefix in ["", "b_"] {
                for compiled in [false, true] {
                    // Fresh each time: a call writes the buffer back.
                    let ep = ferrex::load(&file).unwrap_or_else(|e| panic!("{e}"));
                    let inputs = [io[&format!("{prefix}in0")].clone()];
                    let what = format!("{name}{ir} [{prefix}] compiled={compiled}");
                    let (outs, state) = if compiled {
                        let c = ferrex_runtime::load(&file).unwrap();
                        let outs = c.call_flat(&leaves(&ep, &inputs)).unwrap();
                        (outs, c.program().state_dict().clone())
                    } else {
                        let outs = ep.module().call_flat(&leaves(&ep, &inputs)).unwrap();
                        (outs, ep.state_dict().clone())
                    };
                    for (j, got) in outs.iter().enumerate() {
                        assert_close(got, &io[&format!("{prefix}out{j}")], &what);
                    }
                    if let Some(want) = io.get(&format!("{prefix}mut0")) {
                        assert_close(state.get("cache").unwrap(), want, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn the_default_ir_becomes_the_scatters_pytorchs_core_ir_has() {
    let ep = ferrex::load(data("kvcache.pt2")).unwrap();
    let code: Vec<String> = ep
        .graph_code(0)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("let ") || l.starts_with("return"))
        .map(String::from)
        .collect();
    expect![[r#"
        let slice_1: f32[2, 2, 4] = aten::slice.Tensor(b_cache, 1, 0, 2);
        let copy_: f32[2, 2, 4] = aten::copy.default(slice_1, x);
        let slice_scatter: f32[2, 8, 4] = aten::slice_scatter.default(b_cache, copy_, 1, 0, 2);
        let sum_1: f32[2, 4] = aten::sum.dim_IntList(slice_scatter, [1]);
        return (slice_scatter, sum_1);
    "#]]
    .assert_eq(&joined(&code));
    let spec = &ep.graph_signature().output_specs[0];
    assert_eq!(spec.kind, ferrex::program::OutputKind::BufferMutation);
    assert_eq!(spec.target.as_deref(), Some("cache"));
    // A view read after its tensor changed is taken again from the new contents.
    let stale = ferrex::load(data("stale_view.pt2")).unwrap().graph_code(0);
    assert!(
        stale.contains("let select_1: f32[4] = aten::select.int(add_, 0, 0);"),
        "{stale}"
    );
}

/// Writes through `t`, `view`, `unsqueeze` and `permute` views become the write-back
/// into the viewed value and the view op's inverse, as ferrex's own export records them
/// (`ops::view_inverse`).
#[test]
fn writes_through_reshaping_views_are_written_back_by_the_inverse_view() {
    let code = ferrex::load(data("reshaping_views.pt2"))
        .unwrap()
        .graph_code(0);
    for line in [
        "let select_scatter: f32[4, 3] = aten::select_scatter.default(t, mul_, 0, 1);",
        "let t_1: f32[3, 4] = aten::t.default(select_scatter);",
        "let slice_scatter: f32[12] = aten::slice_scatter.default(view, fill_, 0, 2, 5);",
        "let view_1: f32[3, 4] = aten::view.default(slice_scatter, [3, 4]);",
        "let squeeze: f32[3, 4] = aten::squeeze.dim(select_scatter_2, 0);",
        "let permute_1: f32[3, 4] = aten::permute.default(select_scatter_3, [1, 0]);",
    ] {
        assert!(code.contains(line), "{line}\n{code}");
    }
}
