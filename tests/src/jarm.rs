//! JARM (JWT Secured Authorization Response Mode) on the simulated provider: with
//! `response_mode` `jwt`, `query.jwt`, `fragment.jwt` or `form_post.jwt`, every authorization
//! response (success or error) becomes one parameter, `response`, a JWT signed with the
//! provider's current signing key whose claims are the response's parameters plus `iss`,
//! `aud` (the client) and `exp`, delivered in the mode's base mode.

use serde_json::{json, Map, Value};

use crate::authorize::{Mode, Outcome};
use crate::util::Params;
use crate::{Config, State};

/// How long a JARM response is valid (the spec recommends minutes at most).
const LIFETIME: u64 = 600;

/// One thing the provider gets wrong in its JARM responses, for rejection tests.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JarmMisbehavior {
    /// The JWT's signature is changed.
    BadSignature,
    /// `aud` names another client.
    WrongAudience,
    /// `exp` is ten minutes past.
    Expired,
    /// `iss` names another issuer.
    WrongIssuer,
}

/// The provider's JARM state.
#[derive(Debug, Default)]
pub(crate) struct JarmState {
    pub(crate) misbehavior: Option<JarmMisbehavior>,
    /// How many JARM responses were issued.
    pub(crate) issued: u64,
}

/// The modes JARM adds.
const MODES: &[&str] = &["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"];

/// The base mode of a JARM `response_mode` (`jwt` is the response type's default), or `None`
/// when it is no JARM mode.
pub(crate) fn base_mode(value: &str, default: Mode) -> Option<Mode> {
    match value {
        "jwt" => Some(default),
        "query.jwt" => Some(Mode::Query),
        "fragment.jwt" => Some(Mode::Fragment),
        "form_post.jwt" => Some(Mode::FormPost),
        _ => None,
    }
}

/// Discovery lists the JARM modes and the algorithms JARM responses are signed with.
pub(crate) fn adjust_discovery(st: &State, doc: &mut Value) {
    if let Some(modes) = doc
        .get_mut("response_modes_supported")
        .and_then(Value::as_array_mut)
    {
        modes.extend(MODES.iter().map(|m| json!(m)));
    }
    let algs: Vec<&str> = st
        .keys
        .iter()
        .map(|k| k.alg.name())
        .fold(Vec::new(), |mut v, a| {
            if !v.contains(&a) {
                v.push(a);
            }
            v
        });
    doc["authorization_signing_alg_values_supported"] = json!(algs);
}

/// The authorization endpoint's outcome for the request `raw` (its form-encoded parameters),
/// as a JARM response when the request asked for one.
pub(crate) fn wrap(cfg: &Config, st: &mut State, raw: &str, outcome: Outcome, now: u64) -> Outcome {
    // With PAR or a request object, the response mode is in the request `raw` stands for.
    let resolved = crate::par::request_params(st, raw);
    let p = Params::parse(resolved.as_bytes());
    let jarm = p.get("response_mode").is_some_and(|m| MODES.contains(&m));
    let Outcome::Redirect {
        redirect_uri,
        mode,
        params,
        set_cookie,
    } = outcome
    else {
        return outcome;
    };
    let (Some(client_id), true) = (p.get("client_id"), jarm) else {
        return Outcome::Redirect {
            redirect_uri,
            mode,
            params,
            set_cookie,
        };
    };
    let mut claims = Map::new();
    for (k, v) in params {
        claims.insert(k, Value::String(v));
    }
    let misbehavior = st.jarm.misbehavior;
    let issuer = match misbehavior {
        Some(JarmMisbehavior::WrongIssuer) => format!("{}-wrong", cfg.issuer),
        _ => cfg.issuer.clone(),
    };
    let audience = match misbehavior {
        Some(JarmMisbehavior::WrongAudience) => "another-client".to_owned(),
        _ => client_id.to_owned(),
    };
    let exp = match misbehavior {
        Some(JarmMisbehavior::Expired) => now.saturating_sub(LIFETIME),
        _ => now.saturating_add(LIFETIME),
    };
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(audience));
    claims.insert("exp".into(), json!(exp));
    claims.insert("iat".into(), json!(now));
    let signed = match st.keys.last() {
        Some(key) => key.sign(claims).map_err(|e| e.to_string()),
        None => Err("no signing key".to_owned()),
    };
    let jwt = match signed {
        Ok(jwt) if misbehavior == Some(JarmMisbehavior::BadSignature) => flip_signature(&jwt),
        Ok(jwt) => jwt,
        // Signing with the provider's own key only fails if the crypto library is broken: the
        // error goes back unwrapped, as the provider's plain error response.
        Err(e) => {
            return Outcome::Redirect {
                redirect_uri,
                mode,
                params: vec![
                    ("error".to_owned(), "server_error".to_owned()),
                    ("error_description".to_owned(), e),
                ],
                set_cookie,
            }
        }
    };
    st.jarm.issued += 1;
    Outcome::Redirect {
        redirect_uri,
        mode,
        params: vec![("response".to_owned(), jwt)],
        set_cookie,
    }
}

/// The JWS with the first character of its signature changed.
fn flip_signature(jwt: &str) -> String {
    match jwt.rsplit_once('.') {
        Some((head, sig)) => {
            let first = if sig.starts_with('A') { "B" } else { "A" };
            format!("{head}.{first}{}", sig.get(1..).unwrap_or_default())
        }
        None => jwt.to_owned(),
    }
}
