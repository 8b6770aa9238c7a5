//! Pushed authorization requests (PAR, RFC 9126): the client sends the authorization request
//! straight to the provider's `pushed_authorization_request_endpoint`, authenticated as at
//! the token endpoint, and the browser carries only `client_id` and the `request_uri` the
//! provider answered with. The request's parameters (and its `state`, `nonce` and PKCE
//! challenge) never pass through the browser, where they could be read or changed, and the
//! provider knows before the user arrives that the request comes from this client.
//!
//! PAR is used when configured
//! ([`ProviderConfigBuilder::pushed_authorization_requests`](crate::ProviderConfigBuilder::pushed_authorization_requests))
//! or when the provider's metadata says `require_pushed_authorization_requests`. With a
//! signed request object ([`crate::request_object`]) the push carries it as `request`.
//!
//! Starting a login ([`RelyingParty`](crate::RelyingParty)) then makes one more call: the
//! push, sent as an [`Action::Send`](crate::Action::Send) like every other call (so the
//! runtime's timeout and body size cap apply). Any failure (transport, a status other than
//! `201 Created`, an OAuth error, a body without `request_uri` or `expires_in`) is a typed
//! error shown with the error view, and the login is not started: no login cookie is set.

use bytes::Bytes;
use serde_json::Value;
use url::Url;

use crate::callback::Outbound;
use crate::config::{ClientRegistration, ProviderConfig};
use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
use crate::wire;

/// The longest `request_uri` accepted from the provider: it travels in the browser's redirect.
pub const MAX_REQUEST_URI: usize = 2048;

/// What a provider is configured to receive beyond a plain authorization request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestSettings {
    /// Push every authorization request (RFC 9126).
    pub(crate) push: bool,
    /// Send the authorization request as a signed request object (RFC 9101).
    pub(crate) signed: bool,
}

impl RequestSettings {
    /// Checks the settings against the client's key, and makes a dynamic registration ask
    /// for what they need: `require_pushed_authorization_requests` and the key's
    /// `request_object_signing_alg`. A registration info asking for another algorithm than
    /// the key signs is refused.
    pub(crate) fn settle(
        &self,
        mut client: ClientRegistration,
        key: Option<&crate::client_auth::ClientPrivateKey>,
    ) -> Result<ClientRegistration> {
        let alg = match (self.signed, key) {
            (false, _) => None,
            (true, Some(key)) => Some(key.algorithm().as_str()),
            (true, None) => {
                return Err(Error::config(
                    "client_private_key",
                    "signed_request_object needs the client's private key \
                     (ProviderConfigBuilder::private_key)",
                ))
            }
        };
        if let ClientRegistration::Dynamic(info) = &mut client {
            if self.push {
                info.require_pushed_authorization_requests = Some(true);
            }
            if let Some(alg) = alg {
                match &info.request_object_signing_alg {
                    Some(asked) if asked != alg => {
                        return Err(Error::config(
                            "request_object_signing_alg",
                            format!("`{asked}` in the registration info, but the key signs {alg}"),
                        ))
                    }
                    _ => info.request_object_signing_alg = Some(alg.to_owned()),
                }
            }
        }
        Ok(client)
    }
}

/// The provider metadata PAR and request objects read (RFC 9126 5, RFC 9101 9), kept in
/// [`ProviderMetadata::extra`].
impl ProviderMetadata {
    /// The `pushed_authorization_request_endpoint` (RFC 9126 5); `None` when absent or not a
    /// URL. Like every `*_endpoint`, it must use https (loopback excepted): see
    /// [`insecure_endpoint`](Self::insecure_endpoint).
    pub fn pushed_authorization_request_endpoint(&self) -> Option<Url> {
        let value = self
            .extra
            .get("pushed_authorization_request_endpoint")?
            .as_str()?;
        Url::parse(value).ok()
    }

    /// Whether the provider accepts authorization requests only through PAR
    /// (`require_pushed_authorization_requests`, RFC 9126 5).
    pub fn require_pushed_authorization_requests(&self) -> bool {
        self.extra.get("require_pushed_authorization_requests") == Some(&Value::Bool(true))
    }

    /// The algorithms the provider verifies request objects with
    /// (`request_object_signing_alg_values_supported`, OpenID Connect Discovery 3), when it
    /// lists them.
    pub fn request_object_signing_alg_values_supported(&self) -> Option<Vec<String>> {
        let list = self
            .extra
            .get("request_object_signing_alg_values_supported")?
            .as_array()?;
        Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// Whether a login at this provider pushes its authorization request: configured, or
/// required by the provider.
pub fn uses_par(config: &ProviderConfig, metadata: &ProviderMetadata) -> bool {
    config.requests.push || metadata.require_pushed_authorization_requests()
}

/// Whether logins at this provider can be delivered as configured: PAR (configured or
/// required) needs the provider's `pushed_authorization_request_endpoint`, a request object
/// the client's key, signing an algorithm the provider accepts. A configuration error
/// otherwise, found before anything is sent (at login, and by
/// [`RelyingParty::ready`](crate::RelyingParty::ready)).
pub fn check_provider(config: &ProviderConfig, metadata: &ProviderMetadata) -> Result<()> {
    if uses_par(config, metadata) && metadata.pushed_authorization_request_endpoint().is_none() {
        return Err(Error::config(
            "pushed_authorization_request_endpoint",
            "PAR is configured or required, but the provider publishes no \
             pushed_authorization_request_endpoint",
        ));
    }
    if config.requests.signed {
        let key = config.client_auth.key.as_ref().ok_or_else(|| {
            Error::config(
                "client_private_key",
                "signed_request_object needs the client's private key",
            )
        })?;
        crate::request_object::check_algorithm(key, metadata)?;
    }
    Ok(())
}

/// How an authorization request reaches the provider. Its `Debug` shows a redirect's
/// endpoint without the query, which carries `state`, `nonce` or the request object.
#[must_use]
#[non_exhaustive]
pub enum Delivery {
    /// The browser goes to this URL, which carries the request (its parameters, or `client_id`
    /// and the signed request object).
    Redirect(Url),
    /// This push is sent first; the browser then goes to
    /// [`pushed_request_url`] with the `request_uri` of its answer ([`parse_push_response`]).
    Push(Outbound),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Redirect(url) => {
                let mut endpoint = url.clone();
                endpoint.set_query(None);
                endpoint.set_fragment(None);
                f.debug_tuple("Redirect").field(&endpoint.as_str()).finish()
            }
            Delivery::Push(out) => f.debug_tuple("Push").field(out).finish(),
        }
    }
}

/// How the authorization parameters `params` (with `client_id` among them) are delivered to
/// the provider as configured: in the URL, as a signed request object by value, or pushed
/// (with or without a request object). `jtis` are two fresh, unique identifiers: the request
/// object's and the client assertion's.
///
/// A configuration that cannot work at this provider is an error before anything is sent: PAR
/// without a `pushed_authorization_request_endpoint`, a request object without a key, or a key
/// whose algorithm the provider does not accept.
pub fn deliver(
    config: &ProviderConfig,
    client: &ClientMetadata,
    metadata: &ProviderMetadata,
    params: &[(String, String)],
    now: u64,
    jtis: [String; 2],
) -> Result<Delivery> {
    check_provider(config, metadata)?;
    let [object_jti, assertion_jti] = jtis;
    let request = match config.client_auth.key.as_ref() {
        Some(key) if config.requests.signed => Some(crate::request_object::request_object(
            key,
            &client.client_id,
            &metadata.issuer,
            params,
            now,
            &object_jti,
        )?),
        _ => None,
    };
    if !uses_par(config, metadata) {
        let mut url = metadata.authorization_endpoint.clone();
        match &request {
            None => {
                url.query_pairs_mut().extend_pairs(params);
            }
            // OpenID Connect Core 6.1 wants `response_type` and `scope` outside the request
            // object too (the same values), so that the request is known as OpenID Connect;
            // RFC 9101 6.3 has the provider use the object's values only.
            Some(jwt) => {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    if matches!(k.as_str(), "client_id" | "response_type" | "scope") {
                        q.append_pair(k, v);
                    }
                }
                q.append_pair("request", jwt.expose());
            }
        }
        return Ok(Delivery::Redirect(url));
    }
    let Some(endpoint) = metadata.pushed_authorization_request_endpoint() else {
        // `check_provider` refused it above.
        return Err(Error::config(
            "pushed_authorization_request_endpoint",
            "missing",
        ));
    };
    let auth = config
        .client_auth
        .auth(client, &metadata.issuer, now, assertion_jti);
    // Every method but Basic puts `client_id` in the form itself; RFC 9126 2 wants it there
    // once in any case.
    let keep_client_id = auth.method() == ClientAuthMethod::ClientSecretBasic;
    let form: Vec<(&str, &str)> = match &request {
        Some(jwt) => {
            let mut form = vec![("request", jwt.expose())];
            if keep_client_id {
                form.push(("client_id", client.client_id.as_str()));
            }
            form
        }
        None => params
            .iter()
            .filter(|(k, _)| keep_client_id || k != "client_id")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    };
    let request = auth.post_form(endpoint.as_str(), form)?;
    Ok(Delivery::Push(Outbound {
        endpoint: Endpoint::PushedAuthorization,
        request,
    }))
}

/// The provider's answer to a push (RFC 9126 2.2): the `request_uri` the browser takes to the
/// authorization endpoint, and how long it is valid. Its `Debug` omits the `request_uri`,
/// which starts this client's login at the provider for whoever holds it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushedRequest {
    /// The reference to the pushed request.
    pub request_uri: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for PushedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushedRequest")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Reads the answer to a push: `201 Created` with a JSON object holding a non-empty
/// `request_uri` and a positive `expires_in`. An OAuth error body is the provider's error;
/// any other status, a body that is not such an object, or one missing either member is a
/// protocol error naming the endpoint.
pub fn parse_push_response(response: http::Response<Bytes>) -> Result<PushedRequest> {
    const ENDPOINT: Endpoint = Endpoint::PushedAuthorization;
    let status = response.status();
    let body = wire::expect_success(ENDPOINT, response)?;
    if status != http::StatusCode::CREATED {
        return Err(ProtocolError::UnexpectedStatus {
            endpoint: ENDPOINT,
            status: status.as_u16(),
        }
        .into());
    }
    let doc: serde_json::Map<String, Value> = wire::json(ENDPOINT, &body)?;
    let malformed = |reason: &str| {
        Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: ENDPOINT,
            reason: reason.to_owned(),
        })
    };
    let request_uri = match doc.get("request_uri") {
        // It goes into the browser's redirect, which browsers and proxies cap: a provider's
        // value beyond 2 KiB is not a reference worth sending.
        Some(Value::String(uri)) if !uri.is_empty() && uri.len() <= MAX_REQUEST_URI => uri.clone(),
        Some(_) => {
            return Err(malformed(
                "request_uri is not a non-empty string of at most 2 KiB",
            ))
        }
        None => return Err(malformed("no request_uri")),
    };
    let expires_in = match doc.get("expires_in") {
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| malformed("expires_in is not a positive integer"))?,
        None => return Err(malformed("no expires_in")),
    };
    Ok(PushedRequest {
        request_uri,
        expires_in,
    })
}

/// Where the browser goes after a push: the authorization endpoint with `client_id` and
/// `request_uri` only (RFC 9126 4).
pub fn pushed_request_url(authorization_endpoint: &Url, client_id: &str, request_uri: &str) -> Url {
    let mut url = authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_auth::ClientPrivateKey;
    use crate::registration::ClientRegistrationInfo;
    use serde_json::json;

    fn metadata(par: bool) -> ProviderMetadata {
        let mut m =
            ProviderMetadata::new("https://op", "https://op/auth?tenant=t".parse().unwrap());
        m.jwks_uri = Some("https://op/jwks".parse().unwrap());
        m.token_endpoint = Some("https://op/token".parse().unwrap());
        if par {
            m.extra.insert(
                "pushed_authorization_request_endpoint".into(),
                json!("https://op/par"),
            );
        }
        m
    }

    fn key() -> ClientPrivateKey {
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap()
    }

    fn params() -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", "c"),
            ("redirect_uri", "https://rp/cb"),
            ("scope", "openid"),
            ("state", "st"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn jtis() -> [String; 2] {
        ["j1".into(), "j2".into()]
    }

    fn form(out: &Outbound) -> Vec<(String, String)> {
        form_urlencoded::parse(out.request.body())
            .into_owned()
            .collect()
    }

    fn names(pairs: &[(String, String)]) -> Vec<&str> {
        pairs.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn response(status: u16, body: &str) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    /// Without PAR or a request object the parameters go in the URL, after the endpoint's own
    /// query, as before.
    #[test]
    fn plain_requests_go_in_the_url() {
        let m = metadata(true);
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("c", "s"))
            .build()
            .unwrap();
        let Delivery::Redirect(url) =
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap()
        else {
            panic!("no push")
        };
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            names(&q),
            [
                "tenant",
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state"
            ]
        );
        let shown = format!("{:?}", Delivery::Redirect(url));
        assert!(
            shown.contains("https://op/auth") && !shown.contains("st"),
            "{shown}"
        );
    }

    /// Configured PAR posts the parameters with the client's authentication (Basic: the
    /// `client_id` stays in the form once; `client_secret_post`: the method adds it, once).
    #[test]
    fn configured_par_pushes_with_client_authentication() {
        let m = metadata(true);
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("c", "s"))
            .pushed_authorization_requests(true)
            .build()
            .unwrap();
        let Delivery::Push(out) =
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap()
        else {
            panic!("a push")
        };
        assert_eq!(out.endpoint, Endpoint::PushedAuthorization);
        assert_eq!(out.request.method(), http::Method::POST);
        assert_eq!(out.request.uri(), "https://op/par");
        assert!(out.request.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic "));
        let f = form(&out);
        assert_eq!(f, params());
        let c = ProviderConfig::from_metadata(m.clone())
            .client(
                ClientMetadata::new("c", "s").with_auth_method(ClientAuthMethod::ClientSecretPost),
            )
            .pushed_authorization_requests(true)
            .build()
            .unwrap();
        let Delivery::Push(out) =
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap()
        else {
            panic!("a push")
        };
        let f = form(&out);
        assert_eq!(names(&f).iter().filter(|n| **n == "client_id").count(), 1);
        assert!(names(&f).contains(&"client_secret"));
    }

    /// A provider requiring PAR gets it unconfigured; configured PAR at a provider without the
    /// endpoint is a configuration error naming it.
    #[test]
    fn required_par_is_used_and_missing_endpoint_is_an_error() {
        let mut m = metadata(true);
        m.extra
            .insert("require_pushed_authorization_requests".into(), json!(true));
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("c", "s"))
            .build()
            .unwrap();
        assert!(uses_par(&c, &m));
        assert!(matches!(
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()),
            Ok(Delivery::Push(_))
        ));
        let m = metadata(false);
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("c", "s"))
            .pushed_authorization_requests(true)
            .build()
            .unwrap();
        let err = deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "pushed_authorization_request_endpoint",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// A request object by value: the URL carries `client_id`, `response_type`, `scope` and
    /// `request` only (no `state`, no `redirect_uri`); through PAR the form carries `request`
    /// (and `client_id` from the assertion method).
    #[test]
    fn request_objects_by_value_and_pushed() {
        let m = metadata(true);
        let build = |push: bool| {
            ProviderConfig::from_metadata(m.clone())
                .client(ClientMetadata::without_secret("c"))
                .private_key(key())
                .signed_request_object(true)
                .pushed_authorization_requests(push)
                .build()
                .unwrap()
        };
        let c = build(false);
        let Delivery::Redirect(url) =
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap()
        else {
            panic!("by value")
        };
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            names(&q),
            ["tenant", "response_type", "client_id", "scope", "request"]
        );
        let c = build(true);
        let Delivery::Push(out) =
            deliver(&c, c.client().unwrap(), &m, &params(), 7, jtis()).unwrap()
        else {
            panic!("pushed")
        };
        let f = form(&out);
        let mut n = names(&f);
        n.sort_unstable();
        assert_eq!(
            n,
            [
                "client_assertion",
                "client_assertion_type",
                "client_id",
                "request"
            ]
        );
    }

    /// `build` refuses a request object without a key; a dynamic registration asks for PAR
    /// and the key's algorithm, and refuses another algorithm in the registration info.
    #[test]
    fn settings_are_checked_and_registered() {
        let err = ProviderConfig::discover("https://op")
            .client(ClientMetadata::new("c", "s"))
            .signed_request_object(true)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "client_private_key",
                    ..
                }
            ),
            "{err}"
        );
        let c = ProviderConfig::discover("https://op")
            .register(ClientRegistrationInfo::new("app"))
            .private_key(key())
            .signed_request_object(true)
            .pushed_authorization_requests(true)
            .build()
            .unwrap();
        let ClientRegistration::Dynamic(info) = c.registration() else {
            panic!("dynamic")
        };
        assert_eq!(info.require_pushed_authorization_requests, Some(true));
        assert_eq!(info.request_object_signing_alg.as_deref(), Some("ES256"));
        let body: Value = serde_json::from_slice(
            crate::registration::registration_request("https://op/register", info)
                .unwrap()
                .body(),
        )
        .unwrap();
        assert_eq!(body["require_pushed_authorization_requests"], true);
        assert_eq!(body["request_object_signing_alg"], "ES256");
        let mut info = ClientRegistrationInfo::new("app");
        info.request_object_signing_alg = Some("RS256".into());
        assert!(ProviderConfig::discover("https://op")
            .register(info)
            .private_key(key())
            .signed_request_object(true)
            .build()
            .is_err());
        let plain = ProviderConfig::discover("https://op")
            .register(ClientRegistrationInfo::new("app"))
            .build()
            .unwrap();
        let ClientRegistration::Dynamic(info) = plain.registration() else {
            panic!("dynamic")
        };
        assert_eq!(info.require_pushed_authorization_requests, None);
        assert_eq!(info.request_object_signing_alg, None);
    }

    /// A `201` with both members is read; every other answer is a typed error.
    #[test]
    fn push_responses_are_checked() {
        let ok = parse_push_response(response(
            201,
            r#"{"request_uri":"urn:ietf:params:oauth:request_uri:abc","expires_in":60}"#,
        ))
        .unwrap();
        assert_eq!(ok.request_uri, "urn:ietf:params:oauth:request_uri:abc");
        assert_eq!(ok.expires_in, 60);
        assert!(
            !format!("{ok:?}").contains("abc"),
            "Debug hides the request_uri"
        );
        let err = parse_push_response(response(
            400,
            r#"{"error":"invalid_request","error_description":"bad"}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, Error::Provider(e) if e.error == "invalid_request"),
            "{err}"
        );
        for (status, body, expected) in [
            (500, "<html>", "status"),
            (200, r#"{"request_uri":"u","expires_in":60}"#, "status"),
            (201, "not json", "malformed"),
            (201, r#"{"expires_in":60}"#, "malformed"),
            (201, r#"{"request_uri":"","expires_in":60}"#, "malformed"),
            (201, r#"{"request_uri":"u"}"#, "malformed"),
            (201, r#"{"request_uri":"u","expires_in":0}"#, "malformed"),
            (201, r#"{"request_uri":"u","expires_in":"60"}"#, "malformed"),
        ] {
            let err = parse_push_response(response(status, body)).unwrap_err();
            let fits = match expected {
                "status" => matches!(
                    err,
                    Error::Protocol(ProtocolError::UnexpectedStatus {
                        endpoint: Endpoint::PushedAuthorization,
                        ..
                    })
                ),
                _ => matches!(
                    err,
                    Error::Protocol(ProtocolError::MalformedResponse {
                        endpoint: Endpoint::PushedAuthorization,
                        ..
                    })
                ),
            };
            assert!(fits, "{status} {body}: {err}");
        }
    }

    /// The browser's URL after a push: the endpoint's own query, `client_id` and
    /// `request_uri`, nothing else.
    #[test]
    fn pushed_request_url_carries_only_the_reference() {
        let url = pushed_request_url(&"https://op/auth?tenant=t".parse().unwrap(), "c", "urn:x");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            [
                ("tenant".to_owned(), "t".to_owned()),
                ("client_id".to_owned(), "c".to_owned()),
                ("request_uri".to_owned(), "urn:x".to_owned())
            ]
        );
    }
}
