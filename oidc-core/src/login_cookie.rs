//! Logins in progress, held by the browser: one short-lived cookie per pending login, its
//! payload encrypted and authenticated (JWE `dir` + `A256GCM`) under a key derived from the
//! session secret.
//!
//! Why in the browser, and how it is bounded: [`crate::manual::concurrency`].

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use josekit::jwe::alg::direct::{DirectJweDecrypter, DirectJweEncrypter};
use josekit::jwe::{Dir, JweHeader};
use sha2::{Digest, Sha256};

use crate::config::ResponseMode;
use crate::cookies::HOST_PREFIX;
use crate::error::{Error, LoginCookieError, Result};
use crate::secret::constant_time_eq;
use crate::session::{PendingLogin, MAX_PENDING_LOGINS, PENDING_LOGIN_TTL};

/// The label the cookie key is derived under, so that the session secret is never used for two
/// purposes (it also signs session ids).
const KEY_LABEL: &[u8] = b"oidc-rs login cookie encryption key v1";

/// A login cookie larger than this is not even decrypted (ours are about 500 bytes).
const MAX_COOKIE_LEN: usize = 3072;

/// The only content encryption accepted: the header of a forged cookie cannot pick another.
const ENC: &str = "A256GCM";

/// Reads and writes login cookies.
pub(crate) struct LoginCookies {
    prefix: String,
    path: String,
    secure: bool,
    encrypter: DirectJweEncrypter,
    /// The current secret's first, then each previous secret's: a login started just before
    /// a rotation still completes.
    decrypters: Vec<DirectJweDecrypter>,
}

impl std::fmt::Debug for LoginCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCookies")
            .field("prefix", &self.prefix)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The login cookies a request carried.
#[derive(Debug, Default)]
pub(crate) struct LoginJar {
    /// Valid, unexpired logins, newest first, at most [`MAX_PENDING_LOGINS`]: (cookie name,
    /// login).
    pub(crate) logins: Vec<(String, PendingLogin)>,
    /// Names of the login cookies to remove: expired, undecryptable, or beyond the cap.
    pub(crate) stale: Vec<String>,
}

impl LoginJar {
    /// Removes and returns the login whose `state` is `state`, comparing in constant time
    /// against every one (timing does not tell which matched).
    pub(crate) fn take(&mut self, state: &str) -> Option<(String, PendingLogin)> {
        let mut found = None;
        for (i, (_, p)) in self.logins.iter().enumerate() {
            if constant_time_eq(p.state.expose(), state) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(|i| self.logins.remove(i))
    }
}

impl LoginCookies {
    /// Login cookies named `<cookie_name>_login_<hash>`, sent only to `path` (the redirect
    /// endpoint's).
    pub(crate) fn new(
        cookie_name: &str,
        secret: &[u8],
        previous: &[Vec<u8>],
        secure: bool,
        path: &str,
    ) -> Result<Self> {
        let key = |secret: &[u8], option: &'static str| -> Result<Vec<u8>> {
            Ok(Hmac::<Sha256>::new_from_slice(secret)
                .map_err(|e| Error::config(option, e.to_string()))?
                .chain_update(KEY_LABEL)
                .finalize()
                .into_bytes()
                .to_vec())
        };
        let current = key(secret, "session_secret")?;
        let encrypter = Dir
            .encrypter_from_bytes(&current)
            .map_err(|e| Error::config("session_secret", e.to_string()))?;
        let mut decrypters = vec![Dir
            .decrypter_from_bytes(&current)
            .map_err(|e| Error::config("session_secret", e.to_string()))?];
        for secret in previous {
            let k = key(secret, "previous_session_secrets")?;
            decrypters.push(
                Dir.decrypter_from_bytes(&k)
                    .map_err(|e| Error::config("previous_session_secrets", e.to_string()))?,
            );
        }
        // On https, `__Host-` as the session cookie: no sibling host can plant a login (its
        // own, to log the user in as someone else) or shadow one. It needs `Path=/`, so a
        // login cookie then reaches every path of the host while its login is in progress.
        let (prefix, path) = if secure {
            (format!("{HOST_PREFIX}{cookie_name}_login_"), "/")
        } else {
            (format!("{cookie_name}_login_"), path)
        };
        Ok(LoginCookies {
            prefix,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_owned()
            },
            secure,
            encrypter,
            decrypters,
        })
    }

    /// The cookie name of the login with this `state`: distinct per login, so that tabs do not
    /// overwrite each other's.
    pub(crate) fn name_for(&self, state: &str) -> String {
        let digest = Sha256::digest(state.as_bytes());
        let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9]);
        format!("{}{short}", self.prefix)
    }

    /// Whether a login's cookie must cross sites: a `form_post` response comes back as a
    /// cross-site POST, which carries only `SameSite=None` cookies, and browsers take those
    /// only with `Secure` (https).
    fn cross_site(&self, mode: ResponseMode) -> bool {
        self.secure && mode.is_form_post()
    }

    /// `Set-Cookie` holding `login`.
    pub(crate) fn set(&self, login: &PendingLogin) -> Result<HeaderValue> {
        let payload =
            serde_json::to_vec(login).map_err(|e| Error::config("login_cookie", e.to_string()))?;
        let mut header = JweHeader::new();
        header.set_content_encryption(ENC);
        let value = josekit::jwe::serialize_compact(&payload, &header, &self.encrypter)
            .map_err(|e| Error::config("login_cookie", e.to_string()))?;
        let c = self
            .build(
                self.name_for(login.state.expose()),
                value,
                login.response_mode,
            )
            .max_age(cookie::time::Duration::seconds(PENDING_LOGIN_TTL as i64))
            .build();
        Ok(header_value(&c))
    }

    /// `Set-Cookie` removing the login cookie `name`.
    pub(crate) fn clear(&self, name: &str, mode: ResponseMode) -> HeaderValue {
        let c = self
            .build(name.to_owned(), String::new(), mode)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        header_value(&c)
    }

    fn build(
        &self,
        name: String,
        value: String,
        mode: ResponseMode,
    ) -> cookie::CookieBuilder<'static> {
        let cross = self.cross_site(mode);
        cookie::Cookie::build((name, value))
            .http_only(true)
            .same_site(if cross {
                cookie::SameSite::None
            } else {
                cookie::SameSite::Lax
            })
            .secure(self.secure)
            .path(self.path.clone())
    }

    /// One login cookie's login, if it is ours, intact, named after its `state` and not
    /// expired at `now`.
    pub(crate) fn open(
        &self,
        name: &str,
        value: &str,
        now: u64,
    ) -> std::result::Result<PendingLogin, LoginCookieError> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(LoginCookieError::TooLarge);
        }
        let (payload, header) = self
            .decrypters
            .iter()
            .find_map(|d| josekit::jwe::deserialize_compact(value, d).ok())
            .ok_or(LoginCookieError::Undecryptable)?;
        if header.content_encryption() != Some(ENC) {
            return Err(LoginCookieError::Undecryptable);
        }
        let login: PendingLogin =
            serde_json::from_slice(&payload).map_err(|_| LoginCookieError::Malformed)?;
        // A cookie copied under another login's name would shadow that login's cookie.
        if !constant_time_eq(&self.name_for(login.state.expose()), name) {
            return Err(LoginCookieError::Malformed);
        }
        // Max-Age bounds what an honest browser keeps; this bounds what any client replays.
        if login.created_at.saturating_add(PENDING_LOGIN_TTL) <= now {
            return Err(LoginCookieError::Expired);
        }
        Ok(login)
    }

    /// The login cookies of a request: the newest [`MAX_PENDING_LOGINS`] valid ones, and the
    /// names of all others (to remove).
    pub(crate) fn read(&self, headers: &HeaderMap, now: u64) -> LoginJar {
        let mut jar = LoginJar::default();
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(value) = header.to_str() else { continue };
            for c in cookie::Cookie::split_parse(value).flatten() {
                let Some(rest) = c.name().strip_prefix(&self.prefix) else {
                    continue;
                };
                if rest.is_empty() || jar.logins.iter().any(|(n, _)| n == c.name()) {
                    continue;
                }
                match self.open(c.name(), c.value(), now) {
                    Ok(login) => jar.logins.push((c.name().to_owned(), login)),
                    Err(e) => {
                        tracing::debug!(error = %e, "ignoring a login cookie");
                        if !jar.stale.iter().any(|n| n == c.name()) {
                            jar.stale.push(c.name().to_owned());
                        }
                    }
                }
            }
        }
        // Newest first. Browsers send older cookies first (RFC 6265 5.4), so among logins of
        // the same second the later one in the header counts as newer.
        jar.logins.reverse();
        jar.logins
            .sort_by_key(|l| std::cmp::Reverse(l.1.created_at));
        for (name, _) in jar.logins.drain(MAX_PENDING_LOGINS.min(jar.logins.len())..) {
            jar.stale.push(name);
        }
        jar
    }
}

fn header_value(c: &cookie::Cookie<'_>) -> HeaderValue {
    // Names are ours (prefix and base64url), values base64url and dots, attributes fixed.
    HeaderValue::from_str(&c.encoded().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResponseType;
    use crate::secret::Secret;

    fn cookies(secure: bool) -> LoginCookies {
        LoginCookies::new("sid", &[7u8; 32], &[], secure, "/redirect_uri").unwrap()
    }

    fn login(state: &str, at: u64, mode: ResponseMode) -> PendingLogin {
        PendingLogin {
            provider: "p".into(),
            state: Secret::new(state),
            nonce: Secret::new("the-nonce"),
            code_verifier: Some(Secret::new("the-verifier")),
            return_to: "/page?x=1".into(),
            created_at: at,
            response_type: ResponseType::Code,
            response_mode: mode,
            silent: false,
            max_age: None,
            acr_values: Vec::new(),
            params: Vec::new(),
            client_id: None,
        }
    }

    fn pair(set: &HeaderValue) -> String {
        set.to_str().unwrap().split(';').next().unwrap().to_owned()
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    /// A login survives the round trip; its cookie is HttpOnly, Lax, scoped to the redirect
    /// path, short-lived, and shows nothing of the state, nonce or verifier.
    #[test]
    fn roundtrip_and_attributes() {
        let j = cookies(false);
        let set = j.set(&login("state-1", 100, ResponseMode::Query)).unwrap();
        let s = set.to_str().unwrap();
        assert!(s.starts_with(&j.name_for("state-1")));
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax"));
        assert!(s.contains("Path=/redirect_uri") && s.contains("Max-Age=600"));
        assert!(!s.contains("Secure"));
        for secret in ["state-1", "the-nonce", "the-verifier", "/page"] {
            assert!(!s.contains(secret), "{secret} in the clear");
        }
        assert!(s.len() < 1024, "small: {} bytes", s.len());
        let mut jar = j.read(&headers(&format!("other=1; {}", pair(&set))), 101);
        assert_eq!(jar.logins.len(), 1);
        assert!(jar.take("state-2").is_none());
        let (name, back) = jar.take("state-1").unwrap();
        assert_eq!(name, j.name_for("state-1"));
        assert_eq!(back, login("state-1", 100, ResponseMode::Query));
        assert!(j
            .clear(&name, ResponseMode::Query)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }

    /// On https a `form_post` login's cookie is `SameSite=None; Secure`, others `Lax; Secure`.
    #[test]
    fn form_post_on_https_crosses_sites() {
        let j = cookies(true);
        let fp = j.set(&login("a", 1, ResponseMode::FormPost)).unwrap();
        let fp = fp.to_str().unwrap();
        assert!(fp.contains("SameSite=None") && fp.contains("Secure"));
        let q = j.set(&login("b", 1, ResponseMode::Query)).unwrap();
        let q = q.to_str().unwrap();
        assert!(q.contains("SameSite=Lax") && q.contains("Secure"));
    }

    /// On https a login cookie is `__Host-` (Secure, `Path=/`, no `Domain`), and one of the
    /// bare name, which a sibling host could plant, is not read.
    #[test]
    fn https_login_cookies_are_host_only() {
        let j = cookies(true);
        let set = j.set(&login("s", 100, ResponseMode::Query)).unwrap();
        let s = set.to_str().unwrap();
        assert!(s.starts_with("__Host-sid_login_"), "{s}");
        let parsed = cookie::Cookie::parse(s).unwrap();
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.domain(), None);
        let real = pair(&set);
        assert_eq!(j.read(&headers(&real), 101).logins.len(), 1);
        let bare = real.trim_start_matches("__Host-");
        let jar = j.read(&headers(bare), 101);
        assert!(jar.logins.is_empty() && jar.stale.is_empty(), "not ours");
        assert_eq!(cookies(false).read(&headers(bare), 101).logins.len(), 1);
    }

    /// Tampered, foreign-key, renamed, oversized and expired cookies are ignored and marked for
    /// removal; nothing panics.
    #[test]
    fn tampered_foreign_and_expired_are_refused() {
        let j = cookies(false);
        let set = j.set(&login("s", 100, ResponseMode::Query)).unwrap();
        let (name, value) = pair(&set)
            .split_once('=')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        let mut flipped = value.clone().into_bytes();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            j.open(&name, &flipped, 101),
            Err(LoginCookieError::Undecryptable)
        );
        let other = LoginCookies::new("sid", &[8u8; 32], &[], false, "/redirect_uri").unwrap();
        assert_eq!(
            other.open(&name, &value, 101),
            Err(LoginCookieError::Undecryptable)
        );
        assert_eq!(
            j.open(&j.name_for("another"), &value, 101),
            Err(LoginCookieError::Malformed)
        );
        assert_eq!(
            j.open(&name, &value, 100 + PENDING_LOGIN_TTL),
            Err(LoginCookieError::Expired)
        );
        assert_eq!(
            j.open(&name, &"A".repeat(5000), 101),
            Err(LoginCookieError::TooLarge)
        );
        for junk in ["", ".", "a.b.c.d.e", "....", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(j.open(&name, junk, 101).is_err(), "{junk:?}");
        }
        let jar = j.read(&headers(&format!("{name}={flipped}; sid_login_=x")), 101);
        assert!(jar.logins.is_empty());
        assert_eq!(jar.stale, vec![name]);
    }

    /// After a rotation, a login cookie encrypted under a previous secret still opens; new
    /// ones are encrypted under the current secret, which the old configuration cannot open;
    /// a secret not listed opens nothing. (Lengths are checked once, with the session cookie's
    /// keys.)
    #[test]
    fn previous_secrets_still_open() {
        let old = cookies(false);
        let rotated =
            LoginCookies::new("sid", &[8u8; 32], &[vec![7u8; 32]], false, "/redirect_uri").unwrap();
        let set = old.set(&login("s1", 100, ResponseMode::Query)).unwrap();
        let (name, value) = pair(&set)
            .split_once('=')
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .unwrap();
        assert_eq!(
            rotated.open(&name, &value, 101).unwrap().state.expose(),
            "s1"
        );
        let set = rotated.set(&login("s2", 100, ResponseMode::Query)).unwrap();
        let (name, value) = pair(&set)
            .split_once('=')
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .unwrap();
        assert_eq!(
            old.open(&name, &value, 101),
            Err(LoginCookieError::Undecryptable)
        );
        let other =
            LoginCookies::new("sid", &[9u8; 32], &[vec![8u8; 32]], false, "/redirect_uri").unwrap();
        assert!(other.open(&name, &value, 101).is_ok());
        let set = old.set(&login("s3", 100, ResponseMode::Query)).unwrap();
        let (name, value) = pair(&set)
            .split_once('=')
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .unwrap();
        assert_eq!(
            other.open(&name, &value, 101),
            Err(LoginCookieError::Undecryptable)
        );
    }

    /// Beyond [`MAX_PENDING_LOGINS`] the oldest logins are dropped (and marked for removal).
    #[test]
    fn only_the_newest_count() {
        let j = cookies(false);
        let all: Vec<String> = (0..MAX_PENDING_LOGINS as u64 + 3)
            .map(|i| {
                pair(
                    &j.set(&login(&format!("s{i}"), 100 + i, ResponseMode::Query))
                        .unwrap(),
                )
            })
            .collect();
        let mut jar = j.read(&headers(&all.join("; ")), 200);
        assert_eq!(jar.logins.len(), MAX_PENDING_LOGINS);
        assert_eq!(jar.stale.len(), 3);
        assert!(jar.take("s0").is_none(), "the oldest is dropped");
        assert!(jar.take(&format!("s{}", MAX_PENDING_LOGINS + 2)).is_some());
    }

    /// Logins started in the same second count newest as the one later in the header (the
    /// browser sends older cookies first), so the cap drops the earliest; a cookie name seen
    /// twice counts once, as a login or as one to remove; a bare prefix is not a login cookie.
    #[test]
    fn same_second_logins_keep_header_order_and_names_count_once() {
        let j = cookies(false);
        let all: Vec<String> = (0..MAX_PENDING_LOGINS as u64 + 1)
            .map(|i| {
                pair(
                    &j.set(&login(&format!("s{i}"), 100, ResponseMode::Query))
                        .unwrap(),
                )
            })
            .collect();
        let jar = j.read(&headers(&all.join("; ")), 200);
        assert_eq!(jar.logins.len(), MAX_PENDING_LOGINS);
        let newest = format!("s{MAX_PENDING_LOGINS}");
        assert_eq!(jar.logins[0].1.state.expose(), newest);
        assert_eq!(jar.stale, vec![j.name_for("s0")], "the earliest is dropped");

        let one = pair(&j.set(&login("a", 100, ResponseMode::Query)).unwrap());
        let name = j.name_for("a");
        let jar = j.read(&headers(&format!("{one}; {one}; sid_login_=x")), 101);
        assert_eq!(jar.logins.len(), 1);
        assert!(jar.stale.is_empty(), "{:?}", jar.stale);
        let broken = format!("{name}=broken");
        let jar = j.read(&headers(&format!("{broken}; {broken}")), 101);
        assert_eq!(jar.stale, vec![name]);
    }

    /// Of two logins with the same `state` the first is taken, and taking removes it.
    #[test]
    fn take_removes_the_first_match_only() {
        let mut jar = LoginJar {
            logins: vec![
                ("a".into(), login("s", 1, ResponseMode::Query)),
                ("b".into(), login("s", 2, ResponseMode::Query)),
                ("c".into(), login("t", 3, ResponseMode::Query)),
            ],
            stale: Vec::new(),
        };
        assert_eq!(jar.take("s").unwrap().0, "a");
        assert_eq!(jar.take("s").unwrap().0, "b");
        assert!(jar.take("s").is_none());
        assert_eq!(jar.logins.len(), 1);
    }

    /// Cookies up to the size limit are decrypted, larger ones are not even tried; a login
    /// cookie is valid until, not at, its time to live.
    #[test]
    fn size_and_age_limits_are_exact() {
        let j = cookies(false);
        let name = j.name_for("s");
        assert_eq!(
            j.open(&name, &"A".repeat(MAX_COOKIE_LEN), 1),
            Err(LoginCookieError::Undecryptable)
        );
        assert_eq!(
            j.open(&name, &"A".repeat(MAX_COOKIE_LEN + 1), 1),
            Err(LoginCookieError::TooLarge)
        );
        let set = j.set(&login("s", 100, ResponseMode::Query)).unwrap();
        let value = pair(&set).split_once('=').unwrap().1.to_owned();
        assert!(j.open(&name, &value, 100 + PENDING_LOGIN_TTL - 1).is_ok());
    }

    /// `form_post` crosses sites only on https: on http (where browsers refuse `SameSite=None`
    /// without `Secure`) its cookie stays `Lax`. An empty path means the root. Names differ per
    /// login and carry the cookie prefix; `Debug` shows no key.
    #[test]
    fn form_post_on_http_stays_lax_and_names_are_per_login() {
        let j = cookies(false);
        let set = j.set(&login("a", 1, ResponseMode::FormPost)).unwrap();
        assert!(set.to_str().unwrap().contains("SameSite=Lax"));
        let clear = j.clear(&j.name_for("a"), ResponseMode::FormPost);
        assert!(clear.to_str().unwrap().contains("SameSite=Lax"));
        let https = cookies(true);
        let clear = https.clear(&https.name_for("a"), ResponseMode::FormPost);
        let clear = clear.to_str().unwrap();
        assert!(
            clear.contains("SameSite=None") && clear.contains("Secure"),
            "{clear}"
        );
        assert!(clear.starts_with("__Host-sid_login_"), "{clear}");
        assert!(
            clear.contains("Path=/;"),
            "`__Host-` cookies take the root: {clear}"
        );
        assert!(j
            .set(&login("a", 1, ResponseMode::Query))
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Path=/redirect_uri"));
        let root = LoginCookies::new("sid", &[7u8; 32], &[], false, "").unwrap();
        assert!(root
            .set(&login("a", 1, ResponseMode::Query))
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Path=/;"));
        assert_ne!(j.name_for("a"), j.name_for("b"));
        assert!(j.name_for("a").starts_with("sid_login_"));
        let shown = format!("{j:?}");
        assert!(
            shown.contains("sid_login_") && shown.contains("/redirect_uri"),
            "{shown}"
        );
    }
}
