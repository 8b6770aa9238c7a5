//! One test that formats every public type of the workspace that can hold a secret, filled with
//! recognizable secret values, with `{:?}` and `{:#?}`, and checks that no secret shows.
//!
//! Not constructible from outside their crates, and so not listed: `oidc_rocket::ProviderUser`,
//! `oidc_rocket::BearerWith`, `oidc_rocket::SessionOrBearerWith` (private marker fields; their
//! `Debug` prints the same inner types checked here), `oidc_warp::OidcRejection` (a finished
//! error page), and `oidc_redis::RedisStore` (needs a live Redis; its `Debug` prints the key
//! prefix only).

use std::sync::Arc;

use bytes::Bytes;
use oidc_core::callback::{CodeExchange, ExchangeInput, LoginOutcome, Outbound, Step};
use oidc_core::client_credentials::ClientCredentialsCache;
use oidc_core::id_token::{Expectations, IdToken};
use oidc_core::introspection::IntrospectionCache;
use oidc_core::refresh::{RefreshInput, RefreshOutcome, TokenRefresh};
use oidc_core::registration::{parse_registration_response, registration_request};
use oidc_core::token::{code_exchange_request, parse_token_response, TokenResponse};
use oidc_core::{
    AuthorizationResponse, BearerValidation, ClientMetadata, ClientRegistrationInfo, Endpoint,
    PendingLogin, Principal, ProviderConfig, ProviderMetadata, Secret, SessionRecord,
    TokenIdentity, UserSession,
};
use oidc_runtime::{MemoryStore, RelyingParty, SessionStore};
use serde_json::json;

/// Every secret value planted below; each contains `SECRET` so that a leak of any of them,
/// whole, is caught by the marker as well.
const CLIENT_SECRET: &str = "SECRET-client-secret";
const ACCESS_TOKEN: &str = "SECRET-access-token";
const REFRESH_TOKEN: &str = "SECRET-refresh-token";
const ID_TOKEN: &str = "SECRET.id-token.jwt";
const CODE: &str = "SECRET-authorization-code";
const STATE: &str = "SECRET-state";
const NONCE: &str = "SECRET-nonce";
const VERIFIER: &str = "SECRET-pkce-verifier";
const LOGOUT_STATE: &str = "SECRET-logout-state";
const INITIAL_ACCESS_TOKEN: &str = "SECRET-initial-access-token";
const REGISTRATION_ACCESS_TOKEN: &str = "SECRET-registration-access-token";
const BEARER: &str = "SECRET-bearer-token";
const SESSION_KEY: &[u8; 32] = b"SECRET-session-key-0123456789abc";
const ENTROPY: [u8; 32] = *b"SECRET-flow-entropy-0123456789ab";

/// Formats values both ways and collects every leak, so that one run lists them all.
#[derive(Default)]
struct Leaks(std::cell::RefCell<Vec<String>>);

impl Leaks {
    /// Formats `value` with `{:?}` and `{:#?}`; records a leak if any secret (or the marker)
    /// shows.
    fn check(&self, name: &str, value: &dyn std::fmt::Debug, extra_secrets: &[&str]) {
        let session_key_bytes = format!("{:?}", &SESSION_KEY[..8])
            .trim_end_matches(']')
            .to_owned();
        for shown in [format!("{value:?}"), format!("{value:#?}")] {
            let leaked = shown.contains("SECRET")
                || extra_secrets.iter().any(|s| shown.contains(s))
                || shown.contains(&session_key_bytes);
            if leaked {
                self.0.borrow_mut().push(format!("{name}: {shown}"));
                return;
            }
        }
    }

    fn assert_none(self) {
        let leaks = self.0.into_inner();
        assert!(leaks.is_empty(), "secrets in Debug:\n{}", leaks.join("\n"));
    }
}

fn metadata() -> ProviderMetadata {
    let mut m = ProviderMetadata::new("https://op.test", "https://op.test/auth".parse().unwrap());
    m.token_endpoint = Some("https://op.test/token".parse().unwrap());
    m.jwks_uri = Some("https://op.test/jwks".parse().unwrap());
    m
}

fn client() -> ClientMetadata {
    let mut c = ClientMetadata::new("client", CLIENT_SECRET);
    c.extra.insert(
        "registration_access_token".into(),
        json!(REGISTRATION_ACCESS_TOKEN),
    );
    c
}

fn config() -> ProviderConfig {
    ProviderConfig::from_metadata(metadata())
        .client(ClientMetadata::new("client", CLIENT_SECRET))
        .build()
        .unwrap()
}

fn id_token() -> IdToken {
    IdToken::new(
        Secret::new(ID_TOKEN),
        json!({"sub": "alice", "nonce": NONCE, "at_hash": "x"})
            .try_into()
            .unwrap(),
    )
}

fn user() -> UserSession {
    UserSession {
        provider: "default".into(),
        access_token: Some(Secret::new(ACCESS_TOKEN)),
        access_token_expires_at: Some(10),
        id_token: id_token(),
        userinfo: None,
        refresh_token: Some(Secret::new(REFRESH_TOKEN)),
        last_authenticated: 1,
        last_session_refresh: 1,
        expires_at: 100,
        sid: None,
        dpop: None,
    }
}

fn pending() -> PendingLogin {
    // `PendingLogin` is `#[non_exhaustive]`: outside oidc-core it is made by a login, or read
    // back from a store, as here.
    serde_json::from_value(json!({
        "provider": "default",
        "state": STATE,
        "nonce": NONCE,
        "code_verifier": VERIFIER,
        "return_to": "/",
        "created_at": 1,
        "response_type": "code",
        "response_mode": "query",
        "silent": false,
        "max_age": 60,
        "acr_values": ["urn:gold"],
    }))
    .unwrap()
}

fn token_response() -> TokenResponse {
    serde_json::from_value(json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer",
        "expires_in": 60, "refresh_token": REFRESH_TOKEN, "id_token": ID_TOKEN}))
    .unwrap()
}

fn response(status: u16, body: serde_json::Value) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn rp_builder() -> oidc_runtime::RelyingPartyBuilder {
    RelyingParty::builder("http://app.test")
        .provider("default", config())
        .transport(Arc::new(crate::harness::SimTransport::new(
            crate::SimProvider::new("https://op.test"),
            Arc::new(crate::harness::TestClock::new(1)),
        )))
        .session_secret(SESSION_KEY)
}

/// No public type that can hold a secret prints one in `Debug` (`{:?}` or `{:#?}`).
#[tokio::test]
async fn no_public_type_prints_a_secret() {
    let leaks = Leaks::default();
    let algorithms = vec!["RS256".to_owned()];
    let acr = vec!["urn:gold".to_owned()];

    // The basics.
    leaks.check("Secret", &Secret::new(ACCESS_TOKEN), &[]);
    leaks.check("ClientMetadata", &client(), &[]);
    leaks.check("IdToken", &id_token(), &[]);
    leaks.check("UserSession", &user(), &[]);
    leaks.check("PendingLogin", &pending(), &[]);
    let mut record = SessionRecord::new(100);
    record.user = Some(Arc::new(user()));
    record.push_pending(pending(), 1);
    record.logout_state = Some(Secret::new(LOGOUT_STATE));
    leaks.check("SessionRecord", &record, &[]);
    let store = MemoryStore::new(10);
    store.save("id", &record).await.unwrap();
    leaks.check("MemoryStore", &store, &[]);

    // The login: request, response, validation, exchange.
    let config = config();
    let auth = oidc_core::login::authentication_request(
        "default",
        &config,
        &client(),
        &metadata(),
        &"http://app.test/redirect_uri".parse().unwrap(),
        "/",
        &[],
        1,
        [7; 32],
    )
    .unwrap();
    let generated = [
        auth.pending.state.expose().to_owned(),
        auth.pending.nonce.expose().to_owned(),
        auth.pending
            .code_verifier
            .as_ref()
            .map(|v| v.expose().to_owned())
            .unwrap_or_default(),
    ];
    let generated: Vec<&str> = generated.iter().map(String::as_str).collect();
    leaks.check("AuthenticationRequest", &auth, &generated);
    let callback =
        format!("code={CODE}&state={STATE}&id_token={ID_TOKEN}&access_token={ACCESS_TOKEN}&iss=x");
    let parsed = AuthorizationResponse::parse(callback.as_bytes()).unwrap();
    leaks.check("AuthorizationResponse", &parsed, &[]);
    let mut expect =
        Expectations::new("https://op.test", "client", Some(NONCE), 1, 30, &algorithms);
    expect.access_token = Some(ACCESS_TOKEN);
    expect.require_at_hash = true;
    expect.code = Some(CODE);
    expect.max_age = Some(60);
    expect.acr_values = &acr;
    leaks.check("Expectations", &expect, &[]);
    let token_request = code_exchange_request(
        "https://op.test/token",
        &client(),
        CODE,
        "http://app.test/redirect_uri",
        Some(VERIFIER),
    )
    .unwrap();
    let step: Step = Step::Send(Outbound {
        endpoint: Endpoint::Token,
        request: token_request,
    });
    leaks.check("Step / Outbound", &step, &[]);
    leaks.check("TokenResponse", &token_response(), &[]);
    let input = ExchangeInput {
        provider: "default".into(),
        config: config.clone(),
        client: Arc::new(client()),
        metadata: Arc::new(metadata()),
        keys: oidc_core::jwks::KeyCache::new(Default::default()),
        pending: pending(),
        response: AuthorizationResponse::parse(callback.as_bytes()).unwrap(),
        redirect_uri: "http://app.test/redirect_uri".parse().unwrap(),
        now: 1,
        session_lifetime: 60,
    };
    leaks.check("ExchangeInput", &input, &[]);
    let mut exchange = CodeExchange::new(input);
    leaks.check("CodeExchange", &exchange, &[]);
    leaks.check("CodeExchange step", &exchange.start(), &[]);
    let outcome = LoginOutcome::new(user(), "/");
    leaks.check("LoginOutcome", &outcome, &[]);

    // Registration.
    let mut info = ClientRegistrationInfo::new("app");
    info.initial_access_token = Some(Secret::new(INITIAL_ACCESS_TOKEN));
    leaks.check("ClientRegistrationInfo", &info, &[]);
    let request = registration_request("https://op.test/register", &info).unwrap();
    leaks.check("registration request", &request, &[]);
    let registered = parse_registration_response(response(
        201,
        json!({"client_id": "c", "client_secret": CLIENT_SECRET,
            "registration_access_token": REGISTRATION_ACCESS_TOKEN}),
    ))
    .unwrap();
    leaks.check("RegisteredClient", &registered, &[]);
    let builder = ProviderConfig::from_metadata(metadata()).register(info.clone());
    leaks.check("ProviderConfigBuilder (dynamic)", &builder, &[]);
    let builder =
        ProviderConfig::from_metadata(metadata()).client(ClientMetadata::new("c", CLIENT_SECRET));
    leaks.check("ProviderConfigBuilder", &builder, &[]);
    leaks.check("ProviderConfig", &config, &[]);

    // Client authentication: the private key (its `d`), and what holds it.
    let pair = josekit::jwk::alg::ed::EdKeyPair::generate(josekit::jwk::alg::ed::EdCurve::Ed25519)
        .unwrap()
        .to_jwk_key_pair();
    let d = pair
        .parameter("d")
        .and_then(|v| v.as_str())
        .unwrap()
        .to_owned();
    let key = oidc_core::ClientPrivateKey::parse(&pair.to_string()).unwrap();
    leaks.check("ClientPrivateKey", &key, &[&d]);
    let jwt_client = client().with_auth_method(oidc_core::ClientAuthMethod::PrivateKeyJwt);
    let auth = oidc_core::client_auth::ClientAuth::new(&jwt_client)
        .private_key(Some(&key))
        .assertion(1, "jti");
    leaks.check("ClientAuth", &auth, &[&d]);
    let keyed = ProviderConfig::from_metadata(metadata())
        .client(client())
        .private_key(key.clone());
    leaks.check("ProviderConfigBuilder (private key)", &keyed, &[&d]);
    leaks.check(
        "ProviderConfig (private key)",
        &keyed.build().unwrap(),
        &[&d],
    );

    // Refresh.
    let refresh_input = || RefreshInput {
        config: config.clone(),
        client: Arc::new(client()),
        metadata: Arc::new(metadata()),
        keys: oidc_core::jwks::KeyCache::new(Default::default()),
        user: Arc::new(user()),
        now: 1,
    };
    leaks.check("RefreshInput", &refresh_input(), &[]);
    let mut refresh = TokenRefresh::new(refresh_input());
    leaks.check("TokenRefresh", &refresh, &[]);
    leaks.check("RefreshStep", &refresh.start(), &[]);
    let refreshed = RefreshOutcome::new(oidc_core::refresh::apply_refresh(
        &user(),
        token_response(),
        None,
        2,
    ));
    leaks.check("RefreshOutcome", &refreshed, &[]);

    // Bearer tokens, introspection, client credentials.
    let claims = json!({"sub": "alice", "client_id": "c", "scope": "read"})
        .as_object()
        .unwrap()
        .clone();
    let identity = TokenIdentity::new(BEARER, claims.clone(), BearerValidation::Jwt);
    leaks.check("TokenIdentity", &identity, &[]);
    leaks.check(
        "Principal::Bearer",
        &Principal::Bearer(identity.clone()),
        &[],
    );
    leaks.check(
        "Principal::Session",
        &Principal::Session(Arc::new(user())),
        &[],
    );
    let mut active = claims.clone();
    active.insert("active".into(), json!(true));
    let introspection = Arc::new(
        oidc_core::introspection::parse_introspection_response(response(200, json!(active)))
            .unwrap(),
    );
    let cache = IntrospectionCache::new(std::time::Duration::from_secs(60), 10);
    cache.insert("default", BEARER, introspection, 1);
    leaks.check("IntrospectionCache", &cache, &[]);
    let cc = ClientCredentialsCache::new(std::time::Duration::from_secs(5), 10);
    cc.insert("default", &["read"], &[], &token_response(), 1);
    leaks.check("ClientCredentialsCache", &cc, &[]);

    // Errors made from responses full of secrets.
    let err = parse_token_response(response(
        200,
        json!({"access_token": ACCESS_TOKEN, "token_type": 5, "refresh_token": REFRESH_TOKEN}),
    ))
    .unwrap_err();
    leaks.check("Error (malformed token response)", &err, &[]);
    assert!(!err.to_string().contains("SECRET"), "{err}");
    let err = parse_token_response(response(
        200,
        json!({"access_token": [ACCESS_TOKEN], "token_type": "Bearer"}),
    ))
    .unwrap_err();
    leaks.check("Error (token of the wrong type)", &err, &[]);
    assert!(!err.to_string().contains("SECRET"), "{err}");
    let keys = oidc_core::jwks::JwkSet::from_json(br#"{"keys":[]}"#, 0).unwrap();
    let err = oidc_core::id_token::validate(ID_TOKEN, &keys, &expect).unwrap_err();
    leaks.check("IdTokenError", &err, &[]);
    assert!(!err.to_string().contains("SECRET"), "{err}");

    // The sans-IO core's loop: a flow's context, what a flow asks for and what it is answered.
    let entropy = format!("{:?}", &ENTROPY[..8])
        .trim_end_matches(']')
        .to_owned();
    let cx = oidc_core::Context::new(1, ENTROPY);
    leaks.check("Context", &cx, &[&entropy]);
    let core_builder = || {
        oidc_core::RelyingParty::builder("http://app.test")
            .provider("default", config.clone())
            .session_secret(SESSION_KEY)
    };
    leaks.check("oidc_core::RelyingPartyBuilder", &core_builder(), &[]);
    let core = core_builder().build().unwrap();
    leaks.check("oidc_core::RelyingParty", &core, &[]);
    let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    leaks.check("Flow", &core.login(&parts, None, "/", cx), &[&entropy]);
    let save = oidc_core::Action::<()>::Save("id".into(), record.clone());
    leaks.check("Action::Save", &save, &[]);
    let token_request = code_exchange_request(
        "https://op.test/token",
        &client(),
        CODE,
        "http://app.test/redirect_uri",
        Some(VERIFIER),
    )
    .unwrap();
    let send = oidc_core::Action::<()>::Send(Outbound {
        endpoint: Endpoint::Token,
        request: token_request,
    });
    leaks.check("Action::Send", &send, &[]);
    let loaded = oidc_core::Answer::Loaded(Ok(Some(record.clone())));
    leaks.check("Answer::Loaded", &loaded, &[]);
    let answered = oidc_core::Answer::Http(Ok(response(
        200,
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}),
    )));
    leaks.check("Answer::Http", &answered, &[]);

    // The relying party and the adapters' types.
    leaks.check("RelyingPartyBuilder", &rp_builder(), &[]);
    let rp = rp_builder().build().unwrap();
    leaks.check("RelyingParty", &rp, &[]);
    let session = Arc::new(user());
    leaks.check(
        "oidc_axum::OidcUser",
        &oidc_axum::OidcUser(session.clone()),
        &[],
    );
    leaks.check(
        "oidc_axum::MaybeUser",
        &oidc_axum::MaybeUser(Some(session.clone())),
        &[],
    );
    leaks.check(
        "oidc_axum::AccessToken",
        &oidc_axum::AccessToken(Secret::new(ACCESS_TOKEN)),
        &[],
    );
    leaks.check(
        "oidc_axum::BearerIdentity",
        &oidc_axum::BearerIdentity(identity.clone()),
        &[],
    );
    leaks.check(
        "oidc_axum::SessionOrBearer",
        &oidc_axum::SessionOrBearer(Principal::Bearer(identity.clone())),
        &[],
    );
    leaks.check(
        "oidc_axum::OidcLayer",
        &oidc_axum::OidcLayer::new(rp.clone()),
        &[],
    );
    leaks.check(
        "oidc_rocket::OidcUser",
        &oidc_rocket::OidcUser(session.clone()),
        &[],
    );
    leaks.check(
        "oidc_rocket::MaybeUser",
        &oidc_rocket::MaybeUser(Some(session)),
        &[],
    );
    leaks.check(
        "oidc_rocket::AccessToken",
        &oidc_rocket::AccessToken(Secret::new(ACCESS_TOKEN)),
        &[],
    );
    leaks.check(
        "oidc_rocket::RefreshedAccessToken",
        &oidc_rocket::RefreshedAccessToken(Secret::new(ACCESS_TOKEN)),
        &[],
    );
    leaks.check(
        "oidc_rocket::BearerIdentity",
        &oidc_rocket::BearerIdentity(identity.clone()),
        &[],
    );
    leaks.check(
        "oidc_rocket::SessionOrBearer",
        &oidc_rocket::SessionOrBearer(Principal::Bearer(identity)),
        &[],
    );
    leaks.check(
        "oidc_rocket::OidcFairing",
        &oidc_rocket::OidcFairing::new(rp),
        &[],
    );
    leaks.assert_none();
}
