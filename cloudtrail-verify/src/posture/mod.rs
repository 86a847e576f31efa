//! Trail posture: turning on log-file validation and SSE-KMS (`enable`) and auditing a trail's
//! configuration (`audit`). (placeholder, being written)
