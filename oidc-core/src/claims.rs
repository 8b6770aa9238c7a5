//! Typed access to a logged-in user's claims: the validated ID token's, and the userinfo
//! response's when the provider has a userinfo endpoint.
//!
//! [`UserSession::claims`] reads them into any `serde` type of the app's;
//! [`UserSession::standard_claims`] into [`StandardClaims`] (OpenID Connect Core 5.1), and
//! accessors such as [`UserSession::email`] read one claim. Where both sources name a claim,
//! the ID token's value wins: it was signed by the provider and validated here, while userinfo
//! is only as trustworthy as the TLS connection it came over (its `sub` was checked, nothing
//! else).
//!
//! ```
//! # fn user() -> oidc_core::UserSession { oidc_core::claims::example_user() }
//! #[derive(serde::Deserialize)]
//! struct Me {
//!     sub: String,
//!     email: String,
//!     #[serde(default)]
//!     groups: Vec<String>,
//! }
//! let user = user();
//! let me: Me = user.claims().unwrap();
//! assert_eq!(me.email, "alice@example.com");
//! assert_eq!(user.email().as_deref(), Some("alice@example.com"));
//! assert_eq!(user.standard_claims().email_verified, Some(true));
//! ```

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

mod set;

pub use set::ClaimsSet;
pub(crate) use set::{
    borrowed_str, check_picking, lenient_str, trim_json, Lenient, LenientStr, PickClaims,
};

use crate::log_safe::LogSafe;
use crate::session::UserSession;

/// The user's claims do not fit the type the app asked for (a claim it requires is missing,
/// or has another type). The message is `serde`'s with every quoted string left out: it names
/// the claim and the type, never a claim's value (an email address, a name), since it reaches
/// error pages and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the user's claims do not fit the type the app expects: {}", LogSafe(.0))]
pub struct ClaimsError(String);

impl ClaimsError {
    fn new(e: &serde_json::Error) -> Self {
        ClaimsError(without_values(&e.to_string()))
    }
}

/// serde's message for a claim that does not fit, with every value the provider sent taken
/// out. serde names the value between `invalid type: ` / `invalid value: ` and `, expected`
/// (`string "x"`, with the string Debug-escaped, or ``integer `7` ``), and an unknown variant
/// or field in backticks; only the value's kind is kept. Elsewhere (a message of the app's own
/// `Deserialize`), anything quoted is taken out.
fn without_values(message: &str) -> String {
    if let Some((head, rest)) = message.split_once(", expected") {
        for lead in ["invalid type: ", "invalid value: "] {
            if let Some(value) = head.strip_prefix(lead) {
                let kind = value.split(' ').next().unwrap_or("");
                return format!("{lead}{kind}, expected{rest}");
            }
        }
        for lead in ["unknown variant", "unknown field"] {
            if head.starts_with(lead) {
                return format!("{lead}, expected{rest}");
            }
        }
    }
    let mut out = String::new();
    for (i, part) in message.split('"').enumerate() {
        out.push_str(if i % 2 == 0 { part } else { "…" });
    }
    out
}

/// The standard claims of OpenID Connect Core 5.1, as far as the provider released them.
///
/// Read leniently: a claim of the wrong type is left out rather than failing the whole set,
/// and `email_verified` / `phone_number_verified` given as the strings `"true"` / `"false"`
/// (as some providers send them) count as booleans.
///
/// The strings borrow from the session's claims (a handler may read them on every request, so
/// a read allocates only for a value with escapes to decode); keep them past the session with
/// [`into_owned`](Self::into_owned).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StandardClaims<'a> {
    /// `sub`: the user's identifier at the provider.
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    /// `name`: full name.
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    /// `given_name`.
    #[serde(borrow)]
    pub given_name: Option<Cow<'a, str>>,
    /// `family_name`.
    #[serde(borrow)]
    pub family_name: Option<Cow<'a, str>>,
    /// `middle_name`.
    #[serde(borrow)]
    pub middle_name: Option<Cow<'a, str>>,
    /// `nickname`.
    #[serde(borrow)]
    pub nickname: Option<Cow<'a, str>>,
    /// `preferred_username`: a shorthand name, not necessarily unique.
    #[serde(borrow)]
    pub preferred_username: Option<Cow<'a, str>>,
    /// `profile`: the profile page's URL.
    #[serde(borrow)]
    pub profile: Option<Cow<'a, str>>,
    /// `picture`: the profile picture's URL.
    #[serde(borrow)]
    pub picture: Option<Cow<'a, str>>,
    /// `website`.
    #[serde(borrow)]
    pub website: Option<Cow<'a, str>>,
    /// `email`.
    #[serde(borrow)]
    pub email: Option<Cow<'a, str>>,
    /// `email_verified`: whether the provider verified `email`.
    pub email_verified: Option<bool>,
    /// `gender`.
    #[serde(borrow)]
    pub gender: Option<Cow<'a, str>>,
    /// `birthdate` (`YYYY-MM-DD`, or `YYYY`).
    #[serde(borrow)]
    pub birthdate: Option<Cow<'a, str>>,
    /// `zoneinfo`: a time zone name such as `Europe/Paris`.
    #[serde(borrow)]
    pub zoneinfo: Option<Cow<'a, str>>,
    /// `locale`: a BCP 47 language tag.
    #[serde(borrow)]
    pub locale: Option<Cow<'a, str>>,
    /// `phone_number`.
    #[serde(borrow)]
    pub phone_number: Option<Cow<'a, str>>,
    /// `phone_number_verified`.
    pub phone_number_verified: Option<bool>,
    /// `updated_at`: when the profile last changed (unix seconds).
    pub updated_at: Option<u64>,
}

impl StandardClaims<'_> {
    /// The same claims owning their strings, for keeping them past the session they were read
    /// from.
    pub fn into_owned(self) -> StandardClaims<'static> {
        let own = |s: Option<Cow<'_, str>>| s.map(|s| Cow::Owned(s.into_owned()));
        StandardClaims {
            sub: Cow::Owned(self.sub.into_owned()),
            name: own(self.name),
            given_name: own(self.given_name),
            family_name: own(self.family_name),
            middle_name: own(self.middle_name),
            nickname: own(self.nickname),
            preferred_username: own(self.preferred_username),
            profile: own(self.profile),
            picture: own(self.picture),
            website: own(self.website),
            email: own(self.email),
            email_verified: self.email_verified,
            gender: own(self.gender),
            birthdate: own(self.birthdate),
            zoneinfo: own(self.zoneinfo),
            locale: own(self.locale),
            phone_number: own(self.phone_number),
            phone_number_verified: self.phone_number_verified,
            updated_at: self.updated_at,
        }
    }
}

impl UserSession {
    /// The user's claims as one object: the ID token's, plus userinfo's for names the ID
    /// token does not carry.
    pub fn merged_claims(&self) -> Map<String, Value> {
        let mut merged = self
            .userinfo
            .as_ref()
            .map(ClaimsSet::to_map)
            .unwrap_or_default();
        merged.extend(self.id_token.claims().to_map());
        merged
    }

    /// The user's claims ([`merged_claims`](Self::merged_claims)) read into the app's type.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, ClaimsError> {
        // Read from both texts in place (a handler reads claims on every request): the same
        // entries as `merged_claims`, streamed from the two texts into `T`.
        set::deserialize_merged(self.id_token.claims(), self.userinfo.as_ref())
            .map_err(|e| ClaimsError::new(&e))
    }

    /// The ID token's claims alone read into the app's type (userinfo left out).
    pub fn id_token_claims_as<T: DeserializeOwned>(&self) -> Result<T, ClaimsError> {
        self.id_token.claims().deserialize()
    }

    /// The standard claims the provider released (see [`StandardClaims`]).
    pub fn standard_claims(&self) -> StandardClaims<'_> {
        // Each set finds its standard claims once (its index, built on the first read and
        // kept by the set, which a stored session shares between requests): a handler may
        // call this on every request, and then only reads the values it was pointed to.
        let raw = |c: Standard| self.standard_raw(c);
        let s = |c| raw(c).and_then(lenient_str);
        let flag = |c| raw(c).and_then(as_bool);
        StandardClaims {
            sub: Cow::Borrowed(self.subject()),
            name: s(Standard::Name),
            given_name: s(Standard::GivenName),
            family_name: s(Standard::FamilyName),
            middle_name: s(Standard::MiddleName),
            nickname: s(Standard::Nickname),
            preferred_username: s(Standard::PreferredUsername),
            profile: s(Standard::Profile),
            picture: s(Standard::Picture),
            website: s(Standard::Website),
            email: s(Standard::Email),
            email_verified: self.email_verified(),
            gender: s(Standard::Gender),
            birthdate: s(Standard::Birthdate),
            zoneinfo: s(Standard::Zoneinfo),
            locale: s(Standard::Locale),
            phone_number: s(Standard::PhoneNumber),
            phone_number_verified: flag(Standard::PhoneNumberVerified),
            updated_at: raw(Standard::UpdatedAt).and_then(|v| serde_json::from_str(v).ok()),
        }
    }

    /// One claim: the ID token's, else userinfo's (parsed when asked for).
    pub fn claim(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.claim_raw(name)?.get()).ok()
    }

    /// `email`, if released.
    pub fn email(&self) -> Option<Cow<'_, str>> {
        lenient_str(self.standard_raw(Standard::Email)?)
    }

    /// `email_verified`, if released (the strings `"true"` / `"false"` count), from the same
    /// source as [`email`](Self::email): never one source's verification for the other's
    /// address.
    pub fn email_verified(&self) -> Option<bool> {
        let id = self.id_token.claims();
        let source = if id.standard(Standard::Email).is_some() {
            Some(id)
        } else {
            self.userinfo.as_ref()
        };
        as_bool(source?.standard(Standard::EmailVerified)?)
    }

    /// `name`, if released.
    pub fn name(&self) -> Option<Cow<'_, str>> {
        lenient_str(self.standard_raw(Standard::Name)?)
    }

    /// `preferred_username`, if released.
    pub fn preferred_username(&self) -> Option<Cow<'_, str>> {
        lenient_str(self.standard_raw(Standard::PreferredUsername)?)
    }

    fn claim_raw(&self, name: &str) -> Option<&RawValue> {
        self.id_token
            .claims()
            .raw(name)
            .or_else(|| self.userinfo.as_ref()?.raw(name))
    }

    /// A standard claim's raw value: the ID token's, else userinfo's (as
    /// [`claim`](Self::claim)), each found with its set's index.
    fn standard_raw(&self, claim: Standard) -> Option<&str> {
        self.id_token
            .claims()
            .standard(claim)
            .or_else(|| self.userinfo.as_ref()?.standard(claim))
    }
}

/// The claims of [`StandardClaims`] but `sub` (which the ID token always has, kept parsed), by
/// their index in [`STANDARD`]: also the order of a [`ClaimsSet`]'s index of them.
#[derive(Clone, Copy)]
enum Standard {
    Name,
    GivenName,
    FamilyName,
    MiddleName,
    Nickname,
    PreferredUsername,
    Profile,
    Picture,
    Website,
    Email,
    EmailVerified,
    Gender,
    Birthdate,
    Zoneinfo,
    Locale,
    PhoneNumber,
    PhoneNumberVerified,
    UpdatedAt,
}

/// The names of the [`Standard`] claims, in its order.
const STANDARD: [&str; 18] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "updated_at",
];

/// A boolean, or the string `"true"` / `"false"`.
fn as_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => match lenient_str(value)?.as_ref() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
    }
}

/// A logged-in user for the examples in this crate's docs.
#[doc(hidden)]
pub fn example_user() -> UserSession {
    let claims = serde_json::json!({
        "iss": "https://op.example", "sub": "alice", "aud": "app", "exp": 2_000_000_000u64,
        "iat": 1_700_000_000u64, "email": "alice@example.com", "email_verified": true,
    });
    let userinfo = serde_json::json!({
        "sub": "alice", "email": "old@example.com", "groups": ["admins"],
    });
    UserSession {
        provider: "default".into(),
        access_token: None,
        access_token_expires_at: None,
        id_token: crate::IdToken::new(
            crate::Secret::new("header.payload.signature"),
            ClaimsSet::try_from(claims).unwrap_or_else(|_| ClaimsSet::from_map(&Map::new())),
        ),
        userinfo: ClaimsSet::try_from(userinfo).ok(),
        refresh_token: None,
        last_authenticated: 1_700_000_000,
        last_session_refresh: 1_700_000_000,
        expires_at: 2_000_000_000,
        sid: None,
        dpop: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ID token's value wins where both name a claim; userinfo fills in the rest.
    #[test]
    fn id_token_claims_win_and_userinfo_fills_in() {
        let user = example_user();
        let merged = user.merged_claims();
        assert_eq!(merged["email"], "alice@example.com");
        assert_eq!(merged["groups"][0], "admins");
        #[derive(Deserialize)]
        struct Groups {
            groups: Vec<String>,
        }
        assert_eq!(user.claims::<Groups>().unwrap().groups, ["admins"]);
        assert!(
            user.id_token_claims_as::<Groups>().is_err(),
            "the ID token alone has no groups"
        );
    }

    /// Reading the claims in place gives what reading the merged copy gives: the whole object
    /// (each claim once, the ID token's where both have it), and the same typed values.
    #[test]
    fn claims_read_in_place_match_the_merged_copy() {
        let user = example_user();
        let whole: Map<String, Value> = user.claims().unwrap();
        assert_eq!(whole, user.merged_claims());
        let own: Map<String, Value> = user.id_token_claims_as().unwrap();
        assert_eq!(own, user.id_token.claims().to_map());
        #[derive(Debug, PartialEq, Deserialize)]
        struct Me {
            sub: String,
            email: String,
            email_verified: bool,
            groups: Vec<String>,
        }
        assert_eq!(
            user.claims::<Me>().unwrap(),
            serde_json::from_value::<Me>(Value::Object(user.merged_claims())).unwrap()
        );
    }

    /// A type the claims do not fit is a typed error naming the claim, never quoting a
    /// claim's value.
    #[test]
    fn claims_that_do_not_fit_are_an_error() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct NeedsPhone {
            phone_number: String,
        }
        let err = example_user().claims::<NeedsPhone>().unwrap_err();
        assert!(err.to_string().contains("phone_number"), "{err}");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct EmailNumber {
            email: u64,
        }
        let err = example_user().claims::<EmailNumber>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("invalid type"), "{text}");
        assert!(!text.contains("alice@example.com"), "{text}");
    }

    /// No value the provider sent reaches the error's text, however it is quoted.
    #[test]
    fn claims_errors_never_quote_a_value() {
        let cases = [
            (
                r#"invalid type: string "se\"cret", expected u64 at line 1 column 9"#,
                "invalid type: string, expected u64 at line 1 column 9",
            ),
            (
                "invalid value: integer `4155550123`, expected a string",
                "invalid value: integer, expected a string",
            ),
            (
                "unknown variant `secret`, expected `a` or `b`",
                "unknown variant, expected `a` or `b`",
            ),
            (
                "missing field `phone_number`",
                "missing field `phone_number`",
            ),
            (r#"custom: "secret""#, "custom: …"),
        ];
        for (serde, shown) in cases {
            assert_eq!(without_values(serde), shown);
        }
    }

    /// `email_verified` comes from the source of `email`: the userinfo's verification never
    /// vouches for the ID token's address, nor the other way round.
    #[test]
    fn email_verified_comes_with_its_email() {
        let mut user = example_user();
        let mut id = user.id_token.claims().to_map();
        id.remove("email_verified");
        user.id_token = crate::IdToken::new(user.id_token.raw.clone(), ClaimsSet::from_map(&id));
        let mut userinfo = user.userinfo.as_ref().unwrap().to_map();
        userinfo.insert("email_verified".into(), true.into());
        user.userinfo = Some(ClaimsSet::from_map(&userinfo));
        assert_eq!(user.email().as_deref(), Some("alice@example.com"));
        assert_eq!(
            user.email_verified(),
            None,
            "the ID token's email is unverified"
        );
        assert_eq!(user.standard_claims().email_verified, None);
        id.remove("email");
        user.id_token = crate::IdToken::new(user.id_token.raw.clone(), ClaimsSet::from_map(&id));
        assert_eq!(user.email().as_deref(), Some("old@example.com"));
        assert_eq!(user.email_verified(), Some(true), "userinfo's own pair");
        assert_eq!(user.standard_claims().email_verified, Some(true));
    }

    /// Standard claims borrow from the session's text (no escapes here), own their strings
    /// once made owned, and round-trip through JSON.
    #[test]
    fn standard_claims_borrow_and_can_be_kept() {
        let user = example_user();
        let std = user.standard_claims();
        assert!(matches!(std.sub, Cow::Borrowed("alice")));
        assert!(matches!(
            std.email,
            Some(Cow::Borrowed("alice@example.com"))
        ));
        let kept: StandardClaims<'static> = std.clone().into_owned();
        assert!(matches!(kept.email, Some(Cow::Owned(_))));
        assert_eq!(kept, std);
        let json = serde_json::to_string(&std).unwrap();
        assert_eq!(
            serde_json::from_str::<StandardClaims<'_>>(&json).unwrap(),
            std
        );
        assert_eq!(StandardClaims::default().sub, "");
    }

    /// The standard claims as a full parse of both sets reads them: each from the ID token's
    /// map, else userinfo's, `email_verified` from the map that has `email`.
    fn parsed(user: &UserSession) -> StandardClaims<'static> {
        let id = user.id_token.claims().to_map();
        let info = user
            .userinfo
            .as_ref()
            .map(ClaimsSet::to_map)
            .unwrap_or_default();
        let value = |name: &str| id.get(name).or_else(|| info.get(name)).cloned();
        let s = |name: &str| value(name)?.as_str().map(|s| Cow::Owned(s.to_owned()));
        let flag = |v: Option<&Value>| match v? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        };
        let email_source = if id.contains_key("email") { &id } else { &info };
        StandardClaims {
            sub: Cow::Owned(user.subject().to_owned()),
            name: s("name"),
            given_name: s("given_name"),
            family_name: s("family_name"),
            middle_name: s("middle_name"),
            nickname: s("nickname"),
            preferred_username: s("preferred_username"),
            profile: s("profile"),
            picture: s("picture"),
            website: s("website"),
            email: s("email"),
            email_verified: flag(email_source.get("email_verified")),
            gender: s("gender"),
            birthdate: s("birthdate"),
            zoneinfo: s("zoneinfo"),
            locale: s("locale"),
            phone_number: s("phone_number"),
            phone_number_verified: flag(value("phone_number_verified").as_ref()),
            updated_at: value("updated_at").and_then(|v| v.as_u64()),
        }
    }

    /// The standard claims and their accessors, read through each set's index, are what a full
    /// parse of both sets reads: with escapes in values (and in a name), claims of the wrong
    /// type, claims only in userinfo, `email_verified` only in the source without `email`, no
    /// standard claim at all, no userinfo; read twice, and from a clone of the session.
    #[test]
    fn standard_claims_match_a_full_parse() {
        let cases: [(&str, Option<&str>); 7] = [
            (
                r#"{"sub":"alice","name":"A \"Al\" L\u00e9e","email":"a\/b@x","website":"w"}"#,
                Some(r#"{"sub":"alice","name":"other","locale":"fr","updated_at":9}"#),
            ),
            (
                r#"{"sub":"alice","\u006eame":"escaped name","email_verified":"true"}"#,
                Some(r#"{"sub":"alice","email":"u@x","email_verified":false}"#),
            ),
            (
                r#"{"sub":"alice","name":42,"email":["a"],"updated_at":"9","nickname":null}"#,
                Some(r#"{"sub":"alice","name":"userinfo's","phone_number_verified":"false"}"#),
            ),
            (
                r#"{"sub":"alice","email":"id@x"}"#,
                Some(r#"{"sub":"alice","email_verified":true,"updated_at":-1}"#),
            ),
            (
                r#"{"sub":"alice","iss":"https://op.example","aud":"app"}"#,
                Some(r#"{"sub":"alice","groups":["a"]}"#),
            ),
            (r#"{"sub":"alice","iss":"https://op.example"}"#, None),
            (
                r#"{"sub":"alice","email":"e@x","email_verified":"yes","phone_number":"+1"}"#,
                None,
            ),
        ];
        for (id, userinfo) in cases {
            let mut user = example_user();
            user.id_token = crate::IdToken::new(
                user.id_token.raw.clone(),
                ClaimsSet::from_json(id.into()).unwrap(),
            );
            user.userinfo = userinfo.map(|u| ClaimsSet::from_json(u.into()).unwrap());
            let want = parsed(&user);
            assert_eq!(user.standard_claims(), want, "{id} {userinfo:?}");
            assert_eq!(user.standard_claims(), want, "read again: {id}");
            assert_eq!(user.email(), want.email, "{id}");
            assert_eq!(user.email_verified(), want.email_verified, "{id}");
            assert_eq!(user.name(), want.name, "{id}");
            assert_eq!(user.preferred_username(), want.preferred_username, "{id}");
            let clone = user.clone();
            assert_eq!(clone.standard_claims(), want, "from a clone: {id}");
        }
    }

    /// Standard claims are read leniently: string booleans count, wrong types are left out.
    #[test]
    fn standard_claims_are_lenient() {
        let mut user = example_user();
        let mut id = user.id_token.claims().to_map();
        id.insert("email_verified".into(), "false".into());
        id.insert("name".into(), 42.into());
        id.insert("updated_at".into(), 1_700_000_001u64.into());
        user.id_token = crate::IdToken::new(user.id_token.raw.clone(), ClaimsSet::from_map(&id));
        let std = user.standard_claims();
        assert_eq!(std.sub, "alice");
        assert_eq!(std.email_verified, Some(false));
        assert_eq!(std.name, None);
        assert_eq!(std.updated_at, Some(1_700_000_001));
        assert_eq!(user.email_verified(), Some(false));
        assert_eq!(user.preferred_username(), None);
        assert_eq!(user.name(), None, "the ID token's `name` is no string");
        assert_eq!(user.claim("name"), Some(Value::from(42)));
    }
}
