//! SDP edits done on the client's offer.

/// Adds `x-google-min-bitrate=300;x-google-start-bitrate=600` to the fmtp line of every VP8
/// payload type (creating the fmtp line when the offer has none), leaving everything else
/// byte for byte. Line endings of the input are kept.
pub fn set_vp8_bitrates(sdp: &str) -> String {
    const PARAMS: &str = "x-google-min-bitrate=300;x-google-start-bitrate=600";
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = sdp.split(eol).collect();
    let vp8: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, codec)| codec.to_ascii_uppercase().starts_with("VP8/"))
        .map(|(pt, _)| pt)
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + vp8.len());
    for line in &lines {
        if let Some(rest) = line.strip_prefix("a=fmtp:") {
            if let Some((pt, params)) = rest.split_once(' ') {
                if vp8.contains(&pt) && !params.contains("x-google-start-bitrate") {
                    out.push(format!("a=fmtp:{pt} {params};{PARAMS}"));
                    continue;
                }
            }
        }
        out.push((*line).to_string());
        if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if let Some((pt, _)) = rest.split_once(' ') {
                let has_fmtp = lines
                    .iter()
                    .any(|l| l.starts_with(&format!("a=fmtp:{pt} ")));
                if vp8.contains(&pt) && !has_fmtp {
                    out.push(format!("a=fmtp:{pt} {PARAMS}"));
                }
            }
        }
    }
    out.join(eol)
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
}
