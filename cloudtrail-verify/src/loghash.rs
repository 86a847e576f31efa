//! Streaming gunzip + SHA-256 of CloudTrail objects.
//!
//! A log file's digest entry holds the SHA-256 of its *uncompressed* bytes, so every byte must be
//! inflated and hashed. This is done while streaming, in fixed-size buffers: a file is never held
//! whole in memory, and a cap on the decompressed size turns a gzip bomb into an error.

use flate2::bufread::GzDecoder;
use sha2::{Digest as _, Sha256};
use std::cell::Cell;
use std::io::{self, BufRead, Read};

/// Default cap on a log file's decompressed size. CloudTrail delivers log files every ~5 minutes
/// and keeps them far smaller; anything larger is suspect and is reported, not hashed forever.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 1 << 30;
/// Default cap on a digest file's decompressed size. Digests are held in memory to be parsed;
/// one hour of one region's log files fits in far less, so a larger digest is not CloudTrail's.
pub const DEFAULT_MAX_DIGEST_BYTES: u64 = 16 << 20;

const BUFFER: usize = 128 * 1024;

/// The two buffers of one gunzip (compressed input, decompressed output), kept per thread
/// between objects: most log files are a few kilobytes, and allocating and zeroing 256 KiB for
/// each of them cost more than inflating and hashing it (`perf` over `bench/s3.sh`).
struct Buffers {
    input: Box<[u8]>,
    output: Box<[u8]>,
}

thread_local! {
    /// This thread's idle [`Buffers`]: taken for one gunzip and put back after it, so a nested
    /// or panicking use can only allocate afresh, never share them.
    static IDLE: Cell<Option<Box<Buffers>>> = const { Cell::new(None) };
}

impl Buffers {
    /// This thread's idle buffers, or new ones.
    fn take() -> Box<Buffers> {
        IDLE.take().unwrap_or_else(|| {
            Box::new(Buffers {
                input: vec![0; BUFFER].into_boxed_slice(),
                output: vec![0; BUFFER].into_boxed_slice(),
            })
        })
    }

    /// Keeps them for this thread's next gunzip.
    fn give_back(self: Box<Self>) {
        IDLE.set(Some(self));
    }
}

/// A `BufRead` over a borrowed buffer: `std::io::BufReader` owns its buffer and zeroes it for
/// every reader, which [`Buffers`] exists to avoid.
struct Buffered<'a, R> {
    inner: R,
    buf: &'a mut [u8],
    pos: usize,
    filled: usize,
}

impl<R: Read> Read for Buffered<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Buffered<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.filled = self.inner.read(self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
    }
}

/// Why a gzip object could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GunzipError {
    /// Reading the object failed (network, disk): nothing is known about its content.
    #[error("read failed: {0}")]
    Read(io::Error),
    /// The bytes are not a well-formed gzip stream.
    #[error("invalid gzip: {0}")]
    Corrupt(String),
    /// The body ended, cleanly as far as its reader could tell, before the gzip stream did.
    /// Either the object is stored cut short (tampering) or its transfer was (a response cut
    /// with a `Content-Length` to match): the body alone cannot tell which, so a caller reads
    /// it again before deciding (see `crate::walk`'s re-read rule).
    #[error("invalid gzip: {detail} (the body ended after {received} bytes)")]
    Truncated {
        /// What the decoder said.
        detail: String,
        /// How many bytes the body had.
        received: u64,
        /// SHA-256 of every byte of the body, when the caller asked for it
        /// ([`hash_gzip_noting`]): two reads with the same fingerprint received the same body.
        fingerprint: Option<[u8; 32]>,
    },
    /// Bytes follow the end of the gzip stream.
    #[error("unexpected data after end of compressed stream")]
    TrailingData,
    /// The decompressed size passed the cap: the file was not hashed to the end.
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap in force.
        limit: u64,
    },
}

/// What hashing a gzip object found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GunzipHash {
    /// SHA-256 of the decompressed bytes.
    pub sha256: [u8; 32],
    /// Number of decompressed bytes.
    pub decompressed_bytes: u64,
    /// Number of compressed bytes read.
    pub compressed_bytes: u64,
}

/// Wraps the source so that its own failures can be told apart from gzip's complaints about
/// the data: the first is "could not check", the second is evidence. It also notes whether the
/// body came to its end (so that a stream cut short can be told from one with bad data in it)
/// and, when asked, hashes every byte (so that two reads can be compared).
struct SourceReader<R> {
    inner: R,
    failed: bool,
    ended: bool,
    bytes: u64,
    fingerprint: Option<Sha256>,
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                if n == 0 && !buf.is_empty() {
                    self.ended = true;
                }
                if let Some(hasher) = &mut self.fingerprint {
                    hasher.update(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

impl<R> SourceReader<R> {
    /// The error for a body that ended before its gzip stream did.
    fn truncated(&mut self, detail: String) -> GunzipError {
        GunzipError::Truncated {
            detail,
            received: self.bytes,
            fingerprint: self.fingerprint.take().map(|h| h.finalize().into()),
        }
    }
}

/// Inflates `reader` to its end, feeding every decompressed byte to `sink`, and checks that
/// nothing follows the gzip stream. Stops with [`GunzipError::TooLarge`] past `limit` bytes.
fn gunzip_into(
    reader: impl Read,
    limit: u64,
    fingerprint: bool,
    sink: impl FnMut(&[u8]),
) -> Result<GunzipHash, GunzipError> {
    let mut buffers = Buffers::take();
    let Buffers { input, output } = &mut *buffers;
    let result = gunzip_with(reader, limit, fingerprint, sink, input, output);
    buffers.give_back();
    result
}

/// [`gunzip_into`] with the buffers given.
fn gunzip_with(
    reader: impl Read,
    limit: u64,
    fingerprint: bool,
    mut sink: impl FnMut(&[u8]),
    input: &mut [u8],
    buf: &mut [u8],
) -> Result<GunzipHash, GunzipError> {
    let source = SourceReader {
        inner: reader,
        failed: false,
        ended: false,
        bytes: 0,
        fingerprint: fingerprint.then(Sha256::new),
    };
    let mut decoder = GzDecoder::new(Buffered {
        inner: source,
        buf: input,
        pos: 0,
        filled: 0,
    });
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let classify = |e: io::Error, decoder: &mut GzDecoder<Buffered<'_, SourceReader<_>>>| {
        let source = &mut decoder.get_mut().inner;
        if source.failed {
            GunzipError::Read(e)
        } else if source.ended {
            source.truncated(e.to_string())
        } else {
            GunzipError::Corrupt(e.to_string())
        }
    };
    loop {
        let n = match decoder.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(e, &mut decoder)),
        };
        total += n as u64;
        if total > limit {
            return Err(GunzipError::TooLarge { limit });
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n]);
    }
    // flate2 reports an empty input as a clean end; an empty object is not a gzip file.
    if decoder.header().is_none() {
        return Err(decoder
            .get_mut()
            .inner
            .truncated("empty or headerless stream".into()));
    }
    let mut rest = decoder.into_inner();
    loop {
        match rest.fill_buf() {
            Ok([]) => break,
            Ok(_) => return Err(GunzipError::TrailingData),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GunzipError::Read(e)),
        }
    }
    Ok(GunzipHash {
        sha256: hasher.finalize().into(),
        decompressed_bytes: total,
        compressed_bytes: rest.inner.bytes,
    })
}

/// Why a stream could not be hashed to its end.
#[derive(Debug)]
pub(crate) enum StreamHashError {
    /// Reading failed.
    Read(io::Error),
    /// The stream is longer than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

/// Streams `reader` through SHA-256 within `limit` bytes, never holding it whole: its digest
/// and length. The one plain streaming hash of the crate (bundle files, Lake result files);
/// log files are hashed decompressed by [`hash_gzip`].
pub(crate) fn sha256_stream(
    mut reader: impl Read,
    limit: u64,
) -> Result<([u8; 32], u64), StreamHashError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamHashError::Read(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(StreamHashError::TooLarge { limit });
        }
        hasher.update(&buf[..n]);
    }
    Ok((hasher.finalize().into(), total))
}

/// Hashes the decompressed content of a gzip object without keeping it.
#[cfg(test)]
pub fn hash_gzip(reader: impl Read, limit: u64) -> Result<GunzipHash, GunzipError> {
    gunzip_into(reader, limit, false, |_| {})
}

/// [`hash_gzip`], and with `fingerprint` set, a [`GunzipError::Truncated`] carries the SHA-256
/// of the body as received. Costs a second hash of the compressed bytes, so it is asked for
/// only on a re-read.
pub fn hash_gzip_noting(
    reader: impl Read,
    limit: u64,
    fingerprint: bool,
) -> Result<GunzipHash, GunzipError> {
    gunzip_into(reader, limit, fingerprint, |_| {})
}

/// Decompresses a whole (small) gzip object into memory, within `limit` bytes.
#[cfg(test)]
pub fn gunzip_to_vec(reader: impl Read, limit: u64) -> Result<Vec<u8>, GunzipError> {
    gunzip_to_vec_noting(reader, limit, false)
}

/// [`gunzip_to_vec`], with a fingerprint on truncation as [`hash_gzip_noting`] gives.
pub fn gunzip_to_vec_noting(
    reader: impl Read,
    limit: u64,
    fingerprint: bool,
) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    gunzip_into(reader, limit, fingerprint, |chunk| {
        out.extend_from_slice(chunk)
    })?;
    // Grown by doubling, the buffer can hold twice the bytes it has: a digest near the cap is
    // kept while it is processed, and should cost its size, not up to twice that.
    out.shrink_to_fit();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn hash_is_of_the_uncompressed_bytes() {
        let h = hash_gzip(&gz(b"abc")[..], 100).unwrap();
        assert_eq!(
            hex::encode(h.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.decompressed_bytes, 3);
    }

    /// The buffers one thread keeps between objects carry nothing from one to the next: a
    /// failure half-way through an object, then objects of other sizes, hash as if alone.
    #[test]
    fn reused_buffers_carry_nothing_from_one_object_to_the_next() {
        let big: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let small = b"{\"Records\":[]}";
        let alone = |data: &[u8]| Sha256::digest(data).to_vec();
        let compressed_big = gz(&big);
        let truncated = &compressed_big[..compressed_big.len() / 2];
        assert!(matches!(
            hash_gzip(truncated, 1 << 30),
            Err(GunzipError::Truncated { .. })
        ));
        for data in [&big[..], &small[..], &big[..300_000], &small[..]] {
            let h = hash_gzip(&gz(data)[..], 1 << 30).unwrap();
            assert_eq!(h.sha256.to_vec(), alone(data));
            assert_eq!(h.decompressed_bytes, data.len() as u64);
        }
        assert!(matches!(
            hash_gzip(&compressed_big[..], 1000),
            Err(GunzipError::TooLarge { limit: 1000 })
        ));
        assert_eq!(gunzip_to_vec(&gz(small)[..], 100).unwrap(), small.to_vec());
    }

    #[test]
    fn data_after_the_gzip_stream_is_rejected() {
        let mut data = gz(b"abc");
        data.extend_from_slice(b"x");
        assert!(matches!(
            hash_gzip(&data[..], 100),
            Err(GunzipError::TrailingData)
        ));
        // A second gzip member is trailing data too: CloudTrail writes one member.
        let mut two = gz(b"abc");
        two.extend_from_slice(&gz(b"def"));
        assert!(matches!(
            hash_gzip(&two[..], 100),
            Err(GunzipError::TrailingData)
        ));
    }

    /// A body that ends before its gzip stream is told apart from one with bad bytes in it,
    /// and carries what is needed to compare two reads of it.
    #[test]
    fn truncated_and_empty_streams_are_truncated_and_bad_bytes_corrupt() {
        let data = gz(&[7u8; 10_000]);
        let cut = &data[..data.len() - 6];
        match hash_gzip(cut, 1 << 20) {
            Err(GunzipError::Truncated {
                received,
                fingerprint: None,
                ..
            }) => assert_eq!(received, cut.len() as u64),
            other => panic!("{other:?}"),
        }
        match hash_gzip_noting(cut, 1 << 20, true) {
            Err(GunzipError::Truncated {
                fingerprint: Some(fingerprint),
                ..
            }) => assert_eq!(fingerprint.to_vec(), Sha256::digest(cut).to_vec()),
            other => panic!("{other:?}"),
        }
        match gunzip_to_vec_noting(&b""[..], 100, true) {
            Err(GunzipError::Truncated {
                received: 0,
                fingerprint: Some(fingerprint),
                ..
            }) => assert_eq!(fingerprint.to_vec(), Sha256::digest(b"").to_vec()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            hash_gzip(&b"plain text"[..], 100),
            Err(GunzipError::Corrupt(_))
        ));
        // Bad bytes in the middle of a stream are found before its end.
        let mut flipped = gz(&(0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        flipped.extend_from_slice(&[0u8; 300_000]);
        assert!(
            matches!(
                hash_gzip(&flipped[..], 1 << 30),
                Err(GunzipError::Corrupt(_))
            ),
            "{:?}",
            hash_gzip(&flipped[..], 1 << 30)
        );
    }

    #[test]
    fn output_past_the_cap_stops_with_an_error() {
        let data = gz(&vec![0u8; 1 << 20]);
        assert!(matches!(
            hash_gzip(&data[..], 1000),
            Err(GunzipError::TooLarge { limit: 1000 })
        ));
        assert_eq!(gunzip_to_vec(&data[..], 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn a_failing_reader_is_a_read_error_not_corruption() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        assert!(matches!(hash_gzip(Broken, 100), Err(GunzipError::Read(_))));
    }
}
