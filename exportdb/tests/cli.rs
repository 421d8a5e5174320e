//! The `exportdb` binary: listing, showing, filtering by tag, writing the HTML
//! catalogue, and errors as messages with a non-zero exit status.

use std::path::PathBuf;
use std::process::{Command, Output};

fn exportdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exportdb"))
        .args(args)
        .output()
        .expect("the exportdb binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory under cargo's temporary directory for integration tests.
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn list_names_every_case() {
    let o = exportdb(&["list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let cases = ferrex_exportdb::cases();
    assert!(
        text.starts_with(&format!(
            "{} cases: 42 supported, 10 not supported\n",
            cases.len()
        )),
        "{text}"
    );
    for c in &cases {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(c.name)),
            "{} is listed",
            c.name
        );
    }
    assert!(text.contains("assume_constant_result           supported"));
    assert!(text.contains("mut_self_forward                 not supported (compile time)"));
}

#[test]
fn show_prints_code_tags_verdict_and_program() {
    let o = exportdb(&["show", "cond_predicate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(
            "cond_predicate\ntags: torch.cond, torch.dynamic-shape\nverdict: SUPPORTED\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("let pred = x.dim() > 2 && x.size(2) > 10;"),
        "{text}"
    );
    assert!(
        text.contains("exported program:\nExportedProgram:"),
        "{text}"
    );
    assert!(
        text.contains("let sin: f32[6, 4, 3] = aten::sin.default(x);"),
        "{text}"
    );
    assert!(!text.contains("inventory::submit!"), "{text}");
    // PyTorch's verdict and program beside ferrex's, with the op differences.
    assert!(
        text.contains(
            "pytorch 2.15: SUPPORTED\nExportedProgram:\n    class GraphModule(torch.nn.Module):"
        ),
        "{text}"
    );
    assert!(
        text.contains("op differences:\nthe same ops as PyTorch\n"),
        "{text}"
    );
    let o = exportdb(&["show", "constrain_as_size_example"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("let item: Sym(u0) = aten::item.default(x);"),
        "{text}"
    );
    assert!(
        text.contains("op differences:\nthe same ops as PyTorch\n"),
        "{text}"
    );

    let o = exportdb(&["show", "mut_self_forward"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("verdict: NOT SUPPORTED (rejected at compile time)"),
        "{text}"
    );
    assert!(
        text.contains("fn forward(&mut self, x: &Tensor) -> Tensor {"),
        "{text}"
    );
    assert!(!text.contains("fn main()"), "{text}");
    assert!(text.contains("pytorch: none (a Rust-only case)"), "{text}");
    assert!(
        text.contains("compile-time diagnostic (strict export):\nerror: graph break: `forward` takes `&mut self`"),
        "{text}"
    );

    let o = exportdb(&["show", "cond_operands"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("let cond = cond(gt, true_graph_0, false_graph_0, (x, y));"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn show_prints_the_python_original_after_the_rust_code() {
    let o = exportdb(&["show", "cond_predicate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // PyTorch's Python original right after the Rust code, then the link to its docs.
    assert!(
        text.contains(
            "python original (PyTorch 2.15, torch/_export/db/examples/cond_predicate.py):\n\
             # mypy: allow-untyped-defs\nimport torch\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("        pred = x.dim() > 2 and x.shape[2] > 10\n"),
        "{text}"
    );
    let code_at = text.find("code:\n").unwrap_or(usize::MAX);
    let python_at = text.find("python original (").unwrap_or(0);
    let program_at = text.find("exported program:").unwrap_or(0);
    assert!(code_at < python_at && python_at < program_at, "{text}");
    assert!(
        text.contains(
            "pytorch docs: https://pytorch.org/docs/stable/generated/exportdb/index.html#cond-predicate"
        ),
        "{text}"
    );
}

#[test]
fn tag_filters_and_tags_lists() {
    let o = exportdb(&["tag", "torch.map"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(names, ["dynamic_shape_map"]);

    let o = exportdb(&["tags"]);
    assert!(o.status.success());
    assert!(stdout(&o).lines().any(|l| l.starts_with("torch.cond ")));
}

#[test]
fn errors_are_messages_with_a_non_zero_exit() {
    let o = exportdb(&["show", "no_such_case"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: no case is called `no_such_case`; `exportdb list` shows every case\n"
    );

    let o = exportdb(&["show", "cond_pred"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: no case is called `cond_pred`; did you mean cond_predicate?\n"
    );

    let o = exportdb(&["tag", "python.nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: no case is tagged `python.nothing`; the tags are: "));

    let o = exportdb(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: unknown command `frobnicate`\n\nexportdb — browse"));

    let o = exportdb(&["show"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: `show` takes exactly one argument"));

    // A directory that cannot be created: a path below a regular file.
    let dir = temp_dir("exportdb-not-a-dir");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("file");
    std::fs::write(&file, "x").expect("a file");
    let target = file.join("site");
    let o = exportdb(&["html", target.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("error: cannot write `{}`: ", target.display())),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn html_writes_an_index_and_a_page_per_case() {
    let dir = temp_dir("exportdb-html");
    let o = exportdb(&["html", dir.to_str().expect("utf-8 path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cases = ferrex_exportdb::cases();
    assert_eq!(
        stdout(&o),
        format!(
            "wrote {} files into {} (open {})\n",
            cases.len() + 1,
            dir.display(),
            dir.join("index.html").display()
        )
    );
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(index.starts_with("<!DOCTYPE html>"));
    for c in &cases {
        assert!(
            index.contains(&format!("<a href=\"{}.html\">{}</a>", c.name, c.name)),
            "the index links {}",
            c.name
        );
        let page = std::fs::read_to_string(dir.join(format!("{}.html", c.name)))
            .unwrap_or_else(|e| panic!("{}.html: {e}", c.name));
        assert!(page.contains(&format!("<h1>{}</h1>", c.name)));
    }
    assert!(index.contains("<h3 id=\"tag-torch-cond\">torch.cond</h3>"));

    // Code and programs are escaped.
    let page = std::fs::read_to_string(dir.join("user_input_mutation.html")).expect("page");
    assert!(page.contains("fn forward(&amp;self, x: &amp;Tensor) -&gt; Tensor {"));
    assert!(page.contains("mul: USER_INPUT_MUTATION target=&#39;x&#39;"));
    assert!(!page.contains("&self"));
    let page = std::fs::read_to_string(dir.join("mut_self_forward.html")).expect("page");
    assert!(page.contains("error: graph break: `forward` takes `&amp;mut self`"));
    assert!(page.contains("<pre class=\"wrap\"><code>error: graph break:"));
    assert!(page.contains("<span class=\"origin rust\">Rust-only</span>"));
    assert!(!page.contains("fn main()"));

    // The index: a search box, the supported cases apart from the others, PyTorch's
    // cases marked apart from the Rust-only ones.
    assert!(index.contains("<input id=\"search\" type=\"search\""));
    assert!(index.contains("<h2 id=\"supported\">Supported (42)</h2>"));
    assert!(index.contains("<h2 id=\"not-supported\">Not supported (10)</h2>"));
    let supported_at = index.find("id=\"supported\"").unwrap_or(0);
    let rejected_at = index.find("id=\"not-supported\"").unwrap_or(0);
    let row = index
        .find("<a href=\"mut_self_forward.html\">")
        .unwrap_or(0);
    assert!(supported_at < rejected_at && rejected_at < row);
    assert!(index.contains(
        "<td><a href=\"cond_predicate.html\">cond_predicate</a></td>\
         <td><span class=\"origin pytorch\">PyTorch</span></td>"
    ));
    assert!(index.contains("Of PyTorch&#39;s 36 cases, ferrex supports 36 and PyTorch 2.15 35"));
    // Descriptions are rendered markdown.
    let page = std::fs::read_to_string(dir.join("constrain_as_size_example.html")).expect("page");
    assert!(page.contains("an <em>unbacked</em> symbol <code>u0</code>"));
    assert!(page.contains("<h2>PyTorch 2.15 (Python)</h2>"));
    assert!(page.contains("item: &quot;Sym(u0)&quot; = torch.ops.aten.item.default(x)"));
    assert!(page.contains("<h3>Op differences</h3>"));
    // The Python original beside the Rust code, escaped, before the programs.
    assert!(page.contains("<p class=\"file\">exportdb/src/cases/constrain_as_size_example.rs</p>"));
    assert!(page
        .contains("<p class=\"file\">torch/_export/db/examples/constrain_as_size_example.py</p>"));
    assert!(page.contains(
        "        a = x.item()\n        torch._check(a &gt;= 0)\n        torch._check(a &lt;= 5)\n        return torch.zeros((a, 5))\n"
    ));
    let rust_at = page.find("<h2>ferrex (Rust)</h2>").unwrap_or(0);
    let python_at = page.find("<h2>PyTorch 2.15 (Python)</h2>").unwrap_or(0);
    let program_at = page.find("<h3>PyTorch&#39;s program</h3>").unwrap_or(0);
    assert!(0 < rust_at && rust_at < python_at && python_at < program_at);
    // Every PyTorch case's page carries its Python original.
    for c in cases.iter().filter(|c| c.pytorch().is_some()) {
        let page = std::fs::read_to_string(dir.join(format!("{}.html", c.name))).expect("page");
        let python = c.pytorch().and_then(|p| p.python).unwrap_or_default();
        assert!(!python.is_empty(), "{} has its Python original", c.name);
        assert!(
            page.contains(&ferrex_exportdb::html::escape(python.trim_end())),
            "{}.html shows its Python original",
            c.name
        );
    }
}
