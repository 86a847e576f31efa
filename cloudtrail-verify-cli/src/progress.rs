//! The progress bar on a terminal's stderr, and the line writer that lifts it while report
//! lines are written.

use cloudtrail_verify::Progress;
use std::io::Write;
use std::sync::Arc;

/// A progress bar on stderr over digests: the total is known before the walk (the listings of
/// the range), so the ETA means something; the log files checked, of those found so far, and
/// the bytes hashed are its message.
pub(crate) struct ProgressBar {
    pub(crate) bar: indicatif::ProgressBar,
    bytes: std::sync::atomic::AtomicU64,
    logs_found: std::sync::atomic::AtomicU64,
    logs_done: std::sync::atomic::AtomicU64,
}

/// A writer that passes whole lines on with the progress bar lifted (indicatif's `suspend`):
/// without a bar, it passes everything on at once.
pub(crate) struct BarLines<'a> {
    inner: &'a mut (dyn Write + Send),
    bar: Option<indicatif::ProgressBar>,
    pending: Vec<u8>,
}

impl<'a> BarLines<'a> {
    pub(crate) fn new(
        inner: &'a mut (dyn Write + Send),
        bar: Option<indicatif::ProgressBar>,
    ) -> Self {
        BarLines {
            inner,
            bar,
            pending: Vec::new(),
        }
    }

    fn pass_on(&mut self, upto: usize) -> std::io::Result<()> {
        let lines: Vec<u8> = self.pending.drain(..upto).collect();
        let inner = &mut *self.inner;
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                inner.write_all(&lines)?;
                inner.flush()
            }),
            None => inner.write_all(&lines),
        }
    }
}

impl Write for BarLines<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bar.is_none() {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.pass_on(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let all = self.pending.len();
        if all > 0 {
            self.pass_on(all)?;
        }
        self.inner.flush()
    }
}

impl Drop for BarLines<'_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Clears the progress bar when dropped.
pub(crate) struct ClearBar(pub(crate) Option<Arc<ProgressBar>>);

impl Drop for ClearBar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.bar.finish_and_clear();
        }
    }
}

impl ProgressBar {
    pub(crate) fn new() -> Arc<Self> {
        // Until the listings say how many digests there are, there is no bar to fill: say what
        // is happening instead of "0/0 digests, , ETA 0s".
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        {
            bar.set_style(style);
        }
        bar.set_message("listing the trail's digest files …");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Arc::new(ProgressBar {
            bar,
            bytes: std::sync::atomic::AtomicU64::new(0),
            logs_found: std::sync::atomic::AtomicU64::new(0),
            logs_done: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn update_message(&self) {
        use std::sync::atomic::Ordering;
        let total = self.bytes.load(Ordering::Relaxed);
        let seconds = self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{}/{} log files, {} ({}/s)",
            self.logs_done.load(Ordering::Relaxed),
            self.logs_found.load(Ordering::Relaxed),
            indicatif::HumanBytes(total),
            indicatif::HumanBytes((total as f64 / seconds) as u64)
        ));
    }
}

impl Progress for ProgressBar {
    fn digests_expected(&self, count: u64) {
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} digests, {msg}, ETA {eta}",
        ) {
            self.bar.set_style(style);
        }
        self.bar.set_length(count);
        self.update_message();
    }

    fn digest_done(&self) {
        self.bar.inc(1);
    }

    fn logs_found(&self, count: u64) {
        self.logs_found
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        self.update_message();
    }

    fn log_verified(&self, _compressed: u64, decompressed: u64) {
        use std::sync::atomic::Ordering;
        self.bytes.fetch_add(decompressed, Ordering::Relaxed);
        self.logs_done.fetch_add(1, Ordering::Relaxed);
        self.update_message();
    }
}
