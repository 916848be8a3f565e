//! The registry auth flow: parse a `WWW-Authenticate` challenge, then answer it with Basic
//! credentials or a bearer token fetched from the realm (anonymous or with credentials, scoped).

use std::time::Duration;

use super::credentials::{Credentials, Secret};
use super::transport::{Call, Registry};
use super::RegistryError;

/// What a 401 asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"` (RFC 7235 auth-params;
/// quoted strings may hold commas and escaped quotes). Other schemes are not understood.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| params.iter().find(|(pk, _)| pk.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
    } else {
        None
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            return out;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        out.push((key.trim().to_string(), value));
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct TokenReply {
    token: Option<String>,
    access_token: Option<String>,
}

/// The `Authorization` value answering `challenge` for `scopes`, or an error saying why not.
pub fn authorize(
    registry: &Registry,
    challenge: &Challenge,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> Result<Secret, RegistryError> {
    match challenge {
        Challenge::Basic => creds.and_then(Credentials::basic_header).ok_or_else(|| RegistryError::AuthRequired {
            registry: registry.name().to_string(),
            scope: scopes.join(" "),
        }),
        Challenge::Bearer { realm, service, scope } => {
            let mut scopes = scopes.to_vec();
            if let Some(s) = scope {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
            let token = fetch_token(registry, realm, service.as_deref(), &scopes, creds)?;
            Ok(Secret::new(format!("Bearer {}", token.expose())))
        }
    }
}

fn fetch_token(
    registry: &Registry,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> Result<Secret, RegistryError> {
    registry.check_realm(realm)?;
    let mut query: Vec<String> = Vec::new();
    if let Some(s) = service {
        query.push(format!("service={}", encode_query(s)));
    }
    query.extend(scopes.iter().map(|s| format!("scope={}", encode_query(s))));
    let failed =
        |source| RegistryError::Token { realm: super::redact_url(realm), registry: registry.name().into(), source };
    let form;
    let call = match creds {
        // OAuth2 refresh-token grant (docker's identity tokens).
        Some(Credentials::IdentityToken(t)) => {
            let mut fields = query.clone();
            fields.extend([
                "grant_type=refresh_token".to_string(),
                "client_id=cargo-oci".to_string(),
                format!("refresh_token={}", encode_query(t.expose())),
            ]);
            form = fields.join("&");
            Call::post(realm).header("Content-Type", "application/x-www-form-urlencoded").bytes(form.as_bytes())
        }
        _ => {
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = if query.is_empty() { realm.to_string() } else { format!("{realm}{sep}{}", query.join("&")) };
            let call = Call::get(url);
            match creds.and_then(Credentials::basic_header) {
                Some(h) => call.header("Authorization", h.expose()),
                None => call,
            }
        }
    };
    let response = match registry.call(call.timeout(Duration::from_secs(60)), None) {
        Ok(r) => r,
        Err(RegistryError::Status { status: 401 | 403, .. }) => {
            return Err(RegistryError::Unauthorized {
                registry: registry.name().into(),
                scope: scopes.join(" "),
                had_credentials: creds.is_some(),
            })
        }
        Err(e) => return Err(failed(Box::new(e))),
    };
    let body = response.into_body().with_config().limit(1 << 20).read_to_vec().map_err(|e| failed(Box::new(e)))?;
    let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| failed(Box::new(e)))?;
    reply
        .token
        .or(reply.access_token)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| failed("the token endpoint's answer has no token".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="basic-realm""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge(r#"basic realm="a, \"b\"""#), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(r#"Bearer realm=http://127.0.0.1:1/t , service="s""#),
            Some(Challenge::Bearer { realm: "http://127.0.0.1:1/t".into(), service: Some("s".into()), scope: None })
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None, "a bearer challenge needs a realm");
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
