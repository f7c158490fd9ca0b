//! What makes an avatar rejoin: a fingerprint of the spec fields it joined with.

use super::MeetingBotSpec;

impl MeetingBotSpec {
    /// Fingerprint of the fields whose change makes the avatar rejoin: the
    /// session, the meeting, the LiveKit server and the bot's name. The
    /// broadcast token is left out on purpose: a new token alone does not rejoin.
    pub fn join_fingerprint(&self) -> String {
        // A URL kept in a Secret counts by its reference: its content (maybe a
        // password) stays out of annotations, and changing it does not rejoin.
        let url_secret = self
            .meeting_url_secret_ref
            .as_ref()
            .map(|r| format!("secret:{}/{}", r.name, r.key));
        let fields = [
            self.session_id.as_str(),
            self.meeting_url
                .as_deref()
                .or(url_secret.as_deref())
                .unwrap_or(""),
            self.livekit_url.as_str(),
            self.bot_name.as_deref().unwrap_or(""),
        ];
        format!("{:016x}", fnv1a(fields.join("\n").as_bytes()))
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, unlike std's.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broadcast_token_does_not_change_the_fingerprint() {
        let a = MeetingBotSpec::example();
        let mut b = a.clone();
        b.broadcast_token_secret_ref.name = "other".into();
        assert_eq!(a.join_fingerprint(), b.join_fingerprint());
        b.meeting_url = Some("https://meet.google.com/zzz-zzzz-zzz".into());
        assert_ne!(a.join_fingerprint(), b.join_fingerprint());
    }
}
