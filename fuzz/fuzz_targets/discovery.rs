//! A discovery response (`/.well-known/openid-configuration`): status, content type, body.
//!
//! Oracle: an accepted document names exactly the configured issuer, and lists no endpoint
//! over plain http (off loopback).
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
    if let Ok(m) = oidc_core::discovery::parse_discovery_response(oidc_fuzz::ISSUER, response) {
        assert_eq!(m.issuer, oidc_fuzz::ISSUER);
        assert_eq!(m.insecure_endpoint(), None);
        let _ = format!("{m:?}");
        let json = serde_json::to_vec(&m).expect("metadata serialises");
        oidc_core::ProviderMetadata::from_json(&json).expect("metadata reads back");
    }
});
