//! The return URL of a login (`/login?next=...`, the page a protected route was asked for).
//!
//! Oracle: an accepted return path, resolved the way a browser resolves a `Location` header
//! against the app, stays on the app's origin; decoded once more, it does not start with `//`
//! or `/\`, and its path (before any `?` or `#`) holds no backslash, `&` or not
//! (`fuzz/regressions/return_path-ampersand-hides-encoded-backslash`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if oidc_core::login::safe_return_path(s).is_err() {
        return;
    }
    // The relying party redirects to the app's path prefix followed by the return path.
    for (app, prefix) in [
        ("https://app.fuzz/", ""),
        ("https://app.fuzz/prefix/", "/prefix"),
        ("http://app.fuzz:8080/a/b/", "/a/b"),
    ] {
        let base = Url::parse(app).expect("a base URL");
        let location = format!("{prefix}{s}");
        let resolved = base.join(&location).expect("an accepted path resolves");
        assert_eq!(resolved.scheme(), base.scheme(), "{s:?} changes the scheme");
        assert_eq!(
            resolved.host_str(),
            base.host_str(),
            "{s:?} leaves the host"
        );
        assert_eq!(resolved.port(), base.port(), "{s:?} changes the port");
    }
    // Decoded once more (by a proxy, or a framework that decodes `Location`), it must still
    // not start like a network-path reference.
    let decoded: String = percent_decode(s);
    assert!(
        !decoded.starts_with("//") && !decoded.starts_with("/\\"),
        "{s:?} decodes to {decoded:?}"
    );
    // The path, decoded, holds no backslash anywhere: browsers read `\` as `/`, and the core
    // decodes the whole path before it looks (an `&` in it does not stop the decoding).
    let path = s.split(['?', '#']).next().unwrap_or_default();
    assert!(
        !percent_decode(path).contains('\\'),
        "{s:?}: its path decodes to one with a backslash"
    );
});

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
