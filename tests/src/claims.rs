//! ID token construction (honoring ID-token misbehaviors) and user claim release.

use serde_json::{json, Map, Value};

use crate::keys;
use crate::util::b64url;
use crate::{Config, Grant, Misbehavior, State};

/// Claims an RP must never get from a user's profile (they are set by the provider).
const RESERVED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "acr",
    "amr",
    "sid",
];

/// The scope that releases a standard claim (OIDC Core 5.4), or `None` for custom claims.
fn scope_of(claim: &str) -> Option<&'static str> {
    match claim {
        "name" | "family_name" | "given_name" | "middle_name" | "nickname"
        | "preferred_username" | "profile" | "picture" | "website" | "gender" | "birthdate"
        | "zoneinfo" | "locale" | "updated_at" => Some("profile"),
        "email" | "email_verified" => Some("email"),
        "address" => Some("address"),
        "phone_number" | "phone_number_verified" => Some("phone"),
        _ => None,
    }
}

/// Whether a space-separated scope string contains `wanted`.
pub(crate) fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// A user's full profile: defaults overlaid with the claims from `set_user`.
fn profile(st: &State, username: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("name".into(), json!(username));
    map.insert("preferred_username".into(), json!(username));
    map.insert("email".into(), json!(format!("{username}@example.com")));
    map.insert("email_verified".into(), json!(true));
    if let Some(extra) = st.users.get(username) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    map
}

/// The user claims released for a grant to one target (`"id_token"` or `"userinfo"`): standard
/// claims allowed by scope or requested via the `claims` parameter, plus custom claims.
pub(crate) fn released(st: &State, grant: &Grant, target: &str) -> Map<String, Value> {
    let requested = grant
        .claims
        .as_ref()
        .and_then(|c| c.get(target))
        .and_then(Value::as_object);
    profile(st, &grant.username)
        .into_iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .filter(|(k, _)| match scope_of(k) {
            Some(scope) => {
                has_scope(&grant.scope, scope) || requested.is_some_and(|r| r.contains_key(k))
            }
            None => true,
        })
        .collect()
}

/// What goes into one ID token besides the grant.
pub(crate) struct IdTokenSpec<'a> {
    pub(crate) grant: &'a Grant,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) at_hash: Option<String>,
    pub(crate) c_hash: Option<String>,
    /// Whether the token endpoint issues it (rather than the authorization endpoint).
    pub(crate) token_endpoint: bool,
}

/// Builds and signs an ID token, applying the current ID-token misbehavior.
pub(crate) fn id_token(
    cfg: &Config,
    st: &State,
    spec: &IdTokenSpec<'_>,
    now: u64,
) -> Result<String, String> {
    let m = &st.misbehavior;
    let client_id = spec.grant.client_id.as_str();
    let mut c = released(st, spec.grant, "id_token");

    let issuer = crate::compat::token_issuer(cfg, st);
    let iss = if *m == Misbehavior::WrongIssuer {
        format!("{issuer}-wrong")
    } else {
        issuer
    };
    c.insert("iss".into(), json!(iss));
    crate::compat::add_tenant_claims(st, &mut c);
    if *m == Misbehavior::TokenEndpointOtherSub && spec.token_endpoint {
        c.insert("sub".into(), json!("someone-else"));
    } else {
        c.insert("sub".into(), json!(spec.grant.username));
    }
    match m {
        Misbehavior::WrongAudience => {
            c.insert("aud".into(), json!(format!("{client_id}-wrong")));
        }
        Misbehavior::MultipleAudiencesWithoutAzp => {
            c.insert("aud".into(), json!([client_id, "other"]));
        }
        Misbehavior::WrongAzp => {
            c.insert("aud".into(), json!([client_id, "other"]));
            c.insert("azp".into(), json!("other"));
        }
        _ => {
            c.insert("aud".into(), json!(client_id));
        }
    }
    let exp = if *m == Misbehavior::Expired {
        now.saturating_sub(600)
    } else {
        now.saturating_add(300)
    };
    let iat = if *m == Misbehavior::IssuedInFuture {
        now.saturating_add(3600)
    } else {
        now
    };
    c.insert("exp".into(), json!(exp));
    c.insert("iat".into(), json!(iat));
    if *m == Misbehavior::NotYetValid {
        c.insert("nbf".into(), json!(now.saturating_add(3600)));
    }
    match m {
        Misbehavior::OmitAuthTime => {}
        Misbehavior::StaleAuthTime => {
            c.insert("auth_time".into(), json!(now.saturating_sub(3600)));
        }
        _ => {
            c.insert("auth_time".into(), json!(spec.grant.auth_time));
        }
    }
    match (m, &spec.grant.acr) {
        (Misbehavior::OmitAcr, _) => {}
        (Misbehavior::WrongAcr, _) => {
            c.insert("acr".into(), json!("urn:sim:other"));
        }
        (_, Some(acr)) => {
            c.insert("acr".into(), json!(acr));
        }
        (_, None) => {}
    }
    if let Some(nonce) = spec.nonce {
        match m {
            Misbehavior::OmitNonce => {}
            Misbehavior::WrongNonce => {
                c.insert("nonce".into(), json!(format!("{nonce}-wrong")));
            }
            _ => {
                c.insert("nonce".into(), json!(nonce));
            }
        }
    }
    if let Some(h) = &spec.at_hash {
        if *m != Misbehavior::OmitAtHash {
            c.insert("at_hash".into(), json!(h));
        }
    }
    if let Some(h) = &spec.c_hash {
        c.insert("c_hash".into(), json!(h));
    }
    crate::logout_token::add_sid_claim(st, spec.grant, &mut c);

    if *m == Misbehavior::AlgNone {
        return keys::encode_unsigned(c).map_err(|e| e.to_string());
    }
    if let Some(maced) = crate::compat::mac_id_token(st, client_id, &c) {
        let jwt = maced?;
        return Ok(match m {
            Misbehavior::BadSignature => corrupt_signature(&jwt),
            _ => jwt,
        });
    }
    let key = st.signing_key().ok_or("no signing key")?;
    let jwt = match m {
        Misbehavior::MislabelledAlg(alg) => key.sign_labelled(c, *alg),
        Misbehavior::IdTokenRepeatedSub => {
            key.sign_text(&with_second_sub(&c, "someone-else", false))
        }
        Misbehavior::IdTokenNestedPastLimit => {
            let text = Value::Object(c.clone()).to_string();
            let body = text.strip_suffix('}').unwrap_or(&text);
            let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
            key.sign_text(&format!("{body},\"acr\":{deep}}}"))
        }
        _ => key.sign(c),
    }
    .map_err(|e| e.to_string())?;
    if *m == Misbehavior::BadSignature {
        return Ok(corrupt_signature(&jwt));
    }
    Ok(jwt)
}

/// `claims` as JSON text with `"sub": sub` appended after its own `sub`; when `hidden`, behind
/// a name no reader can decode (a lone surrogate escape), which stops a claim-by-claim scan
/// before the second `sub` while a lenient JSON reader goes on to it.
pub(crate) fn with_second_sub(claims: &Map<String, Value>, sub: &str, hidden: bool) -> String {
    let text = Value::Object(claims.clone()).to_string();
    let body = text.strip_suffix('}').unwrap_or(&text);
    let hide = if hidden { r#""\udc00":0,"# } else { "" };
    format!("{body},{hide}\"sub\":{}}}", json!(sub))
}

/// Flips bits in the (decoded) signature of a compact JWS and re-encodes it.
fn corrupt_signature(jwt: &str) -> String {
    use base64::Engine as _;
    let Some((signing_input, sig)) = jwt.rsplit_once('.') else {
        return jwt.to_owned();
    };
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap_or_default();
    if bytes.is_empty() {
        bytes.push(0);
    }
    for b in bytes.iter_mut().take(8) {
        *b ^= 0x5a;
    }
    format!("{signing_input}.{}", b64url(&bytes))
}
