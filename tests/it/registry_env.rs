//! Where users keep their registry settings: proxies (`https_proxy`/`HTTPS_PROXY`, `NO_PROXY`),
//! CAs (`certs.d/HOST`, `SSL_CERT_DIR`) and credentials (podman's `/run/containers/<uid>`,
//! `$XDG_RUNTIME_DIR` and `~/.config/containers` auth.json), and token realms that must not get
//! them. All traffic stays on 127.0.0.1: the
//! registry is named `registry.invalid` (RFC 6761: never resolves) and reached only through a
//! CONNECT proxy on loopback that sends every tunnel to the local TLS registry, so nothing is
//! looked up or sent anywhere else. The pure decisions (NO_PROXY forms, both cases, the order of
//! the files) are unit-tested in src/store/registry/{net,credentials}.rs.

use std::path::Path;
use std::process::Command;

use crate::registry_support::*;
use crate::support::*;

/// `cargo-oci oci push SRC DEST` with exactly `vars` for the registry settings: none of the
/// user's files or variables leak in.
fn push(home: &Path, src: &str, dest: &str, vars: &[(&str, String)]) -> Run {
    let mut c = cargo_oci();
    c.current_dir(home).args(["push", src, dest]);
    for v in [
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "DOCKER_CONFIG",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "GITHUB_TOKEN",
        "CARGO_OCI_CONTAINERS_RUN_DIR",
    ] {
        c.env_remove(v);
    }
    for v in
        ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
    {
        c.env_remove(v);
    }
    c.env("HOME", home).env("CARGO_OCI_CACHE", home.join("cache"));
    c.envs(vars.iter().map(|(k, v)| (k, v)));
    Run::of(c)
}

fn auth_file(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, auths_config("registry.invalid", USER, PASS).to_string()).unwrap();
}

fn uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}

#[test]
fn through_an_https_proxy_with_certs_d_and_every_podman_credentials_file() {
    let Some(reg) = Registry::start(Kind::Tls) else { return };
    if !have("skopeo") {
        return;
    }
    let tunnel = Tunnel::start(reg.port);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fake_image(&h.join("lay"), "v1", &["x86_64", "aarch64"], "proxied");
    let src = format!("oci:{}:v1", h.join("lay").display());
    let ca = reg.ca.clone().unwrap();
    let read_back = |tag: &str| {
        let mut flags = reg.client_flags("");
        flags.push("--raw".into());
        let mut args = vec!["inspect"];
        args.extend(flags.iter().map(String::as_str));
        let reference = format!("docker://{}/app:{tag}", reg.host());
        args.push(&reference);
        tool("skopeo", &args).out.stdout
    };

    // 1. podman's file as root writes it with no XDG_RUNTIME_DIR (`/run/containers/<uid>`,
    //    redirected here), the CA in `$XDG_CONFIG_HOME/containers/certs.d/HOST/`, and the proxy
    //    in lowercase with a NO_PROXY that does not name the host.
    auth_file(&h.join(format!("run/{}/auth.json", uid())));
    let certs_d = h.join("config/containers/certs.d/registry.invalid");
    std::fs::create_dir_all(&certs_d).unwrap();
    std::fs::copy(&ca, certs_d.join("ca.crt")).unwrap();
    let run = push(
        h,
        &src,
        "registry.invalid/app:1",
        &[
            ("CARGO_OCI_CONTAINERS_RUN_DIR", h.join("run").display().to_string()),
            ("XDG_CONFIG_HOME", h.join("config").display().to_string()),
            ("https_proxy", tunnel.url()),
            ("no_proxy", "other.invalid,.example.com,10.0.0.0/8".into()),
        ],
    )
    .success();
    let digest = run.stdout().trim().rsplit_once('@').unwrap().1.to_string();
    assert!(run.stdout().starts_with("registry.invalid/app:1@sha256:"), "{}", run.stdout());
    let tunnels = tunnel.connects.lock().unwrap().clone();
    assert!(!tunnels.is_empty() && tunnels.iter().all(|t| t == "registry.invalid:443"), "{tunnels:?}");
    assert_eq!(format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(read_back("1")))), digest);

    // 2. `~/.config/containers/auth.json`, the CA through SSL_CERT_DIR, the proxy in uppercase.
    std::fs::remove_dir_all(h.join("run")).unwrap();
    std::fs::remove_dir_all(h.join("config/containers/certs.d")).unwrap();
    auth_file(&h.join("config/containers/auth.json"));
    let cert_dir = h.join("certs");
    std::fs::create_dir_all(&cert_dir).unwrap();
    std::fs::copy(&ca, cert_dir.join("private-ca.pem")).unwrap();
    let vars = [
        ("XDG_CONFIG_HOME", h.join("config").display().to_string()),
        ("SSL_CERT_DIR", cert_dir.display().to_string()),
        ("HTTPS_PROXY", tunnel.url()),
    ];
    push(h, &src, "registry.invalid/app:2", &vars).success();
    assert!(!read_back("2").is_empty());

    // 3. `$XDG_RUNTIME_DIR/containers/auth.json` (podman's primary file) wins over the others.
    std::fs::write(h.join("config/containers/auth.json"), auths_config("registry.invalid", USER, "wrong").to_string())
        .unwrap();
    auth_file(&h.join("xdg-run/containers/auth.json"));
    let mut vars = vars.to_vec();
    vars.push(("XDG_RUNTIME_DIR", h.join("xdg-run").display().to_string()));
    push(h, &src, "registry.invalid/app:3", &vars).success();

    // No CA for it: refused, and the hint names the certs.d directory.
    let run = push(h, &src, "registry.invalid/app:4", &[("HTTPS_PROXY", tunnel.url())]).failure();
    let (_, hints) = run.error_and_hints();
    assert!(hints.iter().any(|h| h.contains("/etc/containers/certs.d/registry.invalid/ca.crt")), "{hints:?}");
    assert!(!run.stderr().contains(PASS));
}

#[test]
fn a_dead_proxy_is_named_a_bad_proxy_value_is_refused_and_loopback_is_never_proxied() {
    let Some(reg) = Registry::start(Kind::Plain) else { return };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fake_image(&h.join("lay"), "v1", &["x86_64"], "direct");
    let src = format!("oci:{}:v1", h.join("lay").display());
    let dead = format!("http://127.0.0.1:{}", closed_port());

    let run = push(h, &src, "registry.invalid/app:1", &[("HTTPS_PROXY", dead.clone())]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: failed to push to `registry.invalid/app`");
    assert!(run.stderr().contains(&format!("through the proxy {dead}")), "{}", run.stderr());
    assert!(
        hints
            .iter()
            .any(|h| h.contains(&format!("the proxy {dead} is running")) && h.contains("NO_PROXY=registry.invalid")),
        "{hints:?}"
    );

    // Refused before any connection is made (nothing goes anywhere).
    for (var, value, shown) in [
        ("HTTPS_PROXY", "socks5://127.0.0.1:1080", "`socks5://` proxies are not supported"),
        ("https_proxy", "http://ci:Hunter2-Secret@127.0.0.1:notaport", "`notaport` is not a port number"),
        ("ALL_PROXY", "http://", "not a usable proxy"),
    ] {
        let run = push(h, &src, "registry.invalid/app:1", &[(var, value.into())]).failure();
        let (err, hints) = run.error_and_hints();
        assert!(err.starts_with(&format!("error: {var}=`")) && err.contains(shown), "{err}");
        assert!(!run.stderr().contains("Hunter2-Secret"), "{}", run.stderr());
        assert!(hints[0].contains(var), "{hints:?}");
    }

    // The registry is on this machine: no proxy, whatever the variables say (as Go decides);
    // a value no request uses stops nothing.
    let proxies = [("HTTPS_PROXY", dead.clone()), ("HTTP_PROXY", dead.clone()), ("ALL_PROXY", "socks5://x:1".into())];
    let run = push(h, &src, &format!("{}/app:1", reg.host()), &proxies).success();
    assert!(run.stdout().starts_with(&format!("{}/app:1@sha256:", reg.host())), "{}", run.stdout());
    let ok = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/app:1", reg.host())])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn token_realms_in_odd_case_or_with_userinfo_get_no_credentials() {
    let Some(reg) = Registry::start(Kind::Plain) else { return };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fake_image(&h.join("lay"), "v1", &["x86_64"], "realm");
    let src = format!("oci:{}:v1", h.join("lay").display());
    for (realm, says) in [
        // Looks like loopback as a string prefix; the host is registry.invalid.
        ("http://127.0.0.1:80@registry.invalid/token", "carries a user name or password"),
        // Plain HTTP to a remote host, spelled so a prefix check misses it.
        ("HTTP://registry.invalid/token", "refusing to send credentials over plain HTTP"),
        ("Http://registry.invalid/token", "refusing to send credentials over plain HTTP"),
    ] {
        let bearer = Bearer { user: USER.into(), pass: PASS.into(), realm: Some(realm.into()), ..Default::default() };
        let proxy = Proxy::start(reg.port, Some(bearer));
        std::fs::create_dir_all(h.join("docker")).unwrap();
        std::fs::write(h.join("docker/config.json"), auths_config(&proxy.host(), USER, PASS).to_string()).unwrap();
        let vars = [("DOCKER_CONFIG", h.join("docker").display().to_string())];
        let run = push(h, &src, &format!("{}/app:1", proxy.host()), &vars).failure();
        assert!(run.stderr().contains(says), "{realm}: {}", run.stderr());
        assert!(!run.stderr().contains(PASS));
        let basic = proxy.requests(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")));
        assert!(basic.is_empty() && proxy.requests(|r| r.path.starts_with("/token")).is_empty(), "{realm}");
    }
}
