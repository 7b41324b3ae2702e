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
