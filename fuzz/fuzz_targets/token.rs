//! A token endpoint response (code exchange, refresh, client credentials all parse it).
//!
//! Oracle: an accepted response is a Bearer token response; `Debug` never shows its tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let response = oidc_fuzz::response(
        oidc_fuzz::status_from(status),
        Some("application/json"),
        body,
    );
    if let Ok(t) = oidc_core::token::parse_token_response(response) {
        assert!(t.token_type.eq_ignore_ascii_case("bearer"));
        let shown = format!("{t:?}");
        let at = t.access_token.expose();
        if at.len() >= 8
            && !t.token_type.contains(at)
            && !t.scope.as_deref().unwrap_or("").contains(at)
        {
            assert!(!shown.contains(at), "Debug leaks the access token");
        }
    }
});
