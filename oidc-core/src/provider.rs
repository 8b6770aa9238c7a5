//! What the relying party has learnt about one provider (its metadata, the client registered
//! there, the last discovery failure), as plain data with the decisions made from it: use
//! what is cached, discover or register now, or answer at once that the provider is
//! unavailable. The caller performs the request a plan names and records its answer; nothing
//! here sends anything or reads a clock, so every decision is tested by stepping it.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use url::Url;

use crate::client_auth;
use crate::config::{ClientRegistration, MetadataSource, ProviderConfig, ResponseType};
use crate::discovery;
use crate::error::{Endpoint, Error, Result, TransportError};
use crate::jwks::KeyCache;
use crate::metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
use crate::registration::{self, RegisteredClient};

/// One provider's metadata and client as learnt so far.
#[derive(Debug, Clone)]
pub(crate) struct ProviderState {
    /// The metadata and when it was fetched (`u64::MAX` for static metadata: never stale).
    metadata: Option<(Arc<ProviderMetadata>, u64)>,
    /// When discovery last failed and why; cleared by a successful discovery.
    discovery_failure: Option<(u64, String)>,
    /// The client and when its secret expires (`None`: never).
    client: Option<(Arc<ClientMetadata>, Option<u64>)>,
    /// The registered client the current one replaced: logins started with it finish with it.
    previous_client: Option<Arc<ClientMetadata>>,
    /// When the client registration last failed and how; cleared by a registration. No
    /// registration is attempted again for `discovery_retry`: requests meanwhile get this
    /// error.
    registration_failure: Option<(u64, Error)>,
    /// The key set and its fetch history.
    pub(crate) keys: KeyCache,
    /// The flow discovering the metadata now, if any: the others wait for it, or use a stale
    /// copy, instead of each sending a request.
    pub(crate) discovering: Option<u64>,
    /// The flow registering the client now, if any.
    pub(crate) registering: Option<u64>,
    /// The flow fetching the key set now, if any.
    pub(crate) fetching_keys: Option<u64>,
}

/// What to do for the provider's metadata.
#[derive(Debug)]
pub(crate) enum MetadataPlan {
    /// Use this (fresh, or stale but kept while discovery is failing).
    Use(Arc<ProviderMetadata>),
    /// Send this discovery request and record its answer with
    /// [`ProviderState::record_discovery`].
    Discover(Box<http::Request<Bytes>>),
}

/// The app's routes for logouts the provider sends, which a dynamic registration names when
/// the provider supports them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LogoutRoutes<'a> {
    pub(crate) backchannel: Option<&'a Url>,
    pub(crate) frontchannel: Option<&'a Url>,
}

/// What to do for the client registration.
#[derive(Debug)]
pub(crate) enum ClientPlan {
    /// Use this client.
    Use(Arc<ClientMetadata>),
    /// Send this registration request and record its answer with
    /// [`ProviderState::record_registration`].
    Register(Box<http::Request<Bytes>>),
}

impl ProviderState {
    /// The state a provider starts with: static metadata and a static client are known.
    pub(crate) fn new(config: &ProviderConfig) -> Self {
        ProviderState {
            metadata: match &config.source {
                MetadataSource::Static(m) => Some((Arc::new((**m).clone()), u64::MAX)),
                MetadataSource::Discovery { .. } => None,
            },
            discovery_failure: None,
            client: config.client().map(|c| (Arc::new(c.clone()), None)),
            previous_client: None,
            registration_failure: None,
            keys: KeyCache::new(config.key_fetch_policy()),
            discovering: None,
            registering: None,
            fetching_keys: None,
        }
    }

    /// The metadata held, whatever its age: what a request uses while another rediscovers.
    pub(crate) fn cached_metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.as_ref().map(|(m, _)| m.clone())
    }

    /// Forgets that `flow` is fetching anything (it finished, or was dropped half-way).
    pub(crate) fn release(&mut self, flow: u64) {
        for slot in [
            &mut self.discovering,
            &mut self.registering,
            &mut self.fetching_keys,
        ] {
            if *slot == Some(flow) {
                *slot = None;
            }
        }
    }

    /// The metadata to use at `now`, or the discovery to make first. Metadata older than the
    /// configured maximum age is discovered again. After a failed discovery no request is made
    /// until the configured wait has passed: until then the cached copy is used when there is
    /// one (an outage of the provider does not stop logins that only need what is cached), and
    /// the last failure is returned at once when there is none.
    pub(crate) fn plan_metadata(&self, config: &ProviderConfig, now: u64) -> Result<MetadataPlan> {
        if let Some((m, fetched_at)) = &self.metadata {
            if now.saturating_sub(*fetched_at) < config.metadata_max_age.as_secs() {
                return Ok(MetadataPlan::Use(m.clone()));
            }
        }
        let MetadataSource::Discovery { issuer } = &config.source else {
            return match &self.metadata {
                Some((m, _)) => Ok(MetadataPlan::Use(m.clone())),
                None => Err(Error::config("provider_metadata", "missing")),
            };
        };
        if let Some((at, reason)) = &self.discovery_failure {
            if now < at.saturating_add(config.discovery_retry.as_secs()) {
                return match &self.metadata {
                    Some((m, _)) => Ok(MetadataPlan::Use(m.clone())),
                    None => Err(Error::Transport {
                        endpoint: Endpoint::Discovery,
                        source: TransportError::Other(format!(
                            "the provider is unavailable ({reason}); retrying shortly"
                        )),
                    }),
                };
            }
        }
        Ok(MetadataPlan::Discover(Box::new(
            discovery::discovery_request(issuer)?,
        )))
    }

    /// Records the answer to the discovery request [`plan_metadata`](Self::plan_metadata)
    /// asked for (`Err` for a transport failure), and returns the metadata to use: the new
    /// metadata, or on failure the cached copy if any, else the failure.
    pub(crate) fn record_discovery(
        &mut self,
        config: &ProviderConfig,
        now: u64,
        answer: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Result<Arc<ProviderMetadata>> {
        let parsed = match (&config.source, answer) {
            (MetadataSource::Discovery { issuer }, Ok(response)) => {
                discovery::parse_discovery_response_with(issuer, &config.issuer_policy, response)
            }
            (MetadataSource::Discovery { .. }, Err(source)) => Err(Error::Transport {
                endpoint: Endpoint::Discovery,
                source,
            }),
            (MetadataSource::Static(_), _) => {
                return Err(Error::config(
                    "provider_metadata",
                    "static metadata is never discovered",
                ))
            }
        };
        match parsed {
            Ok(m) => {
                let m = Arc::new(m);
                self.metadata = Some((m.clone(), now));
                self.discovery_failure = None;
                Ok(m)
            }
            Err(e) => {
                self.discovery_failure = Some((now, e.to_string()));
                match &self.metadata {
                    Some((m, _)) => Ok(m.clone()),
                    None => Err(e),
                }
            }
        }
    }

    /// The client to use at `now`, or the registration to make first: a static client, or a
    /// dynamic registration made once and again only when its secret has expired. The
    /// registration asks for what this relying party will use (its redirect and post-logout
    /// URIs, the configured response type and the grants it needs) where the app left them
    /// unset.
    pub(crate) fn plan_client(
        &self,
        config: &ProviderConfig,
        metadata: &ProviderMetadata,
        redirect_uri: &Url,
        post_logout_redirect_uri: &Url,
        logout_routes: LogoutRoutes<'_>,
        now: u64,
    ) -> Result<ClientPlan> {
        if let Some((c, expires)) = &self.client {
            if expires.is_none_or(|t| t > now) {
                return Ok(ClientPlan::Use(settle_auth_method(config, metadata, c)?));
            }
        }
        let ClientRegistration::Dynamic(info) = config.registration() else {
            return Err(Error::config("client", "missing"));
        };
        if let Some((at, error)) = &self.registration_failure {
            if now < at.saturating_add(config.discovery_retry.as_secs()) {
                return Err(error.clone());
            }
        }
        let endpoint = metadata.registration_endpoint.as_ref().ok_or_else(|| {
            Error::config(
                "provider_metadata.registration_endpoint",
                "the provider offers no dynamic client registration",
            )
        })?;
        let mut info = (**info).clone();
        if info.redirect_uris.is_empty() {
            info.redirect_uris = vec![redirect_uri.to_string()];
        }
        if info.post_logout_redirect_uris.is_empty() {
            info.post_logout_redirect_uris = vec![post_logout_redirect_uri.to_string()];
        }
        // The logout routes the provider can use, unless the app registers its own.
        let channels = [
            (
                logout_routes.backchannel,
                metadata.backchannel_logout_supported(),
                "backchannel_logout",
            ),
            (
                logout_routes.frontchannel,
                metadata.frontchannel_logout_supported(),
                "frontchannel_logout",
            ),
        ];
        // A multi-tenant issuer's logouts name each tenant's issuer, which no configured
        // provider has: not offered rather than accepted and then refused.
        let exact = matches!(config.issuer_policy, crate::issuer::IssuerPolicy::Exact);
        for (uri, supported, name) in channels {
            let supported = supported && exact;
            let field = format!("{name}_uri");
            if let (Some(uri), true, false) = (uri, supported, info.extra.contains_key(&field)) {
                info.extra.insert(field, Value::String(uri.to_string()));
                // The sessions are indexed by `sid`: with it, a logout ends the one provider
                // session it names rather than every session of the user.
                info.extra
                    .insert(format!("{name}_session_required"), Value::Bool(true));
            }
        }
        let rt = config.response_type;
        if info.response_types.is_empty() {
            info.response_types = vec![rt.as_str().to_owned()];
        }
        if info.grant_types.is_empty() {
            if rt.has_code() {
                // Refresh tokens come with codes; without the grant registered, providers
                // refuse to refresh.
                info.grant_types.push("authorization_code".into());
                info.grant_types.push("refresh_token".into());
            }
            if rt != ResponseType::Code {
                info.grant_types.push("implicit".into());
            }
        }
        registration_auth(config, metadata, &mut info)?;
        Ok(ClientPlan::Register(Box::new(
            registration::registration_request(endpoint.as_str(), &info)?,
        )))
    }

    /// Records the answer to the registration [`plan_client`](Self::plan_client) asked for
    /// (`Err` for a transport failure) and returns the client. A provider that made this a
    /// public client while PKCE is disabled is refused, and its client not kept: without PKCE
    /// its codes would be redeemable by anyone who intercepts them.
    pub(crate) fn record_registration(
        &mut self,
        config: &ProviderConfig,
        now: u64,
        answer: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Result<Arc<ClientMetadata>> {
        let outcome = Self::registered_client(config, answer);
        match &outcome {
            Ok((client, expires)) => self.use_client(client.clone(), *expires),
            Err(e) => self.registration_failure = Some((now, e.clone())),
        }
        outcome.map(|(client, _)| client)
    }

    /// Makes `client` the one to use, the one it replaces kept as the previous one.
    fn use_client(&mut self, client: Arc<ClientMetadata>, expires: Option<u64>) {
        if let Some((old, _)) = self.client.take() {
            if old.client_id != client.client_id {
                self.previous_client = Some(old);
            }
        }
        self.client = Some((client, expires));
        self.registration_failure = None;
    }

    /// The registration's answer checked: the client and when its secret expires.
    fn registered_client(
        config: &ProviderConfig,
        answer: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Result<(Arc<ClientMetadata>, Option<u64>)> {
        let response = answer.map_err(|source| Error::Transport {
            endpoint: Endpoint::Registration,
            source,
        })?;
        let RegisteredClient {
            client,
            secret_expires_at,
        } = registration::parse_registration_response(response)?;
        if !config.pkce && client.is_public() {
            return Err(crate::config::public_client_without_pkce());
        }
        if client.token_endpoint_auth_method == Some(ClientAuthMethod::PrivateKeyJwt)
            && config.client_auth.key.is_none()
        {
            return Err(Error::config(
                "client_private_key",
                "the provider registered private_key_jwt, and no private key is configured",
            ));
        }
        Ok((Arc::new(client), secret_expires_at))
    }

    /// Takes in the registration another instance kept in the shared store: `Some(Ok)` with
    /// its client when that is usable at `now`, `Some(Err)` while its failed registration is
    /// being backed off, `None` when there is nothing to use (register then).
    pub(crate) fn adopt_shared(
        &mut self,
        shared: &crate::session::SharedRegistration,
        now: u64,
    ) -> Option<Result<Arc<ClientMetadata>>> {
        if let Some(previous) = &shared.previous {
            self.previous_client = Some(Arc::new(previous.clone()));
        }
        if let Some(reason) = &shared.failure {
            let error = registration_backoff(reason);
            self.registration_failure = Some((now, error.clone()));
            return Some(Err(error));
        }
        let client = shared.client.as_ref()?;
        if shared.secret_expires_at.is_some_and(|t| t <= now) {
            return None;
        }
        let client = Arc::new(client.clone());
        self.use_client(client.clone(), shared.secret_expires_at);
        Some(Ok(client))
    }

    /// What this process learnt from its own registration, for the other instances: the
    /// client (with the one it replaced), or the failure while it is backed off.
    pub(crate) fn shared_registration(
        &self,
        config: &ProviderConfig,
        now: u64,
    ) -> crate::session::SessionRecord {
        let mut record = crate::session::SessionRecord::new(now);
        let mut shared = crate::session::SharedRegistration {
            previous: self.previous_client.as_deref().cloned(),
            ..Default::default()
        };
        match (&self.client, &self.registration_failure) {
            (_, Some((at, error))) => {
                shared.failure = Some(error.to_string());
                record.expires_at = at.saturating_add(config.discovery_retry.as_secs().max(1));
            }
            (Some((client, expires)), None) => {
                shared.client = Some((**client).clone());
                shared.secret_expires_at = *expires;
                // Kept until the secret expires, or for a year (registered again then, as
                // a fresh process would).
                record.expires_at = expires.unwrap_or(now.saturating_add(365 * 24 * 3600));
            }
            (None, None) => {}
        }
        record.registration = Some(Box::new(shared));
        record
    }

    /// The id of the client the current one replaced, if any.
    pub(crate) fn previous_client_id(&self) -> Option<String> {
        self.previous_client.as_ref().map(|c| c.client_id.clone())
    }

    /// The client a login started with `client_id` finishes with: the current one, or the
    /// one it replaced.
    pub(crate) fn client_for_login(&self, client_id: &str) -> Option<Arc<ClientMetadata>> {
        [
            self.client.as_ref().map(|(c, _)| c),
            self.previous_client.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find(|c| c.client_id == client_id)
        .cloned()
    }
}

/// The error an instance gets while another's failed registration is backed off.
fn registration_backoff(reason: &str) -> Error {
    Error::Transport {
        endpoint: Endpoint::Registration,
        source: TransportError::Other(format!(
            "the client registration failed ({reason}); retrying shortly"
        )),
    }
}

/// A statically configured client with its token endpoint authentication method settled
/// against the provider's metadata ([`client_auth::negotiate`]): the same client when its
/// method is pinned and advertised, a copy with the chosen method when it was unset. A
/// registered client keeps the method the provider registered.
fn settle_auth_method(
    config: &ProviderConfig,
    metadata: &ProviderMetadata,
    client: &Arc<ClientMetadata>,
) -> Result<Arc<ClientMetadata>> {
    if !matches!(config.registration(), ClientRegistration::Static(_)) {
        return Ok(client.clone());
    }
    let method = client_auth::negotiate(
        client,
        config.client_auth.key.as_ref(),
        metadata.token_endpoint_auth_methods_supported.as_deref(),
    )?;
    if client.token_endpoint_auth_method == Some(method) {
        return Ok(client.clone());
    }
    let mut settled = (**client).clone();
    settled.token_endpoint_auth_method = Some(method);
    Ok(Arc::new(settled))
}

/// What a registration asks for about client authentication, where the app left it unset:
/// the method chosen from the provider's list (sent when it is not the registration default,
/// `client_secret_basic`, or a key is configured), and with a private key the app's JWKS URL
/// as `jwks_uri`.
fn registration_auth(
    config: &ProviderConfig,
    metadata: &ProviderMetadata,
    info: &mut crate::registration::ClientRegistrationInfo,
) -> Result<()> {
    let key = config.client_auth.key.as_ref();
    if info.token_endpoint_auth_method.is_none() {
        // The provider issues the secret: every secret method is open to the new client.
        let registering =
            ClientMetadata::new("registering", "x".repeat(client_auth::MIN_HMAC_SECRET_LEN));
        let method = client_auth::negotiate(
            &registering,
            key,
            metadata.token_endpoint_auth_methods_supported.as_deref(),
        )?;
        if key.is_some() || method != ClientAuthMethod::ClientSecretBasic {
            info.token_endpoint_auth_method = Some(method);
        }
    }
    // Issue 18 (J): the provider encrypts to the keys this route publishes too.
    let publishes_keys = key.is_some() || !config.secured.decryption_keys.is_empty();
    if publishes_keys && !info.extra.contains_key("jwks") && !info.extra.contains_key("jwks_uri") {
        let uri = config.client_auth.jwks_uri.as_ref().ok_or_else(|| {
            Error::config(
                "jwks_uri",
                "a private key is configured, and the relying party serves no JWKS route",
            )
        })?;
        info.extra.insert(
            "jwks_uri".into(),
            serde_json::Value::String(uri.to_string()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::registration::ClientRegistrationInfo;

    const ISSUER: &str = "https://op.example";

    fn discovered() -> ProviderConfig {
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .discovery_retry(Duration::from_secs(10))
            .metadata_max_age(Duration::from_secs(100))
            .build()
            .unwrap()
    }

    fn discovery_answer(
        issuer: &str,
    ) -> std::result::Result<http::Response<Bytes>, TransportError> {
        let doc = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{ISSUER}/auth"),
            "token_endpoint": format!("{ISSUER}/token"),
            "jwks_uri": format!("{ISSUER}/jwks"),
            "registration_endpoint": format!("{ISSUER}/reg"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Bytes::from(doc.to_string()))
            .unwrap())
    }

    fn down() -> std::result::Result<http::Response<Bytes>, TransportError> {
        Err(TransportError::Connect("refused".into()))
    }

    fn discover(state: &ProviderState, config: &ProviderConfig, now: u64) -> http::Request<Bytes> {
        match state.plan_metadata(config, now).unwrap() {
            MetadataPlan::Discover(request) => *request,
            MetadataPlan::Use(_) => panic!("expected a discovery at {now}"),
        }
    }

    fn uses(state: &ProviderState, config: &ProviderConfig, now: u64) -> Arc<ProviderMetadata> {
        match state.plan_metadata(config, now).unwrap() {
            MetadataPlan::Use(m) => m,
            MetadataPlan::Discover(_) => panic!("expected the cached metadata at {now}"),
        }
    }

    #[test]
    fn metadata_is_discovered_once_then_again_when_older_than_its_maximum_age() {
        let config = discovered();
        let mut state = ProviderState::new(&config);
        let request = discover(&state, &config, 1000);
        assert_eq!(
            request.uri().to_string(),
            format!("{ISSUER}/.well-known/openid-configuration")
        );
        let m = state
            .record_discovery(&config, 1000, discovery_answer(ISSUER))
            .unwrap();
        assert!(Arc::ptr_eq(&uses(&state, &config, 1099), &m));
        discover(&state, &config, 1100);
    }

    #[test]
    fn a_failed_discovery_waits_before_the_next_and_keeps_the_cached_copy() {
        let config = discovered();
        let mut state = ProviderState::new(&config);
        // No copy yet: the failure is the answer, then again at once until the wait is over.
        let first = state.record_discovery(&config, 1000, down()).unwrap_err();
        assert!(matches!(
            first,
            Error::Transport {
                endpoint: Endpoint::Discovery,
                ..
            }
        ));
        let again = state.plan_metadata(&config, 1009).unwrap_err();
        assert!(again.to_string().contains("retrying shortly"), "{again}");
        discover(&state, &config, 1010);
        // With a copy, stale or not, a failure keeps it in use until the wait is over.
        let m = state
            .record_discovery(&config, 1010, discovery_answer(ISSUER))
            .unwrap();
        let kept = state.record_discovery(&config, 1200, down()).unwrap();
        assert!(Arc::ptr_eq(&kept, &m));
        assert!(Arc::ptr_eq(&uses(&state, &config, 1209), &m));
        discover(&state, &config, 1210);
    }

    #[test]
    fn a_discovery_naming_another_issuer_is_refused_and_counts_as_a_failure() {
        let config = discovered();
        let mut state = ProviderState::new(&config);
        let err = state
            .record_discovery(&config, 1000, discovery_answer("https://evil.example"))
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err}");
        assert!(state.plan_metadata(&config, 1005).is_err());
    }

    #[test]
    fn static_metadata_is_never_discovered() {
        let m: ProviderMetadata =
            serde_json::from_slice(&discovery_answer(ISSUER).unwrap().into_body()).unwrap();
        let config = ProviderConfig::from_metadata(m)
            .client(ClientMetadata::new("client", "secret"))
            .build()
            .unwrap();
        let mut state = ProviderState::new(&config);
        uses(&state, &config, u64::MAX - 1);
        assert!(state
            .record_discovery(&config, 5, discovery_answer(ISSUER))
            .is_err());
    }

    fn dynamic(pkce: bool) -> ProviderConfig {
        let mut b = ProviderConfig::discover(ISSUER).register(ClientRegistrationInfo::default());
        if !pkce {
            b = b.disable_pkce();
        }
        b.build().unwrap()
    }

    fn registered(
        auth: &str,
        expires: u64,
    ) -> std::result::Result<http::Response<Bytes>, TransportError> {
        let doc = json!({
            "client_id": "dyn",
            "client_secret": "s3",
            "client_secret_expires_at": expires,
            "token_endpoint_auth_method": auth,
        });
        Ok(http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .body(Bytes::from(doc.to_string()))
            .unwrap())
    }

    fn metadata() -> ProviderMetadata {
        serde_json::from_slice(&discovery_answer(ISSUER).unwrap().into_body()).unwrap()
    }

    fn plan(state: &ProviderState, config: &ProviderConfig, now: u64) -> ClientPlan {
        let redirect = Url::parse("https://app.example/redirect_uri").unwrap();
        let logged_out = Url::parse("https://app.example/logged_out").unwrap();
        state
            .plan_client(
                config,
                &metadata(),
                &redirect,
                &logged_out,
                LogoutRoutes::default(),
                now,
            )
            .unwrap()
    }

    #[test]
    fn a_client_registers_once_asking_for_what_it_uses_and_again_when_its_secret_expires() {
        let config = dynamic(true);
        let mut state = ProviderState::new(&config);
        let ClientPlan::Register(request) = plan(&state, &config, 1000) else {
            panic!("expected a registration");
        };
        assert_eq!(request.uri().to_string(), format!("{ISSUER}/reg"));
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            body["redirect_uris"],
            json!(["https://app.example/redirect_uri"])
        );
        assert_eq!(
            body["post_logout_redirect_uris"],
            json!(["https://app.example/logged_out"])
        );
        assert_eq!(body["response_types"], json!(["code"]));
        assert_eq!(
            body["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        let client = state
            .record_registration(&config, 1, registered("client_secret_basic", 2000))
            .unwrap();
        assert_eq!(client.client_id, "dyn");
        let ClientPlan::Use(same) = plan(&state, &config, 1999) else {
            panic!("expected the registered client");
        };
        assert!(Arc::ptr_eq(&same, &client));
        assert!(matches!(
            plan(&state, &config, 2000),
            ClientPlan::Register(_)
        ));
    }

    #[test]
    fn a_public_client_without_pkce_is_refused_and_not_kept() {
        let config = dynamic(false);
        let mut state = ProviderState::new(&config);
        let err = state
            .record_registration(&config, 1, registered("none", 0))
            .unwrap_err();
        assert!(err.to_string().contains("PKCE"), "{err}");
        assert!(matches!(
            plan(&state, &config, 1000),
            ClientPlan::Register(_)
        ));
    }

    #[test]
    fn a_failed_registration_keeps_nothing() {
        let config = dynamic(true);
        let mut state = ProviderState::new(&config);
        let err = state.record_registration(&config, 1, down()).unwrap_err();
        assert!(matches!(
            err,
            Error::Transport {
                endpoint: Endpoint::Registration,
                ..
            }
        ));
        assert!(matches!(
            plan(&state, &config, 1000),
            ClientPlan::Register(_)
        ));
    }

    fn advertising(methods: &[&str]) -> ProviderMetadata {
        let mut m = metadata();
        m.token_endpoint_auth_methods_supported =
            Some(methods.iter().map(|s| s.to_string()).collect());
        m
    }

    fn use_with(
        state: &ProviderState,
        config: &ProviderConfig,
        m: &ProviderMetadata,
    ) -> Result<Arc<ClientMetadata>> {
        let redirect = Url::parse("https://app.example/redirect_uri").unwrap();
        let logged_out = Url::parse("https://app.example/logged_out").unwrap();
        match state.plan_client(
            config,
            m,
            &redirect,
            &logged_out,
            LogoutRoutes::default(),
            1,
        )? {
            ClientPlan::Use(c) => Ok(c),
            ClientPlan::Register(_) => panic!("expected the static client"),
        }
    }

    #[test]
    fn a_static_clients_method_is_negotiated_unless_pinned() {
        let config = discovered();
        let state = ProviderState::new(&config);
        let c = use_with(&state, &config, &advertising(&["client_secret_post"])).unwrap();
        assert_eq!(
            c.token_endpoint_auth_method,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        let c = use_with(&state, &config, &metadata()).unwrap();
        assert_eq!(
            c.token_endpoint_auth_method,
            Some(ClientAuthMethod::ClientSecretBasic),
            "no list: the RFC 8414 default"
        );
        let pinned = ProviderConfig::discover(ISSUER)
            .client(
                ClientMetadata::new("client", "secret")
                    .with_auth_method(ClientAuthMethod::ClientSecretBasic),
            )
            .build()
            .unwrap();
        let state = ProviderState::new(&pinned);
        let err = use_with(&state, &pinned, &advertising(&["client_secret_post"])).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Config {
                    field: "token_endpoint_auth_method",
                    ..
                }
            ),
            "{err}"
        );
        let same = use_with(&state, &pinned, &advertising(&["client_secret_basic"])).unwrap();
        assert!(Arc::ptr_eq(&same, &state.client.as_ref().unwrap().0));
    }

    #[test]
    fn a_registration_with_a_private_key_sends_its_method_and_jwks_uri() {
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        let key = client_auth::ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        let mut config = ProviderConfig::discover(ISSUER)
            .register(ClientRegistrationInfo::default())
            .private_key(key)
            .build()
            .unwrap();
        config.client_auth.jwks_uri = Some("https://app.example/jwks.json".parse().unwrap());
        let state = ProviderState::new(&config);
        let redirect = Url::parse("https://app.example/redirect_uri").unwrap();
        let m = advertising(&["client_secret_basic", "private_key_jwt"]);
        let ClientPlan::Register(request) = state
            .plan_client(
                &config,
                &m,
                &redirect,
                &redirect,
                LogoutRoutes::default(),
                1,
            )
            .unwrap()
        else {
            panic!("expected a registration");
        };
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(body["jwks_uri"], "https://app.example/jwks.json");
        // Without a key, a provider taking only client_secret_post is asked for it.
        let config = dynamic(true);
        let state = ProviderState::new(&config);
        let ClientPlan::Register(request) = state
            .plan_client(
                &config,
                &advertising(&["client_secret_post"]),
                &redirect,
                &redirect,
                LogoutRoutes::default(),
                1,
            )
            .unwrap()
        else {
            panic!("expected a registration");
        };
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
        assert!(body.get("jwks_uri").is_none());
    }

    /// The logout routes are registered when the provider supports them, each with
    /// `*_session_required`, and never over what the app registers itself.
    #[test]
    fn a_registration_names_the_logout_routes_the_provider_supports() {
        let redirect: Url = "https://app.example/redirect_uri".parse().unwrap();
        let back: Url = "https://app.example/backchannel_logout".parse().unwrap();
        let front: Url = "https://app.example/frontchannel_logout".parse().unwrap();
        let routes = LogoutRoutes {
            backchannel: Some(&back),
            frontchannel: Some(&front),
        };
        let body = |config: &ProviderConfig, m: &ProviderMetadata| -> serde_json::Value {
            let state = ProviderState::new(config);
            let ClientPlan::Register(request) = state
                .plan_client(config, m, &redirect, &redirect, routes, 1)
                .unwrap()
            else {
                panic!("expected a registration");
            };
            serde_json::from_slice(request.body()).unwrap()
        };
        let config = dynamic(false);
        let mut m = advertising(&["client_secret_basic"]);
        let plain = body(&config, &m);
        assert!(plain.get("backchannel_logout_uri").is_none(), "{plain}");
        assert!(plain.get("frontchannel_logout_uri").is_none(), "{plain}");
        m.extra
            .insert("backchannel_logout_supported".into(), true.into());
        let b = body(&config, &m);
        assert_eq!(b["backchannel_logout_uri"], back.as_str());
        assert_eq!(b["backchannel_logout_session_required"], true);
        assert!(b.get("frontchannel_logout_uri").is_none(), "{b}");
        m.extra
            .insert("frontchannel_logout_supported".into(), true.into());
        let both = body(&config, &m);
        assert_eq!(both["frontchannel_logout_uri"], front.as_str());
        assert_eq!(both["frontchannel_logout_session_required"], true);
        // The app's own value stays.
        let mut info = ClientRegistrationInfo::new("app");
        info.extra.insert(
            "backchannel_logout_uri".into(),
            "https://app.example/elsewhere".into(),
        );
        let own = ProviderConfig::discover(ISSUER)
            .register(info)
            .build()
            .unwrap();
        assert_eq!(
            body(&own, &m)["backchannel_logout_uri"],
            "https://app.example/elsewhere"
        );
        // A multi-tenant issuer's logouts could not be matched: none is offered.
        let tenants = ProviderConfig::discover(ISSUER)
            .register(ClientRegistrationInfo::new("app"))
            .issuer_policy(crate::issuer::IssuerPolicy::tenant_template(format!(
                "{ISSUER}/{{tenantid}}"
            )))
            .build()
            .unwrap();
        let t = body(&tenants, &m);
        assert!(t.get("backchannel_logout_uri").is_none(), "{t}");
        assert!(t.get("frontchannel_logout_uri").is_none(), "{t}");
    }

    #[test]
    fn a_static_client_is_used_without_registering() {
        let config = discovered();
        let state = ProviderState::new(&config);
        let ClientPlan::Use(c) = plan(&state, &config, 1) else {
            panic!("expected the static client");
        };
        assert_eq!(c.client_id, "client");
    }
}
