//! The transaction decoder takes anything a client sends: random bytes in either encoding,
//! random text, deep or long inputs — an invalid-params error, never a panic. proptest prints
//! the failing case and its seed (`PROPTEST_SEED` replays one).

use base64::Engine as _;
use curve_solana_localnet::rpc::decode_transaction;
use proptest::prelude::*;
use solana_transaction_status_client_types::UiTransactionEncoding;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_are_refused_not_panicked_on(bytes in proptest::collection::vec(any::<u8>(), 0..1_500)) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let b58 = bs58::encode(&bytes).into_string();
        for (text, encoding) in [(b64, UiTransactionEncoding::Base64), (b58, UiTransactionEncoding::Base58)] {
            if let Err(e) = decode_transaction(&text, encoding) {
                prop_assert_eq!(e.code, jsonrpc_core::ErrorCode::InvalidParams);
            }
        }
    }

    #[test]
    fn random_text_is_refused(text in ".{0,3000}") {
        for encoding in [UiTransactionEncoding::Base64, UiTransactionEncoding::Base58, UiTransactionEncoding::Json] {
            let e = decode_transaction(&text, encoding).expect_err("text is not a transaction");
            prop_assert_eq!(e.code, jsonrpc_core::ErrorCode::InvalidParams);
        }
    }
}

/// A transaction whose length prefixes claim far more than the bytes hold (a "deep" input):
/// refused by the packet limit, not allocated.
#[test]
fn huge_length_prefixes_are_refused() {
    for prefix in [[0xff, 0xff, 0x03], [0x80, 0x80, 0x01], [0xff, 0xff, 0xff]] {
        let mut bytes = prefix.to_vec();
        bytes.extend(std::iter::repeat_n(0x41, 1_000));
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let e = decode_transaction(&text, UiTransactionEncoding::Base64).expect_err("refused");
        assert_eq!(e.code, jsonrpc_core::ErrorCode::InvalidParams, "{prefix:?}");
    }
    let too_long = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 1_233]);
    let e = decode_transaction(&too_long, UiTransactionEncoding::Base64).expect_err("refused");
    assert!(e.message.contains("too large"), "{}", e.message);
}

/// A string far longer than any packet's encoding is refused by its length, before the
/// (quadratic) base58 decoding could run.
#[test]
fn a_long_encoding_is_refused_by_its_length() {
    let long = "2".repeat(1 << 20);
    for encoding in [UiTransactionEncoding::Base58, UiTransactionEncoding::Base64] {
        let e = decode_transaction(&long, encoding).expect_err("refused");
        assert!(
            e.message.contains("encoded transaction too large"),
            "{}",
            e.message
        );
    }
}
