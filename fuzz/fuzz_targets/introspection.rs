//! A token introspection response (RFC 7662), then the resource server's checks on it.
//!
//! Oracle: an accepted token is active, not expired or not yet valid by our clock, from the
//! expected issuer when it names one, for the required audience, and not a refresh token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::introspection::{
    check_introspection, parse_introspection_response, IntrospectionExpectations,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let response = oidc_fuzz::response(
        oidc_fuzz::status_from(control),
        Some("application/json"),
        body,
    );
    let Ok(result) = parse_introspection_response(response) else {
        return;
    };
    let audience = (control & 0x80 != 0).then_some("https://api.fuzz");
    let expect = IntrospectionExpectations::new(oidc_fuzz::ISSUER, audience, oidc_fuzz::NOW, 30);
    let Ok(identity) = check_introspection("token", &result, &expect) else {
        return;
    };
    let c = &result.claims;
    assert!(result.active);
    if let Some(exp) = c.get("exp").and_then(Value::as_u64) {
        assert!(
            oidc_fuzz::NOW <= exp.saturating_add(30),
            "expired token accepted"
        );
    }
    if let Some(nbf) = c.get("nbf").and_then(Value::as_u64) {
        assert!(nbf <= oidc_fuzz::NOW + 30, "not-yet-valid token accepted");
    }
    if let Some(iss) = c.get("iss") {
        assert_eq!(iss.as_str(), Some(oidc_fuzz::ISSUER));
    }
    if let Some(aud) = audience {
        assert!(oidc_core::bearer::audiences_of(c).contains(&aud));
    }
    let _ = (
        identity.subject(),
        identity.client_id(),
        identity.has_scope("read"),
    );
});
