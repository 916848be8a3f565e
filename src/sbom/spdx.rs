//! SPDX 2.3 JSON for one target's [`Inventory`].

use serde_json::{json, Value};

use super::Inventory;

/// `name` is the document name (image and platform); `created` is SOURCE_DATE_EPOCH as RFC 3339.
pub fn spdx(inv: &Inventory, name: &str, created: &str) -> Value {
    let ids: Vec<String> = inv.components.iter().enumerate().map(|(i, c)| spdx_id(i, &c.name, &c.version)).collect();
    let packages: Vec<Value> = inv
        .components
        .iter()
        .zip(&ids)
        .map(|(c, id)| {
            let mut p = json!({
                "SPDXID": id,
                "name": c.name,
                "versionInfo": c.version,
                "downloadLocation": download_location(c),
                "filesAnalyzed": false,
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": c.license.clone().unwrap_or_else(|| "NOASSERTION".into()),
                "copyrightText": "NOASSERTION",
                "supplier": "NOASSERTION",
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": c.purl,
                }],
            });
            if let Some(sum) = &c.checksum {
                p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sum }]);
            }
            p
        })
        .collect();
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": ids[inv.root]}),
    ];
    for (i, c) in inv.components.iter().enumerate() {
        for &d in &c.depends_on {
            relationships
                .push(json!({"spdxElementId": ids[i], "relationshipType": "DEPENDS_ON", "relatedSpdxElement": ids[d]}));
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://spdx.cargo-oci.invalid/{}/{}", sanitize(name), super::content_id(inv, name)),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: cargo-oci-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": [ids[inv.root]],
        "packages": packages,
        "relationships": relationships,
    })
}

/// SPDX ids allow letters, digits, `.` and `-`; the index keeps them unique.
fn spdx_id(i: usize, name: &str, version: &str) -> String {
    format!("SPDXRef-Package-{i}-{}", sanitize(&format!("{name}-{version}")))
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

fn download_location(c: &super::Component) -> String {
    match c.source.as_deref() {
        Some(s)
            if s.starts_with("registry+https://github.com/rust-lang/crates.io-index")
                || s == "sparse+https://index.crates.io/" =>
        {
            format!("https://crates.io/api/v1/crates/{}/{}/download", c.name, c.version)
        }
        Some(s) if s.starts_with("git+") => s.to_string(),
        _ => "NOASSERTION".into(),
    }
}
