//! Which `iss` an ID token may carry: the provider's issuer exactly (the default), or, for
//! multi-tenant providers such as Microsoft Entra ID's `common` endpoint, an issuer template
//! whose `{tenantid}` is the token's own `tid` claim.
//!
//! Entra's common metadata publishes `https://login.microsoftonline.com/{tenantid}/v2.0` as
//! its `issuer`, and each token says which tenant issued it, in `iss` and in `tid`. With
//! [`IssuerPolicy::TenantTemplate`], a token is accepted when its `iss` is the template with
//! `{tenantid}` replaced by its `tid`, which must be a plain tenant id (ASCII letters, digits,
//! `-` and `_`: nothing that could change the URL's structure, such as `/`, `?`, `#` or `{`),
//! and on the allow-list when one is given. The discovery document may then publish the
//! template itself as its issuer (or the configured issuer, as always). The template must be
//! on the configured issuer's origin (scheme, host and port), so that a policy cannot accept
//! tokens naming another provider, nor put the tenant in the host name.
//!
//! Without an allow-list, every tenant of the provider is accepted, including one an attacker
//! creates for the purpose, whose users and their `email` claims it controls. Apps must then
//! key users by `tid` and `sub` (or Entra's `oid`), never by `email` or another claim a tenant
//! administrator can set.
//!
//! Only ID tokens (at login and on refresh, whose `iss` must not change) and signed userinfo
//! responses (whose `iss` must be the ID token's) follow the policy. The RFC 9207 `iss`
//! response parameter is still compared with the discovery document's issuer as published;
//! JWT access tokens and logout are unaffected.

use crate::error::{Error, IdTokenError, Result};

/// The placeholder a tenant template holds once.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The longest `tid` accepted.
const MAX_TENANT_LEN: usize = 64;

/// Which `iss` an ID token may carry. Set with
/// [`ProviderConfigBuilder::issuer_policy`](crate::ProviderConfigBuilder::issuer_policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerPolicy {
    /// `iss` must equal the provider's issuer (the default).
    #[default]
    Exact,
    /// `iss` must equal `template` with `{tenantid}` replaced by the token's `tid` claim. The
    /// template must be on the configured issuer's origin. Without `allowed_tenants` any
    /// tenant is accepted, one an attacker creates included: key users by `tid` and `sub`
    /// (or `oid`), never by `email`.
    TenantTemplate {
        /// The issuer template, e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`.
        template: String,
        /// When given, the only tenants accepted.
        allowed_tenants: Option<Vec<String>>,
    },
}

impl IssuerPolicy {
    /// A tenant template accepting any tenant, one an attacker creates included: key users by
    /// `tid` and `sub` (or `oid`), never by `email`.
    pub fn tenant_template(template: impl Into<String>) -> Self {
        IssuerPolicy::TenantTemplate {
            template: template.into(),
            allowed_tenants: None,
        }
    }

    /// A tenant template accepting only these tenants.
    pub fn tenant_template_for<I, S>(template: impl Into<String>, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        IssuerPolicy::TenantTemplate {
            template: template.into(),
            allowed_tenants: Some(tenants.into_iter().map(Into::into).collect()),
        }
    }

    /// Build-time checks: the template holds `{tenantid}` once and makes a valid issuer URL on
    /// the origin of `issuer`, the configured issuer; an allow-list is not empty and lists
    /// plain tenant ids only.
    pub(crate) fn validate(&self, issuer: &str) -> Result<()> {
        let IssuerPolicy::TenantTemplate {
            template,
            allowed_tenants,
        } = self
        else {
            return Ok(());
        };
        if template.matches(TENANT_PLACEHOLDER).count() != 1 {
            return Err(Error::config(
                "issuer_policy",
                "the tenant template must contain `{tenantid}` exactly once",
            ));
        }
        let sample = template.replace(TENANT_PLACEHOLDER, "tenant");
        let url = url::Url::parse(&sample)
            .map_err(|e| Error::config("issuer_policy", format!("the template: {e}")))?;
        if url.scheme() != "https" && !crate::config::is_loopback(&url) {
            return Err(Error::config(
                "issuer_policy",
                "the tenant template must use https (http only on loopback hosts)",
            ));
        }
        // Two different tenants, so that a placeholder in the host or port shows as a second
        // origin even if one sample happened to equal the issuer's.
        let configured = url::Url::parse(issuer).ok().map(|u| u.origin());
        let other = url::Url::parse(&template.replace(TENANT_PLACEHOLDER, "other-tenant"))
            .ok()
            .map(|u| u.origin());
        if configured.is_none()
            || configured != Some(url.origin())
            || configured != other
            || !url.origin().is_tuple()
        {
            return Err(Error::config(
                "issuer_policy",
                "the tenant template must be on the configured issuer's origin (scheme, host \
                 and port), with `{tenantid}` in its path",
            ));
        }
        if let Some(tenants) = allowed_tenants {
            if tenants.is_empty() {
                return Err(Error::config(
                    "issuer_policy",
                    "the tenant allow-list is empty: no login could succeed",
                ));
            }
            if let Some(bad) = tenants.iter().find(|t| !is_plain_tenant(t)) {
                return Err(Error::config(
                    "issuer_policy",
                    format!("`{bad}` is not a plain tenant id"),
                ));
            }
        }
        Ok(())
    }

    /// Whether a discovery document for the configured issuer `configured` may publish
    /// `published` as its issuer: the configured issuer exactly, or, with a tenant template,
    /// the template itself (as Entra's common metadata does).
    pub fn accepts_discovery_issuer(&self, configured: &str, published: &str) -> bool {
        match self {
            IssuerPolicy::Exact => published == configured,
            IssuerPolicy::TenantTemplate { template, .. } => {
                published == configured || published == template
            }
        }
    }

    /// Checks a token's `iss` (and `tid`, with a tenant template); `issuer` is the provider's
    /// issuer, what [`IssuerPolicy::Exact`] compares with.
    #[cfg(test)]
    pub(crate) fn check(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        issuer: &str,
    ) -> std::result::Result<(), IdTokenError> {
        use serde_json::Value;
        let tid = claims.get("tid").map(Value::as_str);
        self.check_values(claims.get("iss").and_then(Value::as_str), tid, issuer)
    }

    /// [`check`](Self::check) on the claims' values: `tid` is `None` when absent, `Some(None)`
    /// when present but not a string.
    pub(crate) fn check_values(
        &self,
        iss: Option<&str>,
        tid: Option<Option<&str>>,
        issuer: &str,
    ) -> std::result::Result<(), IdTokenError> {
        match self {
            IssuerPolicy::Exact if iss == Some(issuer) => Ok(()),
            IssuerPolicy::Exact => Err(IdTokenError::Issuer),
            IssuerPolicy::TenantTemplate {
                template,
                allowed_tenants,
            } => {
                let tid = match tid {
                    None => return Err(IdTokenError::MissingClaim("tid")),
                    Some(Some(tid)) if is_plain_tenant(tid) => tid,
                    Some(_) => return Err(IdTokenError::InvalidTenant),
                };
                if iss != Some(template.replace(TENANT_PLACEHOLDER, tid).as_str()) {
                    return Err(IdTokenError::Issuer);
                }
                match allowed_tenants {
                    Some(allowed) if !allowed.iter().any(|t| t == tid) => {
                        Err(IdTokenError::TenantNotAllowed)
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl crate::config::ProviderConfig {
    /// Which `iss` an ID token may carry (see [`IssuerPolicy`]).
    pub fn issuer_policy(&self) -> &IssuerPolicy {
        &self.issuer_policy
    }
}

/// A tenant id that cannot change the structure of the issuer URL it is put in.
fn is_plain_tenant(tid: &str) -> bool {
    !tid.is_empty()
        && tid.len() <= MAX_TENANT_LEN
        && tid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    const TEMPLATE: &str = "https://login.example/{tenantid}/v2.0";
    const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
    /// The configured issuer the templates are checked against (Entra's `common`).
    const COMMON: &str = "https://login.example/common/v2.0";

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A tenant's token is accepted when `iss` is the template with its `tid`; a mismatch, a
    /// missing or malformed `tid`, or a tenant off the allow-list is refused.
    #[test]
    fn tenant_template_checks_iss_against_tid() {
        let any = IssuerPolicy::tenant_template(TEMPLATE);
        let iss = format!("https://login.example/{TENANT}/v2.0");
        assert_eq!(
            any.check(&claims(json!({"iss": iss, "tid": TENANT})), "x"),
            Ok(())
        );
        assert_eq!(
            any.check(&claims(json!({"iss": iss, "tid": "other-tenant"})), "x"),
            Err(IdTokenError::Issuer)
        );
        assert_eq!(
            any.check(&claims(json!({"iss": iss})), "x"),
            Err(IdTokenError::MissingClaim("tid"))
        );
        for bad in [
            json!("a/b"),
            json!("a?b"),
            json!("a#b"),
            json!("{tenantid}"),
            json!(""),
            json!(5),
        ] {
            assert_eq!(
                any.check(&claims(json!({"iss": iss, "tid": bad})), "x"),
                Err(IdTokenError::InvalidTenant),
                "{bad}"
            );
        }
        // A `tid` with a slash could otherwise make the template name another issuer path.
        let slash = "https://login.example/evil/x/v2.0";
        assert_eq!(
            any.check(&claims(json!({"iss": slash, "tid": "evil/x"})), "x"),
            Err(IdTokenError::InvalidTenant)
        );
        let only = IssuerPolicy::tenant_template_for(TEMPLATE, ["tenant-a"]);
        assert_eq!(
            only.check(&claims(json!({"iss": iss, "tid": TENANT})), "x"),
            Err(IdTokenError::TenantNotAllowed)
        );
        let a = "https://login.example/tenant-a/v2.0";
        assert_eq!(
            only.check(&claims(json!({"iss": a, "tid": "tenant-a"})), "x"),
            Ok(())
        );
    }

    /// The default compares with the issuer exactly, `tid` or not.
    #[test]
    fn exact_is_unchanged() {
        let exact = IssuerPolicy::default();
        assert_eq!(
            exact.check(&claims(json!({"iss": "https://op"})), "https://op"),
            Ok(())
        );
        assert_eq!(
            exact.check(
                &claims(json!({"iss": "https://op/t/v2.0", "tid": "t"})),
                "https://op"
            ),
            Err(IdTokenError::Issuer)
        );
        assert!(exact.accepts_discovery_issuer("https://op", "https://op"));
        assert!(!exact.accepts_discovery_issuer("https://op", TEMPLATE));
        let tenant = IssuerPolicy::tenant_template(TEMPLATE);
        assert!(tenant.accepts_discovery_issuer("https://login.example/common/v2.0", TEMPLATE));
        assert!(
            !tenant.accepts_discovery_issuer("https://login.example/common/v2.0", "https://evil")
        );
    }

    /// Discovery under a tenant template accepts a document publishing the template itself
    /// (Entra's common metadata) and still refuses any other issuer; exact discovery refuses
    /// the template.
    #[test]
    fn discovery_accepts_the_template_only_under_the_policy() {
        let doc = |issuer: &str| {
            http::Response::builder()
                .status(200)
                .body(bytes::Bytes::from(
                    json!({"issuer": issuer, "authorization_endpoint": "https://login.example/a"})
                        .to_string(),
                ))
                .unwrap()
        };
        let common = "https://login.example/common/v2.0";
        let tenant = IssuerPolicy::tenant_template(TEMPLATE);
        let parse = crate::discovery::parse_discovery_response_with;
        assert_eq!(
            parse(common, &tenant, doc(TEMPLATE)).unwrap().issuer,
            TEMPLATE
        );
        assert!(parse(common, &tenant, doc(common)).is_ok());
        assert!(parse(common, &tenant, doc("https://evil.example/v2.0")).is_err());
        assert!(matches!(
            parse(common, &IssuerPolicy::Exact, doc(TEMPLATE)),
            Err(Error::Protocol(
                crate::error::ProtocolError::DiscoveryIssuerMismatch { .. }
            ))
        ));
    }

    /// Templates without exactly one placeholder, not https, or with an empty or malformed
    /// allow-list are configuration errors.
    #[test]
    fn bad_policies_are_refused() {
        for bad in [
            IssuerPolicy::tenant_template("https://login.example/v2.0"),
            IssuerPolicy::tenant_template("https://login.example/{tenantid}/{tenantid}"),
            IssuerPolicy::tenant_template("http://login.example/{tenantid}/v2.0"),
            IssuerPolicy::tenant_template_for(TEMPLATE, Vec::<String>::new()),
            IssuerPolicy::tenant_template_for(TEMPLATE, ["a/b"]),
        ] {
            assert!(
                matches!(
                    bad.validate(COMMON),
                    Err(Error::Config {
                        field: "issuer_policy",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(IssuerPolicy::tenant_template(TEMPLATE)
            .validate(COMMON)
            .is_ok());
        assert!(IssuerPolicy::Exact.validate(COMMON).is_ok());
    }

    /// A template on another origin than the configured issuer (another host, port or
    /// scheme, or the tenant in the host name) is a configuration error: the policy could
    /// otherwise accept tokens whose `iss` names a provider the app never configured.
    #[test]
    fn template_must_be_on_the_issuers_origin() {
        assert!(IssuerPolicy::tenant_template(TEMPLATE)
            .validate("https://login.example:443/common/v2.0")
            .is_ok());
        for (issuer, template) in [
            (COMMON, "https://evil.example/{tenantid}/v2.0"),
            (COMMON, "https://login.example:8443/{tenantid}/v2.0"),
            (COMMON, "https://{tenantid}.login.example/v2.0"),
            (
                "https://tenant.login.example/v2.0",
                "https://{tenantid}.login.example/v2.0",
            ),
            (
                "http://127.0.0.1:8080/common",
                "http://127.0.0.1:9090/{tenantid}",
            ),
            ("not a url", TEMPLATE),
        ] {
            let err = IssuerPolicy::tenant_template_for(template, ["tenant-a"])
                .validate(issuer)
                .unwrap_err();
            assert!(
                err.to_string().contains("configured issuer's origin"),
                "{issuer} {template}: {err}"
            );
        }
    }
}
