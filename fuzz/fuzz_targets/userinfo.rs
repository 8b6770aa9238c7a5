//! A userinfo response: status, content type (JSON, JWT, other), body.
//!
//! Oracle: accepted claims have the ID token's `sub`, read claim by claim and by a full parse
//! of the text kept (what another reader of the stored record would see), and the two agree on
//! every claim.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let content_type = match control >> 6 {
        0 => Some("application/json"),
        1 => Some("application/jwt"),
        2 => Some("text/html; charset=utf-8"),
        _ => None,
    };
    let response = oidc_fuzz::response(oidc_fuzz::status_from(control), content_type, body);
    if let Ok(claims) = oidc_core::userinfo::parse_userinfo_response(response, "alice") {
        assert_eq!(claims.get_str("sub").as_deref(), Some("alice"));
        let full: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(claims.as_json()).expect("a kept set parses in full");
        assert_eq!(full.get("sub").and_then(|s| s.as_str()), Some("alice"));
        for (name, value) in &full {
            assert_eq!(claims.get(name).as_ref(), Some(value), "readers agree on each claim");
        }
    }
});
