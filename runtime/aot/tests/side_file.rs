//! Side-file weights: `include_program!(…, side_file)` embeds nothing and reads the
//! weights at run time, refusing any file but the archive the code came from.

use ferrex::Tensor;

ferrex_aot::include_program!(mod embedded = "tests/fixtures/mlp_b8.pt2");
ferrex_aot::include_program!(mod side = "tests/fixtures/mlp_b8.pt2", side_file);

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.pt2"))
}

#[test]
fn side_file_weights_give_the_embedded_models_numbers() {
    ferrex::manual_seed(61);
    let m = side::Model::from_file(fixture("mlp_b8")).unwrap();
    let e = embedded::Model::new().unwrap();
    let x = Tensor::randn([8, 20]);
    let (a, b) = (m.call((x.copy(),)).unwrap(), e.call((x,)).unwrap());
    assert_eq!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
    // The embedded module reads side files too.
    let bytes = std::fs::read(fixture("mlp_b8")).unwrap();
    assert!(embedded::Model::from_bytes(&bytes).is_ok());
}

#[test]
fn another_archive_is_refused() {
    let shown = format!("{}", fixture("mlp_b8").display());
    // The same program exported at another batch: another archive.
    let err = side::Model::from_file(fixture("mlp_b1"))
        .err()
        .unwrap()
        .to_string();
    let other = fixture("mlp_b1").display().to_string();
    assert!(
        err.starts_with(&format!(
            "`{other}` is not a valid ferrex program: it is not `{shown}`"
        )),
        "{err}"
    );
    // The right length, one byte of the program changed.
    let mut bytes = std::fs::read(fixture("mlp_b8")).unwrap();
    let at = bytes.windows(6).position(|w| w == b"linear").unwrap();
    bytes[at] = b'L';
    let err = side::Model::from_bytes(&bytes).err().unwrap().to_string();
    assert!(
        err.starts_with("`the bytes given` is not a valid ferrex program: it is not"),
        "{err}"
    );
    let err = side::Model::from_file("no/such.pt2")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("cannot read or write `no/such.pt2`"),
        "{err}"
    );
}
