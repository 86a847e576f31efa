//! Where output goes: standard output and error that survive a closed pipe, and one file
//! written through several handles (`--out FILE`).

use std::io::Write;
use std::sync::Arc;

/// One file written through several handles (`--out FILE` in text: the report and its findings,
/// which otherwise go to stdout and stderr, in the order they are written).
#[derive(Clone)]
pub(crate) struct SharedWriter(Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>);

impl SharedWriter {
    /// Creates (or truncates, as `>` would) the file at `path`.
    pub(crate) fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Ok(SharedWriter(Arc::new(std::sync::Mutex::new(
            std::io::BufWriter::new(file),
        ))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::io::BufWriter<std::fs::File>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

/// Standard output or error that stops writing, without an error, once its reader has gone:
/// `ctverify ... | head -1` must not end in `Broken pipe` and exit status 3, hiding the
/// verdict. The run goes on and exits with the verdict's status, as it would into a file.
/// (Rust ignores SIGPIPE, so a closed pipe shows up as `BrokenPipe` from `write`.)
pub(crate) struct PipeWriter<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        PipeWriter {
            inner,
            closed: false,
        }
    }

    fn closed_if_broken<T>(&mut self, result: std::io::Result<T>, ok: T) -> std::io::Result<T> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(ok)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.closed_if_broken(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.closed_if_broken(result, ())
    }
}
