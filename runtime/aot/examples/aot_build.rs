//! `cargo run --release -p ferrex-aot --example aot_build [BLOCKS]`: how long a crate
//! that compiles a transformer of BLOCKS blocks (24 by default; d_model 64, 4 heads,
//! feed-forward 256) ahead of time takes to build in release — a real `cargo build
//! --release` of a fresh crate holding one `include_program!`, then of one using the
//! `build.rs` `Builder`, in `target/aot-build/`. The crate's dependencies (ferrex-aot and
//! what it needs) come from the workspace's `target/` (`CARGO_TARGET_DIR`) and the
//! workspace's `Cargo.lock`, so what is timed is the crate itself: expanding the macro
//! (or running the builder) and compiling the generated code. A first run also builds
//! the dependencies in release; the second build of each crate is the figure.
//!
//! `… --example aot_build expand` times the generator instead (what the macro does when
//! it expands: the archive's structure read from the file, never its weights) on MLP
//! archives of 0.37, 33.6 and 134 MB, phase by phase; `… aot_build new` times `Model::new`
//! of the `Builder`'s module without and with build-time prepacking (`prepack()`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ferrex::Tensor;
use ferrex_examples::zoo::TransformerBlock;

/// Transformer blocks applied in turn.
#[ferrex::export_module]
struct Encoder {
    #[module]
    layers: ferrex::nn::Sequential,
}

#[ferrex::export_module]
impl Encoder {
    fn forward(&self, src: &Tensor) -> Tensor {
        self.layers.forward(src)
    }
}

const MAIN: &str = "fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = encoder::Model::new()?;
    let mut ws = encoder::Workspace::new()?;
    let x = vec![0.25f32; 2 * 16 * 64];
    let mut y = vec![0f32; 2 * 16 * 64];
    m.forward(&mut ws, &x, &mut y)?;
    println!(\"{}\", y.iter().sum::<f32>());
    Ok(())
}
";

/// Writes the crate `name` under `dir`: the archive, `Cargo.toml` (path dependency on
/// ferrex-aot, the workspace's release profile and lock file) and its sources.
fn write_crate(dir: &Path, name: &str, archive: &[u8], builder: bool) -> std::io::Result<()> {
    let aot = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = aot.join("../..").canonicalize()?;
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(dir.join("encoder.pt2"), archive)?;
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let dep = format!("ferrex-aot = {{ path = {:?} }}", aot.display().to_string());
    let build_dep = if builder {
        format!("build = \"build.rs\"\n\n[build-dependencies]\n{dep}\n")
    } else {
        String::new()
    };
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{build_dep}\n\
             [dependencies]\n{dep}\n\n[workspace]\n"
        ),
    )?;
    let module = if builder {
        std::fs::write(
            dir.join("build.rs"),
            "fn main() {\n    if let Err(e) = ferrex_aot::Builder::new(\"encoder.pt2\").write_to_out_dir() {\n        \
             println!(\"cargo::error={e}\");\n    }\n}\n",
        )?;
        "include!(concat!(env!(\"OUT_DIR\"), \"/encoder.rs\"));\n"
    } else {
        "ferrex_aot::include_program!(mod encoder = \"encoder.pt2\");\n"
    };
    std::fs::write(dir.join("src/main.rs"), format!("{module}\n{MAIN}"))
}

/// The CPU time (user + system, s) of this process's finished children and theirs
/// (`/proc/self/stat`'s `cutime` + `cstime`, at 100 ticks a second), on Linux; 0 elsewhere.
/// Unlike the wall time, it hardly grows when other builds share the machine.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which ends with the last `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |k: usize| -> f64 {
        rest.split_whitespace()
            .nth(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // cutime and cstime, fields 16 and 17 of the line: 13 and 14 counting from 0 after the name.
    (field(13) + field(14)) / 100.0
}

/// `cargo build --release` of the crate at `dir`, into `target`: its wall time and CPU
/// time, in s.
fn build(dir: &Path, target: &Path) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (start, cpu) = (Instant::now(), children_cpu());
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .status()?;
    if !status.success() {
        return Err(format!("building {} failed", dir.display()).into());
    }
    Ok((start.elapsed().as_secs_f64(), children_cpu() - cpu))
}

/// The median of 5 runs of `f`, in ms.
fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

/// `aot_build expand`: the generator's work (what `include_program!` does when it
/// expands) on MLP archives of 0.37, 33.6 and 134 MB, phase by phase, beside the full
/// load and compile it no longer does.
fn expansion() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("aot-expand-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (input, hidden, out) in [(64, 256, 32), (1024, 2048, 1024), (2048, 4096, 2048)] {
        ferrex::manual_seed(3);
        let m = ferrex_examples::zoo::Mlp::new(input, [hidden, hidden], out);
        let ep = ferrex::export(&m, (Tensor::randn([4, input]),))?;
        let path = dir.join("mlp.pt2");
        ferrex::save(&ep, &path)?;
        drop((m, ep));
        let size = std::fs::metadata(&path)?.len() as f64 / 1e6;
        let options = ferrex_aot::AotOptions {
            archive_path: "mlp.pt2".into(),
            display_name: "mlp.pt2".into(),
            regenerate: String::new(),
            steps_per_function: ferrex_aot::STEPS_PER_FUNCTION,
            embed_weights: true,
            prepack: None,
        };
        let sparse = ferrex_aot::read_structure(&path)?;
        let read = median_ms(|| drop(ferrex_aot::read_structure(&path)));
        let structure = ferrex::serialize::pt2::structure_from_bytes(&sparse, "mlp.pt2")?;
        let load = median_ms(|| {
            drop(ferrex::serialize::pt2::structure_from_bytes(
                &sparse, "mlp.pt2",
            ));
        });
        let plan = median_ms(|| drop(ferrex_runtime::plan_structure(&structure)));
        let total = median_ms(|| {
            let bytes = ferrex_aot::read_structure(&path);
            drop(bytes.map(|b| ferrex_aot::generate(&b, &options)));
        });
        // What the generator did before: the whole file read, loaded and compiled.
        let whole = std::fs::read(&path)?;
        let full_read = median_ms(|| drop(std::fs::read(&path)));
        let loaded = ferrex::serialize::pt2::from_bytes(&whole, "mlp.pt2")?;
        let full_load = median_ms(|| {
            drop(ferrex::serialize::pt2::from_bytes(&whole, "mlp.pt2"));
        });
        let compile = median_ms(|| drop(ferrex_runtime::compile(&loaded)));
        println!(
            "aot expand: MLP {input}-{hidden}-{hidden}-{out}, archive {size:.2} MB: generator \
             {total:.2} ms (reading the file's structure {read:.2} ms, loading the program's \
             structure {load:.2} ms, planning without data {plan:.2} ms, locating the weights \
             and emitting {:.2} ms); no longer done: reading the whole file {full_read:.1} ms, \
             loading it {full_load:.1} ms, compiling the plan {compile:.1} ms",
            total - read - load - plan
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `main` of a start-up crate: the median of 11 `Model::new` of its Builder's module.
const STARTUP_MAIN: &str = "include!(concat!(env!(\"OUT_DIR\"), \"/model.rs\"));

fn main() {
    let mut times: Vec<f64> = (0..11)
        .map(|_| {
            let t = std::time::Instant::now();
            let m = model::Model::new().expect(\"Model::new\");
            let elapsed = t.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(&m);
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(\"{}\", times[5]);
}
";

/// `aot_build new`: `Model::new` of the `Builder`'s module for the MLP 784-512-512-10
/// and the MLP 1024×4, without and with `prepack()` — real release builds of crates in
/// `target/aot-build/`, each run once (the median of 11 `Model::new` in it).
fn startup() -> Result<(), Box<dyn std::error::Error>> {
    ferrex::manual_seed(5);
    let mlp = ferrex_examples::zoo::Mlp::new(784, [512, 512], 10);
    let mlp = ferrex::export(&mlp, (Tensor::randn([1, 784]),))?;
    let mut layers = ferrex::nn::Sequential::new();
    for _ in 0..4 {
        layers = layers.append(ferrex::nn::Linear::new(1024, 1024));
    }
    let wide = ferrex::export(&Encoder { layers }, (Tensor::randn([1, 1024]),))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target");
    for (label, ep) in [("MLP 784-512-512-10", &mlp), ("MLP 1024x4", &wide)] {
        let archive = ferrex::serialize::pt2::to_bytes(ep, "model")?;
        let mut line = format!(
            "aot new: {label} ({:.1} MB archive):",
            archive.len() as f64 / 1e6
        );
        for prepack in [false, true] {
            let slug: String = (label.chars())
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let name = format!(
                "aot_new_{slug}_{}",
                if prepack { "prepacked" } else { "packing" }
            );
            let dir = target.join("aot-build").join(&name);
            write_crate(&dir, &name, &archive, true)?;
            let builder = if prepack { ".prepack()" } else { "" };
            std::fs::write(
                dir.join("build.rs"),
                format!(
                    "fn main() {{\n    let b = ferrex_aot::Builder::new(\"encoder.pt2\").module(\"model\"){builder};\n    \
                     if let Err(e) = b.write_to_out_dir() {{\n        println!(\"cargo::error={{e}}\");\n    }}\n}}\n"
                ),
            )?;
            std::fs::write(dir.join("src/main.rs"), STARTUP_MAIN)?;
            build(&dir, &target)?;
            let out = Command::new(target.join("release").join(&name)).output()?;
            let ms: f64 = String::from_utf8(out.stdout)?.trim().parse()?;
            let how = if prepack {
                "prepacked by the build script"
            } else {
                "packing"
            };
            line.push_str(&format!(" Model::new {ms:.2} ms {how};"));
        }
        println!("{}", line.trim_end_matches(';'));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks: usize = match std::env::args().nth(1) {
        Some(mode) if mode == "expand" => return expansion(),
        Some(mode) if mode == "new" => return startup(),
        Some(n) => n.parse()?,
        None => 24,
    };
    ferrex::manual_seed(7);
    let mut layers = ferrex::nn::Sequential::new();
    for _ in 0..blocks {
        layers = layers.append(TransformerBlock::new(64, 4, 256));
    }
    let ep = ferrex::export(&Encoder { layers }, (Tensor::randn([2, 16, 64]),))?;
    let archive = ferrex::serialize::pt2::to_bytes(&ep, "encoder")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target");
    let work = target.join("aot-build");
    let options = ferrex_aot::AotOptions {
        archive_path: "encoder.pt2".into(),
        display_name: "encoder.pt2".into(),
        regenerate: String::new(),
        steps_per_function: ferrex_aot::STEPS_PER_FUNCTION,
        embed_weights: true,
        prepack: None,
    };
    let code = ferrex_aot::generate(&archive, &options)?;
    println!(
        "aot build: {blocks} transformer blocks, {} steps, archive {} bytes, generated code {} lines, {} bytes",
        code.steps,
        archive.len(),
        code.code.lines().count(),
        code.code.len()
    );
    for (name, builder) in [("aot_build_macro", false), ("aot_build_builder", true)] {
        let dir: PathBuf = work.join(name);
        write_crate(&dir, name, &archive, builder)?;
        let first = build(&dir, &target)?;
        // A changed archive: the crate (and only it) is built again, as after an export.
        std::fs::write(dir.join("encoder.pt2"), &archive)?;
        let src = dir.join("src/main.rs");
        let text = std::fs::read_to_string(&src)?;
        std::fs::write(&src, format!("{text}\n// rebuilt\n"))?;
        let again = build(&dir, &target)?;
        let how = if builder {
            "Builder (build.rs)"
        } else {
            "include_program!"
        };
        println!(
            "aot build: {how}: cargo build --release of the crate {:.1} s, {:.1} s of CPU \
             (first build, dependencies included when not yet built: {:.1} s, {:.1} s of CPU)",
            again.0, again.1, first.0, first.1
        );
    }
    Ok(())
}
