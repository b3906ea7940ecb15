//! torch-sys links libtorch without an rpath; point every artifact of this package at the
//! libtorch it was built against so `cargo run`, `cargo test` and installed copies just work.
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch directory; run `make setup`");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=LCM_LIBTORCH_LIB={lib}");
}
