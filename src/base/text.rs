//! Text checks shared by every reader of outside text.

/// Characters that print as nothing or reorder what follows: zero-width spaces and joiners,
/// bidirectional controls, the byte-order mark, soft hyphens. In text a reader must be able
/// to see (ids, names, evidence, notes) they would hide what is there.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}')
}

/// True when the text holds a control or invisible character.
pub fn has_control(s: &str) -> bool {
    // ASCII text (most codes and ids) has no invisible character, and its control characters
    // are the bytes below 0x20 and 0x7F.
    if s.is_ascii() {
        return s.bytes().any(|b| b < 0x20 || b == 0x7f);
    }
    s.chars().any(|c| c.is_control() || is_invisible(c))
}

/// The lower-case hex digits of `bytes`, as every hash and body is written (the `hex` crate's
/// `encode` goes a character at a time, the larger part of writing an export line's body).
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    // Invariant: only ASCII digits were pushed.
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// The bytes that lower-case hex digits spell, `None` for anything else (an upper-case digit,
/// another character, an odd count): the one spelling kaohe writes, read in one pass.
pub fn parse_hex_lower(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}
