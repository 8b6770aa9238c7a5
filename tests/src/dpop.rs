//! DPoP (RFC 9449) at the simulated provider: proofs verified at the token and userinfo
//! endpoints (signature by the proof's own key, `typ`, `htm`, `htu`, `iat`, `jti` replay,
//! `ath`, the provider's nonce when it demands one), tokens bound to the proof's key
//! (`token_type: DPoP`, `cnf.jkt` in JWT access tokens and in introspection), and the
//! switches the rejection scenarios need.
//!
//! Written apart from the relying party's own verifier (`oidc_core::dpop`), thumbprint
//! included, so that the two halves are not tested against each other's mistakes.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256, PS256, RS256};
use serde_json::{json, Map, Value};

use crate::util::{self, oauth_error};
use crate::{Config, JwtAccessTokenSpec, SimProvider, State};

/// How far a proof's `iat` may be from the provider's clock, seconds.
const PROOF_WINDOW: u64 = 60;

/// The provider's DPoP state.
#[derive(Debug, Default)]
pub(crate) struct DpopState {
    /// Demand a nonce (`DPoP-Nonce`) in every proof.
    pub(crate) require_nonce: bool,
    /// The nonce demanded; changes when it is handed out again after use.
    pub(crate) nonce: String,
    /// Answer token requests with a proof as `token_type: Bearer` (a provider ignoring DPoP).
    pub(crate) bearer_token_type: bool,
    /// `jti`s of proofs seen (per key thumbprint).
    pub(crate) seen: HashSet<String>,
    /// The key thumbprint each bound access or refresh token is bound to.
    pub(crate) bound: HashMap<String, String>,
    /// The thumbprint of the proof of the token request being served.
    pub(crate) binding: Option<String>,
    /// Requests served with a valid proof: token endpoint, userinfo.
    pub(crate) proofs: (usize, usize),
    /// Nonce challenges answered.
    pub(crate) challenges: usize,
}

/// The RFC 7638 thumbprint of a public JWK, built member by member as section 3 lists them.
fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    let canonical = match s("kty")? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv")?,
            s("x")?,
            s("y")?
        ),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e")?, s("n")?),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv")?, s("x")?),
        _ => return None,
    };
    Some(util::sha256_b64url(&canonical))
}

/// Why a proof is refused: `use_dpop_nonce` or `invalid_dpop_proof`.
enum Refusal {
    Nonce,
    Invalid(&'static str),
}

/// Verifies the proof of a request to `htu` with `method`, for `access_token` when it is a
/// resource call; spends its `jti`. The key's thumbprint.
fn verify(
    st: &mut State,
    proof: &str,
    method: &http::Method,
    htu: &str,
    access_token: Option<&str>,
    now: u64,
) -> Result<String, Refusal> {
    let header = josekit::jwt::decode_header(proof).map_err(|_| Refusal::Invalid("malformed"))?;
    if header.claim("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(Refusal::Invalid("typ"));
    }
    let Some(Value::Object(jwk_map)) = header.claim("jwk").cloned() else {
        return Err(Refusal::Invalid("no jwk"));
    };
    if jwk_map.contains_key("d") {
        return Err(Refusal::Invalid("private jwk"));
    }
    let jwk = Jwk::from_map(jwk_map.clone()).map_err(|_| Refusal::Invalid("jwk"))?;
    let verifier: Box<dyn JwsVerifier> = match header.claim("alg").and_then(Value::as_str) {
        Some("ES256") => Box::new(
            ES256
                .verifier_from_jwk(&jwk)
                .map_err(|_| Refusal::Invalid("jwk"))?,
        ),
        Some("PS256") => Box::new(
            PS256
                .verifier_from_jwk(&jwk)
                .map_err(|_| Refusal::Invalid("jwk"))?,
        ),
        Some("RS256") => Box::new(
            RS256
                .verifier_from_jwk(&jwk)
                .map_err(|_| Refusal::Invalid("jwk"))?,
        ),
        Some("EdDSA") => Box::new(
            EdDSA
                .verifier_from_jwk(&jwk)
                .map_err(|_| Refusal::Invalid("jwk"))?,
        ),
        _ => return Err(Refusal::Invalid("alg")),
    };
    let (payload, _) = josekit::jwt::decode_with_verifier(proof, verifier.as_ref())
        .map_err(|_| Refusal::Invalid("signature"))?;
    let c = payload.claims_set();
    let text = |k: &str| c.get(k).and_then(Value::as_str);
    if text("htm") != Some(method.as_str()) {
        return Err(Refusal::Invalid("htm"));
    }
    if text("htu") != Some(htu) {
        return Err(Refusal::Invalid("htu"));
    }
    let iat = c
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or(Refusal::Invalid("iat"))?;
    if iat.abs_diff(now) > PROOF_WINDOW {
        return Err(Refusal::Invalid("iat"));
    }
    if text("ath") != access_token.map(util::sha256_b64url).as_deref() {
        return Err(Refusal::Invalid("ath"));
    }
    let jkt = thumbprint(&jwk_map).ok_or(Refusal::Invalid("kty"))?;
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or(Refusal::Invalid("jti"))?;
    if st.dpop.require_nonce && text("nonce") != Some(st.dpop.nonce.as_str()) {
        return Err(Refusal::Nonce);
    }
    if !st.dpop.seen.insert(format!("{jkt} {jti}")) {
        return Err(Refusal::Invalid("jti replayed"));
    }
    Ok(jkt)
}

/// A fresh nonce to demand (each challenge hands out a new one).
fn next_nonce(st: &mut State) -> String {
    st.dpop.challenges += 1;
    st.dpop.nonce = util::random_token();
    st.dpop.nonce.clone()
}

/// The token endpoint's gate: a request with a `DPoP` header must carry a valid proof (else
/// `400 invalid_dpop_proof`, or `400 use_dpop_nonce` with a `DPoP-Nonce`); the tokens then
/// issued are bound to its key.
pub(crate) fn token_gate(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Result<(), Box<Response<Bytes>>> {
    st.dpop.binding = None;
    let mut proofs = request.headers().get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (None, _) => return Ok(()),
        (Some(p), None) => p.to_str().unwrap_or_default().to_owned(),
        (Some(_), Some(_)) => {
            return Err(Box::new(oauth_error(
                400,
                "invalid_dpop_proof",
                "several DPoP proofs",
            )))
        }
    };
    match verify(
        st,
        &proof,
        request.method(),
        &cfg.endpoint("/token"),
        None,
        now,
    ) {
        Ok(jkt) => {
            st.dpop.proofs.0 += 1;
            st.dpop.binding = Some(jkt);
            Ok(())
        }
        Err(Refusal::Nonce) => {
            let nonce = next_nonce(st);
            let mut resp = oauth_error(400, "use_dpop_nonce", "a DPoP nonce is required");
            util::set_header(
                &mut resp,
                http::HeaderName::from_static("dpop-nonce"),
                &nonce,
            );
            Err(Box::new(resp))
        }
        Err(Refusal::Invalid(why)) => Err(Box::new(oauth_error(400, "invalid_dpop_proof", why))),
    }
}

/// The `token_type` of tokens issued now, and records `access_token` and `refresh_token` as
/// bound to the token request's proof key, if it had one.
pub(crate) fn bind_issued(
    st: &mut State,
    access_token: &str,
    refresh_token: Option<&str>,
) -> &'static str {
    let Some(jkt) = st.dpop.binding.clone() else {
        return "Bearer";
    };
    st.dpop.bound.insert(access_token.to_owned(), jkt.clone());
    if let Some(rt) = refresh_token {
        st.dpop.bound.insert(rt.to_owned(), jkt);
    }
    if st.dpop.bearer_token_type {
        "Bearer"
    } else {
        "DPoP"
    }
}

/// The `cnf` claim of a JWT access token issued now.
pub(crate) fn cnf(st: &State) -> Option<Value> {
    st.dpop.binding.as_ref().map(|jkt| json!({ "jkt": jkt }))
}

/// Adds `cnf.jkt` and `token_type: DPoP` to an active token's introspection response.
pub(crate) fn introspected(st: &State, token: &str, body: &mut Value) {
    if let Some(jkt) = st.dpop.bound.get(token) {
        if body["active"] == true {
            body["cnf"] = json!({ "jkt": jkt });
            body["token_type"] = json!("DPoP");
        }
    }
}

fn resource_refusal(error: &str, description: &str, nonce: Option<&str>) -> Box<Response<Bytes>> {
    let mut resp = util::json(
        401,
        &json!({ "error": error, "error_description": description }),
    );
    let challenge = format!("DPoP error=\"{error}\", algs=\"ES256 PS256 RS256 EdDSA\"");
    util::set_header(&mut resp, WWW_AUTHENTICATE, &challenge);
    if let Some(nonce) = nonce {
        util::set_header(
            &mut resp,
            http::HeaderName::from_static("dpop-nonce"),
            nonce,
        );
    }
    Box::new(resp)
}

/// The userinfo endpoint's gate: `Authorization: DPoP <token>` needs a valid proof for the
/// token, by the key it is bound to, and is passed on as a bearer request; a bound token
/// sent as `Bearer` is refused.
pub(crate) fn resource_gate(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    path: &str,
    now: u64,
) -> Result<Request<Bytes>, Box<Response<Bytes>>> {
    let mut out = crate::clone_request(request);
    let auth = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let (scheme, token) = auth.split_once(' ').unwrap_or((&auth, ""));
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if st.dpop.bound.contains_key(token) {
            return Err(resource_refusal(
                "invalid_token",
                "a DPoP-bound token needs Authorization: DPoP",
                None,
            ));
        }
        return Ok(out);
    }
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Ok(out);
    }
    let proof = request
        .headers()
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = request.method().clone();
    match verify(st, &proof, &method, &cfg.endpoint(path), Some(token), now) {
        Ok(jkt) if st.dpop.bound.get(token) == Some(&jkt) => {
            st.dpop.proofs.1 += 1;
            let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| resource_refusal("invalid_token", "malformed token", None))?;
            out.headers_mut().insert(AUTHORIZATION, bearer);
            out.headers_mut().remove("dpop");
            Ok(out)
        }
        Ok(_) => Err(resource_refusal(
            "invalid_token",
            "the token is not bound to this key",
            None,
        )),
        Err(Refusal::Nonce) => {
            let nonce = next_nonce(st);
            Err(resource_refusal(
                "use_dpop_nonce",
                "a DPoP nonce is required",
                Some(&nonce),
            ))
        }
        Err(Refusal::Invalid(why)) => Err(resource_refusal("invalid_dpop_proof", why, None)),
    }
}

/// DPoP switches and records.
impl SimProvider {
    /// From now on every DPoP proof must carry the provider's nonce: one without it (or with
    /// an old one) is answered with a `DPoP-Nonce` challenge (RFC 9449 8, 9).
    pub fn set_dpop_nonce_required(&self, on: bool) {
        self.lock().dpop.require_nonce = on;
    }

    /// Misbehaviour: token requests with a DPoP proof are answered with `token_type: Bearer`.
    pub fn set_dpop_bearer_token_type(&self, on: bool) {
        self.lock().dpop.bearer_token_type = on;
    }

    /// How many token and userinfo requests carried a valid DPoP proof, and how many nonce
    /// challenges were sent.
    pub fn dpop_counts(&self) -> (usize, usize, usize) {
        let st = self.lock();
        (st.dpop.proofs.0, st.dpop.proofs.1, st.dpop.challenges)
    }

    /// The thumbprint of the key `token` (access or refresh) is bound to, if any.
    pub fn dpop_binding(&self, token: &str) -> Option<String> {
        self.lock().dpop.bound.get(token).cloned()
    }

    /// Mints an RFC 9068 JWT access token per `spec` bound to the key with thumbprint `jkt`
    /// (`cnf.jkt`), known to introspection and userinfo as bound to it.
    pub fn issue_dpop_bound_jwt_access_token(
        &self,
        spec: &JwtAccessTokenSpec,
        jkt: &str,
        now: u64,
    ) -> String {
        self.lock().dpop.binding = Some(jkt.to_owned());
        let token = self.issue_jwt_access_token(spec, now);
        let mut st = self.lock();
        st.dpop.binding = None;
        st.dpop.bound.insert(token.clone(), jkt.to_owned());
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thumbprint is RFC 7638's, by the RFC's own example (section 3.1).
    #[test]
    fn thumbprint_follows_rfc7638() {
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(thumbprint(json!({"kty": "oct"}).as_object().unwrap()), None);
    }
}
