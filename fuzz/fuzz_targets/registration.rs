//! A dynamic client registration response (OpenID Connect Dynamic Client Registration 3.2,
//! 3.3).
//!
//! Oracles: an accepted registration has a client id, and a secret for every method that
//! needs one; `Debug` never shows the secret or the registration access token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::ClientAuthMethod;

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let response = oidc_fuzz::response(
        oidc_fuzz::status_from(status),
        Some("application/json"),
        body,
    );
    let Ok(r) = oidc_core::registration::parse_registration_response(response) else {
        return;
    };
    assert!(!r.client.client_id.is_empty());
    if !matches!(
        r.client.token_endpoint_auth_method,
        Some(ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt)
    ) {
        assert!(r.client.client_secret.is_some());
    }
    let _ = r.is_expired(oidc_fuzz::NOW);
    let shown = format!("{r:?}");
    if let Some(secret) = &r.client.client_secret {
        let s = secret.expose();
        let elsewhere = r.client.client_id.contains(s)
            || serde_json::to_string(&r.client.extra).is_ok_and(|x| x.contains(s));
        if s.len() >= 8 && !elsewhere {
            assert!(!shown.contains(s), "Debug leaks the client secret");
        }
    }
});
