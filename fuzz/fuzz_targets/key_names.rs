//! Object keys (from listings and from digests) and trail ARNs are hostile input: reading them
//! must never panic.
#![no_main]

use cloudtrail_verify::TrailArn;
use cloudtrail_verify::layout::{ChainId, ChainLayout, TrailLocation};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn layout() -> &'static ChainLayout {
    static LAYOUT: OnceLock<ChainLayout> = OnceLock::new();
    LAYOUT.get_or_init(|| ChainLayout {
        location: TrailLocation {
            bucket: "trail-bucket".into(),
            prefix: Some("pre/fix".into()),
            org_id: Some("o-abcdefghij".into()),
        },
        chain: ChainId {
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
        },
        trail_name: "org_trail".into(),
        home_region: "us-east-1".into(),
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let layout = layout();
    let _ = layout.parse_digest_key(&text);
    let _ = layout.log_key_time(&text);
    let _ = text.parse::<TrailArn>();
});
