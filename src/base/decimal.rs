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

/// Parses a decimal the way a user writes it: plain digits, an optional sign and point.
/// Exponents, `NaN`, thousands separators and blank text are refused.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    let t = text.trim();
    let plain = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
        && t.chars().any(|c| c.is_ascii_digit());
    if !plain {
        return Err(DecimalError::NotANumber(text.to_string()));
    }
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

/// Parses a JSON number's text, which may use exponent notation (`9.5e1`, `1e-05`), with the
/// same limits as [`parse`].
pub fn parse_json_number(text: &str) -> Result<Decimal, DecimalError> {
    if !text.contains(['e', 'E']) {
        return parse(text);
    }
    let d =
        Decimal::from_scientific(text).map_err(|_| DecimalError::NotANumber(text.to_string()))?;
    parse(&d.normalize().to_string())
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

/// Parses a decimal that must already be canonical text (as in stored events and exports).
pub fn parse_canonical(text: &str) -> Option<Decimal> {
    let d = Decimal::from_str(text).ok()?;
    (is_canonical(&d) && d.to_string() == text).then_some(d)
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

    #[test]
    fn canonical_text_round_trips() {
        assert!(parse_canonical("1.5").is_some());
        assert!(parse_canonical("1.50").is_none());
        assert!(parse_canonical("01").is_none());
    }
}
