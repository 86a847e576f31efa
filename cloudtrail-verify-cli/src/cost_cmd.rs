//! Printing a sweep's estimate (`ctverify plan`, `--dry-run`): the library counts and prices
//! it ([`cloudtrail_verify::cost`]); this only words it.

use crate::Fatal;
use crate::cli::CostArgs;
use cloudtrail_verify::Verifier;
use cloudtrail_verify::cost::{self, Prices};
use cloudtrail_verify::messages::plural;
use std::io::Write;

/// Lists the range as a run would and prints what the run will request, read, cost and take.
pub(crate) async fn print_estimate(
    verifier: &Verifier,
    args: &CostArgs,
    out: &mut (dyn Write + Send),
) -> Result<(), Fatal> {
    let workload = verifier.workload().await?;
    let e = cost::estimate(
        &workload,
        args.s3_prices.unwrap_or_default(),
        args.request_rate
            .unwrap_or(cost::DEFAULT_REQUESTS_PER_SECOND),
    );
    let w = &e.workload;
    writeln!(
        out,
        "Estimate: {}, {} LIST + {} GET requests ({} LIST made by the set-up; {}, {}), {:.1} MB \
         to read{}",
        plural(w.chains, "chain", "chains"),
        e.list_requests,
        e.get_requests,
        w.setup_list_requests,
        plural(w.digests, "digest", "digests"),
        plural(w.logs, "log file", "log files"),
        e.bytes as f64 / 1e6,
        if w.size_unknown > 0 {
            format!(
                " (and {} whose size the listing does not give)",
                plural(w.size_unknown, "object", "objects")
            )
        } else {
            String::new()
        }
    )?;
    let source = if e.prices == Prices::S3_STANDARD_US_EAST_1 {
        "S3 Standard, us-east-1, https://aws.amazon.com/s3/pricing/; --s3-prices to change"
    } else {
        "--s3-prices"
    };
    writeln!(
        out,
        "  request cost ${:.6} at {} ({source}); data transfer not included",
        e.cost_usd, e.prices
    )?;
    writeln!(
        out,
        "  time {:.1} s at {:.0} requests/s (--request-rate), reading only",
        e.seconds, e.requests_per_second
    )?;
    Ok(())
}
