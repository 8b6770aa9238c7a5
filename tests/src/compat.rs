//! Provider behaviours that some certified providers have and a relying party must handle:
//! ID tokens MACed with the client secret (HS256/384/512), signed userinfo responses
//! (`application/jwt`), a chosen `id_token_signing_alg_values_supported`, and a multi-tenant
//! issuer in the style of Microsoft Entra's common endpoint.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Method, Request, Response};
use josekit::jws::{JwsHeader, JwsSigner, HS256, HS384, HS512};
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Map, Value};

use crate::keys::SigningAlg;
use crate::util::{self, Params};
use crate::{Config, Misbehavior, SimProvider, State};

/// A multi-tenant issuer: discovery publishes `template` (with its literal `{tenantid}`) as
/// the issuer, and ID tokens (and signed userinfo) carry `iss` = the template with
/// `{tenantid}` replaced by `iss_tenant`, and `tid` = `tid`. Make them differ, or leave `tid`
/// out, to make the provider wrong in that way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantIssuer {
    /// The issuer template, e.g. `https://op.test/{tenantid}/v2.0`.
    pub template: String,
    /// The tenant in the tokens' `iss`.
    pub iss_tenant: String,
    /// The tokens' `tid` claim; `None` leaves it out.
    pub tid: Option<String>,
}

impl TenantIssuer {
    /// A correct tenant issuer: `iss` and `tid` name the same `tenant`.
    pub fn new(template: &str, tenant: &str) -> Self {
        TenantIssuer {
            template: template.to_owned(),
            iss_tenant: tenant.to_owned(),
            tid: Some(tenant.to_owned()),
        }
    }
}

/// How the provider signs what it issues to one client, as the client registered it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientSigning {
    /// `id_token_signed_response_alg`: an HMAC algorithm MACs with the client secret; any
    /// other (or none) signs with the provider's current key.
    pub(crate) id_token: Option<String>,
    /// `userinfo_signed_response_alg`: with one, userinfo answers with a JWT.
    pub(crate) userinfo: Option<String>,
}

/// What this module keeps in the provider's state.
#[derive(Debug, Default)]
pub(crate) struct CompatState {
    pub(crate) clients: HashMap<String, ClientSigning>,
    /// Overrides the discovery document's `id_token_signing_alg_values_supported`.
    pub(crate) advertised_algs: Option<Vec<String>>,
    pub(crate) tenant: Option<TenantIssuer>,
    pub(crate) last_userinfo_request: Option<Request<Bytes>>,
}

impl SimProvider {
    /// Signs what this provider issues to `client_id` as if the client registered
    /// `id_token_signed_response_alg = id_token` and `userinfo_signed_response_alg =
    /// userinfo`: an HMAC algorithm (`HS256`, `HS384`, `HS512`) MACs with the client's secret
    /// (OpenID Connect Core 10.1), any other signs with the provider's current key; with a
    /// userinfo algorithm, userinfo answers with a signed JWT (`application/jwt`) carrying
    /// `iss` and `aud`. Dynamic registrations that ask for these are recorded the same way.
    pub fn set_client_signing(
        &self,
        client_id: &str,
        id_token: Option<&str>,
        userinfo: Option<&str>,
    ) {
        self.lock().compat.clients.insert(
            client_id.to_owned(),
            ClientSigning {
                id_token: id_token.map(str::to_owned),
                userinfo: userinfo.map(str::to_owned),
            },
        );
    }

    /// Makes discovery advertise exactly `algs` as `id_token_signing_alg_values_supported`
    /// (`None`: the algorithms of the published keys, the default).
    pub fn advertise_signing_algs(&self, algs: Option<&[&str]>) {
        self.lock().compat.advertised_algs =
            algs.map(|a| a.iter().map(|s| s.to_string()).collect());
    }

    /// Issues tenant-style `iss` and `tid` (and publishes the template as the discovery
    /// issuer), or goes back to the plain issuer with `None`.
    pub fn set_tenant_issuer(&self, tenant: Option<TenantIssuer>) {
        self.lock().compat.tenant = tenant;
    }

    /// A copy of the last request the userinfo endpoint received (body included).
    pub fn last_userinfo_request(&self) -> Option<Request<Bytes>> {
        self.lock()
            .compat
            .last_userinfo_request
            .as_ref()
            .map(crate::clone_request)
    }
}

/// The `iss` of the tokens issued now: the tenant's, or the issuer.
pub(crate) fn token_issuer(cfg: &Config, st: &State) -> String {
    match &st.compat.tenant {
        Some(t) => t
            .template
            .replace(oidc_core::issuer::TENANT_PLACEHOLDER, &t.iss_tenant),
        None => cfg.issuer.clone(),
    }
}

/// Adds the tenant's `tid` to ID token claims, when issuing as a tenant.
pub(crate) fn add_tenant_claims(st: &State, claims: &mut Map<String, Value>) {
    if let Some(TenantIssuer { tid: Some(tid), .. }) = &st.compat.tenant {
        claims.insert("tid".into(), json!(tid));
    }
}

/// Adjusts the discovery document: the tenant template as issuer, the advertised algorithms.
pub(crate) fn adjust_discovery(st: &State, doc: &mut Value) {
    if let Some(t) = &st.compat.tenant {
        doc["issuer"] = json!(t.template);
    }
    if let Some(algs) = &st.compat.advertised_algs {
        doc["id_token_signing_alg_values_supported"] = json!(algs);
    }
}

/// Records the algorithms a dynamic registration asked for.
pub(crate) fn record_registration(st: &mut State, client_id: &str, meta: &Map<String, Value>) {
    let alg = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
    let signing = ClientSigning {
        id_token: alg("id_token_signed_response_alg"),
        userinfo: alg("userinfo_signed_response_alg"),
    };
    if signing != ClientSigning::default() {
        st.compat.clients.insert(client_id.to_owned(), signing);
    }
}

/// An HMAC signer for `alg` keyed with `key`, or `None` when `alg` is not HMAC (or the key is
/// too short, which josekit refuses).
fn hmac_signer(alg: &str, key: &[u8]) -> Option<Box<dyn JwsSigner>> {
    Some(match alg {
        "HS256" => Box::new(HS256.signer_from_bytes(key).ok()?),
        "HS384" => Box::new(HS384.signer_from_bytes(key).ok()?),
        "HS512" => Box::new(HS512.signer_from_bytes(key).ok()?),
        _ => return None,
    })
}

/// The HMAC key and algorithm for what is issued to `client_id` now: the client secret when
/// the client registered HMAC, and the attacks' keys under their misbehaviors. `None`: sign
/// with the provider's key.
fn hmac_for(st: &State, client_id: &str) -> Option<(String, Vec<u8>)> {
    match &st.misbehavior {
        Misbehavior::HmacWithPublicKey => {
            let key = st.keys.last()?;
            return Some(("HS256".into(), key.public_key_bytes()));
        }
        Misbehavior::HmacWithClientSecret => {
            let secret = st.client(client_id)?.client_secret.clone()?;
            return Some(("HS256".into(), secret.into_bytes()));
        }
        _ => {}
    }
    let alg = st.compat.clients.get(client_id)?.id_token.clone()?;
    if !alg.starts_with("HS") {
        return None;
    }
    let secret = st.client(client_id)?.client_secret.clone()?;
    Some((alg, secret.into_bytes()))
}

/// The `at_hash` / `c_hash` of `value` in an ID token for `client_id`: the hash of the HMAC
/// algorithm it is MACed with, else of the provider's signing key.
pub(crate) fn half_hash_for(st: &State, client_id: &str, value: &str) -> String {
    match hmac_for(st, client_id) {
        Some((alg, _)) => oidc_core::id_token::half_hash(&alg, value).unwrap_or_default(),
        None => st
            .signing_key()
            .map(|k| k.alg)
            .unwrap_or(SigningAlg::Rs256)
            .half_hash(value),
    }
}

/// MACs ID token claims for `client_id` when it (or the misbehavior) calls for HMAC; `None`:
/// sign with the provider's key as usual.
pub(crate) fn mac_id_token(
    st: &State,
    client_id: &str,
    claims: &Map<String, Value>,
) -> Option<Result<String, String>> {
    let (alg, key) = hmac_for(st, client_id)?;
    Some(mac(&alg, &key, claims))
}

fn mac(alg: &str, key: &[u8], claims: &Map<String, Value>) -> Result<String, String> {
    let signer = hmac_signer(alg, key).ok_or_else(|| format!("cannot key {alg}"))?;
    let payload = JwtPayload::from_map(claims.clone()).map_err(|e| e.to_string())?;
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    jwt::encode_with_signer(&payload, &header, signer.as_ref()).map_err(|e| e.to_string())
}

/// The access token of a userinfo request: the bearer header's or the form body's.
pub(crate) fn presented_token(request: &Request<Bytes>) -> Option<String> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    header.or_else(|| {
        (request.method() == Method::POST)
            .then(|| {
                Params::parse(request.body())
                    .get("access_token")
                    .map(str::to_owned)
            })
            .flatten()
    })
}

/// `GET` / `POST /userinfo`: recorded, answered as JSON by the token module, then signed for
/// a client that registered `userinfo_signed_response_alg`.
pub(crate) fn userinfo(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    st.compat.last_userinfo_request = Some(crate::clone_request(request));
    let plain = crate::token::userinfo(st, request, now);
    if plain.status() != 200 {
        return plain;
    }
    let client_id = presented_token(request)
        .and_then(|t| st.access_tokens.get(&t).map(|r| r.grant.client_id.clone()));
    let Some(client_id) = client_id else {
        return plain;
    };
    let Some(alg) = st
        .compat
        .clients
        .get(&client_id)
        .and_then(|c| c.userinfo.clone())
    else {
        return plain;
    };
    let Ok(Value::Object(mut claims)) = serde_json::from_slice::<Value>(plain.body()) else {
        return plain;
    };
    let iss = token_issuer(cfg, st);
    match st.misbehavior {
        Misbehavior::SignedUserinfoWrongIssuer => {
            claims.insert("iss".into(), json!(format!("{iss}-wrong")))
        }
        _ => claims.insert("iss".into(), json!(iss)),
    };
    match st.misbehavior {
        Misbehavior::SignedUserinfoWrongAudience => {
            claims.insert("aud".into(), json!("another-client"))
        }
        _ => claims.insert("aud".into(), json!(client_id)),
    };
    let signed = if alg.starts_with("HS") {
        let secret = st
            .client(&client_id)
            .and_then(|c| c.client_secret.clone())
            .unwrap_or_default();
        mac(&alg, secret.as_bytes(), &claims)
    } else {
        match st.keys.last() {
            Some(key) => key.sign(claims).map_err(|e| e.to_string()),
            None => Err("no signing key".to_owned()),
        }
    };
    match signed {
        Ok(jwt) if st.misbehavior == Misbehavior::SignedUserinfoBadSignature => {
            util::response(200, "application/jwt", flip_last_signature_char(&jwt))
        }
        Ok(jwt) => util::response(200, "application/jwt", jwt),
        Err(e) => util::oauth_error(500, "server_error", &e),
    }
}

/// The JWS with the first character of its signature changed: no longer a valid signature.
fn flip_last_signature_char(jwt: &str) -> String {
    match jwt.rsplit_once('.') {
        Some((head, sig)) => {
            let first = if sig.starts_with('A') { "B" } else { "A" };
            format!("{head}.{first}{}", sig.get(1..).unwrap_or_default())
        }
        None => jwt.to_owned(),
    }
}
