//! The session cookie: an opaque, signed session id. The browser never holds a token.

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::random::Rng;

/// Minimum length of the signing key.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// The cookie name prefix browsers keep for cookies set by this host alone, over https, for
/// `Path=/`, without `Domain` (RFC 6265bis 4.1.3.2).
pub(crate) const HOST_PREFIX: &str = "__Host-";

/// Reads and writes the session cookie.
pub(crate) struct SessionCookies {
    name: String,
    /// HMAC-SHA256 keyed once; each use clones the keyed state, so a request costs one
    /// short hash, not a key schedule.
    mac: Hmac<Sha256>,
    /// Keys the logout confirmation tokens: a key derived from the cookie key, so that a
    /// token can never pass for a cookie signature or the other way round.
    csrf_mac: Hmac<Sha256>,
    /// The same pair for each previous secret: cookies and tokens issued before a rotation
    /// still verify; new ones use the current secret only.
    previous: Vec<(Hmac<Sha256>, Hmac<Sha256>)>,
    secure: bool,
    path: String,
    max_age: Option<u64>,
}

impl std::fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookies")
            .field("name", &self.name)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl SessionCookies {
    pub(crate) fn new(
        name: String,
        secret: &[u8],
        previous: &[Vec<u8>],
        secure: bool,
        path: String,
        max_age: Option<u64>,
    ) -> Result<Self> {
        let (mac, csrf_mac) = keyed(secret, "session_secret")?;
        let previous = previous
            .iter()
            .map(|s| keyed(s, "previous_session_secrets"))
            .collect::<Result<Vec<_>>>()?;
        // On https, `__Host-`: browsers take such a cookie only from this very host, with
        // `Secure`, `Path=/` and no `Domain`, so a sibling host (or plain http) cannot set or
        // shadow it; a cookie of the bare name is then someone else's and never read.
        let (name, path) = if secure {
            (format!("{HOST_PREFIX}{name}"), "/".to_owned())
        } else {
            (name, path)
        };
        Ok(SessionCookies {
            name,
            mac,
            csrf_mac,
            previous,
            secure,
            path,
            max_age,
        })
    }

    fn sign(&self, id: &str) -> String {
        use base64::Engine;
        let tag = self
            .mac
            .clone()
            .chain_update(id.as_bytes())
            .finalize()
            .into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    }

    /// Whether `mac` is the signature of `id` (compared in constant time).
    fn verify(&self, id: &str, mac: &str) -> bool {
        let mut buf = [0u8; TAG_BUF];
        let Some(tag) = decode_tag(mac, &mut buf) else {
            return false;
        };
        let verifies = |mac: &Hmac<Sha256>| {
            mac.clone()
                .chain_update(id.as_bytes())
                .verify_slice(tag)
                .is_ok()
        };
        verifies(&self.mac) || self.previous.iter().any(|(mac, _)| verifies(mac))
    }

    /// The logout confirmation token of a session: an HMAC of its id, so it needs no storage,
    /// is worthless for any other session, and dies with the session id (rotated at login).
    pub(crate) fn csrf_token(&self, id: &str) -> String {
        use base64::Engine;
        let tag = self
            .csrf_mac
            .clone()
            .chain_update(id.as_bytes())
            .finalize()
            .into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    }

    /// Whether `token` is the logout confirmation token of session `id` (constant time).
    pub(crate) fn verify_csrf_token(&self, id: &str, token: &str) -> bool {
        let mut buf = [0u8; TAG_BUF];
        let Some(tag) = decode_tag(token, &mut buf) else {
            return false;
        };
        let verifies = |mac: &Hmac<Sha256>| {
            mac.clone()
                .chain_update(id.as_bytes())
                .verify_slice(tag)
                .is_ok()
        };
        verifies(&self.csrf_mac) || self.previous.iter().any(|(_, mac)| verifies(mac))
    }

    /// A fresh random session id.
    pub(crate) fn new_id(&self, rng: &mut Rng) -> String {
        rng.token(32)
    }

    /// The verified session id from the request's cookies, if any. Several cookies of the same
    /// name (a sibling app's, a tossed one) are tried in turn; only a correctly signed one counts.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<String> {
        self.read_named(headers, &self.name)
    }

    fn read_named(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(value) = header.to_str() else { continue };
            for cookie in cookie::Cookie::split_parse(value).flatten() {
                if cookie.name() != name {
                    continue;
                }
                let Some((id, mac)) = cookie.value().split_once('.') else {
                    continue;
                };
                if id.len() > 128 {
                    continue;
                }
                if self.verify(id, mac) {
                    return Some(id.to_owned());
                }
            }
        }
        None
    }

    /// `Set-Cookie` for a session id.
    pub(crate) fn set(&self, id: &str) -> HeaderValue {
        let mut c = cookie::Cookie::build((self.name.clone(), format!("{id}.{}", self.sign(id))))
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure)
            .path(self.path.clone());
        if let Some(age) = self.max_age {
            c = c.max_age(cookie::time::Duration::seconds(
                age.min(i64::MAX as u64) as i64
            ));
        }
        header_value(&c.build())
    }

    /// `Set-Cookie` that removes the session cookie.
    pub(crate) fn clear(&self) -> HeaderValue {
        let c = cookie::Cookie::build((self.name.clone(), ""))
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure)
            .path(self.path.clone())
            .max_age(cookie::time::Duration::ZERO)
            .build();
        header_value(&c)
    }
}

/// Room for a decoded tag: an HMAC-SHA256 tag is 32 bytes; a longer input does not fit, and
/// would not verify anyway.
const TAG_BUF: usize = 64;

/// The base64url tag `encoded` decoded into `buf` (on the stack: the guard of every protected
/// request checks one, and needs no heap allocation for it); `None` when it is not base64url or
/// longer than `buf`.
fn decode_tag<'b>(encoded: &str, buf: &'b mut [u8; TAG_BUF]) -> Option<&'b [u8]> {
    use base64::Engine;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_slice(encoded, buf)
        .ok()?;
    buf.get(..n)
}

/// The cookie and logout-confirmation keys of one secret, refused when shorter than
/// [`MIN_SECRET_LEN`] (`option` names the setting in the error).
fn keyed(secret: &[u8], option: &'static str) -> Result<(Hmac<Sha256>, Hmac<Sha256>)> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::config(
            option,
            format!("must be at least {MIN_SECRET_LEN} bytes"),
        ));
    }
    let mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|e| Error::config(option, e.to_string()))?;
    // A key derived from the cookie key, so that a confirmation token can never pass for a
    // cookie signature or the other way round.
    let csrf_key = mac
        .clone()
        .chain_update(b"oidc-rs logout confirmation key")
        .finalize()
        .into_bytes();
    let csrf_mac = Hmac::<Sha256>::new_from_slice(&csrf_key)
        .map_err(|e| Error::config(option, e.to_string()))?;
    Ok((mac, csrf_mac))
}

fn header_value(c: &cookie::Cookie<'_>) -> HeaderValue {
    // The name, base64url id and fixed attributes are always valid header characters.
    HeaderValue::from_str(&c.encoded().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    fn jar(secure: bool) -> SessionCookies {
        SessionCookies::new("sid".into(), &[7u8; 32], &[], secure, "/".into(), Some(60)).unwrap()
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn roundtrip_and_tamper() {
        let j = jar(false);
        let id = j.new_id(&mut Rng::new([3; 32]));
        let set = j.set(&id);
        let s = set.to_str().unwrap();
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Max-Age=60"));
        assert!(!s.contains("Secure"));
        let value = s.split(';').next().unwrap();
        assert_eq!(j.read(&headers(value)), Some(id.clone()));
        assert_eq!(
            j.read(&headers(&format!("other=1; {value}"))),
            Some(id.clone())
        );
        assert_eq!(j.read(&headers(&format!("sid={id}.AAAA"))), None);
        assert_eq!(j.read(&headers(&format!("sid={id}"))), None);
        assert_eq!(j.read(&headers("sid=; x")), None);
        // Another app's key.
        let other =
            SessionCookies::new("sid".into(), &[8u8; 32], &[], false, "/".into(), None).unwrap();
        assert_eq!(other.read(&headers(value)), None);
        // A forged first cookie does not hide the real one.
        assert_eq!(j.read(&headers(&format!("sid=x.y; {value}"))), Some(id));
    }

    /// The tag is decoded into a fixed buffer: a truncated, extended or oversized tag (longer
    /// than the buffer) is refused, never a panic, and so is its logout-confirmation twin.
    #[test]
    fn malformed_tags_are_refused() {
        let j = jar(false);
        let tag = j.sign("abc");
        assert!(j.verify("abc", &tag));
        let truncated = &tag[..tag.len() - 2];
        let extended = format!("{tag}AAAA");
        let oversized = "A".repeat(4 * TAG_BUF);
        for bad in [truncated, extended.as_str(), oversized.as_str(), "", "!!!!"] {
            assert!(!j.verify("abc", bad), "{bad}");
            assert!(!j.verify_csrf_token("abc", bad), "{bad}");
            assert_eq!(j.read(&headers(&format!("sid=abc.{bad}"))), None);
        }
        assert!(j.verify_csrf_token("abc", &j.csrf_token("abc")));
    }

    /// After a rotation, cookies and logout confirmations under a previous secret still verify;
    /// new ones use the current secret, which the old configuration does not accept; a short
    /// previous secret is refused like a short secret.
    #[test]
    fn previous_secrets_still_verify() {
        let old = jar(false);
        let rotated = SessionCookies::new(
            "sid".into(),
            &[8u8; 32],
            &[vec![7u8; 32]],
            false,
            "/".into(),
            None,
        )
        .unwrap();
        let value = |j: &SessionCookies, id: &str| {
            j.set(id)
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(rotated.read(&headers(&value(&old, "a"))), Some("a".into()));
        assert!(rotated.verify_csrf_token("a", &old.csrf_token("a")));
        assert_eq!(old.read(&headers(&value(&rotated, "b"))), None);
        assert!(!old.verify_csrf_token("b", &rotated.csrf_token("b")));
        assert_eq!(
            rotated.set("b"),
            SessionCookies::new("sid".into(), &[8u8; 32], &[], false, "/".into(), None)
                .unwrap()
                .set("b"),
            "new cookies are signed with the current secret alone"
        );
        let err = SessionCookies::new(
            "sid".into(),
            &[8u8; 32],
            &[vec![1u8; 8]],
            false,
            "/".into(),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("previous_session_secrets"),
            "{err}"
        );
    }

    #[test]
    fn secure_and_clear() {
        let j = jar(true);
        assert!(j.set("abc").to_str().unwrap().contains("Secure"));
        assert!(j.clear().to_str().unwrap().contains("Max-Age=0"));
    }

    /// On https the session cookie is `__Host-` (Secure, `Path=/` whatever the app's path, no
    /// `Domain`), and a cookie of the bare name, which a sibling host could set, is not read,
    /// even validly signed.
    #[test]
    fn https_session_cookie_is_host_only() {
        let j =
            SessionCookies::new("sid".into(), &[7u8; 32], &[], true, "/app/".into(), None).unwrap();
        let set = j.set("abc");
        let s = set.to_str().unwrap();
        assert!(s.starts_with("__Host-sid=abc."), "{s}");
        let parsed = cookie::Cookie::parse(s).unwrap();
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.domain(), None);
        let clear = j.clear();
        assert!(clear.to_str().unwrap().starts_with("__Host-sid=;"));
        let value = s.split(';').next().unwrap();
        let bare = value.trim_start_matches("__Host-");
        assert_eq!(j.read(&headers(value)), Some("abc".into()));
        assert_eq!(j.read(&headers(bare)), None, "the bare name is not ours");
        let http = jar(false);
        assert_eq!(http.read(&headers(bare)), Some("abc".into()));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_key() {
        let j = jar(false);
        let token = j.csrf_token("abc");
        assert!(j.verify_csrf_token("abc", &token));
        assert!(!j.verify_csrf_token("abd", &token), "another session");
        assert!(!j.verify_csrf_token("abc", ""));
        assert!(!j.verify_csrf_token("abc", "not base64!"));
        assert!(!j.verify_csrf_token("abc", &token[..token.len() - 2]));
        let other =
            SessionCookies::new("sid".into(), &[8u8; 32], &[], false, "/".into(), None).unwrap();
        assert!(!other.verify_csrf_token("abc", &token), "another key");
        // Not the cookie's signature: a token cannot be turned into a session cookie.
        assert_ne!(token, j.sign("abc"));
        assert!(!j.verify("abc", &token));
    }

    #[test]
    fn short_secret_is_refused() {
        let err =
            SessionCookies::new("sid".into(), b"short", &[], false, "/".into(), None).unwrap_err();
        assert!(err.to_string().contains("session_secret"));
    }

    /// Every session gets its own unpredictable id: ids from one generator differ, and are 32
    /// random bytes (43 base64url characters) long. A constant id would put every user in one
    /// session.
    #[test]
    fn every_new_session_id_is_fresh_and_long() {
        let j = jar(false);
        let mut random = Rng::new([9; 32]);
        let ids: std::collections::HashSet<String> =
            (0..16).map(|_| j.new_id(&mut random)).collect();
        assert_eq!(ids.len(), 16, "no id repeats");
        for id in &ids {
            assert_eq!(id.len(), 43, "{id}");
            // Signed and read back as itself: a valid cookie value.
            let set = j.set(id);
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            assert_eq!(j.read(&headers(&pair)).as_deref(), Some(id.as_str()));
        }
    }

    /// The cookie carries its name, path and the configured lifetime (none for a browser
    /// session), and the removal cookie has the same name, path and flags, so that the browser
    /// replaces the session cookie rather than adding one.
    #[test]
    fn cookie_attributes_follow_the_configuration() {
        // On http: the configured name and path.
        let j = SessionCookies::new(
            "app_sid".into(),
            &[7u8; 32],
            &[],
            false,
            "/app".into(),
            None,
        )
        .unwrap();
        let set = j.set("abc");
        let set = set.to_str().unwrap();
        assert!(set.starts_with("app_sid=abc."), "{set}");
        assert!(
            set.contains("Path=/app") && set.contains("HttpOnly"),
            "{set}"
        );
        assert!(!set.contains("Max-Age"), "a browser session: {set}");
        let clear = j.clear();
        let clear = clear.to_str().unwrap();
        assert!(clear.starts_with("app_sid=;"), "{clear}");
        for attr in ["Path=/app", "HttpOnly", "SameSite=Lax", "Max-Age=0"] {
            assert!(clear.contains(attr), "{attr} in {clear}");
        }
        // On https: `__Host-`, so `Path=/` whatever the app's path, and `Secure`.
        let j = SessionCookies::new("app_sid".into(), &[7u8; 32], &[], true, "/app".into(), None)
            .unwrap();
        let set = j.set("abc");
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-app_sid=abc."), "{set}");
        let clear = j.clear();
        let clear = clear.to_str().unwrap();
        assert!(clear.starts_with("__Host-app_sid=;"), "{clear}");
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Max-Age=0"] {
            assert!(clear.contains(attr), "{attr} in {clear}");
        }
        for c in [set, clear] {
            assert!(c.contains("Path=/") && !c.contains("Path=/app"), "{c}");
        }
        let plain = jar(false).clear();
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    /// A cookie is read only under its own name, and an id longer than 128 characters is not
    /// even verified (it is no id of ours), while one of 128 is.
    #[test]
    fn only_our_cookie_and_bounded_ids_are_read() {
        let j = jar(false);
        let id = j.new_id(&mut Rng::new([3; 32]));
        let value = format!("{id}.{}", j.sign(&id));
        assert_eq!(j.read(&headers(&format!("other={value}"))), None);
        let at_limit = "a".repeat(128);
        let pair = format!("sid={at_limit}.{}", j.sign(&at_limit));
        assert_eq!(j.read(&headers(&pair)), Some(at_limit));
        let beyond = "a".repeat(129);
        let pair = format!("sid={beyond}.{}", j.sign(&beyond));
        assert_eq!(j.read(&headers(&pair)), None);
        // Cookies spread over several headers are all looked at.
        let mut h = headers("x=1");
        h.append(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("sid={value}")).unwrap(),
        );
        assert_eq!(j.read(&h), Some(id));
    }

    /// `Debug` names the cookie and never shows the key.
    #[test]
    fn debug_shows_the_name_not_the_key() {
        let shown = format!("{:?}", jar(true));
        assert!(
            shown.contains("sid") && shown.contains("secure: true"),
            "{shown}"
        );
        assert!(!shown.contains("mac"), "{shown}");
    }
}
