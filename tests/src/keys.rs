//! RSA signing keys and JWT encoding via josekit.

use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use josekit::jws::{JwsHeader, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use josekit::JoseError;
use serde_json::{Map, Value};

/// One RS256 signing key.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    signer: RsassaJwsSigner,
    verifier: RsassaJwsVerifier,
    public: Jwk,
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key with the given key id.
    pub(crate) fn generate(kid: &str) -> Result<Self, JoseError> {
        let mut pair = RS256.generate_key_pair(2048)?;
        pair.set_key_id(Some(kid));
        let private = pair.to_jwk_private_key();
        let signer = RS256.signer_from_jwk(&private)?;
        let mut public = pair.to_jwk_public_key();
        public.set_key_use("sig");
        public.set_algorithm("RS256");
        public.set_key_id(kid);
        let verifier = RS256.verifier_from_jwk(&public)?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            signer,
            verifier,
            public,
        })
    }

    /// The public JWK (kty, kid, use, alg, n, e) as JSON.
    pub(crate) fn public_jwk(&self) -> Value {
        let map: &Map<String, Value> = self.public.as_ref();
        Value::Object(map.clone())
    }

    /// Signs claims into a compact JWS (the header carries `typ`, `alg` and `kid`).
    pub(crate) fn sign(&self, claims: Map<String, Value>) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        jwt::encode_with_signer(&payload, &header(), &self.signer)
    }

    /// Signs claims into a compact JWS whose header carries this `typ` (and `alg`, `kid`).
    pub(crate) fn sign_typed(
        &self,
        claims: Map<String, Value>,
        typ: &str,
    ) -> Result<String, JoseError> {
        let payload = JwtPayload::from_map(claims)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        jwt::encode_with_signer(&payload, &header, &self.signer)
    }

    /// The verifier for this key.
    pub(crate) fn verifier(&self) -> &dyn JwsVerifier {
        &self.verifier
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
