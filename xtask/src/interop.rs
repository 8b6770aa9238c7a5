//! `cargo xtask interop`: each adapter's demo app (`docs/demo-contract.md`) against a real
//! OpenID provider (`interop/provider.mjs`, node-oidc-provider), driven through its login,
//! consent and logout pages by headless Chromium (`interop/drive.mjs`); its bearer-protected
//! `GET /api/me` is called with access tokens the provider issued (`interop/api.mjs`, no
//! browser).
//!
//! Prints one line per scenario, `PASS <adapter>/<scenario>` or
//! `FAIL <adapter>/<scenario>: <reason>`, then `N passed, M failed`. Logs go to
//! `target/interop/`.

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::process::{self, Guard};

mod instances;

/// The provider's issuer; `provider.mjs` listens there by default.
const ISSUER: &str = "http://127.0.0.1:9090";
const PROVIDER_ADDR: &str = "127.0.0.1:9090";
/// The static clients of `provider.mjs`, and their secret.
const CLIENT_BASIC: &str = "demo-client";
const CLIENT_POST: &str = "demo-client-post";
const CLIENT_SECRET: &str = "demo-secret";
/// `provider.mjs`'s `client_secret_jwt` client and its secret (long enough for HS256).
const CLIENT_JWT: &str = "demo-client-jwt";
const CLIENT_JWT_SECRET: &str = "demo-secret-for-client-secret-jwt-hs256";
/// `provider.mjs`'s `private_key_jwt` client, whose key it writes to [`client_key_path`].
const CLIENT_PRIVATE_KEY_JWT: &str = "demo-client-pkjwt";
/// `provider.mjs`'s public client (`none`; the demo always sends PKCE).
const CLIENT_PUBLIC: &str = "demo-client-public";
/// In an [`AppConfig`] value: the file holding the `private_key_jwt` client's private JWK.
const CLIENT_KEY: &str = "{client_key}";
/// `provider.mjs`'s high-security client (issue 18): PAR and signed request objects required,
/// DPoP-bound tokens, JARM, ID tokens and userinfo encrypted (ECDH-ES); `private_key_jwt` with
/// [`CLIENT_KEY`].
const CLIENT_FAPI: &str = "demo-client-fapi";
/// In an [`AppConfig`] value: the file holding the app's EC decryption key (ECDH-ES), which
/// `provider.mjs` writes next to [`client_key_path`].
const CLIENT_ENC_EC_KEY: &str = "{client_enc_ec}";
/// In an [`AppConfig`] value: the file holding the app's RSA decryption key (RSA-OAEP-256).
const CLIENT_ENC_RSA_KEY: &str = "{client_enc_rsa}";

/// Where `provider.mjs` writes the private key of [`CLIENT_PRIVATE_KEY_JWT`] (a fresh one
/// each run) and the demo reads it from.
fn client_key_path() -> PathBuf {
    std::env::temp_dir().join("oidc-interop-client-key.json")
}

const PROVIDER_START: Duration = Duration::from_secs(30);
const DEMO_START: Duration = Duration::from_secs(30);
const PORT_RELEASE: Duration = Duration::from_secs(10);
/// `drive.mjs` caps itself at 150 s (`api.mjs` at 90 s); this is the bound should it not.
const DRIVE_LIMIT: Duration = Duration::from_secs(180);
const BUILD_LIMIT: Duration = Duration::from_secs(25 * 60);
const APT_LIMIT: Duration = Duration::from_secs(15 * 60);
const NPM_LIMIT: Duration = Duration::from_secs(10 * 60);
/// How many lines of a log a failure shows.
const TAIL: usize = 25;

struct Adapter {
    name: &'static str,
    krate: &'static str,
    /// The demo's example name, `examples/<demo>.rs` in [`krate`](Self::krate): distinct per
    /// adapter, so that building them together puts each at its own path.
    demo: &'static str,
    /// Each adapter has its own port (the provider's static clients allow 8080-8082), so that
    /// a demo that is slow to let go of its port never meets the next one.
    port: u16,
    /// The port of the second instance in the two-instance checks (instance A is on
    /// [`port`](Self::port)); its own too, for the same reason. [`app_ports`] has the
    /// provider register its static clients for it.
    peer_port: u16,
}

const ADAPTERS: &[Adapter] = &[
    Adapter {
        name: "axum",
        krate: "oidc-axum",
        demo: "axum-demo",
        port: 8080,
        peer_port: 8083,
    },
    Adapter {
        name: "rocket",
        krate: "oidc-rocket",
        demo: "rocket-demo",
        port: 8081,
        peer_port: 8084,
    },
    Adapter {
        name: "warp",
        krate: "oidc-warp",
        demo: "warp-demo",
        port: 8082,
        peer_port: 8085,
    },
];

/// `OP_APP_PORTS` for `provider.mjs`: every port a demo instance listens on, so that its
/// static clients accept each one's `/redirect_uri` and `/logout` (and its back-channel
/// logout clients, `demo-client-backchannel-<port>`, exist for each).
fn app_ports() -> String {
    ADAPTERS
        .iter()
        .flat_map(|a| [a.port, a.peer_port])
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// How the demo app is started, on top of `APP_ADDR`, `OIDC_ISSUER` and the static client
/// `demo-client` / `demo-secret`. An empty value unsets the variable; [`APP_URL`] in a value
/// stands for the demo's base URL, `http://127.0.0.1:<adapter port>`.
struct AppConfig {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const STATIC_BASIC: AppConfig = AppConfig {
    name: "client_secret_basic",
    env: &[],
};
const STATIC_POST: AppConfig = AppConfig {
    name: "client_secret_post",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_POST),
        ("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post"),
    ],
};
const FORM_POST: AppConfig = AppConfig {
    name: "form_post",
    env: &[("OIDC_RESPONSE_MODE", "form_post")],
};
const IMPLICIT_ID_TOKEN: AppConfig = AppConfig {
    name: "implicit-id_token",
    env: &[("OIDC_RESPONSE_TYPE", "id_token")],
};
const IMPLICIT_ID_TOKEN_TOKEN: AppConfig = AppConfig {
    name: "implicit-id_token-token",
    env: &[("OIDC_RESPONSE_TYPE", "id_token token")],
};
const HYBRID_CODE_ID_TOKEN: AppConfig = AppConfig {
    name: "hybrid-code-id_token",
    env: &[("OIDC_RESPONSE_TYPE", "code id_token")],
};
const HYBRID_CODE_TOKEN: AppConfig = AppConfig {
    name: "hybrid-code-token",
    env: &[("OIDC_RESPONSE_TYPE", "code token")],
};
const HYBRID_CODE_ID_TOKEN_TOKEN: AppConfig = AppConfig {
    name: "hybrid-code-id_token-token",
    env: &[("OIDC_RESPONSE_TYPE", "code id_token token")],
};
const HYBRID_FORM_POST: AppConfig = AppConfig {
    name: "hybrid-code-id_token-form_post",
    env: &[
        ("OIDC_RESPONSE_TYPE", "code id_token"),
        ("OIDC_RESPONSE_MODE", "form_post"),
    ],
};
/// `client_secret_jwt`, pinned: an HS256 assertion MACed with the secret.
const STATIC_SECRET_JWT: AppConfig = AppConfig {
    name: "client_secret_jwt",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_JWT),
        ("OIDC_CLIENT_SECRET", CLIENT_JWT_SECRET),
        ("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_jwt"),
    ],
};
/// `private_key_jwt`, negotiated (the method unset): an ES256 assertion signed with the key
/// `provider.mjs` registered for the client; the client has no secret.
const STATIC_PRIVATE_KEY_JWT: AppConfig = AppConfig {
    name: "private_key_jwt",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_PRIVATE_KEY_JWT),
        ("OIDC_CLIENT_SECRET", ""),
        ("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", ""),
        ("OIDC_CLIENT_PRIVATE_KEY", CLIENT_KEY),
    ],
};
/// A public client: no secret, `none` at the token endpoint, PKCE protecting the code.
const STATIC_PUBLIC: AppConfig = AppConfig {
    name: "public-client",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_PUBLIC),
        ("OIDC_CLIENT_SECRET", ""),
    ],
};
/// Dynamic registration with a private key: the demo registers `private_key_jwt` with its
/// `/jwks.json` as `jwks_uri`, which the provider fetches to verify each assertion.
const DYNAMIC_PRIVATE_KEY_JWT: AppConfig = AppConfig {
    name: "dynamic-registration-private_key_jwt",
    env: &[
        ("OIDC_CLIENT_ID", ""),
        ("OIDC_CLIENT_SECRET", ""),
        ("OIDC_CLIENT_PRIVATE_KEY", CLIENT_KEY),
    ],
};
/// No static client: the demo registers itself at start-up (open registration at the provider).
const DYNAMIC: AppConfig = AppConfig {
    name: "dynamic-registration",
    env: &[("OIDC_CLIENT_ID", ""), ("OIDC_CLIENT_SECRET", "")],
};
/// Silent re-authentication after 5 s; the driver waits [`SILENT_REFRESH_DRIVE`]'s 6 s.
const SILENT_REFRESH: AppConfig = AppConfig {
    name: "silent-refresh",
    env: &[("OIDC_SESSION_REFRESH_INTERVAL_SECONDS", "5")],
};
/// Silent re-authentication after 5 s in the implicit flow: a `login_required` answer comes
/// back in the fragment, through the fragment page.
const SILENT_REFRESH_IMPLICIT: AppConfig = AppConfig {
    name: "silent-refresh-id_token",
    env: &[
        ("OIDC_SESSION_REFRESH_INTERVAL_SECONDS", "5"),
        ("OIDC_RESPONSE_TYPE", "id_token"),
    ],
};
/// As [`SILENT_REFRESH_IMPLICIT`], in the hybrid flow `code id_token`.
const SILENT_REFRESH_HYBRID: AppConfig = AppConfig {
    name: "silent-refresh-code-id_token",
    env: &[
        ("OIDC_SESSION_REFRESH_INTERVAL_SECONDS", "5"),
        ("OIDC_RESPONSE_TYPE", "code id_token"),
    ],
};

/// The static client whose ID tokens `provider.mjs` signs with ES256.
const ID_TOKEN_ES256: AppConfig = AppConfig {
    name: "id_token-es256",
    env: &[("OIDC_CLIENT_ID", "demo-client-es256")],
};
/// The static client whose ID tokens `provider.mjs` signs with PS256.
const ID_TOKEN_PS256: AppConfig = AppConfig {
    name: "id_token-ps256",
    env: &[("OIDC_CLIENT_ID", "demo-client-ps256")],
};
/// The static client whose ID tokens `provider.mjs` signs with EdDSA (Ed25519).
const ID_TOKEN_EDDSA: AppConfig = AppConfig {
    name: "id_token-eddsa",
    env: &[("OIDC_CLIENT_ID", "demo-client-eddsa")],
};
/// Userinfo by `POST` with the access token in the form body (RFC 6750 2.2).
const USERINFO_POST: AppConfig = AppConfig {
    name: "userinfo-post",
    env: &[("OIDC_USERINFO_METHOD", "body")],
};
/// The static client registered with `userinfo_signed_response_alg`: userinfo answers with a
/// signed JWT.
const USERINFO_SIGNED: AppConfig = AppConfig {
    name: "userinfo-signed",
    env: &[("OIDC_CLIENT_ID", "demo-client-signed-userinfo")],
};

/// Issue 18, PAR alone: the static `client_secret_basic` client pushes its requests.
const PAR: AppConfig = AppConfig {
    name: "par",
    env: &[("OIDC_PUSHED_AUTHORIZATION_REQUESTS", "true")],
};
/// Issue 18, a signed request object by value (no PAR), signed with the `private_key_jwt`
/// client's key.
const JAR: AppConfig = AppConfig {
    name: "request-object",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_PRIVATE_KEY_JWT),
        ("OIDC_CLIENT_SECRET", ""),
        ("OIDC_CLIENT_PRIVATE_KEY", CLIENT_KEY),
        ("OIDC_REQUEST_OBJECT", "signed"),
    ],
};
/// Issue 18, DPoP alone: the static client's tokens bound to the session's key.
const DPOP: AppConfig = AppConfig {
    name: "dpop",
    env: &[("OIDC_DPOP", "true")],
};
/// Issue 18, JARM in the code flow's default mode (`query.jwt`).
const JARM_QUERY: AppConfig = AppConfig {
    name: "jarm-query.jwt",
    env: &[
        ("OIDC_CLIENT_ID", "demo-client-jarm"),
        ("OIDC_RESPONSE_MODE", "query.jwt"),
    ],
};
/// Issue 18, JARM posted (`form_post.jwt`).
const JARM_FORM_POST: AppConfig = AppConfig {
    name: "jarm-form_post.jwt",
    env: &[
        ("OIDC_CLIENT_ID", "demo-client-jarm"),
        ("OIDC_RESPONSE_MODE", "form_post.jwt"),
    ],
};
/// Issue 18, JARM in the fragment (`fragment.jwt`), relayed by the fragment page.
const JARM_FRAGMENT: AppConfig = AppConfig {
    name: "jarm-fragment.jwt",
    env: &[
        ("OIDC_CLIENT_ID", "demo-client-jarm"),
        ("OIDC_RESPONSE_MODE", "fragment.jwt"),
    ],
};
/// Issue 18, ID tokens encrypted with RSA-OAEP-256 / A256GCM.
const ID_TOKEN_RSA_OAEP: AppConfig = AppConfig {
    name: "id_token-encrypted-rsa-oaep-256",
    env: &[
        ("OIDC_CLIENT_ID", "demo-client-rsa-enc"),
        ("OIDC_CLIENT_DECRYPTION_KEY", CLIENT_ENC_RSA_KEY),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG", "RSA-OAEP-256"),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ENC", "A256GCM"),
    ],
};
/// Issue 18, everything at once on [`CLIENT_FAPI`], which the provider holds to each.
const HIGH_SECURITY: AppConfig = AppConfig {
    name: "high-security",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_FAPI),
        ("OIDC_CLIENT_SECRET", ""),
        ("OIDC_CLIENT_PRIVATE_KEY", CLIENT_KEY),
        ("OIDC_PUSHED_AUTHORIZATION_REQUESTS", "true"),
        ("OIDC_REQUEST_OBJECT", "signed"),
        ("OIDC_DPOP", "true"),
        ("OIDC_RESPONSE_MODE", "jwt"),
        ("OIDC_CLIENT_DECRYPTION_KEY", CLIENT_ENC_EC_KEY),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG", "ECDH-ES"),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ENC", "A128GCM"),
        ("OIDC_USERINFO_ENCRYPTED_RESPONSE_ALG", "ECDH-ES"),
        ("OIDC_USERINFO_ENCRYPTED_RESPONSE_ENC", "A128GCM"),
    ],
};
/// Issue 18 item 6: the FAPI 2.0 preset (`OIDC_PROFILE=fapi2` turns on PAR and DPoP and holds
/// the rest to the profile) on [`CLIENT_FAPI`], with what that client needs besides.
const FAPI2: AppConfig = AppConfig {
    name: "fapi2",
    env: &[
        ("OIDC_CLIENT_ID", CLIENT_FAPI),
        ("OIDC_CLIENT_SECRET", ""),
        ("OIDC_CLIENT_PRIVATE_KEY", CLIENT_KEY),
        ("OIDC_PROFILE", "fapi2"),
        ("OIDC_REQUEST_OBJECT", "signed"),
        ("OIDC_RESPONSE_MODE", "jwt"),
        ("OIDC_CLIENT_DECRYPTION_KEY", CLIENT_ENC_EC_KEY),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG", "ECDH-ES"),
        ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ENC", "A128GCM"),
        ("OIDC_USERINFO_ENCRYPTED_RESPONSE_ALG", "ECDH-ES"),
        ("OIDC_USERINFO_ENCRYPTED_RESPONSE_ENC", "A128GCM"),
    ],
};

/// What `provider.mjs`'s log must show during a scenario of these app configurations besides
/// a passing drive, so that a demo that quietly did something else cannot pass: the ID
/// token's algorithm, userinfo by POST, a signed userinfo response.
const PROVIDER_LOG_PROOF: &[(&str, &str)] = &[
    ("id_token-es256", "id_token signed with ES256"),
    ("id_token-ps256", "id_token signed with PS256"),
    ("id_token-eddsa", "id_token signed with EdDSA"),
    ("userinfo-post", "] POST /me -> 200"),
    ("userinfo-signed", "userinfo answered application/jwt"),
    // Issue 18: each feature seen by the provider, not only a passing login.
    (
        "par",
        "event pushed_authorization_request.success (client demo-client)",
    ),
    (
        "par",
        "authorization by request_uri (client demo-client; other parameters: none)",
    ),
    (
        "request-object",
        "request object received at the authorization endpoint (client demo-client-pkjwt)",
    ),
    ("dpop", "token endpoint answered token_type DPoP"),
    ("dpop", "DPoP proof received on GET /me -> 200"),
    (
        "jarm-query.jwt",
        "(client demo-client-jarm, response_mode query.jwt)",
    ),
    (
        "jarm-form_post.jwt",
        "(client demo-client-jarm, response_mode form_post.jwt)",
    ),
    (
        "jarm-fragment.jwt",
        "(client demo-client-jarm, response_mode fragment.jwt)",
    ),
    (
        "id_token-encrypted-rsa-oaep-256",
        "id_token encrypted with RSA-OAEP-256/A256GCM",
    ),
    (
        "high-security",
        "event pushed_authorization_request.success (client demo-client-fapi)",
    ),
    (
        "high-security",
        "authorization by request_uri (client demo-client-fapi; other parameters: none)",
    ),
    (
        "high-security",
        "(client demo-client-fapi, response_mode jwt)",
    ),
    ("high-security", "token endpoint answered token_type DPoP"),
    ("high-security", "id_token encrypted with ECDH-ES/A128GCM"),
    ("high-security", "userinfo encrypted with ECDH-ES/A128GCM"),
    (
        "fapi2",
        "event pushed_authorization_request.success (client demo-client-fapi)",
    ),
    ("fapi2", "token endpoint answered token_type DPoP"),
    ("fapi2", "id_token encrypted with ECDH-ES/A128GCM"),
];

/// Lines `provider.mjs`'s log must show during a scenario, by scenario name: a logout revokes
/// the session's refresh token at the provider's revocation endpoint (RFC 7009), which
/// destroys it (a 200 alone would not tell: it also answers an unknown token) and with it the
/// whole grant, so the access token revoked next is already gone (still a 200). The static and
/// the dynamically registered clients may use the refresh token grant; the cross-site
/// scenario's confirmed logout is a real logout.
const SCENARIO_LOG_PROOF: &[(&str, &[&str])] = &[
    ("logout", REVOKED_AT_LOGOUT),
    ("cross-site-logout", REVOKED_AT_LOGOUT),
    ("dynamic-registration-logout", REVOKED_AT_LOGOUT),
];

/// See [`SCENARIO_LOG_PROOF`].
const REVOKED_AT_LOGOUT: &[&str] = &[
    "event refresh_token.destroyed",
    "] POST /token/revocation -> 200",
];

/// That `provider.mjs`'s log shows, since `from`, every line [`SCENARIO_LOG_PROOF`] asks of
/// `scenario`.
fn check_scenario_log(scenario: &str, provider_log: &Path, from: u64) -> Result<(), String> {
    let Some((_, proofs)) = SCENARIO_LOG_PROOF
        .iter()
        .find(|(name, _)| *name == scenario)
    else {
        return Ok(());
    };
    let lines = process::tail(provider_log, from, usize::MAX);
    match proofs
        .iter()
        .find(|proof| !lines.iter().any(|l| l.contains(*proof)))
    {
        None => Ok(()),
        Some(missing) => Err(format!(
            "the scenario passed, but the provider's log never shows `{missing}` during it"
        )),
    }
}

/// In an [`AppConfig`] value: the demo's base URL (each adapter has its own port).
const APP_URL: &str = "{app_url}";

/// Two instances of the demo on one Redis (issue 17 item 7), run by [`instances`]: it gives
/// both the same `REDIS_URL` (a `redis-server` of its own), `SESSION_SECRET` and the
/// provider's back-channel logout client for instance A's port, on top of this.
const TWO_INSTANCES: AppConfig = AppConfig {
    name: "two-instances",
    env: &[],
};

/// `/api/me` validating bearer tokens by introspection (the default: `OIDC_API_VALIDATION`
/// unset), requiring no scope.
const API_INTROSPECTION: AppConfig = AppConfig {
    name: "api-introspection",
    env: &[("OIDC_API_VALIDATION", ""), ("OIDC_API_SCOPES", "")],
};
/// The scope [`API_INTROSPECTION_SCOPE`] requires and the tokens `api.mjs` obtains lack.
const API_REQUIRED_SCOPE: &str = "api:write";
/// `/api/me` by introspection, requiring [`API_REQUIRED_SCOPE`].
const API_INTROSPECTION_SCOPE: AppConfig = AppConfig {
    name: "api-introspection-scope",
    env: &[
        ("OIDC_API_VALIDATION", ""),
        ("OIDC_API_SCOPES", API_REQUIRED_SCOPE),
    ],
};
/// `/api/me` validating RFC 9068 JWT access tokens locally, for the audience the provider
/// puts in tokens for the resource `http://127.0.0.1:<port>`: the demo's base URL.
const API_JWT: AppConfig = AppConfig {
    name: "api-jwt",
    env: &[
        ("OIDC_API_VALIDATION", "jwt"),
        ("OIDC_API_AUDIENCE", APP_URL),
    ],
};
/// As [`API_JWT`], with `OIDC_API_AUDIENCE` unset: the contract's default, the base URL.
const API_JWT_DEFAULT_AUDIENCE: AppConfig = AppConfig {
    name: "api-jwt-default-audience",
    env: &[("OIDC_API_VALIDATION", "jwt"), ("OIDC_API_AUDIENCE", "")],
};

impl AppConfig {
    /// The environment for a demo whose base URL is `app_url`: [`APP_URL`] replaced.
    fn env_for(&self, app_url: &str) -> Vec<(&'static str, String)> {
        let key = client_key_path().display().to_string();
        let dir = std::env::temp_dir();
        let enc_ec = dir.join("client-enc-ec.json").display().to_string();
        let enc_rsa = dir.join("client-enc-rsa.json").display().to_string();
        self.env
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace(APP_URL, app_url)
                    .replace(CLIENT_KEY, &key)
                    .replace(CLIENT_ENC_EC_KEY, &enc_ec)
                    .replace(CLIENT_ENC_RSA_KEY, &enc_rsa);
                (*k, v)
            })
            .collect()
    }

    /// Whether the demo registers its client dynamically (`OIDC_CLIENT_ID` unset).
    fn registers_dynamically(&self) -> bool {
        self.env
            .iter()
            .any(|(k, v)| *k == "OIDC_CLIENT_ID" && v.is_empty())
    }
}

struct Scenario {
    /// The name in `--scenario` and in the `PASS`/`FAIL` lines.
    name: &'static str,
    /// The script under `interop/` that runs it: [`DRIVE`] (headless Chromium) or [`API`]
    /// (bearer-token calls to `/api/me`, no browser). Both take `--app`, `--issuer` and
    /// `--artifacts`, and print one `PASS`/`FAIL` line.
    script: &'static str,
    /// The arguments for the script (empty: it has no such scenario yet).
    drive: &'static [&'static str],
    app: &'static AppConfig,
    /// `Some(capability)`: waits for a library capability, and runs only when named with
    /// `--scenario`. Once the capability lands, make it [`ready`] and it runs by default.
    pending: Option<&'static str>,
}

/// The browser driver.
const DRIVE: &str = "drive.mjs";
/// The bearer-token checks of `/api/me`.
const API: &str = "api.mjs";

/// A scenario the library supports: it runs by default.
const fn ready(
    name: &'static str,
    drive: &'static [&'static str],
    app: &'static AppConfig,
) -> Scenario {
    Scenario {
        name,
        script: DRIVE,
        drive,
        app,
        pending: None,
    }
}

/// A scenario of `api.mjs` (bearer tokens at `/api/me`); it runs by default.
const fn api(
    name: &'static str,
    args: &'static [&'static str],
    app: &'static AppConfig,
) -> Scenario {
    Scenario {
        name,
        script: API,
        drive: args,
        app,
        pending: None,
    }
}

/// A scenario waiting for `capability`: it runs only when named. (None waits today.)
#[allow(dead_code)]
const fn pending(
    name: &'static str,
    drive: &'static [&'static str],
    app: &'static AppConfig,
    capability: &'static str,
) -> Scenario {
    Scenario {
        name,
        script: DRIVE,
        drive,
        app,
        pending: Some(capability),
    }
}

const CODE: &[&str] = &["--scenario", "code"];
const SSO: &[&str] = &["--scenario", "sso"];
const LOGOUT: &[&str] = &["--scenario", "logout"];
const TAMPER_STATE: &[&str] = &["--scenario", "tampered", "--tamper", "state"];
const TAMPER_CODE: &[&str] = &["--scenario", "tampered", "--tamper", "code"];
/// A JARM response whose signature the provider never made.
const TAMPER_RESPONSE: &[&str] = &["--scenario", "tampered", "--tamper", "response"];
const IMPLICIT: &[&str] = &["--scenario", "implicit"];
const HYBRID: &[&str] = &["--scenario", "hybrid"];
const FORM_POST_MODE: &[&str] = &["--scenario", "form_post"];
/// Opens `/` again 6 s after the login: past [`SILENT_REFRESH`]'s 5 s interval.
const SILENT_REFRESH_DRIVE: &[&str] = &["--scenario", "silent-refresh", "--refresh-after", "6"];
/// Ends the provider session (its cookies), opens `/` 6 s after the login: `prompt=none` gets
/// `login_required`, and the browser must reach the provider's login form.
const SILENT_REFRESH_LOGIN_REQUIRED_DRIVE: &[&str] = &[
    "--scenario",
    "silent-refresh-login-required",
    "--refresh-after",
    "6",
];
/// Logs in, then follows a link to `/logout` from a page on another site: still logged in, a
/// confirmation page, whose button logs out.
const CROSS_SITE_LOGOUT: &[&str] = &["--scenario", "cross-site-logout"];
/// Logs in, rotates the provider's signing keys, and logs in as another user 6 s later: past
/// the library's 5 s JWKS refetch interval.
const KEY_ROTATION: &[&str] = &["--scenario", "key-rotation", "--rotate-wait", "6"];
/// `api.mjs`: an opaque token for the app (`resource=<app>/opaque`) from a code login → 200
/// with `sub`/`client_id`; no token, a made-up token, a token revoked at the provider, a token
/// for userinfo only (no `aud`: the app checks the audience by default) → 401 with a `Bearer`
/// challenge.
const API_INTROSPECTION_CHECKS: &[&str] = &["--scenario", "introspection"];
/// `api.mjs`: a valid token without [`API_REQUIRED_SCOPE`] → 403 `insufficient_scope`.
const API_SCOPE_CHECKS: &[&str] = &[
    "--scenario",
    "insufficient-scope",
    "--required-scope",
    API_REQUIRED_SCOPE,
];
/// `api.mjs`: an RFC 9068 JWT for the resource `http://127.0.0.1:<port>` → 200; a JWT for
/// another resource, an altered JWT, an opaque token, no token → 401. Its `--audience`
/// defaults to the app's base URL, which is what [`API_JWT`] sets.
const API_JWT_CHECKS: &[&str] = &["--scenario", "jwt"];
/// `drive.mjs --scenario two-instances`, check `shared-session`: a login on instance A; the
/// browser's first navigation to instance B must get the same session (200, the same ID
/// token), not a redirect.
const TWO_INSTANCES_SHARED_SESSION: &[&str] =
    &["--scenario", "two-instances", "--checks", "shared-session"];
/// Check `backchannel-logout`: a login on A, then a sign-out at the provider's own
/// end-session endpoint (the app takes no part); the provider POSTs a logout token to A's
/// `/backchannel_logout`, and then neither A nor B may serve the session.
const TWO_INSTANCES_BACKCHANNEL_LOGOUT: &[&str] = &[
    "--scenario",
    "two-instances",
    "--checks",
    "backchannel-logout",
];
/// Check `redis-restart`: a login on A, both serve it; Redis restarts (same port, data kept);
/// the first request each instance gets afterwards must be 200, not 503.
const TWO_INSTANCES_REDIS_RESTART: &[&str] =
    &["--scenario", "two-instances", "--checks", "redis-restart"];

/// Every scenario, in the order they run. Scenarios that share an [`AppConfig`] share one
/// demo process. `--scenario NAME` selects NAME and the family `NAME-*`.
///
/// Every scenario here is ready and runs by default; none is [`pending`]:
/// - dynamic client registration (no `OIDC_CLIENT_ID`): `dynamic-registration` and
///   `dynamic-registration-logout` run the `code` and `logout` drives on a client the demo
///   registered at start-up. Before they run, the provider's log must show that registration
///   (`POST /reg -> 201`), so a demo quietly using a static client cannot pass;
/// - silent re-authentication with `prompt=none` (`OIDC_SESSION_REFRESH_INTERVAL_SECONDS=5`):
///   `silent-refresh`, the driver's scenario of that name, opening `/` again 6 s after the login;
///   `silent-refresh-login-required-*`, the same after the provider session ended, in the
///   implicit and a hybrid flow, which must end at the provider's login form (the fragment
///   page's CSP `form-action` must let the redirect there through);
/// - logout CSRF: `cross-site-logout`, a link to `/logout` followed from another site
///   (`localhost` vs `127.0.0.1`), which must leave the user logged in on a confirmation page
///   whose button then logs out through the provider;
/// - bearer protection of `GET /api/me` (`api-*`, run by `api.mjs` without a browser): access
///   tokens the provider issued to `demo-client` through a code login, validated by
///   introspection (`api-introspection`, and `api-introspection-scope` for a missing required
///   scope) or locally as RFC 9068 JWTs for the demo's resource indicator (`api-jwt`, with
///   `OIDC_API_AUDIENCE` set, and `api-jwt-default-audience` with the contract's default);
/// - signing-key rotation at the provider between two logins (`key-rotation`, OpenID RP
///   certification `rp-key-rotation-op-sign-key`): `provider.mjs`'s loopback-only
///   `POST /__interop/rotate-keys` replaces its signing keys, and a new browser's login as
///   another user must succeed. It runs last of its demo's scenarios, so that the ones before
///   meet the provider's first keys;
/// - several instances (`two-instances-*`, issue 17 item 7): two instances of the demo share
///   a `redis-server` and a session secret; a login on one is served by the other, a sign-out
///   at the provider ends the session on both through back-channel logout, and a Redis
///   restart between two requests costs no error. The selected checks share one group (one
///   Redis, two demos, one Chromium run), see [`instances`].
const SCENARIOS: &[Scenario] = &[
    // Authorization code flow, static client, client_secret_basic.
    ready("code", CODE, &STATIC_BASIC),
    ready("sso", SSO, &STATIC_BASIC),
    ready("logout", LOGOUT, &STATIC_BASIC),
    ready("tampered", TAMPER_STATE, &STATIC_BASIC),
    ready("tampered-code", TAMPER_CODE, &STATIC_BASIC),
    ready("code-client_secret_post", CODE, &STATIC_POST),
    // Client authentication by JWT assertions (OpenID Connect Core 9), and a public client.
    ready("code-client_secret_jwt", CODE, &STATIC_SECRET_JWT),
    ready("code-private_key_jwt", CODE, &STATIC_PRIVATE_KEY_JWT),
    ready("code-public-client", CODE, &STATIC_PUBLIC),
    ready(
        "code-dynamic-private_key_jwt",
        CODE,
        &DYNAMIC_PRIVATE_KEY_JWT,
    ),
    // response_mode=form_post: the forged state travels in the POST body.
    ready("form_post", FORM_POST_MODE, &FORM_POST),
    ready("form_post-tampered", TAMPER_STATE, &FORM_POST),
    // Implicit and hybrid flows: fragment responses, relayed to the app by a page.
    ready("implicit-id_token", IMPLICIT, &IMPLICIT_ID_TOKEN),
    ready("implicit-id_token-logout", LOGOUT, &IMPLICIT_ID_TOKEN),
    ready(
        "implicit-id_token-tampered",
        TAMPER_STATE,
        &IMPLICIT_ID_TOKEN,
    ),
    ready(
        "implicit-id_token-token",
        IMPLICIT,
        &IMPLICIT_ID_TOKEN_TOKEN,
    ),
    ready("hybrid-code-id_token", HYBRID, &HYBRID_CODE_ID_TOKEN),
    ready("hybrid-code-id_token-sso", SSO, &HYBRID_CODE_ID_TOKEN),
    ready(
        "hybrid-code-id_token-tampered-code",
        TAMPER_CODE,
        &HYBRID_CODE_ID_TOKEN,
    ),
    ready("hybrid-code-token", HYBRID, &HYBRID_CODE_TOKEN),
    ready(
        "hybrid-code-id_token-token",
        HYBRID,
        &HYBRID_CODE_ID_TOKEN_TOKEN,
    ),
    ready(
        "hybrid-code-id_token-form_post",
        FORM_POST_MODE,
        &HYBRID_FORM_POST,
    ),
    // Dynamic client registration at the demo's start-up, then the code flow and logout.
    ready("dynamic-registration", CODE, &DYNAMIC),
    ready("dynamic-registration-logout", LOGOUT, &DYNAMIC),
    // Silent re-authentication with prompt=none on the provider's session.
    ready("silent-refresh", SILENT_REFRESH_DRIVE, &SILENT_REFRESH),
    // Logout CSRF: a cross-site link to /logout only gets a confirmation page.
    ready("cross-site-logout", CROSS_SITE_LOGOUT, &STATIC_BASIC),
    // Silent refresh answered login_required through the fragment page: on to the login form.
    ready(
        "silent-refresh-login-required-id_token",
        SILENT_REFRESH_LOGIN_REQUIRED_DRIVE,
        &SILENT_REFRESH_IMPLICIT,
    ),
    ready(
        "silent-refresh-login-required-code-id_token",
        SILENT_REFRESH_LOGIN_REQUIRED_DRIVE,
        &SILENT_REFRESH_HYBRID,
    ),
    // Bearer tokens at GET /api/me, issued by the provider (api.mjs, no browser).
    api(
        "api-introspection",
        API_INTROSPECTION_CHECKS,
        &API_INTROSPECTION,
    ),
    api(
        "api-introspection-scope",
        API_SCOPE_CHECKS,
        &API_INTROSPECTION_SCOPE,
    ),
    api("api-jwt", API_JWT_CHECKS, &API_JWT),
    api(
        "api-jwt-default-audience",
        API_JWT_CHECKS,
        &API_JWT_DEFAULT_AUDIENCE,
    ),
    // Signing-key rotation at the provider between two logins.
    ready("key-rotation", KEY_ROTATION, &STATIC_BASIC),
    // ID tokens signed with ES256, PS256 and EdDSA; userinfo by POST and signed (issue 16).
    ready("id_token-es256", CODE, &ID_TOKEN_ES256),
    ready("id_token-ps256", CODE, &ID_TOKEN_PS256),
    ready("id_token-eddsa", CODE, &ID_TOKEN_EDDSA),
    ready("userinfo-post", CODE, &USERINFO_POST),
    ready("userinfo-signed", CODE, &USERINFO_SIGNED),
    // The high-security profile (issue 18): PAR, signed request objects, DPoP, JARM, encrypted
    // ID tokens and userinfo, each alone and all at once, and the FAPI 2.0 preset.
    ready("par", CODE, &PAR),
    ready("par-logout", LOGOUT, &PAR),
    ready("request-object", CODE, &JAR),
    ready("dpop", CODE, &DPOP),
    ready("dpop-logout", LOGOUT, &DPOP),
    ready("jarm-query.jwt", CODE, &JARM_QUERY),
    ready("jarm-query.jwt-tampered", TAMPER_RESPONSE, &JARM_QUERY),
    ready("jarm-form_post.jwt", FORM_POST_MODE, &JARM_FORM_POST),
    ready("jarm-fragment.jwt", CODE, &JARM_FRAGMENT),
    ready("id_token-encrypted-rsa-oaep-256", CODE, &ID_TOKEN_RSA_OAEP),
    ready("high-security", CODE, &HIGH_SECURITY),
    ready("high-security-logout", LOGOUT, &HIGH_SECURITY),
    ready("fapi2", CODE, &FAPI2),
    // Two instances sharing one Redis: one Chromium run does every selected check.
    ready(
        "two-instances-shared-session",
        TWO_INSTANCES_SHARED_SESSION,
        &TWO_INSTANCES,
    ),
    ready(
        "two-instances-backchannel-logout",
        TWO_INSTANCES_BACKCHANNEL_LOGOUT,
        &TWO_INSTANCES,
    ),
    ready(
        "two-instances-redis-restart",
        TWO_INSTANCES_REDIS_RESTART,
        &TWO_INSTANCES,
    ),
];

/// The contract's variables: cleared before a demo starts, so that only ours apply.
const CONTRACT_VARS: &[&str] = &[
    "APP_ADDR",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_SCOPES",
    "OIDC_RESPONSE_TYPE",
    "OIDC_RESPONSE_MODE",
    "OIDC_TOKEN_ENDPOINT_AUTH_METHOD",
    "OIDC_CLIENT_PRIVATE_KEY",
    "OIDC_SESSION_REFRESH_INTERVAL_SECONDS",
    "OIDC_USERINFO_METHOD",
    "REDIS_URL",
    "SESSION_SECRET",
    "OIDC_API_VALIDATION",
    "OIDC_API_AUDIENCE",
    "OIDC_API_SCOPES",
    // Issue 18: the high-security profile.
    "OIDC_PROFILE",
    "OIDC_PUSHED_AUTHORIZATION_REQUESTS",
    "OIDC_REQUEST_OBJECT",
    "OIDC_DPOP",
    "OIDC_CLIENT_DECRYPTION_KEY",
    "OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG",
    "OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ENC",
    "OIDC_USERINFO_ENCRYPTED_RESPONSE_ALG",
    "OIDC_USERINFO_ENCRYPTED_RESPONSE_ENC",
    "OIDC_API_DPOP",
];

/// `provider.mjs` settings cleared before it starts, so that it runs as documented.
const PROVIDER_VARS: &[&str] = &[
    "OP_PORT",
    "OP_HOST",
    "OP_APP_PORTS",
    "OP_RESOURCE_TOKEN_FORMAT",
    "OP_DEFAULT_RESOURCE",
    "OP_CLIENT_KEY_FILE",
    "OP_CLIENT_ENC_KEY_DIR",
];

const HELP: &str = "\
usage: cargo xtask interop [--adapter axum|rocket|warp ...] [--scenario NAME ...] [--list]

Runs each adapter's demo app against a real OpenID provider (interop/provider.mjs) in headless
Chromium (interop/drive.mjs), and calls its bearer-protected /api/me with access tokens the
provider issued (interop/api.mjs); the two-instances-* scenarios run two instances of each
demo on one redis-server of their own. Installs Chromium and redis-server (apt) and the
harness's npm packages when they are missing, builds each demo, and prints
`PASS <adapter>/<scenario>` or `FAIL <adapter>/<scenario>: <reason>` per scenario, then
`N passed, M failed`.

  --adapter NAME    run this adapter (repeatable; default: every adapter). A demo that is
                    missing, does not build or does not start is a failure, never skipped
  --scenario NAME   run the scenarios called NAME or NAME-* (repeatable; default: every
                    scenario not pending on a library capability; pending ones run when named)
  --selftest        also run the harness's negative control (interop/selftest.sh: stand-in
                    apps with deliberate faults that the driver must fail); on by default
                    when neither --adapter nor --scenario is given, as in CI
  --list            list the scenarios and exit
  --verbose         pass --verbose to drive.mjs and api.mjs (their logs are in target/interop/)

Logs: target/interop/ (provider, demo, build and driver logs; screenshots on failure).
";

struct Options {
    adapters: Vec<&'static Adapter>,
    scenarios: Vec<&'static Scenario>,
    /// Whether to run `interop/selftest.sh` first.
    selftest: bool,
    verbose: bool,
}

enum Parsed {
    Run(Options),
    Exit(ExitCode),
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut adapters: Vec<&'static Adapter> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut verbose = false;
    let mut selftest = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = |key: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{key} needs a value"))
        };
        match key {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "--list" => {
                list();
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "--verbose" => verbose = true,
            "--selftest" => selftest = true,
            "--adapter" => {
                for name in value(key)?.split(',').filter(|n| !n.is_empty()) {
                    let adapter = ADAPTERS.iter().find(|a| a.name == name).ok_or_else(|| {
                        let known: Vec<_> = ADAPTERS.iter().map(|a| a.name).collect();
                        format!("unknown adapter `{name}`; use one of {}", known.join(", "))
                    })?;
                    if !adapters.iter().any(|a| a.name == adapter.name) {
                        adapters.push(adapter);
                    }
                }
            }
            "--scenario" => names.extend(
                value(key)?
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            ),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    // The whole matrix (what CI runs) includes the harness's own negative control.
    selftest |= adapters.is_empty() && names.is_empty();
    if adapters.is_empty() {
        adapters = ADAPTERS.iter().collect();
    }
    let scenarios = if names.is_empty() {
        SCENARIOS.iter().filter(|s| s.pending.is_none()).collect()
    } else {
        let mut chosen = BTreeSet::new();
        for name in &names {
            let family = format!("{name}-");
            let before = chosen.len();
            for (i, s) in SCENARIOS.iter().enumerate() {
                if s.name == name || s.name.starts_with(&family) {
                    chosen.insert(i);
                }
            }
            if chosen.len() == before && !SCENARIOS.iter().any(|s| s.name == name) {
                let known: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
                return Err(format!(
                    "unknown scenario `{name}`; use one of {}",
                    known.join(", ")
                ));
            }
        }
        chosen.into_iter().map(|i| &SCENARIOS[i]).collect()
    };
    Ok(Parsed::Run(Options {
        adapters,
        scenarios,
        selftest,
        verbose,
    }))
}

fn list() {
    println!("{:<36} {:<32} status", "scenario", "app configuration");
    for s in SCENARIOS {
        let status = match s.pending {
            None => "runs by default".to_owned(),
            Some(cap) => format!("pending on {cap}"),
        };
        println!("{:<36} {:<32} {status}", s.name, s.app.name);
    }
}

/// The outcome of the whole run.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn pass(&mut self, what: &str) {
        self.passed += 1;
        println!("PASS {what}");
    }

    fn fail(&mut self, what: &str, reason: &str) {
        self.failed += 1;
        println!("FAIL {what}: {}", one_line(reason));
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints lines of a log, indented, under a caption.
fn show(caption: &str, lines: &[String]) {
    println!("    {caption}");
    if lines.is_empty() {
        println!("    | (nothing)");
    }
    for line in lines {
        println!("    | {line}");
    }
}

/// Where things are, for one run.
struct Paths {
    root: PathBuf,
    interop: PathBuf,
    out: PathBuf,
}

impl Paths {
    /// A path as shown to the user: relative to the workspace root when inside it.
    fn show(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

pub(crate) fn run(args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Exit(code)) => return code,
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let root = crate::workspace_root();
    let paths = Paths {
        interop: root.join("interop"),
        out: root.join("target").join("interop"),
        root,
    };
    let _ = fs::remove_dir_all(&paths.out);
    if let Err(e) = fs::create_dir_all(paths.out.join("bin")) {
        eprintln!("error: cannot create {}: {e}", paths.out.display());
        return ExitCode::FAILURE;
    }
    if let Err(e) = ensure_tools(&paths, &opts) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }

    let mut tally = Tally::default();
    if opts.selftest {
        run_selftest(&paths, &mut tally);
    }
    let demos = build_demos(&paths, &opts, &mut tally);
    if demos.is_empty() {
        tally.fail("interop", "no adapter demo could be built, nothing to run");
    } else {
        run_all(&paths, &opts, &demos, &mut tally);
    }

    let skipped: Vec<_> = SCENARIOS
        .iter()
        .filter(|s| s.pending.is_some() && !opts.scenarios.iter().any(|c| c.name == s.name))
        .map(|s| s.name)
        .collect();
    if !skipped.is_empty() {
        println!(
            "not run, pending on library support (see `cargo xtask interop --list`): {}",
            skipped.join(", ")
        );
    }
    println!("logs: {}", paths.show(&paths.out));
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Chromium (Debian's, through apt), `redis-server` (Debian's, when a two-instance check is
/// selected) and the harness's npm packages, when missing; Node must be there already.
fn ensure_tools(paths: &Paths, opts: &Options) -> Result<(), String> {
    let chromium_override = std::env::var("CHROMIUM_PATH")
        .ok()
        .filter(|p| Path::new(p).exists());
    let mut missing = Vec::new();
    if chromium_override.is_none() && !Path::new("/usr/bin/chromium").exists() {
        println!("==> /usr/bin/chromium is missing: installing Debian's chromium");
        missing.extend(["chromium", "chromium-driver"]);
    }
    if opts
        .scenarios
        .iter()
        .any(|s| s.app.name == TWO_INSTANCES.name)
        && !instances::redis_server_present()
    {
        println!("==> redis-server is missing: installing Debian's redis-server");
        missing.push("redis-server");
    }
    if !missing.is_empty() {
        let apt = |args: &[&str]| {
            let mut cmd = Command::new("apt-get");
            cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            process::run_visible(&format!("apt-get {}", args.join(" ")), &mut cmd, APT_LIMIT)
        };
        apt(&["update"])?;
        apt(&[&["install", "-y"][..], &missing].concat())?;
    }
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `node` ({e}): the harness needs Node.js >= 20.19"))?;
    if !node.status.success() {
        return Err("`node --version` failed: the harness needs Node.js >= 20.19".into());
    }
    if !paths.interop.join("node_modules").is_dir() {
        println!("==> interop/node_modules is missing: npm ci");
        let mut cmd = Command::new("npm");
        cmd.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&paths.interop);
        process::run_visible("npm ci", &mut cmd, NPM_LIMIT)?;
    }
    Ok(())
}

/// How long `interop/selftest.sh` may take (about a minute when all is well).
const SELFTEST_LIMIT: Duration = Duration::from_secs(10 * 60);
/// The stand-ins with deliberate faults in `selftest.sh`, each of which the driver must fail.
const SELFTEST_NEGATIVES: usize = 4;

/// The harness's negative control: `interop/selftest.sh` runs the driver against a stand-in
/// RP, including stand-ins with deliberate faults that must FAIL. If the driver passed a
/// broken app, every PASS of this run would mean nothing, so this is one more failure to count.
fn run_selftest(paths: &Paths, tally: &mut Tally) {
    println!("==> the harness's self-test (bash interop/selftest.sh)");
    let logs = paths.out.join("selftest");
    let (out, err) = (
        paths.out.join("selftest.out"),
        paths.out.join("selftest.log"),
    );
    if let Err(e) = fs::create_dir_all(&logs) {
        tally.fail("harness/selftest", &format!("{}: {e}", logs.display()));
        return;
    }
    let mut cmd = Command::new("bash");
    cmd.arg("selftest.sh")
        .current_dir(&paths.interop)
        .env("SELFTEST_LOGS", &logs);
    for var in PROVIDER_VARS {
        cmd.env_remove(var);
    }
    let verdict = process::run_bounded("selftest.sh", &mut cmd, &out, &err, SELFTEST_LIMIT)
        .map_err(|e| e.to_string())
        .and_then(|status| {
            selftest_verdict(
                status.success(),
                &fs::read_to_string(&out).unwrap_or_default(),
            )
        });
    match verdict {
        Ok(summary) => tally.pass(&format!("harness/selftest ({summary})")),
        Err(why) => {
            tally.fail("harness/selftest", &why);
            show(
                &format!("{}:", paths.show(&out)),
                &process::tail(&out, 0, TAIL),
            );
        }
    }
}

/// Whether `selftest.sh` passed: exit status 0, its `N passed, 0 failed` line with N > 0, and
/// every deliberately broken stand-in seen failing (so that a run where those stand-ins never
/// started cannot pass).
fn selftest_verdict(success: bool, stdout: &str) -> Result<String, String> {
    let summary = stdout
        .lines()
        .rev()
        .find_map(|l| {
            let (passed, failed) = l.trim().split_once(" passed, ")?;
            let failed = failed.strip_suffix(" failed")?;
            Some((passed.parse::<usize>().ok()?, failed.parse::<usize>().ok()?))
        })
        .ok_or("selftest.sh printed no `N passed, M failed` line")?;
    let negatives = stdout
        .lines()
        .filter(|l| l.starts_with("ok ") && l.contains("expected failure seen"))
        .count();
    match summary {
        (passed, 0) if success && passed > 0 && negatives >= SELFTEST_NEGATIVES => Ok(format!(
            "{passed} checks, {negatives} broken stand-ins failed as they must"
        )),
        (passed, failed) => Err(format!(
            "selftest.sh: {passed} passed, {failed} failed, {negatives} of \
             {SELFTEST_NEGATIVES} broken stand-ins seen failing (exit {})",
            if success { "0" } else { "non-zero" }
        )),
    }
}

/// Builds each selected adapter's demo, one package at a time, and copies each binary aside
/// (`bin/demo-<adapter>`), so that the driver starts the binary of this run's build even when
/// a later build of the same example replaces the one in `target/`.
///
/// A demo that is missing or does not build is a failure, named or not: every adapter ships a
/// demo, and a run that quietly left one out would pass for it.
fn build_demos(
    paths: &Paths,
    opts: &Options,
    tally: &mut Tally,
) -> Vec<(&'static Adapter, PathBuf)> {
    let mut demos = Vec::new();
    for adapter in &opts.adapters {
        let source = paths
            .root
            .join(adapter.krate)
            .join(format!("examples/{}.rs", adapter.demo));
        if !source.is_file() {
            let why = format!("{} does not exist", paths.show(&source));
            tally.fail(&format!("{}/build", adapter.name), &why);
            continue;
        }
        println!("==> building the {} demo", adapter.name);
        match build_demo(paths, adapter) {
            Ok(bin) => demos.push((*adapter, bin)),
            Err((why, log)) => {
                tally.fail(&format!("{}/build", adapter.name), &why);
                show(&format!("{}:", paths.show(&log)), &error_lines(&log));
            }
        }
    }
    demos
}

/// The build log's first error and what follows it, or its tail.
fn error_lines(log: &Path) -> Vec<String> {
    let all = process::tail(log, 0, usize::MAX);
    match all.iter().position(|l| l.starts_with("error")) {
        Some(i) => all[i..].iter().take(TAIL).cloned().collect(),
        None => all[all.len().saturating_sub(TAIL)..].to_vec(),
    }
}

fn build_demo(paths: &Paths, adapter: &Adapter) -> Result<PathBuf, (String, PathBuf)> {
    let json = paths.out.join(format!("build-{}.json", adapter.name));
    let log = paths.out.join(format!("build-{}.log", adapter.name));
    let mut cmd = Command::new(crate::cargo());
    cmd.args([
        "build",
        "--package",
        adapter.krate,
        "--example",
        adapter.demo,
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(&paths.root);
    let what = format!(
        "cargo build -p {} --example {}",
        adapter.krate, adapter.demo
    );
    let status = process::run_bounded(&what, &mut cmd, &json, &log, BUILD_LIMIT)
        .map_err(|e| (e.to_string(), log.clone()))?;
    if !status.success() {
        return Err((format!("`{what}` failed ({status})"), log));
    }
    let built = fs::read_to_string(&json)
        .ok()
        .and_then(|text| demo_executable(&text, adapter.demo))
        .ok_or_else(|| {
            (
                format!("`{what}` reported no demo executable"),
                json.clone(),
            )
        })?;
    let bin = paths.out.join("bin").join(format!("demo-{}", adapter.name));
    let _ = fs::remove_file(&bin);
    fs::copy(&built, &bin).map_err(|e| {
        (
            format!("cannot copy {} to {}: {e}", built.display(), bin.display()),
            log.clone(),
        )
    })?;
    Ok(bin)
}

/// The `executable` of the example named `demo` in cargo's JSON messages.
fn demo_executable(messages: &str, demo: &str) -> Option<PathBuf> {
    let name = format!(r#""name":"{demo}""#);
    messages
        .lines()
        .filter(|l| {
            l.contains(r#""reason":"compiler-artifact""#)
                && l.contains(r#""kind":["example"]"#)
                && l.contains(&name)
        })
        .filter_map(|l| json_string_field(l, "executable"))
        .next_back()
        .map(PathBuf::from)
}

/// The value of `"key":"..."` in a line of compact JSON (cargo's), unescaped.
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn run_all(
    paths: &Paths,
    opts: &Options,
    demos: &[(&'static Adapter, PathBuf)],
    tally: &mut Tally,
) {
    println!("==> starting the provider (node interop/provider.mjs)");
    let _provider = match start_provider(paths) {
        Ok(p) => p,
        Err(e) => {
            tally.fail("provider", &e);
            let log = paths.out.join("provider.log");
            if log.is_file() {
                show(
                    &format!("{}:", paths.show(&log)),
                    &process::tail(&log, 0, TAIL),
                );
            }
            return;
        }
    };
    for note in opts.scenarios.iter().filter_map(|s| {
        s.pending
            .map(|cap| format!("note: {} is pending on {cap}; running it as asked", s.name))
    }) {
        println!("{note}");
    }
    // Scenarios grouped by app configuration, in table order.
    let mut groups: Vec<(&AppConfig, Vec<&Scenario>)> = Vec::new();
    for s in &opts.scenarios {
        match groups.iter_mut().find(|(app, _)| app.name == s.app.name) {
            Some((_, list)) => list.push(s),
            None => groups.push((s.app, vec![s])),
        }
    }
    for (adapter, bin) in demos {
        for (app, scenarios) in &groups {
            if app.name == TWO_INSTANCES.name {
                instances::run_group(paths, opts, adapter, bin, scenarios, tally);
            } else {
                run_group(paths, opts, adapter, bin, app, scenarios, tally);
            }
        }
    }
}

fn start_provider(paths: &Paths) -> Result<Guard, String> {
    let addr: SocketAddr = PROVIDER_ADDR.parse().expect("a socket address");
    if process::listening(addr) {
        return Err(format!(
            "something already listens on {PROVIDER_ADDR} (another provider?); stop it first"
        ));
    }
    let out = paths.out.join("provider.out");
    let log = paths.out.join("provider.log");
    let mut cmd = Command::new("node");
    cmd.arg("provider.mjs").current_dir(&paths.interop);
    for var in PROVIDER_VARS {
        cmd.env_remove(var);
    }
    cmd.env("OP_CLIENT_KEY_FILE", client_key_path())
        .env("OP_CLIENT_ENC_KEY_DIR", std::env::temp_dir())
        .env("OP_APP_PORTS", app_ports());
    let mut provider =
        Guard::spawn_split("provider.mjs", &mut cmd, &out, &log).map_err(|e| e.to_string())?;
    let ready = format!("READY {ISSUER}");
    let deadline = Instant::now() + PROVIDER_START;
    loop {
        let said = fs::read_to_string(&out).unwrap_or_default();
        if said.lines().any(|l| l.trim() == ready) {
            println!("==> provider ready at {ISSUER} (pid {})", provider.pid());
            return Ok(provider);
        }
        if let Some(status) = provider.exited() {
            return Err(format!(
                "provider.mjs exited ({status}) before printing `{ready}`"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "provider.mjs did not print `{ready}` within {}s",
                PROVIDER_START.as_secs()
            ));
        }
        sleep(Duration::from_millis(100));
    }
}

/// A running demo app and its log.
struct Demo {
    guard: Guard,
    log: PathBuf,
}

fn run_group(
    paths: &Paths,
    opts: &Options,
    adapter: &Adapter,
    bin: &Path,
    app: &AppConfig,
    scenarios: &[&Scenario],
    tally: &mut Tally,
) {
    let log = paths
        .out
        .join(format!("demo-{}-{}.log", adapter.name, app.name));
    let url = format!("http://127.0.0.1:{}", adapter.port);
    let mut demo: Option<Demo> = None;
    for scenario in scenarios {
        let label = format!("{}/{}", adapter.name, scenario.name);
        if scenario.drive.is_empty() {
            tally.fail(
                &label,
                &format!("{} has no scenario for this yet", scenario.script),
            );
            continue;
        }
        // (Re)start the demo when it is not running: first use, or it died.
        let restart = match demo.as_mut().map(|d| d.guard.exited()) {
            None => true,
            Some(Some(status)) => {
                println!(
                    "==> the {} demo had exited ({status}); restarting it",
                    adapter.name
                );
                true
            }
            Some(None) => false,
        };
        if restart {
            demo = None;
            let from = process::file_len(&log);
            let provider_log = paths.out.join("provider.log");
            let provider_from = process::file_len(&provider_log);
            let started = start_demo(bin, adapter, app, &log).and_then(|guard| {
                if app.registers_dynamically() {
                    check_registration(&provider_log, provider_from)?;
                }
                Ok(guard)
            });
            match started {
                Ok(guard) => {
                    demo = Some(Demo {
                        guard,
                        log: log.clone(),
                    })
                }
                Err(e) => {
                    tally.fail(&label, &format!("the demo did not start: {e}"));
                    show(
                        &format!("{}:", paths.show(&log)),
                        &process::tail(&log, from, TAIL),
                    );
                    if app.registers_dynamically() {
                        show(
                            &format!("{} meanwhile:", paths.show(&provider_log)),
                            &process::tail(&provider_log, provider_from, TAIL),
                        );
                    }
                    continue;
                }
            }
        }
        let Some(running) = demo.as_mut() else {
            continue;
        };
        let from = process::file_len(&running.log);
        let provider_log = paths.out.join("provider.log");
        let provider_from = process::file_len(&provider_log);
        let driven = drive(paths, opts, adapter, scenario, &url).and_then(|()| {
            check_provider_log(app, &provider_log, provider_from)
                .and_then(|()| check_scenario_log(scenario.name, &provider_log, provider_from))
                .map_err(|reason| DriveFailure {
                    reason,
                    driver_log: provider_log.clone(),
                    artifacts: PathBuf::new(),
                })
        });
        match driven {
            Ok(()) => tally.pass(&label),
            Err(failure) => {
                let mut reason = failure.reason;
                if let Some(status) = running.guard.exited() {
                    reason.push_str(&format!(" (and the demo exited: {status})"));
                }
                tally.fail(&label, &reason);
                show(
                    &format!("{} during this scenario:", paths.show(&running.log)),
                    &process::tail(&running.log, from, TAIL),
                );
                println!("    driver log: {}", paths.show(&failure.driver_log));
                if failure.artifacts.is_dir() {
                    println!(
                        "    screenshot, page, trace or transcript: {}",
                        paths.show(&failure.artifacts)
                    );
                }
            }
        }
    }
    // `demo` drops here: the app is stopped before the next configuration starts.
}

fn start_demo(bin: &Path, adapter: &Adapter, app: &AppConfig, log: &Path) -> Result<Guard, String> {
    let addr: SocketAddr = format!("127.0.0.1:{}", adapter.port)
        .parse()
        .expect("a socket address");
    let env = app.env_for(&format!("http://{addr}"));
    start_instance(bin, adapter.name, addr, app.name, &env, log)
}

/// Starts the demo `bin` on `addr` with the static client `demo-client` unless `env` says
/// otherwise (an empty value unsets a variable), and waits for `GET /health` to answer 200.
/// `config` names the configuration in what it prints.
fn start_instance(
    bin: &Path,
    adapter: &str,
    addr: SocketAddr,
    config: &str,
    env: &[(&'static str, String)],
    log: &Path,
) -> Result<Guard, String> {
    let deadline = Instant::now() + PORT_RELEASE;
    while process::listening(addr) {
        if Instant::now() > deadline {
            return Err(format!(
                "something already listens on {addr}; stop it first"
            ));
        }
        sleep(Duration::from_millis(200));
    }
    let mut cmd = Command::new(bin);
    for var in CONTRACT_VARS {
        cmd.env_remove(var);
    }
    // NO_COLOR: plain log files (tracing-subscriber colours its output otherwise).
    cmd.env("NO_COLOR", "1")
        .env("APP_ADDR", addr.to_string())
        .env("OIDC_ISSUER", ISSUER)
        .env("OIDC_CLIENT_ID", CLIENT_BASIC)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET);
    for (key, value) in env {
        if value.is_empty() {
            cmd.env_remove(key);
        } else {
            cmd.env(key, value);
        }
    }
    let shown_env: Vec<String> = env
        .iter()
        .filter(|(_, v)| !v.is_empty())
        // Secrets stay out of the output, harness-made ones included.
        .map(|(k, v)| {
            if k.contains("SECRET") {
                format!("{k}=(set)")
            } else {
                format!("{k}={v:?}")
            }
        })
        .collect();
    println!(
        "==> starting the {adapter} demo on {addr} ({config}{})",
        if shown_env.is_empty() {
            String::new()
        } else {
            format!(": {}", shown_env.join(" "))
        }
    );
    let mut guard = Guard::spawn_logged(&format!("the {adapter} demo"), &mut cmd, log)
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + DEMO_START;
    loop {
        let last = match process::http_get_status(addr, "/health") {
            Ok(200) => return Ok(guard),
            Ok(code) => format!("status {code}"),
            Err(e) => e.to_string(),
        };
        if let Some(status) = guard.exited() {
            return Err(format!(
                "it exited ({status}) before GET /health answered 200"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "GET {addr}/health did not answer 200 within {}s (last: {last})",
                DEMO_START.as_secs()
            ));
        }
        sleep(Duration::from_millis(200));
    }
}

/// That `provider.mjs`'s log shows, since `from`, what [`PROVIDER_LOG_PROOF`] asks of `app`.
fn check_provider_log(app: &AppConfig, provider_log: &Path, from: u64) -> Result<(), String> {
    let mut proofs = PROVIDER_LOG_PROOF
        .iter()
        .filter(|(name, _)| *name == app.name)
        .map(|(_, proof)| *proof)
        .peekable();
    if proofs.peek().is_none() {
        return Ok(());
    }
    let lines = process::tail(provider_log, from, usize::MAX);
    match proofs.find(|proof| !lines.iter().any(|l| l.contains(proof))) {
        None => Ok(()),
        Some(proof) => Err(format!(
            "the login passed, but the provider's log never shows `{proof}` during it"
        )),
    }
}

/// That the provider registered a client (`POST /reg -> 201` in `provider.mjs`'s request log)
/// since `from`: the demo, started without `OIDC_CLIENT_ID`, registered itself.
fn check_registration(provider_log: &Path, from: u64) -> Result<(), String> {
    let lines = process::tail(provider_log, from, usize::MAX);
    let registrations: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("] POST /reg "))
        .collect();
    if registrations.iter().any(|l| l.contains("-> 201")) {
        return Ok(());
    }
    match registrations.last() {
        Some(l) => Err(format!(
            "the provider refused its registration request: {}",
            l.trim()
        )),
        None => Err(
            "it answered GET /health with 200 but never registered at the provider \
             (no POST /reg in the provider's log)"
                .to_owned(),
        ),
    }
}

struct DriveFailure {
    reason: String,
    driver_log: PathBuf,
    artifacts: PathBuf,
}

fn drive(
    paths: &Paths,
    opts: &Options,
    adapter: &Adapter,
    scenario: &Scenario,
    app_url: &str,
) -> Result<(), DriveFailure> {
    let stem = format!("{}-{}", adapter.name, scenario.name);
    let script = scenario.script;
    let kind = script.trim_end_matches(".mjs");
    let out = paths.out.join(format!("{kind}-{stem}.out"));
    let err = paths.out.join(format!("{kind}-{stem}.log"));
    let artifacts = paths.out.join("artifacts").join(&stem);
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args(["--app", app_url, "--issuer", ISSUER])
        .arg("--artifacts")
        .arg(&artifacts)
        .args(scenario.drive)
        .current_dir(&paths.interop);
    if opts.verbose {
        cmd.arg("--verbose");
    }
    let failure = |reason: String| DriveFailure {
        reason,
        driver_log: err.clone(),
        artifacts: artifacts.clone(),
    };
    let status = process::run_bounded(script, &mut cmd, &out, &err, DRIVE_LIMIT)
        .map_err(|e| failure(e.to_string()))?;
    let said = fs::read_to_string(&out).unwrap_or_default();
    let verdict = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if verdict.starts_with("PASS ") && status.success() {
        return Ok(());
    }
    if let Some(rest) = verdict.strip_prefix("FAIL ") {
        let reason = rest.split_once(": ").map_or(rest, |(_, r)| r);
        return Err(failure(reason.to_owned()));
    }
    let stderr = process::tail(&err, 0, 3).join(" / ");
    Err(failure(format!(
        "{script} gave no verdict ({status}; stdout {verdict:?}; stderr: {stderr})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_demo_executable_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/oidc-core#0.1.0","target":{"kind":["lib"],"name":"oidc_core"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/oidc-axum#0.1.0","target":{"kind":["example"],"crate_types":["bin"],"name":"axum-demo"},"executable":"/w/target/debug/examples/axum-demo"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            demo_executable(messages, "axum-demo"),
            Some(PathBuf::from("/w/target/debug/examples/axum-demo"))
        );
        assert_eq!(demo_executable(messages, "warp-demo"), None);
        assert_eq!(
            demo_executable(r#"{"reason":"build-finished"}"#, "axum-demo"),
            None
        );
    }

    #[test]
    fn unescapes_json_strings() {
        assert_eq!(
            json_string_field(r#"{"executable":"/a \"b\"\\c\u00e9"}"#, "executable"),
            Some("/a \"b\"\\c\u{e9}".to_owned())
        );
    }

    #[test]
    fn scenario_names_are_unique_and_configs_consistent() {
        let mut names = BTreeSet::new();
        let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
        for s in SCENARIOS {
            assert!(names.insert(s.name), "duplicate scenario {}", s.name);
            assert!(
                [DRIVE, API].contains(&s.script) && interop.join(s.script).is_file(),
                "{}: no script interop/{}",
                s.name,
                s.script
            );
            assert!(
                s.pending.is_some() || !s.drive.is_empty(),
                "{} runs by default but has no driver scenario",
                s.name
            );
        }
    }

    #[test]
    fn app_url_in_the_environment_is_the_demos_base_url() {
        let env = API_JWT.env_for("http://127.0.0.1:8081");
        assert!(env.contains(&("OIDC_API_AUDIENCE", "http://127.0.0.1:8081".to_owned())));
        assert!(env.contains(&("OIDC_API_VALIDATION", "jwt".to_owned())));
        let env = API_INTROSPECTION_SCOPE.env_for("http://127.0.0.1:8080");
        assert!(env.contains(&("OIDC_API_SCOPES", API_REQUIRED_SCOPE.to_owned())));
        assert!(SCENARIOS
            .iter()
            .all(|s| s.app.env_for("x").iter().all(|(_, v)| !v.contains('{'))));
    }

    #[test]
    fn selects_by_name_and_family() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let Ok(Parsed::Run(o)) = parse(&args(&["--adapter", "axum", "--scenario", "tampered"]))
        else {
            panic!("parse failed");
        };
        let names: Vec<_> = o.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["tampered", "tampered-code"]);
        assert!(!o.selftest, "a narrow run skips the harness's self-test");
        let Ok(Parsed::Run(o)) = parse(&[]) else {
            panic!("parse failed");
        };
        assert!(o.scenarios.iter().all(|s| s.pending.is_none()));
        assert_eq!(o.adapters.len(), ADAPTERS.len());
        assert!(o.selftest, "the whole matrix runs the harness's self-test");
        let Ok(Parsed::Run(o)) = parse(&args(&["--scenario", "dynamic-registration"])) else {
            panic!("parse failed");
        };
        let names: Vec<_> = o.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["dynamic-registration", "dynamic-registration-logout"]
        );
        assert!(o.scenarios.iter().all(|s| s.app.registers_dynamically()));
        assert!(!STATIC_BASIC.registers_dynamically());
        let Ok(Parsed::Run(o)) = parse(&args(&["--scenario", "api-introspection"])) else {
            panic!("parse failed");
        };
        let names: Vec<_> = o.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["api-introspection", "api-introspection-scope"]);
        assert!(o.scenarios.iter().all(|s| s.script == API));
        let Ok(Parsed::Run(o)) = parse(&args(&["--scenario", "api-jwt"])) else {
            panic!("parse failed");
        };
        let names: Vec<_> = o.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["api-jwt", "api-jwt-default-audience"]);
        assert!(parse(&args(&["--scenario", "nope"])).is_err());
        assert!(parse(&args(&["--adapter", "actix"])).is_err());
    }

    #[test]
    fn the_selftest_passes_only_with_its_negative_control() {
        let negatives = "ok   RP ignoring state: expected failure seen: FAIL tampered: x\n"
            .repeat(SELFTEST_NEGATIVES);
        let good =
            format!("ok   provider-selfcheck\n{negatives}logs: /tmp/x\n23 passed, 0 failed\n");
        assert!(selftest_verdict(true, &good).is_ok());
        assert!(
            selftest_verdict(false, &good).is_err(),
            "its exit status counts"
        );
        let failed = good.replace("23 passed, 0 failed", "22 passed, 1 failed");
        assert!(selftest_verdict(true, &failed).is_err());
        // The broken stand-ins did not start: nothing showed the driver can fail.
        let no_negatives = "ok   provider-selfcheck\n19 passed, 0 failed\n";
        assert!(selftest_verdict(true, no_negatives).is_err());
        assert!(selftest_verdict(true, "").is_err());
    }
}
