//! Decimal helpers: parsing user figures strictly, and the one canonical form kaohe stores.
//!
//! Floating point is never used. `1.5` and `1.50` are the same figure but encode differently,
//! so every decimal is normalised (trailing zeros removed) before it is stored or compared.

use crate::base::limits::{MAX_ABS_VALUE, MAX_DECIMAL_PLACES};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Why a text is not an acceptable figure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{0}` has more than {MAX_DECIMAL_PLACES} decimal places")]
    TooPrecise(String),
    #[error("`{0}` is too large (the limit is {MAX_ABS_VALUE})")]
    TooLarge(String),
}

impl DecimalError {
    /// The message in Chinese, saying what the English one says.
    pub fn zh(&self) -> String {
        match self {
            DecimalError::NotANumber(t) => format!("“{t}”不是数字"),
            DecimalError::TooPrecise(t) => {
                format!("“{t}”的小数超过 {MAX_DECIMAL_PLACES} 位")
            }
            DecimalError::TooLarge(t) => format!("“{t}”太大（上限为 {MAX_ABS_VALUE}）"),
        }
    }
}

/// Parses a decimal the way a user writes it: plain digits, an optional sign and point.
/// Exponents, `NaN`, thousands separators and blank text are refused. A figure with more
/// places than kaohe keeps is [`DecimalError::TooPrecise`] however many digits it has (even
/// more than a `Decimal` holds), so the message is the same on the command line and in JSON.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !plain {
        return Err(DecimalError::NotANumber(text.to_string()));
    }
    check_size(text, whole, fraction)?;
    let d = Decimal::from_str_exact(t).map_err(|_| DecimalError::NotANumber(text.to_string()))?;
    let d = d.normalize();
    within_limits(d, text)?;
    Ok(d)
}

/// A figure (`text` as given, for the message) has at most [`MAX_DECIMAL_PLACES`] places once
/// normalised and lies within ±[`MAX_ABS_VALUE`].
pub fn within_limits(d: Decimal, text: &str) -> Result<(), DecimalError> {
    if d.normalize().scale() > MAX_DECIMAL_PLACES {
        return Err(DecimalError::TooPrecise(text.to_string()));
    }
    if d.abs() > Decimal::from(MAX_ABS_VALUE) {
        return Err(DecimalError::TooLarge(text.to_string()));
    }
    Ok(())
}

/// Refuses a figure whose digits (`whole`.`fraction`) say it has too many places or is too
/// large, before it is parsed (a `Decimal` holds only 28 digits).
fn check_size(text: &str, whole: &str, fraction: &str) -> Result<(), DecimalError> {
    let places = fraction.trim_end_matches('0').len();
    if places > MAX_DECIMAL_PLACES as usize {
        return Err(DecimalError::TooPrecise(text.to_string()));
    }
    let max_digits = MAX_ABS_VALUE.to_string().len();
    if whole.trim_start_matches('0').len() > max_digits {
        return Err(DecimalError::TooLarge(text.to_string()));
    }
    Ok(())
}

/// Parses a JSON number's text, which may use exponent notation (`9.5e1`, `1e-05`), with the
/// same limits and messages as [`parse`] (they name the text as given).
pub fn parse_json_number(text: &str) -> Result<Decimal, DecimalError> {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return parse(text);
    };
    let not_a_number = || DecimalError::NotANumber(text.to_string());
    let m = parse_unbounded(mantissa).ok_or_else(not_a_number)?;
    let e: i64 = exponent.parse().map_err(|_| not_a_number())?;
    if m.is_zero() {
        return Ok(Decimal::ZERO);
    }
    // Places after shifting: the mantissa's own places minus the exponent.
    let places = i64::from(m.scale()) - e;
    if places > i64::from(MAX_DECIMAL_PLACES) {
        return Err(DecimalError::TooPrecise(text.to_string()));
    }
    let shifted = if places <= 0 {
        let whole_digits = m.mantissa().unsigned_abs().to_string().len() as i64 - places;
        if whole_digits > MAX_ABS_VALUE.to_string().len() as i64 {
            return Err(DecimalError::TooLarge(text.to_string()));
        }
        Decimal::from_i128_with_scale(m.mantissa(), 0)
            .checked_mul(Decimal::from(
                10i64.pow(u32::try_from(-places).unwrap_or(0)),
            ))
            .ok_or_else(|| DecimalError::TooLarge(text.to_string()))?
    } else {
        // 0 < places <= MAX_DECIMAL_PLACES: fits a u32.
        Decimal::from_i128_with_scale(m.mantissa(), places as u32)
    };
    parse(&shifted.normalize().to_string()).map_err(|e| match e {
        DecimalError::NotANumber(_) => not_a_number(),
        DecimalError::TooPrecise(_) => DecimalError::TooPrecise(text.to_string()),
        DecimalError::TooLarge(_) => DecimalError::TooLarge(text.to_string()),
    })
}

/// A JSON number's mantissa, normalised, when it holds at most 28 digits.
fn parse_unbounded(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text).ok().map(|d| d.normalize())
}

/// The canonical form of a figure: trailing zeros removed, `-0` made `0`.
pub fn canonical(d: Decimal) -> Decimal {
    let n = d.normalize();
    if n.is_zero() {
        Decimal::ZERO
    } else {
        n
    }
}

/// True when `d` is already in canonical form (what the store requires).
pub fn is_canonical(d: &Decimal) -> bool {
    let c = canonical(*d);
    c.scale() == d.scale() && c == *d && !(d.is_zero() && d.is_sign_negative())
}

/// Parses a decimal that must already be canonical text (as in stored events and exports):
/// [`is_canonical_text`], and a value a `Decimal` holds exactly (at most 28 places, and the
/// digits without the point less than 2^96), so that it prints back as the same text.
pub fn parse_canonical(text: &str) -> Option<Decimal> {
    if !is_canonical_text(text) {
        return None;
    }
    let d = Decimal::from_str(text).ok()?;
    (is_canonical(&d) && displays_as(&d, text)).then_some(d)
}

/// The canonical text of a figure (`schema/EVENTS.md`): `-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`
/// and not `-0`: no `+`, no leading zero, no exponent, no trailing fractional zero, no point
/// without a digit on each side.
pub fn is_canonical_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = all_digits(whole) && (whole == "0" || !whole.starts_with('0'));
    let fraction_ok = fraction.is_none_or(|f| all_digits(f) && !f.ends_with('0'));
    whole_ok && fraction_ok && text != "-0"
}

// Text of stored figures and dates, compared and written without building a `String`.

/// Whether `value` displays (`{}`) as exactly `text`: `value.to_string() == text`, without
/// building the string (the decoder asks it of every decimal and date it reads).
pub fn displays_as(value: &impl std::fmt::Display, text: &str) -> bool {
    use std::fmt::Write;
    let mut against = Against { rest: text };
    write!(against, "{value}").is_ok() && against.rest.is_empty()
}

/// A writer that consumes the text it is compared with, failing at the first difference.
struct Against<'a> {
    rest: &'a str,
}

impl std::fmt::Write for Against<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let rest = self.rest.strip_prefix(s).ok_or(std::fmt::Error)?;
        self.rest = rest;
        Ok(())
    }
}

/// Calls `f` with `value` displayed (`{}`), in a buffer on the stack when it fits (a decimal
/// or a date always does), so that encoding a figure allocates nothing.
pub fn with_displayed<R>(value: &impl std::fmt::Display, f: impl FnOnce(&str) -> R) -> R {
    use std::fmt::Write;
    let mut buffer = Inline {
        bytes: [0; INLINE_BYTES],
        len: 0,
    };
    let inline = write!(buffer, "{value}").ok().and_then(|()| buffer.text());
    match inline {
        Some(text) => f(text),
        None => f(&value.to_string()),
    }
}

const INLINE_BYTES: usize = 64;

/// Text written into a fixed buffer; a write that does not fit fails.
struct Inline {
    bytes: [u8; INLINE_BYTES],
    len: usize,
}

impl Inline {
    fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes[..self.len]).ok()
    }
}

impl std::fmt::Write for Inline {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises() {
        assert_eq!(parse("1.50").unwrap().to_string(), "1.5");
        assert_eq!(parse(" 95 ").unwrap().to_string(), "95");
        assert_eq!(parse("-0.0").unwrap().to_string(), "0");
        assert_eq!(canonical(parse("-0").unwrap()).to_string(), "0");
    }

    #[test]
    fn parse_refuses_non_numbers() {
        for bad in ["", "abc", "1e3", "NaN", "1,000", "--1", "1.2.3", "."] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(matches!(
            parse("0.1234567"),
            Err(DecimalError::TooPrecise(_))
        ));
        assert!(matches!(
            parse("10000000000"),
            Err(DecimalError::TooLarge(_))
        ));
    }

    #[test]
    fn json_numbers_may_use_exponents() {
        assert_eq!(parse_json_number("9.5e1").unwrap().to_string(), "95");
        assert_eq!(parse_json_number("1e-05").unwrap().to_string(), "0.00001");
        assert!(parse_json_number("1e-9").is_err());
        assert!(parse_json_number("1e30").is_err());
    }

    /// Regression: a figure with more digits than a `Decimal` holds was "not a number", and a
    /// JSON number in exponent form was named by its expanded text; the same too-precise
    /// figure now has one message wherever it is given.
    #[test]
    fn a_too_precise_figure_has_one_message() {
        for text in [
            "0.1234567",
            "0.12345678901234567890123456789012",
            "-1.00000001",
        ] {
            let expected = format!("`{text}` has more than 6 decimal places");
            assert_eq!(parse(text).unwrap_err().to_string(), expected);
            assert_eq!(parse_json_number(text).unwrap_err().to_string(), expected);
        }
        for text in ["1.1234567e0", "1e-30", "1.5E-7", "123456789e-15"] {
            assert_eq!(
                parse_json_number(text).unwrap_err(),
                DecimalError::TooPrecise(text.into()),
                "{text}"
            );
        }
        assert_eq!(parse("1.10000000").unwrap().to_string(), "1.1");
        assert_eq!(
            parse("123456789012345678901234567890").unwrap_err(),
            DecimalError::TooLarge("123456789012345678901234567890".into())
        );
        assert_eq!(
            parse_json_number("1e300").unwrap_err(),
            DecimalError::TooLarge("1e300".into())
        );
        assert_eq!(parse_json_number("1.5e2").unwrap().to_string(), "150");
        assert_eq!(parse_json_number("0e-99").unwrap().to_string(), "0");
    }

    #[test]
    fn canonical_text_round_trips() {
        assert!(parse_canonical("1.5").is_some());
        assert!(parse_canonical("1.50").is_none());
        assert!(parse_canonical("01").is_none());
    }

    /// The grammar of schema/EVENTS.md, "Canonical bodies", and the range a `Decimal` holds.
    #[test]
    fn canonical_text_is_the_documented_grammar() {
        for good in [
            "0",
            "3",
            "-3",
            "95.5",
            "-0.5",
            "0.000001",
            "1000000000",
            "10.01",
        ] {
            assert!(parse_canonical(good).is_some(), "{good}");
        }
        for bad in [
            "-0", "+1", "01", "00", "1.", ".5", "1.50", "1.0", "-0.0", "1e1", "1_0", " 1", "1 ",
            "", "-", "0x1", "１",
        ] {
            assert!(!is_canonical_text(bad), "{bad}");
            assert!(parse_canonical(bad).is_none(), "{bad}");
        }
        // The most a Decimal holds: 28 places, and 2^96 - 1 as the digits without the point.
        assert!(parse_canonical("0.0000000000000000000000000001").is_some());
        assert!(parse_canonical("0.00000000000000000000000000001").is_none());
        assert!(parse_canonical("79228162514264337593543950335").is_some());
        assert!(parse_canonical("79228162514264337593543950336").is_none());
        assert!(parse_canonical("7922816251426433759354395033.5").is_some());
        assert!(parse_canonical("7922816251426433759354395033.55").is_none());
    }
}
