//! Digest files and key files are hostile input: parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cloudtrail_verify::fuzzing::DigestFile::parse(data.to_vec());
    let _ = cloudtrail_verify::KeySet::from_list_public_keys_json(data);
});
