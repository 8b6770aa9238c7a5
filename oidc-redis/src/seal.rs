//! Session records encrypted at rest: JWE compact serialization, `dir` + `A256GCM` (josekit),
//! one key per session secret, named by a `kid` so that records written under a previous
//! secret are still read after a rotation.

use hmac::{Hmac, Mac};
use josekit::jwe::alg::direct::{DirectJweDecrypter, DirectJweEncrypter};
use josekit::jwe::{Dir, JweDecrypter, JweHeader};
use oidc_runtime::StoreError;
use sha2::{Digest, Sha256};

/// The label the record key is derived under. The session secret also keys the session
/// cookie's HMAC and the login cookies' encryption (under labels of their own): HMAC-SHA256 is a
/// PRF, so keys derived under distinct labels are independent, the same bytes never serve two
/// purposes, and the record key (which sits in every instance's memory next to Redis traffic)
/// tells nothing about the cookie key.
const KEY_LABEL: &[u8] = b"oidc-rs redis session record encryption key v1";

/// The label of a key's public name, derived apart from the key so that the name reveals
/// nothing of it (guessing a weak secret from the name is no easier than from a ciphertext).
const KID_LABEL: &[u8] = b"oidc-rs redis session record key id v1";

/// The only content encryption written or read: a record's header cannot pick another.
const ENC: &str = "A256GCM";

/// The protected header member binding a record to its session id, so that a record copied
/// under another id (by whoever can write to Redis but lacks the key) does not decrypt there.
const ID_MEMBER: &str = "oidc_sid_hash";

/// As for the session cookie: the secret must carry 256 bits.
pub(crate) const MIN_SECRET_LEN: usize = 32;

struct Key {
    kid: String,
    decrypter: DirectJweDecrypter,
}

/// Encrypts records under the current secret's key; decrypts under it or a previous one.
pub(crate) struct Sealer {
    kid: String,
    encrypter: DirectJweEncrypter,
    keys: Vec<Key>,
}

/// Why a stored value is no session. Each reason is logged (never the value).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// Not a JWE: a record written before encryption was turned on, or planted.
    NotEncrypted,
    /// A key this instance does not hold (a secret rotated out, another app's).
    UnknownKey,
    /// Tampered, truncated, under another `enc`, or moved to another session id.
    Invalid,
}

fn derive(secret: &[u8], label: &[u8]) -> Result<[u8; 32], StoreError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(StoreError::new(format!(
            "the record encryption secret must be at least {MIN_SECRET_LEN} bytes"
        )));
    }
    let mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|e| StoreError::new(format!("record encryption key: {e}")))?;
    Ok(mac.chain_update(label).finalize().into_bytes().into())
}

fn kid_of(secret: &[u8]) -> Result<String, StoreError> {
    let name = derive(secret, KID_LABEL)?;
    Ok(name[..9].iter().map(|b| format!("{b:02x}")).collect())
}

/// The hash of a session id, as bound into its record's header.
fn id_hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Sealer {
    /// Keys for `current` (writes and reads) and each of `previous` (reads only).
    pub(crate) fn new(current: &[u8], previous: &[&[u8]]) -> Result<Self, StoreError> {
        let key = derive(current, KEY_LABEL)?;
        let encrypter = Dir
            .encrypter_from_bytes(key)
            .map_err(|e| StoreError::new(format!("record encryption key: {e}")))?;
        let mut keys = Vec::with_capacity(1 + previous.len());
        for secret in std::iter::once(current).chain(previous.iter().copied()) {
            let decrypter = Dir
                .decrypter_from_bytes(derive(secret, KEY_LABEL)?)
                .map_err(|e| StoreError::new(format!("record encryption key: {e}")))?;
            keys.push(Key {
                kid: kid_of(secret)?,
                decrypter,
            });
        }
        Ok(Sealer {
            kid: kid_of(current)?,
            encrypter,
            keys,
        })
    }

    /// How many keys records are read with (the current one first).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// `plaintext` (the record's JSON) as a compact JWE bound to the session `id`.
    pub(crate) fn seal(&self, id: &str, plaintext: &[u8]) -> Result<String, StoreError> {
        let mut header = JweHeader::new();
        header.set_content_encryption(ENC);
        header.set_key_id(self.kid.clone());
        header
            .set_claim(ID_MEMBER, Some(id_hash(id).into()))
            .map_err(|e| StoreError::new(format!("cannot encrypt the session record: {e}")))?;
        josekit::jwe::serialize_compact(plaintext, &header, &self.encrypter)
            .map_err(|e| StoreError::new(format!("cannot encrypt the session record: {e}")))
    }

    /// The plaintext of a value [`seal`](Self::seal) wrote for `id`, with any key held.
    pub(crate) fn open(&self, id: &str, stored: &str) -> Result<Vec<u8>, Unsealed> {
        // A JWE compact serialization is five base64url parts; JSON starts with `{`.
        if stored.split('.').count() != 5 {
            return Err(Unsealed::NotEncrypted);
        }
        let unknown_key = std::cell::Cell::new(false);
        let selected = josekit::jwe::deserialize_compact_with_selector(stored, |header| {
            if header.content_encryption() != Some(ENC) {
                return Ok(None);
            }
            let key = header
                .key_id()
                .and_then(|kid| self.keys.iter().find(|k| k.kid == kid));
            match key {
                Some(key) => Ok(Some(&key.decrypter as &dyn JweDecrypter)),
                None => {
                    unknown_key.set(true);
                    Ok(None)
                }
            }
        });
        let (plaintext, header) = match selected {
            Ok(opened) => opened,
            Err(_) if unknown_key.get() => return Err(Unsealed::UnknownKey),
            Err(_) => return Err(Unsealed::Invalid),
        };
        // The header is authenticated with the ciphertext, so this member is the writer's.
        if header.claims_set().get(ID_MEMBER).and_then(|v| v.as_str()) != Some(id_hash(id).as_str())
        {
            return Err(Unsealed::Invalid);
        }
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &[u8] = b"an old secret of at least thirty-two bytes";
    const NEW: &[u8] = b"a new secret, also thirty-two bytes or more";

    #[test]
    fn round_trip_hides_the_plaintext() {
        let sealer = Sealer::new(NEW, &[]).unwrap();
        let sealed = sealer
            .seal("id1", br#"{"refresh_token":"rt-123"}"#)
            .unwrap();
        assert!(!sealed.contains("rt-123"));
        assert_eq!(
            sealer.open("id1", &sealed).unwrap(),
            br#"{"refresh_token":"rt-123"}"#
        );
    }

    /// Written under the old secret, read with new + old; new writes use the new key, which
    /// an instance holding only the old secret cannot read.
    #[test]
    fn rotation_reads_old_records_and_writes_new_ones() {
        let old = Sealer::new(OLD, &[]).unwrap();
        let rotated = Sealer::new(NEW, &[OLD]).unwrap();
        assert_eq!(rotated.key_count(), 2);
        let written_before = old.seal("id", b"{}").unwrap();
        assert_eq!(rotated.open("id", &written_before).unwrap(), b"{}");
        let written_after = rotated.seal("id", b"{}").unwrap();
        assert_eq!(old.open("id", &written_after), Err(Unsealed::UnknownKey));
        assert_eq!(
            Sealer::new(NEW, &[])
                .unwrap()
                .open("id", &written_after)
                .unwrap(),
            b"{}"
        );
        // Rotated out: records under the old key are no longer read.
        assert_eq!(
            Sealer::new(NEW, &[]).unwrap().open("id", &written_before),
            Err(Unsealed::UnknownKey)
        );
    }

    #[test]
    fn tampered_moved_or_plaintext_records_are_refused() {
        let sealer = Sealer::new(NEW, &[]).unwrap();
        let sealed = sealer.seal("id", b"{\"a\":1}").unwrap();
        let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
        // Flip one character of the ciphertext (base64url: stays decodable).
        let ciphertext = &mut parts[3];
        let flipped = if ciphertext.starts_with('A') {
            "B"
        } else {
            "A"
        };
        ciphertext.replace_range(0..1, flipped);
        assert_eq!(sealer.open("id", &parts.join(".")), Err(Unsealed::Invalid));
        assert_eq!(sealer.open("other-id", &sealed), Err(Unsealed::Invalid));
        assert_eq!(
            sealer.open("id", r#"{"version":1,"expires_at":9}"#),
            Err(Unsealed::NotEncrypted)
        );
        assert_eq!(sealer.open("id", "a.b.c.d.e"), Err(Unsealed::Invalid));
    }

    /// A header naming another `enc` is not decrypted, even under a held key.
    #[test]
    fn only_a256gcm_is_read() {
        let sealer = Sealer::new(NEW, &[]).unwrap();
        let key = derive(NEW, KEY_LABEL).unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption("A128CBC-HS256");
        header.set_key_id(kid_of(NEW).unwrap());
        header
            .set_claim(ID_MEMBER, Some(id_hash("id").into()))
            .unwrap();
        let other = josekit::jwe::serialize_compact(
            b"{}",
            &header,
            &Dir.encrypter_from_bytes(key).unwrap(),
        )
        .unwrap();
        assert_eq!(sealer.open("id", &other), Err(Unsealed::Invalid));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Sealer::new(b"too short", &[]).is_err());
        assert!(Sealer::new(NEW, &[b"too short"]).is_err());
    }
}
