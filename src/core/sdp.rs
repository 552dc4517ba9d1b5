//! SDP edits done on the client's offer.

/// The bitrate parameters added to every VP8 payload type, by name and value.
const BITRATES: [(&str, &str); 2] = [
    ("x-google-min-bitrate", "300"),
    ("x-google-start-bitrate", "600"),
];

/// One line of an SDP and the line ending it had: `"\r\n"`, `"\n"`, or for a last line
/// without a `\n`, `"\r"` (a cut-off CRLF) or `""`.
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

fn lines(sdp: &str) -> Vec<Line<'_>> {
    sdp.split_inclusive('\n')
        .map(|l| match l.strip_suffix("\r\n") {
            Some(text) => Line { text, eol: "\r\n" },
            None => match (l.strip_suffix('\n'), l.strip_suffix('\r')) {
                (Some(text), _) => Line { text, eol: "\n" },
                (None, Some(text)) => Line { text, eol: "\r" },
                (None, None) => Line { text: l, eol: "" },
            },
        })
        .collect()
}

/// `a=rtpmap:PT CODEC/...` → `(PT, CODEC/...)`.
fn rtpmap(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix("a=rtpmap:")?.split_once(' ')
}

/// `a=fmtp:PT PARAMS` (or `a=fmtp:PT` alone) → `(PT, PARAMS)`.
fn fmtp(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("a=fmtp:")?;
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

/// The bitrate parameters `params` lacks, `;`-joined (empty when it has them all).
fn missing_bitrates(params: &str) -> String {
    BITRATES
        .iter()
        .filter(|(name, _)| !params.contains(name))
        .map(|(name, value)| [*name, "=", *value].concat())
        .collect::<Vec<_>>()
        .join(";")
}

/// Adds `x-google-min-bitrate=300;x-google-start-bitrate=600` to the fmtp line of every VP8
/// payload type (creating the fmtp line, right after the rtpmap line, when the media
/// section has none), per media section, and keeps a parameter the offer already sets.
/// Everything else is left byte for byte, with each line's own ending (`\r\n` or `\n`);
/// a created line takes the ending of its rtpmap line (a last rtpmap line without a
/// complete ending gets one: the SDP's first ending, or `\n` after its own `\r`). Applying
/// it twice changes nothing more than applying it once.
pub fn set_vp8_bitrates(sdp: &str) -> String {
    let lines = lines(sdp);
    let first_eol = lines
        .iter()
        .map(|l| l.eol)
        .find(|e| !e.is_empty())
        .unwrap_or("\r\n");
    // Payload types are scoped to a media section (from one `m=` line to the next).
    let mut sections: Vec<&[Line<'_>]> = Vec::new();
    let mut rest = lines.as_slice();
    while !rest.is_empty() {
        let end = rest
            .iter()
            .skip(1)
            .position(|l| l.text.starts_with("m="))
            .map_or(rest.len(), |i| i + 1);
        let (section, after) = rest.split_at(end.min(rest.len()));
        sections.push(section);
        rest = after;
    }
    let mut out = String::with_capacity(sdp.len() + 128);
    for section in sections {
        let vp8: Vec<&str> = section
            .iter()
            .filter_map(|l| rtpmap(l.text))
            .filter(|(_, codec)| codec.to_ascii_uppercase().starts_with("VP8/"))
            .map(|(pt, _)| pt)
            .collect();
        let mut with_fmtp: Vec<&str> = section
            .iter()
            .filter_map(|l| fmtp(l.text))
            .map(|(pt, _)| pt)
            .collect();
        for line in section {
            match fmtp(line.text) {
                Some((pt, params)) if vp8.contains(&pt) => {
                    let missing = missing_bitrates(params);
                    match (missing.is_empty(), params.is_empty()) {
                        (true, _) => out.push_str(line.text),
                        (false, true) => out.push_str(&["a=fmtp:", pt, " ", &missing].concat()),
                        (false, false) => {
                            out.push_str(&["a=fmtp:", pt, " ", params, ";", &missing].concat());
                        }
                    }
                    out.push_str(line.eol);
                    continue;
                }
                _ => {}
            }
            out.push_str(line.text);
            match rtpmap(line.text) {
                Some((pt, _)) if vp8.contains(&pt) && !with_fmtp.contains(&pt) => {
                    with_fmtp.push(pt);
                    // The new line goes between this line and its ending; a last line
                    // without a complete ending gets one (its own `\r` becomes CRLF).
                    let (ending, eol) = match line.eol {
                        "" => (first_eol, ""),
                        "\r" => ("\r\n", "\r"),
                        eol => (eol, eol),
                    };
                    out.push_str(ending);
                    out.push_str(&["a=fmtp:", pt, " ", &missing_bitrates("")].concat());
                    out.push_str(eol);
                    continue;
                }
                _ => {}
            }
            out.push_str(line.eol);
        }
    }
    out
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn adds_bitrates_to_existing_and_missing_fmtp_lines() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 98\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\n";
        let out = set_vp8_bitrates(sdp);
        assert!(out.contains("a=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-min-bitrate=300;x-google-start-bitrate=600\r\n"), "{out}");
        assert!(out.contains("a=fmtp:98 profile-id=0\r\n"));
        let sdp2 = "a=rtpmap:100 VP8/90000\na=fmtp:100 max-fr=30\n";
        assert_eq!(set_vp8_bitrates(sdp2), "a=rtpmap:100 VP8/90000\na=fmtp:100 max-fr=30;x-google-min-bitrate=300;x-google-start-bitrate=600\n");
    }

    #[test]
    fn idempotent_and_harmless_without_vp8() {
        let sdp = "a=rtpmap:96 VP8/90000\r\n";
        let once = set_vp8_bitrates(sdp);
        assert_eq!(set_vp8_bitrates(&once), once);
        let h264 = "a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1\r\n";
        assert_eq!(set_vp8_bitrates(h264), h264);
    }

    #[test]
    fn mixed_line_endings_are_kept_and_the_edit_is_idempotent() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 vp8/90000\na=fmtp:97 max-fr=30\r\nb=AS:1\n";
        let once = set_vp8_bitrates(sdp);
        assert_eq!(
            once,
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\na=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-min-bitrate=300;x-google-start-bitrate=600\r\na=rtpmap:97 vp8/90000\na=fmtp:97 max-fr=30;x-google-min-bitrate=300;x-google-start-bitrate=600\r\nb=AS:1\n"
        );
        assert_eq!(set_vp8_bitrates(&once), once);
        // A last line without an ending, an fmtp line without parameters, a lone CR.
        for sdp in [
            "a=rtpmap:96 VP8/90000",
            "a=rtpmap:96 VP8/90000\na=fmtp:96",
            "a=rtpmap:96 VP8/90000\ra=fmtp:96 x\r\r\n",
            "\n\r\n\na=rtpmap:96 VP8/90000\r\n\r",
            "+\n\n 97\na=rtpmap:96 VP8/90000\r",
            "v=0\r\na=rtpmap:96 VP8/90000\r",
        ] {
            let once = set_vp8_bitrates(sdp);
            assert!(
                once.contains("x-google-start-bitrate=600"),
                "{sdp:?} -> {once:?}"
            );
            assert_eq!(set_vp8_bitrates(&once), once, "{sdp:?}");
        }
        assert_eq!(
            set_vp8_bitrates("a=rtpmap:96 VP8/90000"),
            "a=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-min-bitrate=300;x-google-start-bitrate=600"
        );
        // A cut-off CRLF at the end is completed, not doubled, and the rtpmap line is kept.
        assert_eq!(
            set_vp8_bitrates("v=0\r\na=rtpmap:96 VP8/90000\r"),
            "v=0\r\na=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-min-bitrate=300;x-google-start-bitrate=600\r"
        );
    }

    #[test]
    fn payload_types_are_per_media_section_and_set_values_kept() {
        let sdp = "m=video 9 X 96\na=rtpmap:96 VP8/90000\na=fmtp:96 x-google-min-bitrate=100\nm=video 9 X 96\na=rtpmap:96 H264/90000\na=fmtp:96 profile-level-id=42e01f\n";
        assert_eq!(
            set_vp8_bitrates(sdp),
            "m=video 9 X 96\na=rtpmap:96 VP8/90000\na=fmtp:96 x-google-min-bitrate=100;x-google-start-bitrate=600\nm=video 9 X 96\na=rtpmap:96 H264/90000\na=fmtp:96 profile-level-id=42e01f\n"
        );
    }
}
