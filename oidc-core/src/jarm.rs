//! JWT Secured Authorization Response Mode (JARM): with `response_mode` `jwt`, `query.jwt`,
//! `fragment.jwt` or `form_post.jwt`, the provider sends one parameter, `response`, a JWT it
//! signed whose claims are the authorization response's parameters (`code`, `state`, `error`...)
//! plus `iss`, `aud` and `exp`.
//!
//! Nothing in it is read before it verifies: the signature, with the keys and allow-list
//! [`TokenSigning`](crate::signing::TokenSigning) decides for
//! [`SignedResponse::AuthorizationResponse`](crate::signing::SignedResponse::AuthorizationResponse)
//! (the provider's JWKS through the key cache and its fetch policy; never `none`; HMAC with
//! the client secret only when configured explicitly), then `iss` (exactly the provider's
//! issuer), `aud` (containing this client) and `exp` (with the configured skew). Only then
//! does the redirect endpoint look for the login its `state` names, so that a forged response
//! spends no pending login.
//!
//! Encrypted JARM responses (a JWE in `response`) are not supported and are refused.

use serde_json::{Map, Value};

use crate::callback::AuthorizationResponse;
use crate::error::{Error, IdTokenError, ProtocolError, Result};
use crate::signing::TokenKeys;

/// The form parameter that carries the JWT.
pub const RESPONSE_PARAMETER: &str = "response";

/// The authorization response parameters a JARM JWT may carry; other claims (`iss`, `aud`,
/// `exp`...) are the JWT's own.
const PARAMETERS: &[&str] = &[
    "state",
    "code",
    "error",
    "error_description",
    "id_token",
    "access_token",
    "token_type",
    "expires_in",
];

/// What a JARM response is checked against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JarmExpectations<'a> {
    /// The provider's issuer: `iss` must equal it.
    pub issuer: &'a str,
    /// This client's id: `aud` must contain it (or the previous client's).
    pub client_id: &'a str,
    /// The client this one replaced, when a dynamic registration was renewed: a login
    /// started before that is answered for it. The response is verified before its login is
    /// looked up (so that a forged one spends nothing), so both are accepted here; the login
    /// then finishes with the client it started with.
    pub previous_client_id: Option<&'a str>,
    /// Now, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew: u64,
    /// The signature algorithm allow-list.
    pub algorithms: &'a [String],
}

impl<'a> JarmExpectations<'a> {
    /// The expectations for responses of `issuer` to `client_id` (and no previous client), signed
    /// with one of `algorithms`, at `now` give or take `skew` seconds (the type is
    /// `#[non_exhaustive]`, so that a later check can add an input with a default without a
    /// breaking change).
    pub fn new(
        issuer: &'a str,
        client_id: &'a str,
        now: u64,
        skew: u64,
        algorithms: &'a [String],
    ) -> Self {
        JarmExpectations {
            issuer,
            client_id,
            previous_client_id: None,
            now,
            skew,
            algorithms,
        }
    }
}

/// Longest `response` accepted: the parameters it wraps are each capped at 16 KiB by the
/// plain response's parser, and an ID token is the only long one.
pub(crate) const MAX_RESPONSE_LEN: usize = 24 * 1024;

/// Verifies a JARM response with `keys` and reads the authorization response from it.
/// `Ok(None)`: it names a key the set lacks (fetch the set again, once, as the key cache
/// allows). Every refusal is [`ProtocolError::Jarm`].
pub fn verify_response(
    raw: &str,
    keys: TokenKeys<'_>,
    expect: &JarmExpectations<'_>,
) -> Result<Option<AuthorizationResponse>> {
    let refused = |e: IdTokenError| Error::from(ProtocolError::Jarm(e));
    if crate::jwe::is_jwe(raw) {
        return Err(refused(IdTokenError::Malformed(
            "encrypted JARM responses are not supported".into(),
        )));
    }
    let Some(verified) =
        crate::id_token::verify_token(raw, keys, expect.algorithms).map_err(refused)?
    else {
        return Ok(None);
    };
    let claims = verified.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return Err(refused(IdTokenError::Issuer));
    }
    let ours = |aud: &str| aud == expect.client_id || Some(aud) == expect.previous_client_id;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => ours(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(ours),
        _ => return Err(refused(IdTokenError::MissingClaim("aud"))),
    };
    if !audience_ok {
        return Err(refused(IdTokenError::Audience));
    }
    crate::id_token::check_time_claims(&claims, expect.now, expect.skew, &["exp"])
        .map_err(refused)?;
    let mut response = AuthorizationResponse::parse(form(&claims)?.as_bytes())?;
    // The verified `iss` stands in for the RFC 9207 parameter (JARM 4.4: it serves the same
    // purpose against mix-up).
    response.iss = Some(expect.issuer.to_owned());
    Ok(Some(response))
}

/// The response parameters among the claims, form-encoded for the plain response's parser
/// (which applies its length caps). A parameter that is not a string (or, for `expires_in`, a
/// number) is refused.
fn form(claims: &Map<String, Value>) -> Result<String> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for name in PARAMETERS {
        match claims.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                out.append_pair(name, s);
            }
            Some(Value::Number(n)) if *name == "expires_in" => {
                out.append_pair(name, &n.to_string());
            }
            Some(_) => {
                return Err(ProtocolError::Jarm(IdTokenError::Malformed(format!(
                    "`{name}` is not a string"
                )))
                .into())
            }
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::JwkSet;
    use josekit::jws::{JwsHeader, ES256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;
    use std::sync::OnceLock;

    struct Keys {
        signer: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
        other: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
        set: JwkSet,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let pair = ES256.generate_key_pair().unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id("k1");
            let other = ES256.generate_key_pair().unwrap();
            Keys {
                signer: ES256.signer_from_der(pair.to_der_private_key()).unwrap(),
                other: ES256.signer_from_der(other.to_der_private_key()).unwrap(),
                set: JwkSet::from_json(json!({"keys": [jwk.as_ref()]}).to_string().as_bytes(), 0)
                    .unwrap(),
            }
        })
    }

    fn sign(claims: Value, forged: bool) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = if forged {
            &keys().other
        } else {
            &keys().signer
        };
        jwt::encode_with_signer(&p, &h, signer).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": "https://op", "aud": "client", "exp": 1100, "code": "c1", "state": "s1"})
    }

    fn with(mut c: Value, k: &str, v: Value) -> Value {
        c[k] = v;
        c
    }

    fn verify(raw: &str) -> Result<Option<AuthorizationResponse>> {
        let algorithms = vec!["ES256".to_owned()];
        let expect = JarmExpectations {
            issuer: "https://op",
            client_id: "client",
            previous_client_id: Some("replaced"),
            now: 1000,
            skew: 30,
            algorithms: &algorithms,
        };
        verify_response(raw, TokenKeys::Provider(&keys().set), &expect)
    }

    fn refusal(raw: &str) -> IdTokenError {
        match verify(raw) {
            Err(Error::Protocol(ProtocolError::Jarm(e))) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_verified_response_gives_its_parameters() {
        let r = verify(&sign(claims(), false)).unwrap().unwrap();
        assert_eq!(r.code.as_deref(), Some("c1"));
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert_eq!(r.iss.as_deref(), Some("https://op"));
        let error = with(claims(), "error", json!("access_denied"));
        let r = verify(&sign(error, false)).unwrap().unwrap();
        assert_eq!(r.error.as_deref(), Some("access_denied"));
        let listed = with(claims(), "aud", json!(["other", "client"]));
        assert!(verify(&sign(listed, false)).unwrap().is_some());
        let unknown = {
            let mut h = JwsHeader::new();
            h.set_key_id("k9");
            let p = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
            jwt::encode_with_signer(&p, &h, &keys().signer).unwrap()
        };
        assert!(
            verify(&unknown).unwrap().is_none(),
            "an unknown kid asks for the keys"
        );
    }

    /// A response for the client a renewed dynamic registration replaced is this app's too.
    #[test]
    fn the_replaced_clients_audience_is_accepted() {
        let signed = sign(with(claims(), "aud", json!(["replaced"])), false);
        assert!(verify(&signed).unwrap().is_some());
    }

    #[test]
    fn refusals() {
        assert_eq!(refusal(&sign(claims(), true)), IdTokenError::BadSignature);
        assert_eq!(
            refusal(&sign(with(claims(), "aud", json!("other")), false)),
            IdTokenError::Audience
        );
        assert_eq!(
            refusal(&sign(with(claims(), "iss", json!("https://evil")), false)),
            IdTokenError::Issuer
        );
        assert_eq!(
            refusal(&sign(with(claims(), "exp", json!(900)), false)),
            IdTokenError::Expired
        );
        let no_exp = {
            let mut c = claims();
            c.as_object_mut().unwrap().remove("exp");
            c
        };
        assert_eq!(
            refusal(&sign(no_exp, false)),
            IdTokenError::MissingClaim("exp")
        );
        assert!(matches!(
            refusal(&sign(with(claims(), "code", json!(7)), false)),
            IdTokenError::Malformed(_)
        ));
        assert!(matches!(refusal("a.b.c.d.e"), IdTokenError::Malformed(_)));
        // `alg: none` is never on the list.
        let none = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIn0",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                claims().to_string()
            )
        );
        assert!(matches!(
            refusal(&none),
            IdTokenError::AlgorithmNotAllowed(_)
        ));
    }

    /// The JARM modes parse, print back and say where they arrive; a token-returning response
    /// type refuses `query.jwt`; `jwt` is the response type's default mode.
    #[test]
    fn modes_are_configured() {
        use crate::config::{ResponseMode, ResponseType};
        use crate::{ClientMetadata, ProviderConfig};
        let base = || {
            ProviderConfig::discover("https://op.example")
                .client(ClientMetadata::new("id", "secret"))
        };
        for mode in ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"] {
            let parsed = ResponseMode::parse(mode).unwrap();
            assert_eq!(parsed.as_str(), mode);
            assert!(parsed.is_jwt());
            let c = base().response_mode(mode).build().unwrap();
            assert_eq!(c.response_mode(), parsed);
        }
        assert!(!ResponseMode::Query.is_jwt());
        assert!(ResponseMode::Jwt.in_fragment(ResponseType::CodeIdToken));
        assert!(!ResponseMode::Jwt.in_fragment(ResponseType::Code));
        assert!(ResponseMode::FragmentJwt.in_fragment(ResponseType::Code));
        assert!(ResponseMode::FormPostJwt.is_form_post());
        let err = base()
            .response_type("code token")
            .response_mode("query.jwt")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("response_mode"), "{err}");
        assert!(base()
            .response_type("code token")
            .response_mode("jwt")
            .build()
            .is_ok());
    }

    /// JARM signatures follow the ID token's rules: the allow-list by default, a configured
    /// algorithm (its own, or the ID token's) as the only one, HMAC with the client secret only
    /// when named, never negotiated from an HMAC-only discovery; and a configured HMAC
    /// algorithm needs a confidential client.
    #[test]
    fn signing_follows_the_id_token_rules() {
        use crate::metadata::ProviderMetadata;
        use crate::signing::{SignedResponse, TokenSigning};
        use crate::{ClientMetadata, ProviderConfig};
        const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut m = ProviderMetadata::new("https://op", "https://op/a".parse().unwrap());
        m.jwks_uri = Some("https://op/jwks".parse().unwrap());
        m.id_token_signing_alg_values_supported = vec!["HS256".into()];
        let client = ClientMetadata::new("id", SECRET);
        let decide = |c: crate::ProviderConfigBuilder| {
            let c = c.client(client.clone()).build().unwrap();
            TokenSigning::decide(&c, &client, &m, SignedResponse::AuthorizationResponse).unwrap()
        };
        let config = || ProviderConfig::from_metadata(m.clone());
        let default = decide(config());
        assert!(default.needs_provider_keys(), "HMAC is never negotiated");
        assert_eq!(default.algorithms(), crate::config::DEFAULT_ALGORITHMS);
        let own = decide(config().authorization_signed_response_alg("ES256"));
        assert_eq!(own.algorithms(), ["ES256"]);
        let follows = decide(config().id_token_signed_response_alg("PS256"));
        assert_eq!(follows.algorithms(), ["PS256"]);
        let hmac = decide(config().authorization_signed_response_alg("HS256"));
        assert!(!hmac.needs_provider_keys());
        assert!(ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::public("spa"))
            .authorization_signed_response_alg("HS256")
            .build()
            .is_err());
        assert!(ProviderConfig::from_metadata(m.clone())
            .client(client.clone())
            .authorization_signed_response_alg("none")
            .build()
            .is_err());
    }
}
