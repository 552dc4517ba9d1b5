//! The VP8 bitrate edit of the offer (`core::sdp`).
//!
//! Invariants: never panics; idempotent (f(f(x)) == f(x)); an SDP without VP8 comes back
//! unchanged; every line that is not an `a=fmtp:` line comes back in order with its own
//! line ending (a last line without a complete one may gain one); afterwards every fmtp line of a VP8
//! payload type, and at least one per VP8 payload type of a media section, carries both
//! bitrate parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::sdp::set_vp8_bitrates;

/// `(text, ending)` of each line; a last line may end in a lone `\r` (a cut-off CRLF).
fn lines(s: &str) -> Vec<(&str, &str)> {
    s.split_inclusive('\n')
        .map(|l| {
            if let Some(t) = l.strip_suffix("\r\n") {
                (t, "\r\n")
            } else if let Some(t) = l.strip_suffix('\n') {
                (t, "\n")
            } else if let Some(t) = l.strip_suffix('\r') {
                (t, "\r")
            } else {
                (l, "")
            }
        })
        .collect()
}

fn fmtp_pt(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("a=fmtp:")?;
    Some(rest.split(' ').next().unwrap_or(rest))
}

fuzz_target!(|sdp: &str| {
    let once = set_vp8_bitrates(sdp);
    assert_eq!(set_vp8_bitrates(&once), once, "not idempotent on {sdp:?}");
    if !sdp.to_ascii_uppercase().contains("VP8/") {
        assert_eq!(once, sdp);
    }

    let kept = |s| -> Vec<(&str, &str)> {
        lines(s)
            .into_iter()
            .filter(|(t, _)| !t.starts_with("a=fmtp:"))
            .collect()
    };
    let (before, after) = (kept(sdp), kept(&once));
    assert_eq!(before.len(), after.len(), "{sdp:?} -> {once:?}");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(b.0, a.0, "{sdp:?} -> {once:?}");
        let last = i + 1 == before.len();
        let completed = last && (b.1.is_empty() || (b.1 == "\r" && a.1 == "\r\n"));
        assert!(b.1 == a.1 || completed, "{sdp:?} -> {once:?}");
    }

    let mut section: Vec<&str> = Vec::new();
    let out_lines = lines(&once);
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for (t, _) in &out_lines {
        if t.starts_with("m=") && !section.is_empty() {
            sections.push(std::mem::take(&mut section));
        }
        section.push(t);
    }
    sections.push(section);
    for s in &sections {
        let vp8: Vec<&str> = s
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:")?.split_once(' '))
            .filter(|(_, codec)| codec.to_ascii_uppercase().starts_with("VP8/"))
            .map(|(pt, _)| pt)
            .collect();
        for pt in &vp8 {
            assert!(
                s.iter().any(|l| fmtp_pt(l) == Some(pt)),
                "no fmtp for {pt} in {once:?}"
            );
        }
        for l in s {
            if fmtp_pt(l).is_some_and(|pt| vp8.contains(&pt)) {
                assert!(
                    l.contains("x-google-min-bitrate") && l.contains("x-google-start-bitrate"),
                    "{l:?} in {once:?}"
                );
            }
        }
    }
});
