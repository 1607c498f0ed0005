fn main() {
    println!("atomboot {}", env!("CARGO_PKG_VERSION"));
}
