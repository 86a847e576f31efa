//! The string CloudTrail signs for each digest, and checking a signature over it.

use crate::keys::PublicKey;
use crate::schema::DigestFile;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use sha2::Sha256;

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
    /// The signature is not hex, or has the wrong length for the key.
    #[error("signature is not a hex RSA signature")]
    Malformed,
    /// The signature is well formed but does not match the signed string under the key.
    #[error("signature verification failed")]
    Mismatch,
}

/// Checks a hex RSA PKCS#1 v1.5 / SHA-256 signature of `message` under `key`.
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let bytes = hex::decode(signature_hex).map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|_| SignatureError::Malformed)?;
    VerifyingKey::<Sha256>::new(key.rsa().clone())
        .verify(message, &signature)
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
}
