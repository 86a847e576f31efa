pub mod cloudtrail_stub;
pub mod delay_line;
pub mod local_http;
pub mod moto;
pub mod mutation;
pub mod s3_server;
pub mod tls_front;
pub mod trail;
