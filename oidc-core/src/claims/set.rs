//! [`ClaimsSet`]: a JSON object of claims kept as the text it was received as.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{ClaimsError, Standard, STANDARD};

/// A set of claims (a JWT's payload, a userinfo response): one JSON object, kept as its text.
///
/// A session keeps its claims this way rather than as a parsed map: the text is what the
/// provider sent (validated as one JSON object when the set is built), a fraction of a map's
/// memory, and serialized back verbatim. A claim is parsed when it is read:
/// [`get`](Self::get), [`get_str`](Self::get_str), or the whole set into the app's type with
/// [`deserialize`](Self::deserialize). The text is checked as strictly as a full parse would
/// check it when the set is built, and a name given twice is refused (RFC 7519 section 4 allows
/// that or keeping the last): every reader, this crate's or a JSON parser reading the stored
/// record, sees the same claims.
///
/// Two sets are equal when their texts are. `Debug` shows the text's length, never a claim.
///
/// The standard claims (OpenID Connect Core 5.1) are located once, on the first read of one:
/// a handler may read them on every request, from a set shared by every request of a session.
#[derive(Clone)]
pub struct ClaimsSet {
    // The text alone, not a `Box<RawValue>`: the strict check is the one pass that validates
    // it, where building a `RawValue` would scan it once more.
    text: Box<str>,
    /// Where each standard claim's value lies in `text`, built on the first read of one. A set
    /// never read that way pays only for the empty cell. `Clone` copies a built index: it
    /// describes the text, which the clone has byte for byte, and copying it costs less than
    /// the pass that would build it again. `None` inside: the text is too long for `Span`'s
    /// offsets (over 4 GiB), so reads scan instead.
    standard: OnceLock<Option<Box<StandardIndex>>>,
}

/// The byte range of each [`Standard`] claim's raw value in a set's text, in [`STANDARD`]'s
/// order.
type StandardIndex = [Span; STANDARD.len()];

/// A byte range `start..end` of a set's text; `end == 0` for a claim the set lacks (no value
/// ends at 0: the text starts with the object's `{`). Two `u32`s rather than an `Option` of a
/// range keep the index at 8 bytes a claim.
#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl ClaimsSet {
    /// A set from JSON text, which must be one JSON object.
    pub fn from_json(json: String) -> Result<Self, serde_json::Error> {
        Self::object(trim_json(json).into_boxed_str())
    }

    /// A set from `json` that [`check_picking`] accepted: checked, so not read again.
    pub(crate) fn from_checked(json: String) -> Self {
        debug_assert!(json.starts_with('{') && check_strictly(&json).is_ok());
        ClaimsSet::new(json.into_boxed_str())
    }

    /// A set from a map of claims (serialized once).
    pub fn from_map(map: &Map<String, Value>) -> Self {
        match serde_json::value::to_raw_value(map) {
            Ok(raw) => ClaimsSet::new(raw.into()),
            // A map of `Value`s always serializes: its keys are strings and a `Value` holds
            // no number JSON cannot write.
            Err(e) => unreachable!("a JSON map did not serialize: {e}"),
        }
    }

    fn new(text: Box<str>) -> Self {
        ClaimsSet {
            text,
            standard: OnceLock::new(),
        }
    }

    fn object<E: de::Error>(raw: Box<str>) -> Result<Self, E> {
        if raw.starts_with('{') {
            check_strictly(&raw).map_err(E::custom)?;
            Ok(ClaimsSet::new(raw))
        } else {
            Err(E::invalid_type(
                de::Unexpected::Other("a JSON value other than an object"),
                &"a JSON object of claims",
            ))
        }
    }

    /// The set's JSON text, as received.
    pub fn as_json(&self) -> &str {
        &self.text
    }

    /// The claim `name`, parsed from the text (an owned value: nothing is kept parsed).
    pub fn get(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.raw(name)?.get()).ok()
    }

    /// The claim `name` when it is a string: borrowed from the text unless it has escapes.
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        lenient_str(self.raw(name)?.get())
    }

    /// The claim `name` when it is a non-negative integer (a NumericDate, a count).
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        serde_json::from_str(self.raw(name)?.get()).ok()
    }

    /// Whether the set has a claim `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// The whole set read into `T`, straight from the text (a type that borrows, such as
    /// `&str` fields, borrows from it). The error names the claim that does not fit, never a
    /// value.
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ClaimsError> {
        serde_json::from_str(&self.text).map_err(|e| ClaimsError::new(&e))
    }

    /// The set as a parsed map, for code that needs one (it costs what the set saves: read
    /// single claims with [`get`](Self::get) instead).
    pub fn to_map(&self) -> Map<String, Value> {
        // Checked strictly when built: whatever parses into a `Value` parses here. An empty
        // map for the impossible failure keeps this total without a panic path.
        serde_json::from_str(&self.text).unwrap_or_default()
    }

    /// The raw value of `name`.
    pub(crate) fn raw(&self, name: &str) -> Option<&RawValue> {
        let mut found = None;
        self.for_each(|key, value| {
            if key == name {
                found = Some(value);
            }
        });
        found
    }

    /// The raw text of the standard claim `claim`'s value, found with the set's index (built
    /// on the first call).
    pub(super) fn standard(&self, claim: Standard) -> Option<&str> {
        self.standard_at(claim as usize)
    }

    /// [`standard`](Self::standard) by the claim's index in [`STANDARD`].
    fn standard_at(&self, i: usize) -> Option<&str> {
        let text: &str = &self.text;
        match self.standard.get_or_init(|| self.index_standard()) {
            Some(index) => {
                let span = *index.get(i)?;
                if span.end == 0 {
                    return None;
                }
                // The spans were taken from this very text, on its values' boundaries: the
                // slice is always there. `get` keeps a broken invariant an absent claim, not a
                // panic.
                text.get(span.start as usize..span.end as usize)
            }
            None => self.raw(STANDARD.get(i)?).map(RawValue::get),
        }
    }

    /// One pass over the text recording where each standard claim's value lies; `None` when
    /// the text is too long for a `Span`.
    fn index_standard(&self) -> Option<Box<StandardIndex>> {
        let text: &str = &self.text;
        u32::try_from(text.len()).ok()?;
        let mut index = Box::new([Span::default(); STANDARD.len()]);
        let base = text.as_ptr() as usize;
        self.for_each(|name, value| {
            let Some(i) = STANDARD.iter().position(|s| *s == name) else {
                return;
            };
            // The deserializer reading `text` hands out each value as a slice of it: its
            // offset is where that slice starts. Each conversion is checked all the same, and
            // so is the slice itself, so a span is only ever one that reads back `value`.
            let value = value.get();
            let start = (value.as_ptr() as usize).wrapping_sub(base);
            let end = start.wrapping_add(value.len());
            if text.get(start..end) == Some(value) {
                if let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) {
                    index[i] = Span { start, end };
                }
            }
        });
        Some(index)
    }

    /// Calls `f` with each entry of the object, in the text's order.
    pub(crate) fn for_each<'a>(&'a self, f: impl FnMut(Cow<'a, str>, &'a RawValue)) {
        let mut de = serde_json::Deserializer::from_str(&self.text);
        // The text was checked strictly when the set was built (`check_strictly`: every name
        // and value as a full parse would, no name twice), so this reads every entry.
        let _ = de.deserialize_map(EntryVisitor(f));
    }
}

/// `json` without the whitespace JSON allows around a value (the set keeps the value alone, as
/// a `RawValue` does); copied only when there is some.
pub(crate) fn trim_json(json: String) -> String {
    let trimmed = json.trim_matches([' ', '\t', '\n', '\r']);
    if trimmed.len() == json.len() {
        json
    } else {
        trimmed.to_owned()
    }
}

/// Checks the object `text` as parsing it into a `serde_json::Value` would (every string and
/// name decoded, so a lone surrogate escape is refused; every number in range; nesting within
/// serde_json's limit) without building anything, and refuses a name given twice.
///
/// A set is kept as text and read claim by claim, so this check is what makes every reader see
/// the same claims: without it a value the cheap structural check lets through (`1e400`,
/// `"\ud800"`) could stop a later scan early, hide the entries after it from one reader and not
/// from another (a lenient JSON parser downstream, a full parse into a map), or let two
/// different `sub`s stand in one set. RFC 7519 section 4 allows refusing repeated names.
fn check_strictly(text: &str) -> Result<(), serde_json::Error> {
    check_picking(text, NoPick).map(|NoPick| ())
}

/// Reads the claims a type keeps out of a set's entries, while [`check_picking`] checks the set.
pub(crate) trait PickClaims<'de> {
    /// Reads the value of the entry `name` from `map` when it is a claim this type keeps, and
    /// says whether it did. A value read here must be read as strictly as [`check_strictly`]
    /// reads the others (every string decoded, every number in range), on `map`'s own parser:
    /// a value skipped as raw text and checked by a parser of its own would escape the nesting
    /// limit of the object around it.
    fn pick<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error>;
}

/// Keeps nothing: [`check_strictly`].
struct NoPick;

impl<'de> PickClaims<'de> for NoPick {
    fn pick<A: MapAccess<'de>>(&mut self, _: &str, _: &mut A) -> Result<bool, A::Error> {
        Ok(false)
    }
}

/// [`check_strictly`] and, in the same pass over `text`, `picker` reading the claims it keeps:
/// one pass where a check and a separate read would take two. `text` must start with `{` (the
/// callers check that first; `serde` would read a sequence too).
pub(crate) fn check_picking<'de, P: PickClaims<'de>>(
    text: &'de str,
    picker: P,
) -> Result<P, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let picker = de.deserialize_map(TopLevel(picker))?;
    de.end()?;
    Ok(picker)
}

/// The object's entries: each value picked or checked, the names compared once all are read.
struct TopLevel<P>(P);

impl<'de, P: PickClaims<'de>> Visitor<'de> for TopLevel<P> {
    type Value = P;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<P, A::Error> {
        let mut names: Vec<Cow<'de, str>> = Vec::with_capacity(NAMES_CAPACITY);
        while let Some(name) = map.next_key_seed(Name)? {
            if !self.0.pick(&name, &mut map)? {
                map.next_value::<Checked>()?;
            }
            names.push(name);
        }
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("a claim's name is given twice"));
        }
        Ok(self.0)
    }
}

/// Room for the names of a typical ID token (about twenty): growing the list from empty
/// reallocates it several times per set.
const NAMES_CAPACITY: usize = 32;

/// Any JSON value, read in full and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key_seed(Name)?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

struct EntryVisitor<F>(F);

impl<'de, F: FnMut(Cow<'de, str>, &'de RawValue)> Visitor<'de> for EntryVisitor<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Name)? {
            let value = map.next_value::<&'de RawValue>()?;
            (self.0)(key, value);
        }
        Ok(())
    }
}

/// Reads a JSON string borrowed from the text where it has no escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A raw value's text (as a [`RawValue`] holds it: no surrounding whitespace) when it is a
/// string, else `None`: borrowed from between the quotes when it has no escape, else decoded.
pub(crate) fn lenient_str(raw: &str) -> Option<Cow<'_, str>> {
    // Only a string's text starts with a quote: anything else is not read at all. Without a
    // backslash the text between the quotes is the string itself: serde_json refused any
    // control character in it when it read the value.
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Reads `T` from the entries of `first`, then from those of `second` whose names `first` does
/// not have, in one pass over each text, with nothing parsed into a map: the values `T` does
/// not keep are skipped, the ones it keeps are read in place. A name repeated within one set
/// reaches `T` twice, as when `T` is read from that set's text alone.
pub(crate) fn deserialize_merged<T: de::DeserializeOwned>(
    first: &ClaimsSet,
    second: Option<&ClaimsSet>,
) -> Result<T, serde_json::Error> {
    let Some(second) = second else {
        return serde_json::from_str(first.as_json());
    };
    let mut de = serde_json::Deserializer::from_str(first.as_json());
    de.deserialize_map(First {
        second,
        out: std::marker::PhantomData,
    })
}

/// Visits the first set's object, then opens the second's.
struct First<'a, T> {
    second: &'a ClaimsSet,
    out: std::marker::PhantomData<T>,
}

impl<'a, T: de::DeserializeOwned> Visitor<'a> for First<'a, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'a>>(self, first: A) -> Result<T, A::Error> {
        let mut de = serde_json::Deserializer::from_str(self.second.as_json());
        de.deserialize_map(Second {
            first,
            out: std::marker::PhantomData,
        })
        .map_err(de::Error::custom)
    }
}

/// Visits the second set's object, with the first's still open: `T` reads both as one.
struct Second<A, T> {
    first: A,
    out: std::marker::PhantomData<T>,
}

impl<'a, A: MapAccess<'a>, T: de::DeserializeOwned> Visitor<'a> for Second<A, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<B: MapAccess<'a>>(self, second: B) -> Result<T, B::Error> {
        T::deserialize(Merged {
            first: Some(self.first),
            second,
            names: Vec::new(),
        })
    }
}

/// Both sets' entries as one map: the first's, then the second's whose names it lacks.
struct Merged<'a, A, B> {
    /// `None` once the first set's entries are done.
    first: Option<A>,
    second: B,
    /// The first set's names, for skipping them in the second.
    names: Vec<Cow<'a, str>>,
}

impl<'a, A: MapAccess<'a>, B: MapAccess<'a>> Deserializer<'a> for Merged<'a, A, B> {
    type Error = B::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, B::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'a, A: MapAccess<'a>, B: MapAccess<'a>> MapAccess<'a> for Merged<'a, A, B> {
    type Error = B::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, B::Error> {
        use serde::de::IntoDeserializer;
        if let Some(first) = &mut self.first {
            match first.next_key_seed(Name).map_err(de::Error::custom)? {
                Some(name) => {
                    let key = seed.deserialize(name.as_ref().into_deserializer())?;
                    self.names.push(name);
                    return Ok(Some(key));
                }
                None => self.first = None,
            }
        }
        while let Some(name) = self.second.next_key_seed(Name)? {
            if self.names.contains(&name) {
                self.second.next_value::<de::IgnoredAny>()?;
                continue;
            }
            return seed
                .deserialize(name.as_ref().into_deserializer())
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, B::Error> {
        match &mut self.first {
            Some(first) => first.next_value_seed(seed).map_err(de::Error::custom),
            None => self.second.next_value_seed(seed),
        }
    }
}

/// A JSON string, borrowed from the text where it has no escapes; any other value is an error.
pub(crate) fn borrowed_str<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    Name.deserialize(d)
}

/// A claim read as a string, or as absent when it is of another type (still read in full on
/// the set's parser, as [`check_strictly`] reads a value: a string that does not decode, or a
/// value nested past the limit, is an error).
#[derive(Default)]
pub(crate) struct LenientStr<'a>(Option<Cow<'a, str>>);

impl LenientStr<'_> {
    pub(crate) fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(LenientStr(match Scalar::deserialize(d)? {
            Scalar::Str(s) => Some(s),
            _ => None,
        }))
    }
}

/// A non-negative integer claim, or absent when it is of another type (still read in full on
/// the set's parser, as [`check_strictly`] reads a value).
pub(crate) struct Lenient<T>(pub(crate) Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de> Deserialize<'de> for Lenient<u64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Lenient(match Scalar::deserialize(d)? {
            Scalar::U64(n) => Some(n),
            _ => None,
        }))
    }
}

/// One value of a set read in full on the set's own parser, as [`check_strictly`] reads it
/// (so the depth of the object around it counts), keeping what a lenient claim may use.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// A non-negative integer.
    U64(u64),
    /// Anything else: another scalar, or an array or object walked by the strict check.
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::U64))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        Checked.visit_seq(seq).map(|Checked| Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        Checked.visit_map(map).map(|Checked| Scalar::Other)
    }
}

impl<'de> Deserialize<'de> for ClaimsSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::object(Box::<RawValue>::deserialize(d)?.into())
    }
}

impl Serialize for ClaimsSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Written verbatim, as a raw value: the text was checked when the set was built, so
        // this borrow of it (one skimming pass) cannot fail in practice.
        let raw: &RawValue = serde_json::from_str(&self.text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl PartialEq for ClaimsSet {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ClaimsSet {}

impl fmt::Debug for ClaimsSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimsSet")
            .field("json_len", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl From<Map<String, Value>> for ClaimsSet {
    fn from(map: Map<String, Value>) -> Self {
        ClaimsSet::from_map(&map)
    }
}

impl TryFrom<Value> for ClaimsSet {
    type Error = serde_json::Error;

    /// A set from a JSON value, which must be an object.
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Self::object(serde_json::value::to_raw_value(&value)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Only an object is a claims set, whether built from text, a value or a stored record.
    #[test]
    fn only_an_object_is_a_set() {
        for bad in ["[1]", "\"x\"", "1", "null", "{", "{} x"] {
            assert!(ClaimsSet::from_json(bad.into()).is_err(), "{bad}");
            assert!(serde_json::from_str::<ClaimsSet>(bad).is_err(), "{bad}");
        }
        assert!(ClaimsSet::try_from(json!([1])).is_err());
        let set = ClaimsSet::from_json(" {\"a\": 1} ".into()).unwrap();
        assert_eq!(set.as_json(), "{\"a\": 1}");
        assert_eq!(serde_json::to_string(&set).unwrap(), "{\"a\": 1}");
    }

    /// Claims are read from the text: strings borrowed where they can be, escapes decoded, and
    /// a value of another type read as absent.
    #[test]
    fn claims_are_read_from_the_text() {
        let text = r#"{"sub":"alice","url":"a\/b","n":7,"dup":2,"o":{"x":[1]}}"#;
        let set = ClaimsSet::from_json(text.into()).unwrap();
        assert!(matches!(set.get_str("sub"), Some(Cow::Borrowed("alice"))));
        assert_eq!(set.get_str("url").as_deref(), Some("a/b"));
        assert_eq!(set.get_str("n"), None);
        assert_eq!(set.get_u64("n"), Some(7));
        assert_eq!(set.get_u64("sub"), None);
        assert_eq!(set.get("dup"), Some(json!(2)));
        assert_eq!(set.get("o"), Some(json!({"x": [1]})));
        assert_eq!(set.get("none"), None);
        assert!(set.contains("o") && !set.contains("x"));
        assert_eq!(set.to_map()["dup"], 2);
        let mut names = Vec::new();
        set.for_each(|name, _| names.push(name));
        assert_eq!(names, ["sub", "url", "n", "dup", "o"]);
        #[derive(Deserialize)]
        struct Borrowing<'a> {
            sub: &'a str,
        }
        assert_eq!(set.deserialize::<Borrowing<'_>>().unwrap().sub, "alice");
    }

    /// What a full parse would refuse is refused when the set is built, so that no later reader
    /// stops early or reads other claims than the rest: a lone surrogate (in a name or a value),
    /// a number out of range, nesting past serde_json's limit, and a name given twice (also as
    /// an escaped twin). A name repeated inside a nested object is the value's business.
    #[test]
    fn sets_are_checked_strictly() {
        let deep = format!(
            r#"{{"sub":"alice","x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for bad in [
            r#"{"sub":"alice","\ud800":0,"sub":"mallory"}"#,
            r#"{"sub":"alice","x":"\ud800","email":"e"}"#,
            r#"{"sub":"alice","x":1e400,"email":"e"}"#,
            deep.as_str(),
            r#"{"sub":"alice","sub":"mallory"}"#,
            r#"{"sub":"alice","\u0073ub":"mallory"}"#,
        ] {
            assert!(ClaimsSet::from_json(bad.into()).is_err(), "{bad}");
            assert!(serde_json::from_str::<ClaimsSet>(bad).is_err(), "{bad}");
            if let Ok(value) = serde_json::from_str::<Value>(bad) {
                assert!(
                    ClaimsSet::try_from(value.clone()).is_ok(),
                    "a map has no twins"
                );
            }
        }
        let nested = ClaimsSet::from_json(r#"{"o":{"a":1,"a":2},"n":-1.5e3}"#.into()).unwrap();
        assert_eq!(nested.get("o"), Some(json!({"a": 2})));
        assert_eq!(nested.to_map().len(), 2);
    }

    /// Every standard claim read through the index is the value a full parse finds, for
    /// texts with escapes (in values and in names), values of every type, nested objects
    /// holding standard names, and no standard claim at all; the index is built once and
    /// reused, copied by a clone, and a set without one (too long to index) reads the same.
    #[test]
    fn the_standard_index_reads_what_a_full_parse_reads() {
        let texts = [
            r#"{"sub":"alice","email":"a\"b@x\u00e9","name":"Al\/ice","given_name":"A"}"#,
            r#"{"\u0065mail":"e@x","email_verified":"true","updated_at":17,"nickname":null}"#,
            r#"{"sub":"s","name":42,"locale":["fr"],"zoneinfo":{"email":"inner"},"website":""}"#,
            r#"{ "phone_number" : "+1" , "phone_number_verified" : false , "profile":"p" }"#,
            r#"{"sub":"s","groups":["a"],"iss":"https://op.example"}"#,
            "{}",
        ];
        for text in texts {
            let set = ClaimsSet::from_json(text.into()).unwrap();
            assert!(set.standard.get().is_none(), "no index before a read");
            let map = set.to_map();
            let unindexed = ClaimsSet {
                text: set.text.clone(),
                standard: OnceLock::from(None),
            };
            for (i, name) in STANDARD.iter().enumerate() {
                let read = |s: &ClaimsSet| {
                    s.standard_at(i)
                        .map(|raw| serde_json::from_str::<Value>(raw).unwrap())
                };
                assert_eq!(read(&set), map.get(*name).cloned(), "{text}: {name}");
                assert_eq!(read(&unindexed), map.get(*name).cloned(), "{text}: {name}");
                assert_eq!(
                    set.standard_at(i).and_then(lenient_str).as_deref(),
                    map.get(*name).and_then(Value::as_str),
                    "{text}: {name}"
                );
            }
            let built: *const StandardIndex = &**set.standard.get().unwrap().as_ref().unwrap();
            let again: Vec<_> = (0..STANDARD.len()).map(|i| set.standard_at(i)).collect();
            let reused: *const StandardIndex = &**set.standard.get().unwrap().as_ref().unwrap();
            assert_eq!(built, reused, "the index is built once");
            let clone = set.clone();
            assert!(clone.standard.get().is_some(), "a clone keeps the index");
            let from_clone: Vec<_> = (0..STANDARD.len()).map(|i| clone.standard_at(i)).collect();
            assert_eq!(from_clone, again);
            assert_eq!(clone, set);
            assert_eq!(format!("{clone:?}"), format!("{set:?}"));
        }
    }

    /// A string's text is borrowed when it has no escape and decoded when it has one; any
    /// other value is no string.
    #[test]
    fn lenient_strings_borrow_or_decode() {
        assert!(matches!(
            lenient_str(r#""plain""#),
            Some(Cow::Borrowed("plain"))
        ));
        assert!(matches!(lenient_str(r#""""#), Some(Cow::Borrowed(""))));
        assert_eq!(
            lenient_str(r#""a\"b\\c\u00e9""#).as_deref(),
            Some("a\"b\\cé")
        );
        assert!(matches!(lenient_str(r#""\/""#), Some(Cow::Owned(s)) if s == "/"));
        for other in ["1", "true", "null", "[\"a\"]", r#"{"a":"b"}"#] {
            assert_eq!(lenient_str(other), None, "{other}");
        }
    }

    /// A set round-trips through a record verbatim, equals what was built from the same text,
    /// and a map turns into a set with the same claims.
    #[test]
    fn sets_round_trip_and_debug_shows_no_claim() {
        let set = ClaimsSet::from_json(r#"{"email":"a@example.com"}"#.into()).unwrap();
        let back: ClaimsSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(back, set);
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            json!({"email": "a@example.com"})
        );
        let from_value: ClaimsSet =
            serde_json::from_value(json!({"email": "a@example.com"})).unwrap();
        assert_eq!(from_value, set);
        let map = json!({"b": [true], "a": null}).as_object().unwrap().clone();
        assert_eq!(ClaimsSet::from(map.clone()).to_map(), map);
        assert!(!format!("{set:?}").contains("a@example.com"));
    }
}
