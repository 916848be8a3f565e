//! CycloneDX 1.5 JSON for one target's [`Inventory`].

use serde_json::{json, Value};

use super::{Component, Inventory};

/// `name` names the subject (image and platform); `created` is SOURCE_DATE_EPOCH as RFC 3339.
pub fn cyclonedx(inv: &Inventory, name: &str, created: &str) -> Value {
    // bom-refs must be unique: the purl plus the index covers same-name-same-version forks.
    let refs: Vec<String> = inv.components.iter().enumerate().map(|(i, c)| format!("{}#{i}", c.purl)).collect();
    let components: Vec<Value> = inv
        .components
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != inv.root)
        .map(|(i, c)| component(c, &refs[i], "library"))
        .collect();
    let dependencies: Vec<Value> = inv
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"ref": refs[i], "dependsOn": c.depends_on.iter().map(|&d| refs[d].clone()).collect::<Vec<_>>()}))
        .collect();
    let id = super::content_id(inv, name);
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}-{}-5{}-8{}-{}", &id[0..8], &id[8..12], &id[13..16], &id[17..20], &id[20..32]),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": "cargo-oci", "version": env!("CARGO_PKG_VERSION")}]},
            "component": component(&inv.components[inv.root], &refs[inv.root], "application"),
            "properties": [{"name": "cargo-oci:subject", "value": name}],
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn component(c: &Component, bom_ref: &str, kind: &str) -> Value {
    let mut v = json!({
        "type": kind,
        "bom-ref": bom_ref,
        "name": c.name,
        "version": c.version,
        "purl": c.purl,
    });
    if let Some(l) = &c.license {
        v["licenses"] = json!([{ "expression": l }]);
    }
    if let Some(sum) = &c.checksum {
        v["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
    }
    v
}
