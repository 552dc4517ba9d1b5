//! Base URL parsing, the loopback decision and the secure-URL check (`core::urls`).
//!
//! Invariants: parsing never panics; an accepted URL has a lower-case host free of
//! whitespace, control characters, `\`, `%` and `@`; parsing `ws_base()` / `http_base()`
//! gives the same URL again; the loopback decision agrees with an independent reference
//! (`std::net` address parsing, `localhost` labels); a host whose last label is a number
//! is accepted only as a plain IPv4 address; `check_secure_url` accepts exactly `https`, or
//! `http` to a loopback host, and names its option when it refuses.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::urls::{check_secure_url, BaseUrl};
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Arbitrary, Debug)]
enum Host {
    Text(String),
    V4 {
        octets: [u8; 4],
        zero_pad: bool,
        suffix: Option<String>,
    },
    V6 {
        addr: u128,
        upper: bool,
    },
    Labels(Vec<Label>),
}

#[derive(Arbitrary, Debug)]
enum Label {
    Localhost,
    Number(u16),
    Text(String),
}

/// A URL built from parts, to reach every kind of host often.
#[derive(Arbitrary, Debug)]
struct Parts {
    scheme: u8,
    host: Host,
    port: Option<String>,
    path: String,
}

impl Parts {
    fn url(&self) -> String {
        let scheme = ["ws", "wss", "http", "https", "WSS", "ftp"][usize::from(self.scheme % 6)];
        let mut s = format!("{scheme}://{}", host_text(&self.host));
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        s.push_str(&self.path);
        s
    }
}

fn host_text(h: &Host) -> String {
    match h {
        Host::Text(s) => s.clone(),
        Host::V4 {
            octets,
            zero_pad,
            suffix,
        } => {
            let mut s = octets
                .iter()
                .map(|o| {
                    if *zero_pad {
                        format!("{o:03}")
                    } else {
                        o.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
            if let Some(suffix) = suffix {
                s.push_str(suffix);
            }
            s
        }
        Host::V6 { addr, upper } => {
            let a = Ipv6Addr::from(*addr).to_string();
            format!("[{}]", if *upper { a.to_ascii_uppercase() } else { a })
        }
        Host::Labels(labels) => labels
            .iter()
            .map(|l| match l {
                Label::Localhost => "localhost".to_string(),
                Label::Number(n) => n.to_string(),
                Label::Text(s) => s.clone(),
            })
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// The reference loopback decision for a host the parser accepted.
fn reference_loopback(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .is_ok_and(|a| a == Ipv6Addr::LOCALHOST);
    }
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return a.is_loopback();
    }
    host == "localhost" || host.ends_with(".localhost")
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a URL (the seeds are URLs), then as parts of one.
    if let Ok(url) = std::str::from_utf8(data) {
        check(url);
    }
    if let Ok(parts) = Parts::arbitrary(&mut Unstructured::new(data)) {
        check(&parts.url());
    }
});

fn check(url: &str) {
    let url = url.to_string();
    let secure = check_secure_url(&url, "telemetry.url");
    if let Err(e) = &secure {
        assert!(e.message.contains("`telemetry.url`"), "{e}");
    }
    let base = match BaseUrl::parse(&url) {
        Ok(b) => b,
        Err(e) => {
            assert!(e.message.contains("`baseUrl`"), "{e}");
            if !url.contains(['?', '#']) {
                assert!(secure.is_err(), "{url:?} passes check_secure_url only");
            }
            return;
        }
    };
    let host = base.host.as_str();
    assert!(!host.is_empty());
    assert_eq!(host, host.to_ascii_lowercase());
    assert!(
        !host.contains(|c: char| c.is_whitespace() || c.is_control() || "\\%@/?#".contains(c)),
        "{url:?} -> host {host:?}"
    );
    assert!(!base
        .path
        .contains(|c: char| c.is_whitespace() || c.is_control()));
    let last = host.rsplit('.').next().unwrap_or_default();
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        assert!(
            host.parse::<Ipv4Addr>().is_ok(),
            "{host:?} accepted as a name"
        );
    }
    assert_eq!(base.is_loopback(), reference_loopback(host), "{url:?}");

    for out in [base.ws_base(), base.http_base()] {
        let again = BaseUrl::parse(&out).unwrap_or_else(|e| panic!("{url:?} -> {out:?}: {e}"));
        assert_eq!(
            (&again.host, again.port, &again.path, again.is_secure()),
            (&base.host, base.port, &base.path, base.is_secure()),
            "{url:?} -> {out:?}"
        );
        assert_eq!(again.ws_base(), base.ws_base());
    }

    let expected = base.scheme == "https" || (base.scheme == "http" && base.is_loopback());
    assert_eq!(secure.is_ok(), expected, "{url:?}");
}
