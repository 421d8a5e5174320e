//! The committed fixtures and generated modules are what the zoo and the generator
//! give today: this test fails when either is stale. `FERREX_BLESS=1 cargo test -p
//! ferrex-aot --test fixtures` writes them again.

mod support;

use support::{archive, generate, generated, root, FIXTURES};

#[test]
fn fixtures_and_generated_code_are_fresh() {
    let bless = std::env::var_os("FERREX_BLESS").is_some();
    let mut stale = Vec::new();
    for f in FIXTURES
        .iter()
        .chain(support::DYNAMIC)
        .chain(support::control::CONTROL)
    {
        let ep = (f.export)();
        let bytes = ferrex::serialize::pt2::to_bytes(&ep, f.name).expect("saving the fixture");
        let path = root().join(archive(f.name));
        if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            if bless {
                std::fs::write(&path, &bytes).expect("writing the fixture");
            } else {
                stale.push(path.display().to_string());
            }
        }
        let code = generate(f.name);
        let path = root().join(generated(f.name));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(&code[..]) {
            if bless {
                std::fs::write(&path, &code).expect("writing the generated code");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    // The transformer block split into functions of 5 steps (`part0` … `part3`).
    let code = support::generate_split("transformer_b2", "transformer_b2_parts", 5);
    let path = root().join(generated("transformer_b2_parts"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(&code[..]) {
        if bless {
            std::fs::write(&path, &code).expect("writing the generated code");
        } else {
            stale.push(path.display().to_string());
        }
    }
    // Prepacked modules (the `Builder`'s `prepack()`), one with a layout no build has.
    for &(name, out, layout) in support::PREPACKED {
        let (code, blob) = support::generate_prepacked(name, out, layout);
        let blob_path = root().join(format!("tests/generated/{name}.prepacked"));
        for (path, bytes) in [
            (root().join(generated(out)), code.into_bytes()),
            (blob_path, blob),
        ] {
            if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                if bless {
                    std::fs::write(&path, &bytes).expect("writing the generated code");
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
    }
    let newer = support::newer_format();
    let path = root().join(archive("newer_format"));
    if std::fs::read(&path).ok().as_deref() != Some(&newer[..]) {
        if bless {
            std::fs::write(&path, &newer).expect("writing the fixture");
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale (run `FERREX_BLESS=1 cargo test -p ferrex-aot --test fixtures`): {stale:?}"
    );
}

/// What the front ends read of an archive (its structure, the weights left zeros) gives
/// the code the whole file gives, for every fixture.
#[test]
fn the_structure_read_from_the_file_generates_the_same_code() {
    // Fixtures whose weights were left unread (those with weights).
    let mut unread = 0;
    for f in FIXTURES
        .iter()
        .chain(support::DYNAMIC)
        .chain(support::control::CONTROL)
    {
        let path = root().join(archive(f.name));
        let whole = std::fs::read(&path).expect("reading the fixture");
        let sparse = ferrex_aot::read_structure(&path).expect("reading the structure");
        assert_eq!(sparse.len(), whole.len());
        unread += usize::from(sparse != whole);
        let options = ferrex_aot::AotOptions::for_files(&path, &root().join(generated(f.name)))
            .expect("options");
        let from = |bytes: &[u8]| ferrex_aot::generate(bytes, &options).map(|g| g.code);
        assert_eq!(
            from(&sparse).expect("generating from the structure"),
            from(&whole).expect("generating from the file"),
            "{}",
            f.name
        );
    }
    assert!(unread >= 10, "{unread} fixtures read without their weights");
}
