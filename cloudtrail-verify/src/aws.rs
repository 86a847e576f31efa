//! Loading AWS configuration (placeholder, being written).
