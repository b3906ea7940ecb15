fn main() {
    gst_plugin_version_helper::info();
    println!("cargo:rerun-if-env-changed=LCM_INSTALLED_MODELS_DIR");
    // torch-sys emits no rpath: make the plugin find the libtorch it was linked against.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys did not report its libtorch directory; run `make setup`");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
}
