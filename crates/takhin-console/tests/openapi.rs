//! The checked-in OpenAPI document (`openapi.json`, from which the web UI's
//! client is generated) must be exactly what the code produces.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p takhin-console --test openapi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn checked_in_openapi_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = takhin_console::api::openapi_json_pretty();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "crates/takhin-console/openapi.json is out of date; run \
         UPDATE_OPENAPI=1 cargo test -p takhin-console --test openapi \
         and regenerate the web client (cd web && npm run generate)"
    );
}

#[test]
fn every_operation_documents_its_errors() {
    let doc: serde_json::Value =
        serde_json::from_str(&takhin_console::api::openapi_json_pretty()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} documents no success"
            );
            if path.contains("{cluster}") {
                assert!(
                    responses.contains_key("404"),
                    "{method} {path} does not document 404 for an unknown cluster"
                );
            }
        }
    }
}
