//! Writes the OpenAPI document into `OUT_DIR/openapi.json`, generated from
//! the request and response types of `user-domain` (`api::document`), so the
//! component serves what the code parses and emits and nothing hand-written.

fn main() {
    let document = user_domain::api::document::document();
    let text = serde_json::to_string_pretty(&document).expect("the document serialises");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("openapi.json"), text).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
