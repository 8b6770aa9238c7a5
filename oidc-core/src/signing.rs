//! Which algorithms, and which key, verify what the provider signs for this client: ID tokens
//! (at login and on refresh) and signed userinfo responses.
//!
//! The decision is made in one place, [`TokenSigning::decide`], from the configuration, the
//! client and the provider's metadata, and every path that verifies such a token uses it:
//!
//! - by default, the provider's published keys (its JWKS) with the configured asymmetric
//!   allow-list (never `none`, never HMAC);
//! - an HMAC algorithm (`HS256`, `HS384`, `HS512`) keyed with the client secret (OpenID Connect
//!   Core 10.1: the octets of its UTF-8 representation) only when provider and client agree on
//!   it: the client's `id_token_signed_response_alg` (or `userinfo_signed_response_alg`) names
//!   it, in static configuration or in dynamic registration; or, for ID tokens from the token
//!   endpoint only, the client has no configured algorithm, kept the default allow-list (an
//!   app that called [`algorithms`](crate::ProviderConfigBuilder::algorithms) chose its
//!   algorithms and never gets another), is confidential, and the provider's discovery
//!   advertises nothing but HMAC algorithms in `id_token_signing_alg_values_supported`.
//!
//! A negotiated HMAC decision never covers the front channel: an ID token from the
//! authorization endpoint (implicit, hybrid) MACed with the client secret would let anyone
//! who holds that secret mint a login the browser delivers, with no token endpoint call to
//! authenticate the provider, so it is accepted only when the app configured
//! `id_token_signed_response_alg` HS* itself ([`SignedResponse::FrontChannelIdToken`]).
//! Signed userinfo never negotiates HMAC either: the provider advertises its userinfo
//! algorithms separately, and the ID token's list says nothing about them, so HMAC userinfo
//! needs `userinfo_signed_response_alg` HS*, or an explicitly configured HS* ID token
//! algorithm that userinfo follows.
//!
//! The two never mix: an allow-list is either all asymmetric (verified with the JWKS) or all
//! HMAC (verified with the secret), so a token cannot pick its key by naming an algorithm (the
//! RS256/HS256 confusion, where an attacker MACs a token with the provider's public key).
//! Public clients have no secret and never get HMAC; a secret shorter than the algorithm's hash
//! (RFC 7518 3.2) is refused with a configuration error rather than used.

use crate::config::{ClientRegistration, ProviderConfig};
use crate::error::{Error, Result};
use crate::jwks::JwkSet;
use crate::metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
use crate::secret::Secret;

/// The HMAC algorithms a token MACed with the client secret may use.
pub const HMAC_ALGORITHMS: &[&str] = &["HS256", "HS384", "HS512"];

/// Whether `alg` is one of the [`HMAC_ALGORITHMS`].
pub fn is_hmac(alg: &str) -> bool {
    HMAC_ALGORITHMS.contains(&alg)
}

/// The least length in bytes of an HMAC key for `alg`: the size of its hash (RFC 7518 3.2).
pub(crate) fn min_hmac_key_len(alg: &str) -> usize {
    match alg {
        "HS384" => 48,
        "HS512" => 64,
        _ => 32,
    }
}

/// Which signed response a decision is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedResponse {
    /// An ID token from the token endpoint (the code flow's, refresh).
    IdToken,
    /// An ID token from the authorization endpoint (implicit, hybrid): HMAC only when
    /// configured explicitly, never negotiated.
    FrontChannelIdToken,
    /// A signed userinfo response (`application/jwt`).
    Userinfo,
    /// A logout token (Back-Channel Logout 1.0): signed like the ID token, but anyone may post
    /// one to the app, so HMAC only when configured explicitly, never negotiated.
    LogoutToken,
    /// A JWT-secured authorization response (JARM, see [`crate::jarm`]): it comes through the
    /// browser, so HMAC only when configured explicitly, never negotiated; without an
    /// algorithm of its own it follows a configured ID token algorithm, else the allow-list.
    AuthorizationResponse,
}

impl SignedResponse {
    /// The client metadata field that names this response's algorithm.
    pub fn field(self) -> &'static str {
        match self {
            SignedResponse::IdToken
            | SignedResponse::FrontChannelIdToken
            | SignedResponse::LogoutToken => "id_token_signed_response_alg",
            SignedResponse::Userinfo => "userinfo_signed_response_alg",
            SignedResponse::AuthorizationResponse => "authorization_signed_response_alg",
        }
    }
}

/// What verifies a token: the allow-list and the key it goes with. Its `Debug` never shows the
/// client secret.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenSigning {
    /// Signed by the provider, verified with its published keys (JWKS).
    ProviderKeys {
        /// The asymmetric algorithms allowed.
        algorithms: Vec<String>,
    },
    /// MACed with the client secret (OpenID Connect Core 10.1).
    ClientSecret {
        /// The HMAC algorithms allowed, each with a key long enough for it.
        algorithms: Vec<String>,
        /// The client secret, the HMAC key.
        secret: Secret,
    },
}

impl std::fmt::Debug for TokenSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSigning::ProviderKeys { algorithms } => f
                .debug_struct("ProviderKeys")
                .field("algorithms", algorithms)
                .finish(),
            TokenSigning::ClientSecret { algorithms, .. } => f
                .debug_struct("ClientSecret")
                .field("algorithms", algorithms)
                .finish_non_exhaustive(),
        }
    }
}

/// The key a token is verified with, as [`TokenSigning::keys`] pairs it with a key set.
///
/// Not `#[non_exhaustive]`: a verifier must handle every kind of key, so a kind added later
/// must break its `match` rather than fall into a wildcard arm.
#[derive(Clone, Copy)]
pub enum TokenKeys<'a> {
    /// The provider's key set.
    Provider(&'a JwkSet),
    /// The client secret.
    ClientSecret(&'a Secret),
}

impl std::fmt::Debug for TokenKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenKeys::Provider(set) => f.debug_tuple("Provider").field(set).finish(),
            TokenKeys::ClientSecret(_) => f.write_str("ClientSecret(..)"),
        }
    }
}

impl TokenSigning {
    /// Decides, for `response`, which algorithms and which key verify it (see the module
    /// documentation). A configured HMAC algorithm with a public client, or with a secret too
    /// short for it, is a configuration error, as is an HMAC-only provider whose algorithms
    /// the secret is too short for.
    pub fn decide(
        config: &ProviderConfig,
        client: &ClientMetadata,
        metadata: &ProviderMetadata,
        response: SignedResponse,
    ) -> Result<Self> {
        let configured = match response {
            SignedResponse::IdToken
            | SignedResponse::FrontChannelIdToken
            | SignedResponse::LogoutToken => config.id_token_signed_response_alg.as_deref(),
            // Without an algorithm of its own, signed userinfo follows a configured ID token
            // algorithm (a negotiated one never: see below).
            SignedResponse::Userinfo => config
                .userinfo_signed_response_alg
                .as_deref()
                .or(config.id_token_signed_response_alg.as_deref()),
            SignedResponse::AuthorizationResponse => config
                .secured
                .authorization_signed_response_alg
                .as_deref()
                .or(config.id_token_signed_response_alg.as_deref()),
        };
        match configured {
            Some(alg) if is_hmac(alg) => {
                let secret = hmac_secret(client, response.field(), alg)?;
                Ok(TokenSigning::ClientSecret {
                    algorithms: vec![alg.to_owned()],
                    secret: secret.clone(),
                })
            }
            Some(alg) => Ok(TokenSigning::ProviderKeys {
                algorithms: vec![alg.to_owned()],
            }),
            // Only a back-channel ID token, with the allow-list left at its default, may
            // negotiate HMAC (see the module documentation).
            None if response != SignedResponse::IdToken || config.algorithms_explicit => {
                Ok(TokenSigning::ProviderKeys {
                    algorithms: config.algorithms.clone(),
                })
            }
            None => {
                let advertised = &metadata.id_token_signing_alg_values_supported;
                let hmac_only = !advertised.is_empty() && advertised.iter().all(|a| is_hmac(a));
                match (hmac_only, confidential_secret(client)) {
                    (true, Some(secret)) => {
                        let algorithms: Vec<String> = advertised
                            .iter()
                            .filter(|a| secret.expose().len() >= min_hmac_key_len(a))
                            .cloned()
                            .collect();
                        if algorithms.is_empty() {
                            return Err(Error::config(
                                "client_secret",
                                format!(
                                    "the provider signs ID tokens with {} only, keyed with the \
                                     client secret, which is too short for it (RFC 7518 3.2)",
                                    advertised.join(", ")
                                ),
                            ));
                        }
                        Ok(TokenSigning::ClientSecret {
                            algorithms,
                            secret: secret.clone(),
                        })
                    }
                    _ => Ok(TokenSigning::ProviderKeys {
                        algorithms: config.algorithms.clone(),
                    }),
                }
            }
        }
    }

    /// The allow-list.
    pub fn algorithms(&self) -> &[String] {
        match self {
            TokenSigning::ProviderKeys { algorithms }
            | TokenSigning::ClientSecret { algorithms, .. } => algorithms,
        }
    }

    /// Whether verifying needs the provider's key set (fetched when missing); an HMAC token
    /// never makes the app fetch it.
    pub fn needs_provider_keys(&self) -> bool {
        matches!(self, TokenSigning::ProviderKeys { .. })
    }

    /// The key to verify with: the client secret for HMAC, else the provider's key set `set`
    /// (`None` when it is needed and not given).
    pub fn keys<'a>(&'a self, set: Option<&'a JwkSet>) -> Option<TokenKeys<'a>> {
        match self {
            TokenSigning::ClientSecret { secret, .. } => Some(TokenKeys::ClientSecret(secret)),
            TokenSigning::ProviderKeys { .. } => set.map(TokenKeys::Provider),
        }
    }
}

/// The client secret of a confidential client, if it has one.
fn confidential_secret(client: &ClientMetadata) -> Option<&Secret> {
    client
        .client_secret
        .as_ref()
        .filter(|_| !client.is_public())
}

/// The client secret as an HMAC key for `alg`, or why it cannot be one.
fn hmac_secret<'a>(
    client: &'a ClientMetadata,
    field: &'static str,
    alg: &str,
) -> Result<&'a Secret> {
    let secret = confidential_secret(client).ok_or_else(|| {
        Error::config(
            field,
            format!(
                "{alg} keys tokens with the client secret, which a public client does not have"
            ),
        )
    })?;
    check_secret_len(field, alg, secret.expose().len())?;
    Ok(secret)
}

fn check_secret_len(field: &'static str, alg: &str, len: usize) -> Result<()> {
    let min = min_hmac_key_len(alg);
    if len < min {
        return Err(Error::config(
            field,
            format!(
                "{alg} needs a client secret of at least {min} bytes (RFC 7518 3.2); this one \
                 is shorter"
            ),
        ));
    }
    Ok(())
}

/// Build-time checks of a configured `id_token_signed_response_alg` or
/// `userinfo_signed_response_alg`: `none` is refused; an asymmetric algorithm must be on the
/// allow-list; an HMAC algorithm needs a confidential client with a long enough secret (a
/// dynamic registration is checked when the provider answers it).
pub(crate) fn check_configured_alg(
    field: &'static str,
    alg: &str,
    algorithms: &[String],
    client: &ClientRegistration,
) -> Result<()> {
    if is_hmac(alg) {
        return match client {
            ClientRegistration::Static(c) => hmac_secret(c, field, alg).map(|_| ()),
            ClientRegistration::Dynamic(info)
                if info.token_endpoint_auth_method == Some(ClientAuthMethod::None) =>
            {
                Err(Error::config(
                    field,
                    format!("{alg} keys tokens with the client secret, which a public client does not have"),
                ))
            }
            ClientRegistration::Dynamic(_) => Ok(()),
        };
    }
    if !algorithms.iter().any(|a| a == alg) {
        return Err(Error::config(
            field,
            format!("`{alg}` is not on the algorithm allow-list"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn metadata(advertised: &[&str]) -> ProviderMetadata {
        let mut m = ProviderMetadata::new("https://op", "https://op/a".parse().unwrap());
        m.jwks_uri = Some("https://op/jwks".parse().unwrap());
        m.id_token_signing_alg_values_supported =
            advertised.iter().map(|a| a.to_string()).collect();
        m
    }

    fn config(
        client: ClientMetadata,
        f: impl FnOnce(crate::ProviderConfigBuilder) -> crate::ProviderConfigBuilder,
    ) -> Result<ProviderConfig> {
        f(ProviderConfig::from_metadata(metadata(&["RS256"])).client(client)).build()
    }

    fn decide(c: &ProviderConfig, advertised: &[&str]) -> Result<TokenSigning> {
        let client = c.client().unwrap().clone();
        TokenSigning::decide(c, &client, &metadata(advertised), SignedResponse::IdToken)
    }

    /// A configured HMAC algorithm keys with the secret; without one, only an HMAC-only
    /// provider enables it, and only the algorithms the secret is long enough for.
    #[test]
    fn hmac_only_where_agreed() {
        let c = config(ClientMetadata::new("c", LONG), |b| {
            b.id_token_signed_response_alg("HS256")
        })
        .unwrap();
        match decide(&c, &["RS256"]).unwrap() {
            TokenSigning::ClientSecret { algorithms, secret } => {
                assert_eq!(algorithms, ["HS256"]);
                assert_eq!(secret.expose(), LONG);
            }
            other => panic!("{other:?}"),
        }
        let plain = config(ClientMetadata::new("c", LONG), |b| b).unwrap();
        assert!(decide(&plain, &["HS256", "RS256"])
            .unwrap()
            .needs_provider_keys());
        assert!(decide(&plain, &["RS256"]).unwrap().needs_provider_keys());
        assert!(decide(&plain, &[]).unwrap().needs_provider_keys());
        let negotiated = decide(&plain, &["HS256", "HS512"]).unwrap();
        assert_eq!(negotiated.algorithms(), ["HS256", "HS512"]);
        assert!(!negotiated.needs_provider_keys());
        let short = config(ClientMetadata::new("c", &LONG[..40]), |b| b).unwrap();
        assert_eq!(
            decide(&short, &["HS256", "HS512"]).unwrap().algorithms(),
            ["HS256"]
        );
        assert!(matches!(
            decide(&short, &["HS512"]),
            Err(Error::Config {
                field: "client_secret",
                ..
            })
        ));
        let es = config(ClientMetadata::new("c", LONG), |b| {
            b.id_token_signed_response_alg("ES256")
        })
        .unwrap();
        assert_eq!(
            decide(&es, &["HS256"]).unwrap(),
            TokenSigning::ProviderKeys {
                algorithms: vec!["ES256".into()]
            },
            "a configured asymmetric algorithm never becomes HMAC"
        );
        assert!(!format!("{:?}", decide(&c, &[]).unwrap()).contains(LONG));
    }

    /// A public client never gets HMAC: configured, it is a typed configuration error; from an
    /// HMAC-only provider, it keeps the provider's keys (and its tokens fail).
    #[test]
    fn public_clients_never_use_hmac() {
        let err = config(ClientMetadata::public("spa"), |b| {
            b.id_token_signed_response_alg("HS256")
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "id_token_signed_response_alg",
                    ..
                }
            ),
            "{err}"
        );
        let err = config(ClientMetadata::public("spa"), |b| {
            b.userinfo_signed_response_alg("HS256")
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "userinfo_signed_response_alg",
                    ..
                }
            ),
            "{err}"
        );
        let public = config(ClientMetadata::public("spa"), |b| b).unwrap();
        assert!(decide(&public, &["HS256"]).unwrap().needs_provider_keys());
        let mut info = crate::ClientRegistrationInfo::new("app");
        info.token_endpoint_auth_method = Some(ClientAuthMethod::None);
        info.id_token_signed_response_alg = Some("HS256".into());
        let err = ProviderConfig::discover("https://op.example")
            .register(info)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "id_token_signed_response_alg",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// Secrets shorter than the hash are refused for each HMAC algorithm; `none` and
    /// algorithms off the allow-list cannot be configured.
    #[test]
    fn weak_secrets_and_bad_algorithms_are_configuration_errors() {
        for (alg, len) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
            assert!(config(ClientMetadata::new("c", &LONG[..len]), |b| b
                .id_token_signed_response_alg(alg))
            .is_ok());
            let err = config(ClientMetadata::new("c", &LONG[..len - 1]), |b| {
                b.id_token_signed_response_alg(alg)
            })
            .unwrap_err();
            assert!(
                err.to_string().contains(&format!("at least {len} bytes")),
                "{err}"
            );
        }
        for alg in ["none", "XX1", "RS384"] {
            assert!(
                config(ClientMetadata::new("c", LONG), |b| b
                    .algorithms(["RS256"])
                    .id_token_signed_response_alg(alg))
                .is_err(),
                "{alg}"
            );
        }
    }

    /// An app that set `algorithms(..)` chose its algorithms: an HMAC-only discovery never
    /// turns HMAC on for it (it keeps its list, and HMAC tokens fail); the untouched default
    /// list does negotiate, for back-channel ID tokens only.
    #[test]
    fn an_explicit_allow_list_never_negotiates_hmac() {
        for list in [vec!["ES256"], crate::config::DEFAULT_ALGORITHMS.to_vec()] {
            let c = config(ClientMetadata::new("c", LONG), |b| {
                b.algorithms(list.clone())
            })
            .unwrap();
            assert_eq!(
                decide(&c, &["HS256"]).unwrap(),
                TokenSigning::ProviderKeys {
                    algorithms: list.iter().map(|a| a.to_string()).collect()
                },
                "{list:?}"
            );
        }
        let c = config(ClientMetadata::new("c", LONG), |b| {
            b.algorithms(["ES256"])
                .id_token_signed_response_alg("HS256")
        })
        .unwrap();
        assert!(!decide(&c, &["RS256"]).unwrap().needs_provider_keys());
        let plain = config(ClientMetadata::new("c", LONG), |b| b).unwrap();
        assert!(!decide(&plain, &["HS256"]).unwrap().needs_provider_keys());
    }

    /// A negotiated HMAC decision covers the token endpoint's ID token only: the front
    /// channel's and signed userinfo keep the provider's keys. Configured explicitly, HMAC
    /// covers the front channel, and userinfo follows it.
    #[test]
    fn negotiated_hmac_is_for_the_back_channel_only() {
        let plain = config(ClientMetadata::new("c", LONG), |b| b).unwrap();
        let client = plain.client().unwrap().clone();
        let hs = metadata(&["HS256"]);
        for response in [
            SignedResponse::FrontChannelIdToken,
            SignedResponse::Userinfo,
        ] {
            let d = TokenSigning::decide(&plain, &client, &hs, response).unwrap();
            assert!(d.needs_provider_keys(), "{response:?}");
            assert!(d.algorithms().iter().all(|a| !is_hmac(a)), "{response:?}");
        }
        let explicit = config(ClientMetadata::new("c", LONG), |b| {
            b.id_token_signed_response_alg("HS256")
        })
        .unwrap();
        for response in [
            SignedResponse::IdToken,
            SignedResponse::FrontChannelIdToken,
            SignedResponse::Userinfo,
        ] {
            let d = TokenSigning::decide(&explicit, &client, &hs, response).unwrap();
            assert_eq!(d.algorithms(), ["HS256"], "{response:?}");
        }
        assert_eq!(
            SignedResponse::FrontChannelIdToken.field(),
            "id_token_signed_response_alg"
        );
    }

    /// Signed userinfo follows the ID token's decision unless it has an algorithm of its own.
    #[test]
    fn userinfo_follows_the_id_token_unless_configured() {
        let c = config(ClientMetadata::new("c", LONG), |b| {
            b.id_token_signed_response_alg("HS256")
        })
        .unwrap();
        let client = c.client().unwrap().clone();
        let ui = TokenSigning::decide(&c, &client, &metadata(&["RS256"]), SignedResponse::Userinfo)
            .unwrap();
        assert!(!ui.needs_provider_keys());
        let c = config(ClientMetadata::new("c", LONG), |b| {
            b.id_token_signed_response_alg("HS256")
                .userinfo_signed_response_alg("RS256")
        })
        .unwrap();
        let ui = TokenSigning::decide(&c, &client, &metadata(&["RS256"]), SignedResponse::Userinfo)
            .unwrap();
        assert_eq!(ui.algorithms(), ["RS256"]);
        assert!(ui.needs_provider_keys());
    }
}
