//! Notice numbers (NAV, `numeroAvviso`) and the QR string printed on a notice (pagopa.md §4).
//!
//! A NAV is 18 digits, `<aux digit><IUV>`. Only aux digit 3 may be issued today (SACI 3.2.1):
//! `3 <segregation code, 2> <IUV base, 13> <check, 2>`, the check being the 16 digits before it read
//! as one number, mod 93. The legacy forms (0, 1, 2) are still read, because old notices are still
//! paid, and their check digits verified where they have them.

use std::fmt;
use std::str::FromStr;

use super::simple::{Amount, is_digits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("a notice number is 18 digits")]
    NotEighteenDigits,
    #[error("the segregation code must be 00 to 99, is {0}")]
    SegregationCode(u8),
    #[error("the IUV base must be at most 13 digits")]
    IuvBaseTooLong,
    #[error("check digits are {found}, the mod-93 rule gives {expected:02}")]
    CheckDigits { expected: u8, found: String },
    #[error("a QR string is PAGOPA|002|<notice number>|<EC fiscal code>|<amount in cents>: {0}")]
    QrFormat(&'static str),
    #[error("the amount does not fit the QR code's 10 digits of cents")]
    QrAmountTooLarge,
}

/// An 18-digit notice number. Constructing one checks only the form (what the XSD checks); call
/// [`NoticeNumber::verify_check_digits`] for the mod-93 rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoticeNumber(String);

/// The mod-93 check digits over `digits` (aux digit and what follows it, up to the check).
pub fn check_digits(digits: &str) -> u8 {
    // 16 digits at most fit a u64; computing digit by digit keeps any length correct.
    digits
        .bytes()
        .fold(0u64, |acc, b| (acc * 10 + u64::from(b - b'0')) % 93) as u8
}

impl NoticeNumber {
    pub fn parse(text: &str) -> Result<NoticeNumber, NoticeError> {
        if !is_digits(text, 18) {
            return Err(NoticeError::NotEighteenDigits);
        }
        Ok(NoticeNumber(text.to_owned()))
    }

    /// Builds the aux-digit-3 notice for `segregation_code` and `iuv_base` (< 10^13).
    pub fn aux3(segregation_code: u8, iuv_base: u64) -> Result<NoticeNumber, NoticeError> {
        if segregation_code > 99 {
            return Err(NoticeError::SegregationCode(segregation_code));
        }
        if iuv_base >= 10_000_000_000_000 {
            return Err(NoticeError::IuvBaseTooLong);
        }
        let body = format!("3{segregation_code:02}{iuv_base:013}");
        let check = check_digits(&body);
        Ok(NoticeNumber(format!("{body}{check:02}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn aux_digit(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }

    /// The IUV (`creditorReferenceId`): the 17 digits after the aux digit, except for aux 0 whose
    /// application code is not part of it (15 digits).
    pub fn iuv(&self) -> &str {
        match self.aux_digit() {
            0 => &self.0[3..],
            _ => &self.0[1..],
        }
    }

    /// The segregation code of an aux-3 notice.
    pub fn segregation_code(&self) -> Option<u8> {
        (self.aux_digit() == 3).then(|| self.0[1..3].parse().expect("digits"))
    }

    /// Checks the mod-93 digits where the scheme has them (aux 0, 2, 3; aux 1 has none). Aux digits
    /// 4–9 are not schemes at all and fail here.
    pub fn verify_check_digits(&self) -> Result<(), NoticeError> {
        match self.aux_digit() {
            1 => Ok(()),
            0 | 2 | 3 => {
                let expected = check_digits(&self.0[..16]);
                let found = &self.0[16..];
                if found == format!("{expected:02}") {
                    Ok(())
                } else {
                    Err(NoticeError::CheckDigits {
                        expected,
                        found: found.to_owned(),
                    })
                }
            }
            _ => Err(NoticeError::CheckDigits {
                expected: check_digits(&self.0[..16]),
                found: self.0[16..].to_owned(),
            }),
        }
    }
}

impl fmt::Display for NoticeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NoticeNumber {
    type Err = NoticeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoticeNumber::parse(s)
    }
}

/// The content of the QR code on a printed notice: `PAGOPA|002|<NAV>|<EC fiscal code>|<cents>`, the
/// amount in cents with 2 to 10 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeQr {
    pub notice_number: NoticeNumber,
    pub fiscal_code: String,
    pub amount: Amount,
}

impl NoticeQr {
    pub fn new(
        notice_number: NoticeNumber,
        fiscal_code: &str,
        amount: Amount,
    ) -> Result<NoticeQr, NoticeError> {
        if !is_digits(fiscal_code, 11) {
            return Err(NoticeError::QrFormat("the fiscal code is 11 digits"));
        }
        if amount.cents() > 9_999_999_999 {
            return Err(NoticeError::QrAmountTooLarge);
        }
        Ok(NoticeQr {
            notice_number,
            fiscal_code: fiscal_code.to_owned(),
            amount,
        })
    }

    pub fn parse(text: &str) -> Result<NoticeQr, NoticeError> {
        let parts: Vec<&str> = text.split('|').collect();
        let [tag, version, notice, fiscal_code, cents] = parts.as_slice() else {
            return Err(NoticeError::QrFormat("five fields separated by |"));
        };
        if *tag != "PAGOPA" || *version != "002" {
            return Err(NoticeError::QrFormat("it starts with PAGOPA|002"));
        }
        if !(2..=10).contains(&cents.len()) || !cents.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoticeError::QrFormat("the amount is 2 to 10 digits of cents"));
        }
        let amount = Amount::from_cents(cents.parse().expect("at most 10 digits"))
            .ok_or(NoticeError::QrAmountTooLarge)?;
        NoticeQr::new(NoticeNumber::parse(notice)?, fiscal_code, amount)
    }
}

impl fmt::Display for NoticeQr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PAGOPA|002|{}|{}|{:02}",
            self.notice_number,
            self.fiscal_code,
            self.amount.cents()
        )
    }
}
