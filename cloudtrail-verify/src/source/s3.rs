//! Objects read from Amazon S3 (or an S3-compatible store). (being written)

/// Placeholder until S3 support lands.
#[derive(Debug)]
pub struct S3Source;
