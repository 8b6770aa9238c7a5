//! Signing keys for every algorithm the relying party accepts, and JWT encoding via josekit.

use std::sync::OnceLock;

use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::alg::rsassa::RsassaJwsSigner;
use josekit::jws::{
    EdDSA, JwsAlgorithm, JwsHeader, JwsSigner, JwsVerifier, ES256, ES384, ES512, PS256, PS384,
    PS512, RS256, RS384, RS512,
};
use josekit::jwt::{self, JwtPayload};
use josekit::JoseError;
use serde_json::{Map, Value};

/// An algorithm the simulated provider signs ID tokens (and JWT access tokens) with: each one
/// `oidc-core` accepts (`oidc_core::config::DEFAULT_ALGORITHMS`), EdDSA on either curve.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, an RSA-2048 key (the default).
    #[default]
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384, an RSA-2048 key.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512, an RSA-2048 key.
    Rs512,
    /// RSASSA-PSS with SHA-256, an RSA-2048 key.
    Ps256,
    /// RSASSA-PSS with SHA-384, an RSA-2048 key.
    Ps384,
    /// RSASSA-PSS with SHA-512, an RSA-2048 key.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// EdDSA on Ed25519.
    EdDsa,
    /// EdDSA on Ed448.
    EdDsaEd448,
}

impl SigningAlg {
    /// Every algorithm, the default first.
    pub const ALL: [SigningAlg; 11] = [
        SigningAlg::Rs256,
        SigningAlg::Rs384,
        SigningAlg::Rs512,
        SigningAlg::Ps256,
        SigningAlg::Ps384,
        SigningAlg::Ps512,
        SigningAlg::Es256,
        SigningAlg::Es384,
        SigningAlg::Es512,
        SigningAlg::EdDsa,
        SigningAlg::EdDsaEd448,
    ];

    /// The JWS `alg` name (`RS256`, ..., `EdDSA` for both curves).
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Rs384 => "RS384",
            SigningAlg::Rs512 => "RS512",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Ps384 => "PS384",
            SigningAlg::Ps512 => "PS512",
            SigningAlg::Es256 => "ES256",
            SigningAlg::Es384 => "ES384",
            SigningAlg::Es512 => "ES512",
            SigningAlg::EdDsa | SigningAlg::EdDsaEd448 => "EdDSA",
        }
    }

    /// The key type of its keys (the JWK's `kty`).
    pub fn key_type(self) -> &'static str {
        match self {
            SigningAlg::Es256 | SigningAlg::Es384 | SigningAlg::Es512 => "EC",
            SigningAlg::EdDsa | SigningAlg::EdDsaEd448 => "OKP",
            _ => "RSA",
        }
    }

    /// The curve of its keys (the JWK's `crv`); `None` for RSA.
    pub fn curve(self) -> Option<&'static str> {
        match self {
            SigningAlg::Es256 => Some("P-256"),
            SigningAlg::Es384 => Some("P-384"),
            SigningAlg::Es512 => Some("P-521"),
            SigningAlg::EdDsa => Some("Ed25519"),
            SigningAlg::EdDsaEd448 => Some("Ed448"),
            _ => None,
        }
    }

    /// josekit's algorithm, as a signer claiming it names it.
    fn algorithm(self) -> &'static dyn JwsAlgorithm {
        match self {
            SigningAlg::Rs256 => &RS256,
            SigningAlg::Rs384 => &RS384,
            SigningAlg::Rs512 => &RS512,
            SigningAlg::Ps256 => &PS256,
            SigningAlg::Ps384 => &PS384,
            SigningAlg::Ps512 => &PS512,
            SigningAlg::Es256 => &ES256,
            SigningAlg::Es384 => &ES384,
            SigningAlg::Es512 => &ES512,
            SigningAlg::EdDsa | SigningAlg::EdDsaEd448 => &EdDSA,
        }
    }

    /// A fresh key pair: the private key and the bare public JWK.
    fn generate(self) -> Result<KeyMaterial, JoseError> {
        let (private, public) = match self {
            // One RSA key serves RSASSA-PKCS1-v1_5 and RSASSA-PSS alike: PSS signers accept a
            // plain RSA key, and the JWK (`kty: RSA`) is the same.
            SigningAlg::Rs256
            | SigningAlg::Rs384
            | SigningAlg::Rs512
            | SigningAlg::Ps256
            | SigningAlg::Ps384
            | SigningAlg::Ps512 => {
                let pair = RS256.generate_key_pair(2048)?;
                pair_parts(&pair)
            }
            SigningAlg::Es256 => pair_parts(&ES256.generate_key_pair()?),
            SigningAlg::Es384 => pair_parts(&ES384.generate_key_pair()?),
            SigningAlg::Es512 => pair_parts(&ES512.generate_key_pair()?),
            SigningAlg::EdDsa => pair_parts(&EdDSA.generate_key_pair(EdCurve::Ed25519)?),
            SigningAlg::EdDsaEd448 => pair_parts(&EdDSA.generate_key_pair(EdCurve::Ed448)?),
        };
        // The generators label their JWKs; what a published key claims is the caller's choice.
        let mut map = public.as_ref().clone();
        map.remove("alg");
        Ok(KeyMaterial {
            private,
            public: Jwk::from_map(map)?,
        })
    }

    /// A signer with the private key `key`, or an error when josekit cannot use that key for
    /// this algorithm (an EC key for RS256, a P-256 key for ES384, ...). The RSA signers read
    /// the key's DER (PKCS#8), as josekit's RSASSA-PSS signer takes a plain RSA key only so;
    /// the others its PKCS#8 PEM, as from an EC key's DER (SEC1) josekit would make an ES384
    /// signer of a P-256 key.
    fn signer(self, key: &PrivateKey) -> Result<Box<dyn JwsSigner>, JoseError> {
        let (der, pem) = (&key.der, &key.pem);
        Ok(match self {
            SigningAlg::Rs256 => Box::new(RS256.signer_from_der(der)?),
            SigningAlg::Rs384 => Box::new(RS384.signer_from_der(der)?),
            SigningAlg::Rs512 => Box::new(RS512.signer_from_der(der)?),
            SigningAlg::Ps256 => Box::new(PS256.signer_from_der(der)?),
            SigningAlg::Ps384 => Box::new(PS384.signer_from_der(der)?),
            SigningAlg::Ps512 => Box::new(PS512.signer_from_der(der)?),
            SigningAlg::Es256 => Box::new(ES256.signer_from_pem(pem)?),
            SigningAlg::Es384 => Box::new(ES384.signer_from_pem(pem)?),
            SigningAlg::Es512 => Box::new(ES512.signer_from_pem(pem)?),
            SigningAlg::EdDsa | SigningAlg::EdDsaEd448 => Box::new(EdDSA.signer_from_pem(pem)?),
        })
    }

    /// A verifier for the public key `jwk`.
    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
        Ok(match self {
            SigningAlg::Rs256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            SigningAlg::Rs384 => Box::new(RS384.verifier_from_jwk(jwk)?),
            SigningAlg::Rs512 => Box::new(RS512.verifier_from_jwk(jwk)?),
            SigningAlg::Ps256 => Box::new(PS256.verifier_from_jwk(jwk)?),
            SigningAlg::Ps384 => Box::new(PS384.verifier_from_jwk(jwk)?),
            SigningAlg::Ps512 => Box::new(PS512.verifier_from_jwk(jwk)?),
            SigningAlg::Es256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            SigningAlg::Es384 => Box::new(ES384.verifier_from_jwk(jwk)?),
            SigningAlg::Es512 => Box::new(ES512.verifier_from_jwk(jwk)?),
            SigningAlg::EdDsa | SigningAlg::EdDsaEd448 => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }

    /// The `at_hash` / `c_hash` of `value` in an ID token signed with this algorithm (OpenID
    /// Connect Core 3.3.2.11): the left half of the algorithm's hash; for EdDSA the curve's
    /// (SHA-512 for Ed25519, SHAKE256 with a 114-byte output for Ed448).
    pub(crate) fn half_hash(self, value: &str) -> String {
        use openssl::hash::{hash, hash_xof, MessageDigest};
        let md = match self {
            SigningAlg::Rs256 | SigningAlg::Ps256 | SigningAlg::Es256 => MessageDigest::sha256(),
            SigningAlg::Rs384 | SigningAlg::Ps384 | SigningAlg::Es384 => MessageDigest::sha384(),
            SigningAlg::EdDsaEd448 => MessageDigest::shake_256(),
            _ => MessageDigest::sha512(),
        };
        // Only a broken crypto library fails to hash.
        let digest = if self == SigningAlg::EdDsaEd448 {
            let mut out = [0u8; 114];
            hash_xof(md, value.as_bytes(), &mut out).expect("SHAKE256 works");
            out.to_vec()
        } else {
            hash(md, value.as_bytes()).expect("SHA-2 works").to_vec()
        };
        crate::util::b64url(&digest[..digest.len() / 2])
    }
}

fn pair_parts(pair: &dyn josekit::jwk::KeyPair) -> (PrivateKey, Jwk) {
    let private = PrivateKey {
        der: pair.to_der_private_key(),
        pem: pair.to_pem_private_key(),
    };
    (private, pair.to_jwk_public_key())
}

/// A private key, DER-encoded as josekit writes it (PKCS#8 for RSA and EdDSA keys, SEC1 for
/// EC keys) and as PKCS#8 PEM.
#[derive(Clone)]
struct PrivateKey {
    der: Vec<u8>,
    pem: Vec<u8>,
}

/// A key pair before it is given a `kid` and published.
struct KeyMaterial {
    private: PrivateKey,
    public: Jwk,
}

/// The key pair [`SigningKey::cached`] hands out per algorithm: made once per process, since
/// generating RSA keys takes long enough to slow the suite down when every scenario that
/// switches algorithm pays for it.
fn cached_material(alg: SigningAlg) -> Result<&'static KeyMaterial, JoseError> {
    static CACHE: [OnceLock<KeyMaterial>; SigningAlg::ALL.len()] =
        [const { OnceLock::new() }; SigningAlg::ALL.len()];
    let index = SigningAlg::ALL
        .iter()
        .position(|a| *a == alg)
        .expect("every algorithm is in ALL");
    if let Some(material) = CACHE[index].get() {
        return Ok(material);
    }
    let material = alg.generate()?;
    Ok(CACHE[index].get_or_init(|| material))
}

/// One signing key: its algorithm, `kid`, signer, verifier and published JWK.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) alg: SigningAlg,
    private: PrivateKey,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public: Jwk,
}

impl SigningKey {
    /// Generates a fresh key for `alg` with the given key id.
    pub(crate) fn generate_for(alg: SigningAlg, kid: &str) -> Result<Self, JoseError> {
        Self::from_material(alg, kid, &alg.generate()?)
    }

    /// A key for `alg` with the given key id, on the key pair this process made for `alg`
    /// before (or makes now): two such keys differ only in their `kid`.
    pub(crate) fn cached(alg: SigningAlg, kid: &str) -> Result<Self, JoseError> {
        Self::from_material(alg, kid, cached_material(alg)?)
    }

    fn from_material(
        alg: SigningAlg,
        kid: &str,
        material: &KeyMaterial,
    ) -> Result<Self, JoseError> {
        let mut public = material.public.clone();
        public.set_key_use("sig");
        public.set_algorithm(alg.name());
        public.set_key_id(kid);
        Ok(SigningKey {
            kid: kid.to_owned(),
            alg,
            signer: alg.signer(&material.private)?,
            verifier: alg.verifier(&public)?,
            private: material.private.clone(),
            public,
        })
    }

    /// The public JWK (`kty`, `kid`, `use`, `alg`, and `n`/`e`, `crv`/`x`/`y` or `crv`/`x`) as
    /// JSON; without `alg` when `with_alg` is false, as many providers publish their keys.
    pub(crate) fn public_jwk(&self, with_alg: bool) -> Value {
        let mut map: Map<String, Value> = self.public.as_ref().clone();
        if !with_alg {
            map.remove("alg");
        }
        Value::Object(map)
    }

    /// Signs claims into a compact JWS (the header carries `typ`, `alg` and `kid`).
    pub(crate) fn sign(&self, claims: Map<String, Value>) -> Result<String, JoseError> {
        self.sign_typed(claims, "JWT")
    }

    /// Signs claims into a compact JWS whose header carries this `typ` (and `alg`, `kid`).
    pub(crate) fn sign_typed(
        &self,
        claims: Map<String, Value>,
        typ: &str,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        jwt::encode_with_signer(&payload, &self.header(typ), self.signer.as_ref())
    }

    /// Signs a payload given as JSON text (which a map could not hold, such as a name given
    /// twice) into a compact JWS whose header carries `typ: JWT`, `alg` and `kid`.
    pub(crate) fn sign_text(&self, payload: &str) -> Result<String, JoseError> {
        josekit::jws::serialize_compact(
            payload.as_bytes(),
            &self.header("JWT"),
            self.signer.as_ref(),
        )
    }

    /// Signs claims with this key into a compact JWS whose header says `alg` was used: a real
    /// `alg` signature when the key can make one (an RSA key signs RS256 and PS256 alike), else
    /// this key's own signature under the false name (a P-256 key's ES256 signature labelled
    /// ES384). What a provider that mislabels its tokens, or an attacker hoping the relying
    /// party picks the verifier by the header alone, sends.
    pub(crate) fn sign_labelled(
        &self,
        claims: Map<String, Value>,
        alg: SigningAlg,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        let signer: Box<dyn JwsSigner> = match alg.signer(&self.private) {
            Ok(signer) => signer,
            Err(_) => Box::new(Mislabelled {
                claims: alg.algorithm(),
                signer: self.signer.box_clone(),
            }),
        };
        jwt::encode_with_signer(&payload, &self.header("JWT"), signer.as_ref())
    }

    fn header(&self, typ: &str) -> JwsHeader {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        header
    }

    /// The verifier for this key.
    pub(crate) fn verifier(&self) -> &dyn JwsVerifier {
        self.verifier.as_ref()
    }

    /// The octets of the public key as published: the RSA modulus `n`, or the curve point's
    /// `x` (and `y`). What an attacker MACs an HS256 token with, hoping the relying party
    /// takes the key named by the provider's JWKS as an HMAC secret.
    pub(crate) fn public_key_bytes(&self) -> Vec<u8> {
        use base64::Engine as _;
        let part = |name: &str| {
            self.public
                .parameter(name)
                .and_then(Value::as_str)
                .and_then(|v| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(v)
                        .ok()
                })
                .unwrap_or_default()
        };
        match self.alg.key_type() {
            "RSA" => part("n"),
            _ => [part("x"), part("y")].concat(),
        }
    }
}

/// A signer that names another algorithm than the one it signs with: josekit writes the
/// header's `alg` from the signer, so this is how a token gets a false one.
#[derive(Debug)]
struct Mislabelled {
    claims: &'static dyn JwsAlgorithm,
    signer: Box<dyn JwsSigner>,
}

impl JwsSigner for Mislabelled {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        self.claims
    }

    fn key_id(&self) -> Option<&str> {
        self.signer.key_id()
    }

    fn signature_len(&self) -> usize {
        self.signer.signature_len()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        self.signer.sign(message)
    }

    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(Mislabelled {
            claims: self.claims,
            signer: self.signer.box_clone(),
        })
    }
}

/// A key no JWKS ever publishes, signing under whatever `kid` it is told: what an attacker
/// forging tokens has.
pub(crate) struct ForgingKey {
    signer: RsassaJwsSigner,
}

impl ForgingKey {
    /// Generates a fresh RSA-2048 key without a key id of its own.
    pub(crate) fn generate() -> Result<Self, JoseError> {
        let pair = RS256.generate_key_pair(2048)?;
        Ok(ForgingKey {
            signer: RS256.signer_from_der(pair.to_der_private_key())?,
        })
    }

    /// Signs claims into a compact JWS whose header carries `typ`, `alg` and `kid`.
    pub(crate) fn sign(
        &self,
        claims: Map<String, Value>,
        kid: &str,
        typ: &str,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(kid);
        jwt::encode_with_signer(&payload, &header, &self.signer)
    }
}

fn header() -> JwsHeader {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header
}

/// Encodes claims as an unsecured JWT (`alg: none`, empty signature).
pub(crate) fn encode_unsigned(claims: Map<String, Value>) -> Result<String, JoseError> {
    let payload = JwtPayload::from_map(claims)?;
    jwt::encode_unsecured(&payload, &header())
}

/// Verifies a compact JWT against a set of keys (selected by `kid`) and returns its claims.
/// Time-based claims are not checked.
pub(crate) fn verify<'a>(
    token: &str,
    keys: impl Iterator<Item = &'a SigningKey> + Clone,
) -> Option<Map<String, Value>> {
    let (payload, _) = jwt::decode_with_verifier_selector(token, |header| {
        let kid = header.key_id();
        Ok(keys
            .clone()
            .find(|k| kid.is_none() || kid == Some(k.kid.as_str()))
            .map(|k| k.verifier()))
    })
    .ok()?;
    Some(payload.claims_set().clone())
}

/// The header of a token signed by [`SigningKey::sign_with_header`] or
/// [`ForgingKey::sign_with_header`]: each field as the caller wants it, so that a test can send
/// a token whose header is wrong in exactly one way.
pub(crate) struct CustomHeader<'a> {
    /// The `typ`; `None` leaves it out.
    pub(crate) typ: Option<&'a str>,
    /// The `kid`; `None`: the signing key's own (a [`ForgingKey`] has none).
    pub(crate) kid: Option<&'a str>,
    /// The `alg` the header names, signed as [`SigningKey::sign_labelled`] does; `None`: the
    /// key's own.
    pub(crate) alg: Option<SigningAlg>,
}

impl CustomHeader<'_> {
    fn header(&self, own_kid: Option<&str>) -> JwsHeader {
        let mut header = JwsHeader::new();
        if let Some(typ) = self.typ {
            header.set_token_type(typ);
        }
        if let Some(kid) = self.kid.or(own_kid) {
            header.set_key_id(kid);
        }
        header
    }
}

impl SigningKey {
    /// Signs claims with this key under a header of the caller's choosing.
    pub(crate) fn sign_with_header(
        &self,
        claims: Map<String, Value>,
        custom: &CustomHeader<'_>,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        let signer: Box<dyn JwsSigner> = match custom.alg {
            None => self.signer.box_clone(),
            Some(alg) => match alg.signer(&self.private) {
                Ok(signer) => signer,
                Err(_) => Box::new(Mislabelled {
                    claims: alg.algorithm(),
                    signer: self.signer.box_clone(),
                }),
            },
        };
        jwt::encode_with_signer(&payload, &custom.header(Some(&self.kid)), signer.as_ref())
    }
}

impl ForgingKey {
    /// Signs claims with this unpublished key under a header of the caller's choosing (its
    /// `alg` is always RS256).
    pub(crate) fn sign_with_header(
        &self,
        claims: Map<String, Value>,
        custom: &CustomHeader<'_>,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        jwt::encode_with_signer(&payload, &custom.header(None), &self.signer)
    }
}
