//! The FAPI 2.0 Security Profile preset
//! ([`ProviderConfigBuilder::fapi2`](crate::ProviderConfigBuilder::fapi2)): what the profile
//! (section 5.3, "Requirements for clients") asks of a confidential client, turned on at once,
//! and every setting that contradicts it refused when the configuration is built.
//!
//! | FAPI 2.0 asks | here |
//! |---|---|
//! | pushed authorization requests | [`pushed_authorization_requests`](crate::ProviderConfigBuilder::pushed_authorization_requests) on |
//! | PKCE with S256 | PKCE on (it is always S256); `disable_pkce` refused |
//! | `private_key_jwt` or mTLS client authentication | `private_key_jwt` pinned, a [`private_key`](crate::ProviderConfigBuilder::private_key) required, the issuer as the assertion's audience |
//! | sender-constrained access tokens (DPoP or mTLS) | [`dpop`](crate::ProviderConfigBuilder::dpop) on |
//! | the authorization response's `iss` (RFC 9207) | required, whatever the provider's metadata says (a JARM response's verified `iss` counts) |
//! | PS256, ES256 or EdDSA signatures | the allow-list, and every pinned algorithm, within those three |
//! | the code flow only | `response_type` `code` only (no implicit, no hybrid) |
//!
//! mTLS (RFC 8705) is not offered by this library: under the preset, DPoP and `private_key_jwt`
//! are the only choices, and turning either off is an error rather than a silent downgrade.

use crate::client_auth::ClientPrivateKey;
use crate::config::{ClientRegistration, ResponseType};
use crate::error::{Error, Result};
use crate::metadata::ClientAuthMethod;

/// The signature algorithms FAPI 2.0 allows (Security Profile 5.4.1).
pub const ALGORITHMS: &[&str] = &["PS256", "ES256", "EdDSA"];

/// What [`check`] reads of a configuration being built.
pub(crate) struct Settings<'a> {
    pub(crate) response_type: ResponseType,
    pub(crate) pkce: bool,
    pub(crate) push: bool,
    pub(crate) dpop: bool,
    pub(crate) algorithms: &'a [String],
    /// `id_token_signed_response_alg`, `userinfo_signed_response_alg` and
    /// `authorization_signed_response_alg`, where set.
    pub(crate) pinned_algorithms: [Option<&'a str>; 3],
    pub(crate) key: Option<&'a ClientPrivateKey>,
}

fn refused(why: impl Into<String>) -> Error {
    Error::config("fapi2", why)
}

/// Refuses a configuration that contradicts the profile, and pins `private_key_jwt` on the
/// client (static or dynamically registered) whose method was left to negotiation.
pub(crate) fn check(
    settings: &Settings<'_>,
    client: ClientRegistration,
) -> Result<ClientRegistration> {
    if settings.response_type != ResponseType::Code {
        return Err(refused(format!(
            "FAPI 2.0 allows the authorization code flow only, not response_type `{}`",
            settings.response_type.as_str()
        )));
    }
    if !settings.pkce {
        return Err(refused(
            "FAPI 2.0 requires PKCE (disable_pkce contradicts it)",
        ));
    }
    if !settings.push {
        return Err(refused(
            "FAPI 2.0 requires pushed authorization requests (pushed_authorization_requests(false) contradicts it)",
        ));
    }
    if !settings.dpop {
        return Err(refused(
            "FAPI 2.0 requires sender-constrained tokens: DPoP (dpop(false) contradicts it)",
        ));
    }
    let pinned = settings.pinned_algorithms.iter().flatten().copied();
    if let Some(alg) = settings
        .algorithms
        .iter()
        .map(String::as_str)
        .chain(pinned)
        .find(|alg| !ALGORITHMS.contains(alg))
    {
        return Err(refused(format!(
            "FAPI 2.0 allows PS256, ES256 and EdDSA signatures only, not `{alg}`"
        )));
    }
    let Some(key) = settings.key else {
        return Err(refused(
            "FAPI 2.0 requires private_key_jwt client authentication: set private_key",
        ));
    };
    if !ALGORITHMS.contains(&key.algorithm().as_str()) {
        return Err(refused(format!(
            "FAPI 2.0 allows PS256, ES256 and EdDSA signatures only: the client key signs with `{}`",
            key.algorithm().as_str()
        )));
    }
    let pin = |method: &mut Option<ClientAuthMethod>| match method {
        None | Some(ClientAuthMethod::PrivateKeyJwt) => {
            *method = Some(ClientAuthMethod::PrivateKeyJwt);
            Ok(())
        }
        Some(other) => Err(refused(format!(
            "FAPI 2.0 requires private_key_jwt client authentication, not `{}`",
            other.as_str()
        ))),
    };
    let mut client = client;
    match &mut client {
        ClientRegistration::Static(c) => pin(&mut c.token_endpoint_auth_method)?,
        ClientRegistration::Dynamic(info) => pin(&mut info.token_endpoint_auth_method)?,
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ClientMetadata;

    fn key() -> ClientPrivateKey {
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap()
    }

    fn settings<'a>(algorithms: &'a [String], key: Option<&'a ClientPrivateKey>) -> Settings<'a> {
        Settings {
            response_type: ResponseType::Code,
            pkce: true,
            push: true,
            dpop: true,
            algorithms,
            pinned_algorithms: [None, None, None],
            key,
        }
    }

    fn fapi_algorithms() -> Vec<String> {
        ALGORITHMS.iter().map(|a| a.to_string()).collect()
    }

    fn static_client(method: Option<ClientAuthMethod>) -> ClientRegistration {
        let mut c = ClientMetadata::without_secret("app");
        c.token_endpoint_auth_method = method;
        ClientRegistration::Static(c)
    }

    fn method(client: &ClientRegistration) -> Option<ClientAuthMethod> {
        match client {
            ClientRegistration::Static(c) => c.token_endpoint_auth_method,
            ClientRegistration::Dynamic(info) => info.token_endpoint_auth_method,
        }
    }

    #[test]
    fn a_conforming_configuration_pins_private_key_jwt() {
        let key = key();
        let algs = fapi_algorithms();
        let client = check(&settings(&algs, Some(&key)), static_client(None)).unwrap();
        assert_eq!(method(&client), Some(ClientAuthMethod::PrivateKeyJwt));
        let dynamic = ClientRegistration::Dynamic(Box::new(
            crate::registration::ClientRegistrationInfo::new("app"),
        ));
        let client = check(&settings(&algs, Some(&key)), dynamic).unwrap();
        assert_eq!(method(&client), Some(ClientAuthMethod::PrivateKeyJwt));
    }

    #[test]
    fn each_contradiction_is_refused() {
        let key = key();
        let algs = fapi_algorithms();
        let refuses = |s: Settings<'_>, client: ClientRegistration, needle: &str| {
            let e = check(&s, client).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        for rt in [ResponseType::IdToken, ResponseType::CodeIdToken] {
            let mut s = settings(&algs, Some(&key));
            s.response_type = rt;
            refuses(s, static_client(None), "code flow only");
        }
        let mut s = settings(&algs, Some(&key));
        s.pkce = false;
        refuses(s, static_client(None), "PKCE");
        let mut s = settings(&algs, Some(&key));
        s.push = false;
        refuses(s, static_client(None), "pushed authorization requests");
        let mut s = settings(&algs, Some(&key));
        s.dpop = false;
        refuses(s, static_client(None), "DPoP");
        let rs256 = vec!["ES256".to_owned(), "RS256".to_owned()];
        refuses(settings(&rs256, Some(&key)), static_client(None), "`RS256`");
        let mut s = settings(&algs, Some(&key));
        s.pinned_algorithms = [None, Some("HS256"), None];
        refuses(s, static_client(None), "`HS256`");
        refuses(
            settings(&algs, None),
            static_client(None),
            "set private_key",
        );
        refuses(
            settings(&algs, Some(&key)),
            static_client(Some(ClientAuthMethod::ClientSecretBasic)),
            "not `client_secret_basic`",
        );
    }
}
