//! Mutations: byte edits (as libFuzzer's mutators do: flip, overwrite with an interesting token,
//! insert, remove, duplicate, truncate) and JSON edits (a node replaced by an awkward value).
//! Positions are taken modulo the input's length, so any op applies to any input and shrinks.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

/// Tokens that reach parser corners: delimiters, signs, limits, escapes.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1e999",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"/",
    b"@",
    b"=",
    b"..",
    b".",
    b" ",
    b"\n",
    b"\0",
    b"\xff",
    b"sha256:",
    b"null",
    b"\xe2\x82\xac",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

#[derive(Clone, Debug)]
pub enum Op {
    Flip(usize, u8),
    Token(usize, usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Op::Flip(p, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Op::Token(p, t)),
        (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Op::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Op::Remove(p, n)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Op::Duplicate(p, n)),
        any::<usize>().prop_map(Op::Truncate),
    ]
}

/// Up to 8 byte edits.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 0..8)
}

pub fn apply(input: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = input.to_vec();
    for op in ops {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match op {
            Op::Flip(p, bit) if !b.is_empty() => {
                let i = at(*p, b.len());
                b[i] ^= 1 << bit;
            }
            Op::Token(p, t) => {
                let i = at(*p, b.len() + 1);
                b.splice(i..(i + 1).min(b.len()), TOKENS[*t].iter().copied());
            }
            Op::Insert(p, bytes) => {
                let i = at(*p, b.len() + 1);
                b.splice(i..i, bytes.iter().copied());
            }
            Op::Remove(p, n) if !b.is_empty() => {
                let i = at(*p, b.len());
                b.drain(i..(i + n).min(b.len()));
            }
            Op::Duplicate(p, n) if !b.is_empty() => {
                let i = at(*p, b.len());
                let piece: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
                b.splice(i..i, piece);
            }
            Op::Truncate(p) => {
                let n = at(*p, b.len() + 1);
                b.truncate(n);
            }
            _ => {}
        }
    }
    b
}

/// Awkward JSON values: sizes at and past the limits, wrong types, bad digests, deep nesting.
fn awkward(i: usize) -> Value {
    let deep = (0..64).fold(Value::Null, |v, _| Value::Array(vec![v]));
    let values = [
        serde_json::json!(u64::MAX),
        serde_json::json!(u64::MAX - 1),
        serde_json::json!(-1),
        serde_json::json!(0.5),
        serde_json::json!(""),
        serde_json::json!("sha256:zz"),
        serde_json::json!("sha256:0000000000000000000000000000000000000000000000000000000000000000"),
        serde_json::json!("sha512:00"),
        serde_json::json!("../../../etc/passwd"),
        serde_json::json!("application/vnd.oci.image.index.v1+json"),
        serde_json::json!("application/vnd.oci.image.manifest.v1+json"),
        Value::Null,
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!({"digest": "sha256:00", "size": 1, "mediaType": ""}),
        deep,
    ];
    values[i % values.len()].clone()
}

/// Numbers that break size arithmetic and integer conversions.
fn awkward_number(i: usize) -> Value {
    let values = [
        serde_json::json!(u64::MAX),
        serde_json::json!(u64::MAX - 1),
        serde_json::json!(1u64 << 63),
        serde_json::json!(u32::MAX as u64 + 1),
        serde_json::json!(-1),
        serde_json::json!(0),
        serde_json::json!(1.5),
    ];
    values[i % values.len()].clone()
}

/// A JSON edit: node `node` (pre-order, modulo the count) becomes [`awkward`] value `value`, or
/// is removed from its parent object or array. A `numeric` edit picks among the numbers only
/// (sizes, schema versions), where arithmetic goes wrong.
#[derive(Clone, Debug)]
pub struct JsonOp {
    pub node: usize,
    pub value: usize,
    pub remove: bool,
    pub numeric: bool,
}

pub fn json_ops() -> impl Strategy<Value = Vec<JsonOp>> {
    vec((any::<usize>(), any::<usize>(), prop::bool::weighted(0.15), prop::bool::ANY), 1..5).prop_map(|v| {
        v.into_iter().map(|(node, value, remove, numeric)| JsonOp { node, value, remove, numeric }).collect()
    })
}

pub fn apply_json(v: &mut Value, ops: &[JsonOp]) {
    for op in ops {
        let pick = |n: &Value| !op.numeric || n.is_number();
        let count = count(v, &pick);
        if count == 0 {
            continue;
        }
        let mut left = op.node % count;
        edit(v, &mut left, op, &pick);
    }
}

fn count(v: &Value, pick: &dyn Fn(&Value) -> bool) -> usize {
    usize::from(pick(v))
        + match v {
            Value::Array(a) => a.iter().map(|c| count(c, pick)).sum(),
            Value::Object(o) => o.values().map(|c| count(c, pick)).sum(),
            _ => 0,
        }
}

/// Walks pre-order over the nodes `pick` accepts, decrementing `left`; edits the node where it
/// reaches 0.
fn edit(v: &mut Value, left: &mut usize, op: &JsonOp, pick: &dyn Fn(&Value) -> bool) -> bool {
    if pick(v) {
        if *left == 0 {
            *v = if op.numeric { awkward_number(op.value) } else { awkward(op.value) };
            return true;
        }
        *left -= 1;
    }
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                if *left == 0 && op.remove && !op.numeric {
                    a.remove(i);
                    return true;
                }
                if edit(&mut a[i], left, op, pick) {
                    return true;
                }
            }
        }
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *left == 0 && op.remove && !op.numeric {
                    o.remove(&k);
                    return true;
                }
                if edit(o.get_mut(&k).expect("key listed"), left, op, pick) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

#[test]
fn mutations_apply_to_any_input() {
    let ops = vec![Op::Token(3, 0), Op::Remove(1, 2), Op::Duplicate(0, 100), Op::Truncate(7), Op::Flip(5, 0)];
    assert_eq!(apply(b"", &ops), b"");
    assert_eq!(apply(b"abcdef", &[Op::Token(2, 7)]), b"ab{def");
    let mut v = serde_json::json!({"a": [1, 2], "b": "x"});
    apply_json(&mut v, &[JsonOp { node: 2, value: 2, remove: false, numeric: false }]);
    assert_eq!(v, serde_json::json!({"a": [-1, 2], "b": "x"}));
    apply_json(&mut v, &[JsonOp { node: 1, value: 0, remove: false, numeric: true }]);
    assert_eq!(v, serde_json::json!({"a": [-1, u64::MAX], "b": "x"}));
}
