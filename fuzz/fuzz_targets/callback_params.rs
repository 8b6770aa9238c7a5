//! The redirect request's parameters (query string, form body, or the posted fragment):
//! `AuthorizationResponse::parse`, then `check` against the provider.
//!
//! Oracles: a known parameter given twice, or longer than the cap, is refused; `Debug` never
//! shows `code`, `state` or a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::AuthorizationResponse;

const KNOWN: &[&str] = &[
    "state",
    "code",
    "error",
    "error_description",
    "iss",
    "id_token",
    "access_token",
    "token_type",
    "expires_in",
];

fuzz_target!(|data: &[u8]| {
    let parsed = AuthorizationResponse::parse(data);
    let mut counts = [0usize; 9];
    let mut too_long = false;
    for (k, v) in form_urlencoded::parse(data) {
        if let Some(i) = KNOWN.iter().position(|n| *n == k) {
            counts[i] += 1;
            too_long |= v.len() > 16 * 1024;
        }
    }
    let duplicated = counts.iter().any(|c| *c > 1);
    let Ok(r) = parsed else {
        assert!(duplicated || too_long, "refused a well-formed response");
        return;
    };
    assert!(!duplicated, "accepted a duplicated parameter");
    assert!(!too_long, "accepted an over-long parameter");
    let shown = format!("{r:?}");
    // What Debug may show: the field names, `error` and `iss`.
    let visible = format!(
        "{:?}{:?}{:?}",
        AuthorizationResponse::default(),
        r.error,
        r.iss
    );
    for secret in [
        r.code.as_deref(),
        r.state.as_deref(),
        r.id_token.as_ref().map(|s| s.expose()),
        r.access_token.as_ref().map(|s| s.expose()),
    ]
    .into_iter()
    .flatten()
    {
        if secret.len() >= 8 && !visible.contains(secret) {
            assert!(!shown.contains(secret), "Debug leaks a secret parameter");
        }
    }
    let _ = r.is_empty();
    let mut m = oidc_fuzz::metadata();
    let _ = r.check(&m, false);
    // Required by the FAPI 2.0 preset: the same as a provider promising it.
    assert_eq!(r.check(&m, true).is_ok(), {
        let mut promised = m.clone();
        promised.authorization_response_iss_parameter_supported = true;
        r.check(&promised, false).is_ok()
    });
    m.authorization_response_iss_parameter_supported = true;
    if r.check(&m, false).is_ok() {
        // Without `iss`, only a response whose ID token names its issuer (checked later, signed).
        match r.iss.as_deref() {
            Some(iss) => assert_eq!(iss, oidc_fuzz::ISSUER),
            None => assert!(r.id_token.is_some(), "a promised iss parameter is missing"),
        }
        assert!(r.error.is_none());
    }
});
