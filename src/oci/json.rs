//! Canonical JSON: the one serializer every blob and index goes through (sorted keys, compact).
//!
//! oci-spec keeps annotations and labels in `HashMap`s, whose order changes from run to run. Going
//! through `serde_json::Value` and writing objects with sorted keys makes the bytes — and so the
//! digests — depend only on the content. We sort ourselves instead of relying on `serde_json`'s
//! default `BTreeMap`, because any crate in the graph may turn on its `preserve_order` feature.

use serde::Serialize;
use serde_json::Value;

/// Serializes `value` to canonical JSON bytes: object keys sorted by their UTF-8 bytes, no
/// insignificant whitespace.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(512);
    write_value(&value, &mut out)?;
    Ok(out)
}

/// Like [`to_vec`], indented for people (index.json stays compact; `plan`/`inspect` use this).
pub fn to_pretty_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let sorted: Value = serde_json::from_slice(&to_vec(value)?)?;
    // `Value` from canonical bytes keeps their (sorted) order whatever map type is in use.
    serde_json::to_string_pretty(&sorted)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn sorts_keys_at_every_depth() {
        let mut m = HashMap::new();
        for k in ["zeta", "alpha", "Mid", "beta.x"] {
            m.insert(k.to_string(), serde_json::json!({"b": 1, "a": [{"y": null, "x": "é\"\n"}]}));
        }
        let bytes = super::to_vec(&m).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"Mid":{"a":[{"x":"é\"\n","y":null}],"b":1},"alpha":{"a":[{"x":"é\"\n","y":null}],"b":1},"beta.x":{"a":[{"x":"é\"\n","y":null}],"b":1},"zeta":{"a":[{"x":"é\"\n","y":null}],"b":1}}"#
        );
    }

    #[test]
    fn same_content_same_bytes_whatever_the_insertion_order() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        for i in 0..64 {
            a.insert(format!("k{i}"), i);
        }
        for i in (0..64).rev() {
            b.insert(format!("k{i}"), i);
        }
        assert_eq!(super::to_vec(&a).unwrap(), super::to_vec(&b).unwrap());
    }
}
