//! Makes sure `web/dist` exists so `rust-embed` can compile on a fresh clone
//! that never built the web console: the folder is then empty and
//! `src/web.rs` serves a short page that says how to build the UI.
//!
//! `rerun-if-changed` on the folder makes cargo scan it, so a new `make web`
//! output is embedded by the next `cargo build` of a release binary.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest_dir.join("../../web/dist");
    if let Err(error) = std::fs::create_dir_all(&dist) {
        // Not fatal here: rust-embed reports the missing folder with its path.
        println!("cargo::warning=cannot create {}: {error}", dist.display());
    }
    println!("cargo::rerun-if-changed=../../web/dist");
    println!("cargo::rerun-if-changed=build.rs");
}
