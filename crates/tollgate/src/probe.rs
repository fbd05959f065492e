//! Reading a few values out of a JSON document without building it: one pass of serde_json's
//! parser that follows the requested JSON pointers and skips everything else
//! (`serde::de::IgnoredAny`), so a 10,000-row answer costs a scan, not a `Value` of every row.
//! The pass stops as soon as every pointer has been found (a `rows_returned` at the head of an
//! answer costs nothing of the rows after it); what follows is then not read, so a document
//! broken after its last wanted value still gives them, and a key repeated later is not seen
//! (the first occurrence counts).
//!
//! ```
//! let body = br#"{"rows_returned": 5, "connections": [{"a": 1}, {"b": 2}], "meta": {"creditsUsed": 3}}"#;
//! let found = tollgate::probe::values(body, &["/rows_returned", "/meta/creditsUsed", "/nope"]);
//! assert_eq!(found, [Some(serde_json::json!(5)), Some(serde_json::json!(3)), None]);
//! assert_eq!(tollgate::probe::array_len(body, "/connections"), Some(2));
//! ```

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What to take at the end of a pointer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// The value itself.
    Value,
    /// The length of the array there.
    Len,
}

/// How many pointers one pass follows: a set of them is a bit mask.
const MAX_POINTERS: usize = 64;

/// A set of pointers, by index.
type Mask = u64;

/// The indices in `mask`, lowest first.
fn indices(mut mask: Mask) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let i = mask.trailing_zeros();
        (mask != 0).then(|| {
            mask &= mask - 1;
            i as usize
        })
    })
}

/// A pointer's next segment and the pointer after it: `/a/b` is `a` and `/b`.
fn split(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix('/')?;
    Some(rest.split_at(rest.find('/').unwrap_or(rest.len())))
}

/// One pass: the pointers followed, how far each has come (a byte offset into it, escapes
/// and all: `/b/c` is left of `/a/b/c` below `a`), what was found, and how many are still
/// wanted. A pointer goes down one path of the document only, so one offset each is enough.
struct Pass<'p> {
    pointers: &'p [&'p str],
    offsets: [usize; MAX_POINTERS],
    take: Take,
    out: Vec<Option<Value>>,
    /// How many pointers have not been found yet; at zero the pass stops.
    left: usize,
}

impl<'p> Pass<'p> {
    /// What is left of pointer `i`.
    fn rest(&self, i: usize) -> &'p str {
        let pointer = self.pointers.get(i).copied().unwrap_or("");
        pointer.get(self.offsets[i]..).unwrap_or("")
    }
}

/// Pointers still being followed at one level of the document.
struct Level<'a, 'p> {
    pass: &'a mut Pass<'p>,
    targets: Mask,
}

/// Whether an object's `key` is the pointer segment `segment` (RFC 6901: `~1` is `/`, `~0`
/// is `~`); the unescaped segment is built only for a segment that has escapes.
fn names(segment: &str, key: &str) -> bool {
    if !segment.contains('~') {
        return segment == key;
    }
    let unescaped = segment.replace("~1", "/").replace("~0", "~");
    unescaped == key
}

/// An object's key, read as the pointers of `targets` whose next segment names it (none
/// when no pointer names it).
struct Key<'a, 'p> {
    pass: &'a Pass<'p>,
    targets: Mask,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = Mask;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Mask, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_, '_> {
    type Value = Mask;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Mask, E> {
        Ok(indices(self.targets)
            .filter(|&i| split(self.pass.rest(i)).is_some_and(|(segment, _)| names(segment, key)))
            .fold(0, |mask, i| mask | (1 << i)))
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Level { pass, mut targets } = self;
        // Each key is compared where it lies in the document (no copy). A pointer follows the
        // first key that names it: a key repeated later is not seen.
        while targets != 0 {
            let key = Key {
                pass: &*pass,
                targets,
            };
            let Some(matching) = map.next_key_seed(key)? else {
                return Ok(());
            };
            if matching == 0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            targets &= !matching;
            let (mut leaves, mut deeper): (Mask, Mask) = (0, 0);
            for i in indices(matching) {
                let segment = split(pass.rest(i)).map_or(0, |(segment, _)| segment.len());
                pass.offsets[i] = pass.offsets[i].saturating_add(1 + segment);
                if pass.rest(i).is_empty() {
                    leaves |= 1 << i;
                } else {
                    deeper |= 1 << i;
                }
            }
            if leaves == 0 {
                map.next_value_seed(Level {
                    pass: &mut *pass,
                    targets: deeper,
                })?;
            } else if pass.take == Take::Len && deeper == 0 {
                let len = map.next_value_seed(Length)?;
                for i in indices(leaves) {
                    pass.out[i] = len.map(Value::from);
                }
                pass.left = pass.left.saturating_sub(leaves.count_ones() as usize);
            } else {
                // A leaf (and perhaps pointers below it): this one value is built.
                let value: Value = map.next_value()?;
                for i in indices(leaves) {
                    pass.out[i] = Some(value.clone());
                }
                for i in indices(deeper) {
                    pass.out[i] = value.pointer(pass.rest(i)).cloned();
                }
                let found = (leaves | deeper).count_ones() as usize;
                pass.left = pass.left.saturating_sub(found);
            }
            if pass.left == 0 {
                // Stops the pass; `run` knows it by nothing being left (an empty message
                // costs no text).
                return Err(serde::de::Error::custom(""));
            }
        }
        // Nothing more is wanted here: the rest of the object is skipped.
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Array indices in pointers are not needed by any cost rule: skip.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Counts an array's items without building them; `None` for anything else.
struct Length;

impl<'de> DeserializeSeed<'de> for Length {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Length {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
        let mut n = 0_usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n = n.saturating_add(1);
        }
        Ok(Some(n))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<usize>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }
}

fn run(body: &[u8], pointers: &[&str], take: Take) -> Vec<Option<Value>> {
    // Nothing wanted: no pass at all (an answer whose cost is not in its body).
    if pointers.is_empty() {
        return Vec::new();
    }
    // More pointers than one mask holds (no cost rule comes near): a pass per 64.
    if pointers.len() > MAX_POINTERS {
        return pointers
            .chunks(MAX_POINTERS)
            .flat_map(|chunk| run(body, chunk, take))
            .collect();
    }
    let mut pass = Pass {
        pointers,
        offsets: [0; MAX_POINTERS],
        take,
        out: vec![None; pointers.len()],
        left: pointers.len(),
    };
    let targets = Mask::MAX >> (MAX_POINTERS - pointers.len());
    let level = Level {
        pass: &mut pass,
        targets,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match level.deserialize(&mut deserializer) {
        Ok(()) => pass.out,
        // The pass stopped itself: every pointer was found (no other error leaves none left).
        Err(_) if pass.left == 0 => pass.out,
        // Not JSON (or broken before every pointer was found): nothing found.
        Err(_) => vec![None; pointers.len()],
    }
}

/// The values at `pointers` (JSON pointers to object members), in one pass over `body`;
/// `None` where there is nothing, or when `body` is not JSON.
pub fn values(body: &[u8], pointers: &[&str]) -> Vec<Option<Value>> {
    run(body, pointers, Take::Value)
}

/// The length of the array at `pointer`, counted without building its items.
pub fn array_len(body: &[u8], pointer: &str) -> Option<usize> {
    run(body, &[pointer], Take::Len)
        .pop()
        .flatten()
        .and_then(|v| v.as_u64())
        .and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_what_a_full_parse_finds() {
        let doc = json!({"a": {"b": [1, 2, {"c": 3}], "d": "x\"y"}, "e\u{e9}": null, "meta": {"creditsUsed": 7, "creditsRefunded": 2}});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let pointers = [
            "/a/d",
            "/meta/creditsUsed",
            "/meta/creditsRefunded",
            "/a/b",
            "/a/zz",
            "/e\u{e9}",
        ];
        let found = values(&bytes, &pointers);
        for (p, f) in pointers.iter().zip(found) {
            let expected = doc
                .pointer(p)
                .cloned()
                .filter(|v| !(v.is_null() && *p == "/a/zz"));
            assert_eq!(f, expected, "{p}");
        }
        assert_eq!(array_len(&bytes, "/a/b"), Some(3));
        assert_eq!(array_len(&bytes, "/a/d"), None);
        assert_eq!(values(b"not json", &["/a"]), [None]);
        assert_eq!(values(b"{}", &[]), Vec::<Option<Value>>::new());
        assert_eq!(values(b"[1,2]", &["/a"]), [None]);
    }

    #[test]
    fn escaped_segments_name_keys_with_slashes_and_tildes() {
        let doc = json!({"a/b": 1, "m~n": {"x/y": 2, "z": 3}, "w": {"q~1": 4}});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let pointers = ["/a~1b", "/m~0n/x~1y", "/m~0n", "/w/q~01", "/a/b"];
        let found = values(&bytes, &pointers);
        let expected: Vec<_> = pointers.iter().map(|p| doc.pointer(p).cloned()).collect();
        assert_eq!(found, expected);
        assert_eq!(found[1], Some(json!(2)));
        assert_eq!(found[4], None);
    }

    #[test]
    fn more_pointers_than_one_pass_follows_are_all_found() {
        let doc: serde_json::Map<String, Value> = (0..100)
            .map(|i| (format!("k{i}"), json!({"v": i})))
            .collect();
        let bytes = serde_json::to_vec(&doc).unwrap();
        let pointers: Vec<String> = (0..130).map(|i| format!("/k{}/v", i % 110)).collect();
        let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
        let found = values(&bytes, &pointers);
        assert_eq!(found.len(), 130);
        for (i, f) in found.iter().enumerate() {
            let expected = (i % 110 < 100).then(|| json!(i % 110));
            assert_eq!(*f, expected, "{}", pointers[i]);
        }
        // The same pointer twice, and a leaf with a pointer below it, in one pass.
        let found = values(&bytes, &["/k3/v", "/k3", "/k3/v"]);
        assert_eq!(
            found,
            [Some(json!(3)), Some(json!({"v": 3})), Some(json!(3))]
        );
    }

    #[test]
    fn the_pass_stops_once_every_pointer_is_found() {
        // Everything after the wanted values is not read: broken JSON there is not seen...
        let head = br#"{"rows_returned": 3, "meta": {"creditsUsed": 2}, "entities": [1, 2, !!!"#;
        let found = values(head, &["/rows_returned", "/meta/creditsUsed"]);
        assert_eq!(found, [Some(json!(3)), Some(json!(2))]);
        // ...but broken JSON before them still finds nothing, and a pointer never found reads
        // the whole document.
        let broken = br#"{"entities": [1, 2, !!!], "rows_returned": 3}"#;
        assert_eq!(values(broken, &["/rows_returned"]), [None]);
        let whole = br#"{"rows_returned": 3, "entities": [1, 2, !!!"#;
        assert_eq!(values(whole, &["/rows_returned", "/missing"]), [None, None]);
        // The first occurrence of a repeated key counts.
        assert_eq!(values(br#"{"a": 1, "a": 2}"#, &["/a"]), [Some(json!(1))]);
        assert_eq!(
            array_len(br#"{"ids": [1, 2, 3], "x": !!!"#, "/ids"),
            Some(3)
        );
    }
}
