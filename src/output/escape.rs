//! The one text form of what servers send: banner bytes, and the strings
//! certificates and service matches carry, as every format writes them.
//!
//! Banner bytes become plain ASCII with no control characters: printable
//! ASCII (0x20-0x7e) as is, except `\` which becomes `\\`; CR, LF and tab
//! become `\r`, `\n`, `\t`; every other byte becomes `\xNN` (lowercase
//! hex), as nmap prints bytes it cannot show. Nothing is lost:
//! [`unescape`] gives the bytes back. Because the result cannot hold a
//! line break or a control character, a format only has to add its own
//! quoting, and no server can break a line, a CSV row or an XML attribute.
//!
//! Text (UTF-8 strings from certificates and service matches) keeps its
//! Unicode but follows the same rule for `\`, ASCII controls and the
//! characters that readers take as line breaks or that XML forbids: those
//! are written as `\xNN` of their UTF-8 bytes, so [`unescape`] gives back
//! the original string's bytes too.

/// Appends the escaped form of raw bytes.
pub fn push_bytes<'a>(out: &mut Vec<u8>, bytes: impl IntoIterator<Item = &'a u8>) {
    for &b in bytes {
        push_byte(out, b);
    }
}

/// Appends the escaped form of an untrusted string, Unicode kept.
pub fn push_text(out: &mut Vec<u8>, s: &str) {
    let mut utf8 = [0; 4];
    for c in s.chars() {
        if c.is_ascii() {
            push_byte(out, c as u8);
        } else if hidden(c) {
            push_bytes(out, c.encode_utf8(&mut utf8).as_bytes());
        } else {
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

/// Non-ASCII characters written as escapes rather than as themselves: the
/// C1 controls (NEL among them, a line break to many readers), the
/// Unicode line and paragraph separators, and the two noncharacters XML
/// 1.0 does not allow.
fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}')
}

fn push_byte(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x20..=0x7e => out.push(b),
        _ => out.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 15)],
        ]),
    }
}

/// The bytes an escaped text stands for; `None` if it is not one (a lone
/// `\`, an unknown escape, or a `\x` without two hex digits). Accepts any
/// `\xNN`, upper or lower case, so it also reads hand-written escapes.
pub fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let (&e, tail) = rest.split_first()?;
        rest = tail;
        out.push(match e {
            b'\\' => b'\\',
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'x' => {
                let (hi, lo) = (hex(*rest.first()?)?, hex(*rest.get(1)?)?);
                rest = &rest[2..];
                hi << 4 | lo
            }
            _ => return None,
        });
    }
    Some(out)
}

fn hex(d: u8) -> Option<u8> {
    (d as char).to_digit(16).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: &[u8]) -> String {
        let mut out = Vec::new();
        push_bytes(&mut out, b);
        String::from_utf8(out).unwrap()
    }

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        push_text(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn bytes_become_printable_ascii() {
        assert_eq!(
            bytes(b"SSH-2.0-x\r\n\t\\ \"',<&>\x00\x1b\x7f\xff\xfe"),
            r#"SSH-2.0-x\r\n\t\\ "',<&>\x00\x1b\x7f\xff\xfe"#
        );
        assert_eq!(bytes(b""), "");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).cycle().take(4096 + 7).collect();
        let e = bytes(&all);
        assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{e}");
        assert_eq!(unescape(e.as_bytes()).unwrap(), all);
    }

    #[test]
    fn text_keeps_unicode_and_escapes_controls() {
        let s = "CN=Ünïcödé \"q\", O=a\\b\r\nc\u{0}\u{85}\u{2028}<&>日本";
        let e = text(s);
        assert_eq!(
            e,
            r#"CN=Ünïcödé "q", O=a\\b\r\nc\x00\xc2\x85\xe2\x80\xa8<&>日本"#
        );
        assert_eq!(unescape(e.as_bytes()).unwrap(), s.as_bytes());
        assert!(!e.chars().any(|c| c.is_control()));
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for bad in [&b"a\\"[..], b"\\q", b"\\x4", b"\\xzz", b"\\x+1"] {
            assert_eq!(unescape(bad), None, "{bad:?}");
        }
        assert_eq!(unescape(b"\\x4A\\x4a").unwrap(), b"JJ");
    }
}
