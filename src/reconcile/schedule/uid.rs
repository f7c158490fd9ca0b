//! An object's UID as the key of what is remembered per MeetingBot: the
//! indexes hold one per object, several times over, and a UID kept as text
//! costs a 24-byte `String` and a 48-byte allocation each time.

use std::fmt;

/// A UID: the 16 bytes of the UUID the API server gives every object, or,
/// for any other text (which no API server writes, but a test or a fake
/// may), that text. Printed back exactly as it was read.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Uid {
    Uuid([u8; 16]),
    Text(Box<str>),
}

/// Where a canonical UUID's hyphens stand.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

impl Uid {
    pub fn of(uid: &str) -> Uid {
        Uid::canonical_uuid(uid).map_or_else(|| Uid::Text(uid.into()), Uid::Uuid)
    }

    /// The bytes of `text` when it is a UUID in the canonical form (lower
    /// case, hyphenated), the only form that prints back unchanged.
    fn canonical_uuid(text: &str) -> Option<[u8; 16]> {
        let text = text.as_bytes();
        if text.len() != 36 || HYPHENS.iter().any(|&at| text[at] != b'-') {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut digits = text
            .iter()
            .enumerate()
            .filter(|(at, _)| !HYPHENS.contains(at));
        let mut bytes = [0; 16];
        for byte in &mut bytes {
            let (_, &high) = digits.next()?;
            let (_, &low) = digits.next()?;
            *byte = nibble(high)? << 4 | nibble(low)?;
        }
        Some(bytes)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uid::Uuid(bytes) => {
                for (at, byte) in bytes.iter().enumerate() {
                    if [4, 6, 8, 10].contains(&at) {
                        f.write_str("-")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Uid::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_kept_as_its_bytes_and_prints_back_unchanged() {
        let text = "c8e897e4-e022-4a12-baf9-ae11edcfcd90";
        let uid = Uid::of(text);
        assert!(matches!(uid, Uid::Uuid(_)));
        assert_eq!(uid.to_string(), text);
        assert_eq!(uid, Uid::of(text));
        assert_ne!(uid, Uid::of("c8e897e4-e022-4a12-baf9-ae11edcfcd91"));
    }

    #[test]
    fn any_other_text_is_kept_as_it_is() {
        for text in [
            "u",
            "",
            "C8E897E4-E022-4A12-BAF9-AE11EDCFCD90",
            "c8e897e4e022-4a12-baf9-ae11edcfcd90-",
            "g8e897e4-e022-4a12-baf9-ae11edcfcd90",
        ] {
            let uid = Uid::of(text);
            assert!(matches!(uid, Uid::Text(_)), "{text}");
            assert_eq!(uid.to_string(), text);
        }
        assert_ne!(
            Uid::of("C8E897E4-E022-4A12-BAF9-AE11EDCFCD90"),
            Uid::of("c8e897e4-e022-4a12-baf9-ae11edcfcd90"),
            "as the API server compares them: by their text"
        );
    }

    #[test]
    fn a_uid_is_no_larger_than_a_string() {
        assert!(size_of::<Uid>() <= size_of::<String>());
    }
}
