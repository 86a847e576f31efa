pub mod moto;
pub mod trail;
pub mod cloudtrail_stub;
pub mod local_http;
pub mod s3_server;
