//! Writes into `OUT_DIR`:
//! - `openapi.json`: the OpenAPI document, generated from the request and
//!   response types of `user-domain` (`api::document`), so the component
//!   serves what the code parses and emits and nothing hand-written;
//! - `*.gz`: it and the vendored viewer's files, gzip-compressed once here,
//!   so the component carries them small (its `.wasm` shrinks by 1.5 MB)
//!   and browsers get them small without compressing per request.

use std::io::Write;
use std::path::Path;

fn gzip(out: &Path, name: &str, bytes: &[u8]) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("compressing in memory");
    std::fs::write(out.join(format!("{name}.gz")), encoder.finish().expect("compressing in memory"))
        .expect("OUT_DIR is writable");
}

fn main() {
    let document = user_domain::api::document::document();
    let text = serde_json::to_string_pretty(&document).expect("the document serialises");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("openapi.json"), &text).expect("OUT_DIR is writable");
    gzip(&out, "openapi.json", text.as_bytes());
    for vendored in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = Path::new("vendor/swagger-ui").join(vendored);
        println!("cargo::rerun-if-changed={}", path.display());
        gzip(&out, vendored, &std::fs::read(&path).expect("the vendored viewer is in the repository"));
    }
    println!("cargo::rerun-if-changed=build.rs");
}
