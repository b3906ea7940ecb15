//! Runs before torch-sys gets far: checks the libtorch that `.cargo/config.toml` points at, so a
//! missing or mismatched install fails with the fixing command instead of a C++ or linker error.
use std::path::PathBuf;

const EXPECTED: &str = "2.11.0";

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        fail("LIBTORCH is not set (it comes from .cargo/config.toml; build from inside the repository)");
    };
    let libtorch = PathBuf::from(libtorch);
    let version_file = libtorch.join("version.py");
    println!("cargo:rerun-if-changed={}", version_file.display());
    let Ok(text) = std::fs::read_to_string(&version_file) else {
        fail(&format!("no libtorch at {}", libtorch.display()));
    };
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim_matches(['\'', '"', ' ']).split('+').next().unwrap_or("").to_string())
        .unwrap_or_default();
    if version != EXPECTED {
        fail(&format!("{} holds torch {version}, lcm needs torch {EXPECTED}", libtorch.display()));
    }
}

fn fail(reason: &str) -> ! {
    eprintln!("\n  lcm: {reason}.\n  Fix: run `scripts/setup.sh` (or `make setup`) in the repository root, then build again.\n");
    std::process::exit(1);
}
