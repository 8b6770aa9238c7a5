//! Realistic ID tokens and their key sets, for the validation benchmark.
//!
//! The token is what a large provider issues at the token endpoint of a code flow: about twenty
//! claims (profile, email, `amr`, `sid`, `at_hash`, ...), some 1.3 KB compact. The key set has the
//! signing key and the previous one (a provider mid-rotation), and its verifier cache is warm,
//! as it is for every login after the first.

use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use oidc_core::id_token::{self, Expectations, Validation};
use oidc_core::jwks::JwkSet;
use oidc_core::IdTokenError;
use serde_json::{json, Map, Value};

/// The signature algorithms benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in report order.
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// A lowercase id for benchmark names.
    pub fn id(self) -> &'static str {
        match self {
            Alg::Rs256 => "rs256",
            Alg::Es256 => "es256",
            Alg::EdDsa => "eddsa",
        }
    }

    /// A new key pair: the private JWK (to sign) and the public JWK (to publish), with `kid`.
    fn key_pair(self, kid: &str) -> (Jwk, Jwk) {
        use josekit::jwk::alg::ed::EdCurve;
        use josekit::jwk::KeyPair;
        let (mut private, mut public) = match self {
            Alg::Rs256 => {
                let pair = josekit::jws::RS256
                    .generate_key_pair(2048)
                    .expect("RSA key generation");
                (pair.to_jwk_private_key(), pair.to_jwk_public_key())
            }
            Alg::Es256 => {
                let pair = josekit::jws::ES256
                    .generate_key_pair()
                    .expect("P-256 key generation");
                (pair.to_jwk_private_key(), pair.to_jwk_public_key())
            }
            Alg::EdDsa => {
                let pair = josekit::jws::EdDSA
                    .generate_key_pair(EdCurve::Ed25519)
                    .expect("Ed25519 key generation");
                (pair.to_jwk_private_key(), pair.to_jwk_public_key())
            }
        };
        for jwk in [&mut private, &mut public] {
            jwk.set_key_id(kid);
            jwk.set_key_use("sig");
            jwk.set_algorithm(self.name());
        }
        (private, public)
    }

    fn signer(self, private: &Jwk) -> Box<dyn JwsSigner> {
        match self {
            Alg::Rs256 => Box::new(
                josekit::jws::RS256
                    .signer_from_jwk(private)
                    .expect("signer"),
            ),
            Alg::Es256 => Box::new(
                josekit::jws::ES256
                    .signer_from_jwk(private)
                    .expect("signer"),
            ),
            Alg::EdDsa => Box::new(
                josekit::jws::EdDSA
                    .signer_from_jwk(private)
                    .expect("signer"),
            ),
        }
    }

    fn verifier(self, public: &Jwk) -> Box<dyn JwsVerifier> {
        match self {
            Alg::Rs256 => Box::new(
                josekit::jws::RS256
                    .verifier_from_jwk(public)
                    .expect("verifier"),
            ),
            Alg::Es256 => Box::new(
                josekit::jws::ES256
                    .verifier_from_jwk(public)
                    .expect("verifier"),
            ),
            Alg::EdDsa => Box::new(
                josekit::jws::EdDSA
                    .verifier_from_jwk(public)
                    .expect("verifier"),
            ),
        }
    }
}

/// The issuer of the realistic tokens.
pub const ISSUER: &str = "https://login.example.com/4f8b2c1e-7d3a-4b9e-9c2f-1a6e5d8b3c7f/v2.0";
/// Their audience.
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
/// The nonce of the authentication request.
pub const NONCE: &str = "n-0S6_WzA2Mj-Hx7fQ3kPqE1vY9bR5tLcUgJ8dNmKoZ";
/// The access token issued with the ID token (its `at_hash` is checked).
pub const ACCESS_TOKEN: &str = "SlAV32hkKG-2bX9eQv8wN4mR7tYpLc1uZ0aHsDfGjK";
/// "Now" for the tokens (unix seconds).
pub const NOW: u64 = 1_700_000_000;

/// The claims of a realistic ID token from a large provider.
pub fn realistic_claims(alg: Alg) -> Map<String, Value> {
    let at_hash = id_token::half_hash(alg.name(), ACCESS_TOKEN).expect("a hashable algorithm");
    let claims = json!({
        "iss": ISSUER,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "aud": CLIENT_ID,
        "exp": NOW + 3600,
        "iat": NOW,
        "nbf": NOW,
        "auth_time": NOW - 12,
        "nonce": NONCE,
        "at_hash": at_hash,
        "sid": "00b3c4a5-9f1e-4d7c-8a2b-6e5f4d3c2b1a",
        "acr": "urn:mace:incommon:iap:silver",
        "amr": ["pwd", "mfa"],
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
        "preferred_username": "alice@example.com",
        "email": "alice@example.com",
        "email_verified": true,
        "locale": "en-GB",
        "zoneinfo": "Europe/London",
        "updated_at": NOW - 86_400,
        "tid": "4f8b2c1e-7d3a-4b9e-9c2f-1a6e5d8b3c7f",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
    });
    match claims {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    }
}

/// A signed realistic token, its cached key set, and the floor's inputs.
pub struct TokenFixture {
    /// The algorithm.
    pub alg: Alg,
    /// The compact JWS.
    pub token: String,
    /// The provider's key set as the core caches it (verifier cache warm).
    pub keys: JwkSet,
    algorithms: Vec<String>,
    verifier: Box<dyn JwsVerifier>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for TokenFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFixture")
            .field("alg", &self.alg)
            .field("token_len", &self.token.len())
            .finish_non_exhaustive()
    }
}

impl TokenFixture {
    /// Generates the keys, signs the token, parses the key set and validates once (which fills
    /// the verifier cache and checks that the fixture is valid).
    ///
    /// # Panics
    /// If the crypto library fails or the token does not validate.
    pub fn new(alg: Alg) -> Self {
        let (private, public) = alg.key_pair("2024-06");
        let (_, previous) = alg.key_pair("2024-03");
        let doc = json!({ "keys": [previous.as_ref(), public.as_ref()] });
        let keys = JwkSet::from_json(doc.to_string().as_bytes(), NOW).expect("a key set");
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id("2024-06");
        let payload = JwtPayload::from_map(realistic_claims(alg)).expect("claims");
        let token = jwt::encode_with_signer(&payload, &header, alg.signer(&private).as_ref())
            .expect("sign");
        let (input, signature) = token.rsplit_once('.').expect("a compact JWS");
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .expect("base64url signature");
        let fixture = TokenFixture {
            alg,
            signing_input: input.as_bytes().to_vec(),
            signature,
            verifier: alg.verifier(&public),
            keys,
            algorithms: oidc_core::config::DEFAULT_ALGORITHMS
                .iter()
                .map(|a| a.to_string())
                .collect(),
            token,
        };
        match fixture.validate() {
            Ok(Validation::Valid(t)) => assert_eq!(
                t.claims().get_str("email").as_deref(),
                Some("alice@example.com")
            ),
            other => panic!("the {} fixture does not validate: {other:?}", alg.name()),
        }
        assert!(fixture.floor(), "the floor verifies");
        assert!(fixture.josekit().is_some(), "josekit decodes");
        assert!(fixture.claims_set().is_some(), "the payload parses");
        fixture
    }

    /// What the core checks the token against: the issuer, the client, the nonce, the time with
    /// the default skew, the default algorithm allow-list, and the access token's `at_hash`.
    pub fn expectations(&self) -> Expectations<'_> {
        let mut expect = Expectations::new(
            ISSUER,
            CLIENT_ID,
            Some(NONCE),
            NOW + 60,
            30,
            &self.algorithms,
        );
        expect.access_token = Some(ACCESS_TOKEN);
        expect
    }

    /// The full core validation (OpenID Connect Core 3.1.3.7) against the cached key set.
    pub fn validate(&self) -> Result<Validation, IdTokenError> {
        id_token::validate(&self.token, &self.keys, &self.expectations())
    }

    /// The floor: the bare signature check of the same token with the same library and a
    /// verifier built beforehand (no base64, no JSON, no key lookup).
    pub fn floor(&self) -> bool {
        self.verifier
            .verify(&self.signing_input, &self.signature)
            .is_ok()
    }

    /// The claims as the session keeps them, from the token's payload: base64url-decoded,
    /// checked to be UTF-8 and validated as one JSON object, kept as that text
    /// ([`ClaimsSet`](oidc_core::ClaimsSet), what [`IdToken::claims`](oidc_core::IdToken::claims)
    /// returns). With the signature check, the least work a validation that keeps the claims
    /// can do (the report's "floor with the claims set"). Returns the text's length.
    pub fn claims_set(&self) -> Option<usize> {
        let payload = self.token.split('.').nth(1)?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let text = String::from_utf8(json).ok()?;
        oidc_core::ClaimsSet::from_json(text)
            .ok()
            .map(|claims| claims.as_json().len())
    }

    /// josekit alone: decoding the JWT with the verifier (base64, JSON, the signature), no claim
    /// checked. Returns the number of claims.
    pub fn josekit(&self) -> Option<usize> {
        jwt::decode_with_verifier(&self.token, self.verifier.as_ref())
            .ok()
            .map(|(payload, _)| payload.claims_set().len())
    }
}
