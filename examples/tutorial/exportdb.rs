//! ExportDB: the catalogue of what export supports and rejects, one small model per
//! feature. As in the tutorial, look up `cond_predicate` to see how the predicate of
//! `cond!` works: its code, its tags and the program it exports. Then the size of the
//! catalogue and its tags; browse it with `cargo run -p ferrex-exportdb -- list`.

pub fn run() -> crate::SectionResult {
    let case =
        ferrex_exportdb::case("cond_predicate").ok_or("ExportDB has no case `cond_predicate`")?;
    println!(
        "{} (tags: {}; {})\n",
        case.name,
        case.tags.join(", "),
        case.verdict
    );
    println!("{}\n", case.description());
    println!("{}\n", case.shown_code());
    let exported = case.outcome()?;
    println!("{}", exported.program);

    let cases = ferrex_exportdb::cases();
    let supported = cases.iter().filter(|c| c.verdict.is_supported()).count();
    println!(
        "ExportDB: {} cases, {supported} supported, {} not supported",
        cases.len(),
        cases.len() - supported
    );
    println!("tags: {}", ferrex_exportdb::tags().join(", "));
    Ok(())
}
