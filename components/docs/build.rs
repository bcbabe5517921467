//! Writes into `OUT_DIR`, gzip-compressed once here (so the component
//! carries them small, its `.wasm` 1.5 MB lighter, and browsers get them
//! small without compressing per request):
//! - `openapi.json.gz`: the OpenAPI document, generated from the request and
//!   response types of `user-domain` (`api::document`), so the component
//!   serves what the code parses and emits and nothing hand-written;
//! - `swagger-ui-bundle.js.gz`, `swagger-ui.css.gz`: the vendored viewer.

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
    gzip(&out, "openapi.json", text.as_bytes());
    for vendored in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = Path::new("vendor/swagger-ui").join(vendored);
        println!("cargo::rerun-if-changed={}", path.display());
        gzip(&out, vendored, &std::fs::read(&path).expect("the vendored viewer is in the repository"));
    }
    println!("cargo::rerun-if-changed=build.rs");
}
