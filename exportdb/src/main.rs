fn main() {
    for c in ferrex_exportdb::cases() {
        println!("{}", c.name);
    }
}
