//! What a sweep will cost before it runs: the S3 requests it makes (LIST, GET), the bytes it
//! reads, their price and the time they take at a stated request rate.
//!
//! [`crate::Verifier::workload`] lists each chain's digest and log folders the way a run lists
//! them (those listings are requests a run makes too) and counts the objects the run will read
//! with their sizes (ListObjectsV2 reports them); [`estimate`] turns that into an [`Estimate`],
//! with no I/O, so that a price table or a rate can be changed without listing again.
//!
//! The estimate counts what a run of an intact trail reads: every digest ending in the range
//! (and the hour after it, where late log files are listed) and every log file those digests
//! list, as the log folder names them. Damage changes it (a missing digest is not read; a
//! run looking for what replaced it reads more), and so does a checkpoint (`--state`), which
//! is not taken into account. Not counted either: the few bucket-level requests of a run
//! (GetBucketVersioning, GetBucketLifecycleConfiguration, ListObjectVersions on a versioned
//! bucket), and what a streaming run's week-long segments add (each segment lists its own
//! days, and each boundary reads the digest after it and its log files twice): a few LISTs and
//! an hour's objects per chain and week.

use std::fmt;

/// S3 request prices in US dollars per 1,000 requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// ListObjectsV2 (priced with PUT, COPY and POST).
    pub list_per_1000: f64,
    /// GetObject (priced with "GET, SELECT, and all other requests").
    pub get_per_1000: f64,
}

impl Prices {
    /// S3 Standard in US East (N. Virginia), from <https://aws.amazon.com/s3/pricing/>
    /// (Requests & data retrievals): PUT, COPY, POST, LIST requests $0.005 per 1,000; GET,
    /// SELECT and all other requests $0.0004 per 1,000. Other regions and storage classes
    /// differ: give their prices with [`Prices::parse`]. Data transfer is not priced: reading
    /// from the bucket's own region (EC2, Lambda) is free, from the internet it is not.
    pub const S3_STANDARD_US_EAST_1: Prices = Prices {
        list_per_1000: 0.005,
        get_per_1000: 0.0004,
    };

    /// Parses `LIST=0.005,GET=0.0004` (either may be left out: it keeps its
    /// [`Prices::S3_STANDARD_US_EAST_1`] price).
    ///
    /// # Errors
    /// A part that is not `LIST=` or `GET=` followed by a finite, non-negative number.
    pub fn parse(text: &str) -> Result<Prices, String> {
        let mut prices = Prices::S3_STANDARD_US_EAST_1;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected LIST=PRICE or GET=PRICE"))?;
            let value: f64 = value.trim().parse().map_err(|e| format!("{part:?}: {e}"))?;
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{part:?}: a price is a non-negative number"));
            }
            match name.trim().to_ascii_uppercase().as_str() {
                "LIST" => prices.list_per_1000 = value,
                "GET" => prices.get_per_1000 = value,
                other => return Err(format!("{other:?}: expected LIST or GET")),
            }
        }
        Ok(prices)
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices::S3_STANDARD_US_EAST_1
    }
}

impl fmt::Display for Prices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LIST ${} and GET ${} per 1,000 requests",
            self.list_per_1000, self.get_per_1000
        )
    }
}

/// Default request rate of an estimate: ctverify's default concurrency against S3 (128) over
/// a 20 ms round trip, what S3 answers within a region. S3 itself accepts at least 5,500 GET
/// requests per second per partitioned prefix
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html>), and
/// each chain has its own prefix.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 128.0 / 0.020;

/// What a sweep reads, as its listings show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// Chains counted.
    pub chains: u64,
    /// ListObjectsV2 requests the listings made (a run makes the same ones).
    pub list_requests: u64,
    /// ListObjectsV2 requests the set-up made before (finding the chains: a run makes them
    /// too), where the source counts them.
    pub setup_list_requests: u64,
    /// Digest files to read.
    pub digests: u64,
    /// Log files to read.
    pub logs: u64,
    /// Their compressed sizes, where the listing reported them.
    pub digest_bytes: u64,
    /// Their compressed sizes, where the listing reported them.
    pub log_bytes: u64,
    /// Objects whose size the listing did not report (a local copy's): their bytes are not in
    /// the totals.
    pub size_unknown: u64,
}

impl Workload {
    /// Counts a digest to read.
    pub fn add_digest(&mut self, size: Option<u64>) {
        self.digests += 1;
        self.digest_bytes += self.sized(size);
    }

    /// Counts a log file to read.
    pub fn add_log(&mut self, size: Option<u64>) {
        self.logs += 1;
        self.log_bytes += self.sized(size);
    }

    fn sized(&mut self, size: Option<u64>) -> u64 {
        if size.is_none() {
            self.size_unknown += 1;
        }
        size.unwrap_or(0)
    }

    /// Adds another chain's workload.
    pub fn add(&mut self, other: &Workload) {
        self.chains += other.chains;
        self.list_requests += other.list_requests;
        self.setup_list_requests += other.setup_list_requests;
        self.digests += other.digests;
        self.logs += other.logs;
        self.digest_bytes += other.digest_bytes;
        self.log_bytes += other.log_bytes;
        self.size_unknown += other.size_unknown;
    }
}

/// A sweep's cost, before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// What it reads.
    pub workload: Workload,
    /// ListObjectsV2 requests, the set-up's included.
    pub list_requests: u64,
    /// GetObject requests: one per digest and log file.
    pub get_requests: u64,
    /// Compressed bytes read (objects of unknown size count nothing).
    pub bytes: u64,
    /// The requests' price in US dollars, at `prices`.
    pub cost_usd: f64,
    /// The prices used.
    pub prices: Prices,
    /// Seconds the requests take at `requests_per_second`.
    pub seconds: f64,
    /// The request rate assumed.
    pub requests_per_second: f64,
}

/// The requests, bytes, price and time of `workload` at `prices` and `requests_per_second`
/// (a rate that is not a positive number is taken as [`DEFAULT_REQUESTS_PER_SECOND`]).
pub fn estimate(workload: &Workload, prices: Prices, requests_per_second: f64) -> Estimate {
    let rate = if requests_per_second.is_finite() && requests_per_second > 0.0 {
        requests_per_second
    } else {
        DEFAULT_REQUESTS_PER_SECOND
    };
    let list_requests = workload.list_requests + workload.setup_list_requests;
    let get_requests = workload.digests + workload.logs;
    let cost_usd = (list_requests as f64 * prices.list_per_1000
        + get_requests as f64 * prices.get_per_1000)
        / 1000.0;
    Estimate {
        workload: workload.clone(),
        list_requests,
        get_requests,
        bytes: workload.digest_bytes + workload.log_bytes,
        cost_usd,
        prices,
        seconds: (list_requests + get_requests) as f64 / rate,
        requests_per_second: rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_prices_lists_and_gets_at_their_own_rates() {
        let mut w = Workload {
            chains: 1,
            list_requests: 10,
            ..Workload::default()
        };
        for _ in 0..990 {
            w.add_log(Some(1000));
        }
        for _ in 0..10 {
            w.add_digest(None);
        }
        let e = estimate(&w, Prices::default(), 100.0);
        assert_eq!(
            (e.list_requests, e.get_requests, e.bytes),
            (10, 1000, 990_000)
        );
        assert_eq!(e.workload.size_unknown, 10);
        assert!((e.cost_usd - (10.0 * 0.005 + 1000.0 * 0.0004) / 1000.0).abs() < 1e-12);
        assert!((e.seconds - 10.1).abs() < 1e-9);
    }

    #[test]
    fn prices_parse_either_part_and_refuse_anything_else() {
        let p = Prices::parse("GET=0.00044").unwrap();
        assert_eq!(p.get_per_1000, 0.00044);
        assert_eq!(p.list_per_1000, 0.005);
        let p = Prices::parse("list=0.0054, GET=0").unwrap();
        assert_eq!((p.list_per_1000, p.get_per_1000), (0.0054, 0.0));
        for bad in ["PUT=1", "GET", "GET=-1", "GET=nan", "GET=x"] {
            assert!(Prices::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rate_that_is_not_positive_falls_back_to_the_default() {
        let e = estimate(&Workload::default(), Prices::default(), 0.0);
        assert_eq!(e.requests_per_second, DEFAULT_REQUESTS_PER_SECOND);
    }
}
