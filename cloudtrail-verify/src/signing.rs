//! The string CloudTrail signs for each digest, and checking a signature over it.

use crate::keys::PublicKey;
use crate::schema::DigestFile;

/// Builds the exact string CloudTrail signs for a digest (AWS CloudTrail User Guide: "Custom implementations of CloudTrail log file integrity validation"):
/// `{digestEndTime}\n{digestS3Bucket}/{digestS3Object}\n{hex sha256(bytes)}\n{previousDigestSignature}`,
/// where a chain start's null previous signature is written as the text `null`.
pub fn signing_string(digest: &DigestFile) -> String {
    signing_string_from_parts(
        &digest.end_time_text,
        &digest.s3_bucket,
        &digest.s3_object,
        &digest.sha256_hex(),
        digest.previous.as_ref().map(|p| p.signature.as_str()),
    )
}

/// [`signing_string`] from its parts; `previous_signature` is `None` for a chain start.
pub fn signing_string_from_parts(
    end_time: &str,
    bucket: &str,
    key: &str,
    sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{key}\n{sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not hex, or is empty.
    #[error("signature is not a hex RSA signature")]
    Malformed,
    /// The signature is well formed but does not match the signed string under the key.
    #[error("signature verification failed")]
    Mismatch,
}

/// Checks a hex RSA PKCS#1 v1.5 / SHA-256 signature of `message` under `key` (by AWS-LC).
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let bytes = hex::decode(signature_hex).map_err(|_| SignatureError::Malformed)?;
    if bytes.is_empty() {
        return Err(SignatureError::Malformed);
    }
    key.verifying()
        .verify_sig(message, &bytes)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_string_matches_the_reference_test_vector() {
        let s = signing_string_from_parts(
            "a",
            "b",
            "c",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            None,
        );
        assert_eq!(
            s,
            "a\nb/c\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nnull"
        );
    }

    #[test]
    fn signing_string_carries_the_previous_signature_verbatim() {
        let s = signing_string_from_parts("t", "b", "k", "00", Some("abcdef"));
        assert!(s.ends_with("\nabcdef"));
    }

    /// The pure-Rust `rsa` crate, which verified signatures before AWS-LC did, and AWS-LC must
    /// agree on every signature: genuine ones, and ones altered at random in the message, the
    /// signature (a flipped bit, a cut, an extra byte, zeros) or the key.
    #[test]
    fn aws_lc_and_the_rsa_crate_agree_on_random_alterations() {
        use rand::{Rng, SeedableRng};
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
        use rsa::signature::{SignatureEncoding, Signer, Verifier};
        let private = |pem: &str| rsa::RsaPrivateKey::from_pkcs1_pem(pem).expect("test key");
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private(include_str!(
            "../../fixtures/keys/test-key.pem"
        )));
        let public = |key: &rsa::RsaPrivateKey| {
            let der = key.to_public_key().to_pkcs1_der().expect("encodes");
            let t = chrono::DateTime::UNIX_EPOCH;
            PublicKey::from_der("f", der.as_bytes(), t, t, None).expect("a 2048-bit key")
        };
        let ours = public(&private(include_str!("../../fixtures/keys/test-key.pem")));
        let other = public(&private(include_str!("../../fixtures/keys/other-key.pem")));
        let mut rng = rand::rngs::StdRng::seed_from_u64(22);
        let mut outcomes = [0usize; 2];
        for _ in 0..12 {
            let len = rng.gen_range(0..400);
            let message: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            let signature = signer.sign(&message).to_vec();
            for round in 0..40 {
                let (mut m, mut sig, mut key) = (message.clone(), signature.clone(), &ours);
                match round % 7 {
                    0 => {}
                    1 if !m.is_empty() => {
                        let i = rng.gen_range(0..m.len());
                        m[i] ^= 1 << rng.gen_range(0..8);
                    }
                    2 => {
                        let i = rng.gen_range(0..sig.len());
                        sig[i] ^= 1 << rng.gen_range(0..8);
                    }
                    3 => sig.truncate(rng.gen_range(1..sig.len())),
                    4 => sig.push(rng.r#gen()),
                    5 => sig.iter_mut().for_each(|b| *b = 0),
                    _ => key = &other,
                }
                let reference = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).is_ok_and(|s| {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.rsa().clone())
                        .verify(&m, &s)
                        .is_ok()
                });
                let checked = verify_signature(key, &m, &hex::encode(&sig)).is_ok();
                assert_eq!(checked, reference, "round {round}, {len}-byte message");
                if round % 7 == 0 {
                    assert!(checked, "a genuine signature verifies");
                }
                outcomes[usize::from(checked)] += 1;
            }
        }
        assert!(outcomes[0] > 300 && outcomes[1] >= 12, "{outcomes:?}");
    }

    #[test]
    fn a_signature_that_is_not_hex_or_empty_is_malformed() {
        let der = {
            use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(include_str!(
                "../../fixtures/keys/test-key.pem"
            ))
            .expect("test key");
            key.to_public_key().to_pkcs1_der().expect("encodes")
        };
        let t = chrono::DateTime::UNIX_EPOCH;
        let key = PublicKey::from_der("f", der.as_bytes(), t, t, None).expect("key");
        assert_eq!(
            verify_signature(&key, b"m", "zz"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(&key, b"m", ""),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(&key, b"m", "00"),
            Err(SignatureError::Mismatch)
        );
    }
}
