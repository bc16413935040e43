//! Notice numbers and the printed QR string: the notes' worked examples and property tests.

use proptest::prelude::*;
use snodo_mappings::pagopa::{Amount, NoticeError, NoticeNumber, NoticeQr, check_digits};

#[test]
fn the_worked_examples_of_the_notes() {
    let n = NoticeNumber::aux3(1, 1).unwrap();
    assert_eq!(n.as_str(), "301000000000000144");
    assert_eq!(n.iuv(), "01000000000000144");
    assert_eq!(n.segregation_code(), Some(1));
    assert_eq!(
        NoticeNumber::aux3(47, 1_234_567_890_123).unwrap().as_str(),
        "347123456789012389"
    );
    assert_eq!(NoticeNumber::aux3(0, 0).unwrap().as_str(), "300000000000000003");
    assert_eq!(check_digits("3010000000000001"), 44);
}

#[test]
fn check_digits_are_verified_per_scheme() {
    NoticeNumber::parse("301000000000000144")
        .unwrap()
        .verify_check_digits()
        .unwrap();
    let wrong = NoticeNumber::parse("301000000000000145").unwrap();
    assert_eq!(
        wrong.verify_check_digits(),
        Err(NoticeError::CheckDigits {
            expected: 44,
            found: "45".into()
        })
    );
    // Aux 1 has no check digits; aux 0's IUV excludes the application code.
    NoticeNumber::parse("112345678901234567")
        .unwrap()
        .verify_check_digits()
        .unwrap();
    assert_eq!(
        NoticeNumber::parse("012345678901234567").unwrap().iuv(),
        "345678901234567"
    );
    // The mock EC's scenario keys are not valid numbers (SOURCES.txt).
    assert!(
        NoticeNumber::parse("302009921337126000")
            .unwrap()
            .verify_check_digits()
            .is_err()
    );
    for bad in [
        "30100000000000014",
        "3010000000000001444",
        "30100000000000014a",
        "",
    ] {
        assert_eq!(
            NoticeNumber::parse(bad),
            Err(NoticeError::NotEighteenDigits),
            "{bad}"
        );
    }
    assert_eq!(NoticeNumber::aux3(100, 0), Err(NoticeError::SegregationCode(100)));
    assert_eq!(
        NoticeNumber::aux3(1, 10_000_000_000_000),
        Err(NoticeError::IuvBaseTooLong)
    );
}

#[test]
fn qr_strings() {
    let n = NoticeNumber::aux3(1, 1).unwrap();
    let qr = NoticeQr::new(n.clone(), "01199250158", Amount::from_cents(10050).unwrap()).unwrap();
    assert_eq!(qr.to_string(), "PAGOPA|002|301000000000000144|01199250158|10050");
    assert_eq!(NoticeQr::parse(&qr.to_string()).unwrap(), qr);
    let small = NoticeQr::new(n.clone(), "01199250158", Amount::from_cents(5).unwrap()).unwrap();
    assert_eq!(small.to_string(), "PAGOPA|002|301000000000000144|01199250158|05");
    assert_eq!(
        NoticeQr::new(n, "01199250158", Amount::from_cents(10_000_000_000).unwrap()),
        Err(NoticeError::QrAmountTooLarge)
    );
    for bad in [
        "PAGOPA|001|301000000000000144|01199250158|10050",
        "PAGOPA|002|301000000000000144|0119925015|10050",
        "PAGOPA|002|301000000000000144|01199250158|5",
        "PAGOPA|002|301000000000000144|01199250158|12345678901",
        "PAGOPA|002|301000000000000144|01199250158",
        "PAGOPA|002|30100000000000014X|01199250158|100",
    ] {
        assert!(NoticeQr::parse(bad).is_err(), "{bad}");
    }
}

proptest! {
    #[test]
    fn built_numbers_check_and_parse_back(seg in 0u8..100, base in 0u64..10_000_000_000_000) {
        let n = NoticeNumber::aux3(seg, base).unwrap();
        prop_assert_eq!(n.as_str().len(), 18);
        prop_assert!(n.verify_check_digits().is_ok());
        prop_assert_eq!(n.segregation_code(), Some(seg));
        prop_assert_eq!(NoticeNumber::parse(n.as_str()).unwrap(), n.clone());
        prop_assert_eq!(&n.iuv()[2..15], format!("{base:013}"));
    }

    #[test]
    fn any_single_digit_change_of_the_body_is_caught(seg in 0u8..100, base in 0u64..10_000_000_000_000, at in 0usize..16, delta in 1u8..10) {
        let n = NoticeNumber::aux3(seg, base).unwrap();
        let mut bytes = n.as_str().as_bytes().to_vec();
        if at == 0 { return Ok(()); } // the aux digit selects the scheme
        bytes[at] = b'0' + (bytes[at] - b'0' + delta) % 10;
        let changed = NoticeNumber::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
        // mod 93 catches every single-digit substitution: 10^k·d is never a multiple of 93.
        prop_assert!(changed.verify_check_digits().is_err());
    }

    #[test]
    fn amounts_round_trip_through_their_lexical_form(cents in 0u64..=99_999_999_999) {
        let a = Amount::from_cents(cents).unwrap();
        prop_assert_eq!(Amount::parse(&a.to_string()), Some(a));
    }

    #[test]
    fn qr_strings_round_trip(seg in 0u8..100, base in 0u64..10_000_000_000_000, cents in 0u64..10_000_000_000) {
        let qr = NoticeQr::new(NoticeNumber::aux3(seg, base).unwrap(), "01199250158", Amount::from_cents(cents).unwrap()).unwrap();
        prop_assert_eq!(NoticeQr::parse(&qr.to_string()).unwrap(), qr);
    }
}
