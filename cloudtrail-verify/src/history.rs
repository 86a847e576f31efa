//! Where a run reads a trail's management events (CloudTrail's event history), read once per
//! run and only when a gap needs them: a run whose chains are covered makes no call.
//!
//! The rules that judge a gap by those events are pure and live in `crate::trust::history`.

use crate::trust::history::TrailHistory;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A reader of a trail's StartLogging, StopLogging, UpdateTrail, CreateTrail and DeleteTrail
/// events, as CloudTrail's event history (LookupEvents) holds them.
#[async_trait::async_trait]
pub(crate) trait EventHistory: Send + Sync {
    /// The trail's events over the history's 90 days before `now`, or why they could not be
    /// read (said in every gap they were needed for).
    async fn read(&self, now: DateTime<Utc>) -> Result<TrailHistory, String>;
}

/// The history of one run: read at the first gap that needs it, then shared by every chain.
pub(crate) struct LazyHistory {
    reader: Arc<dyn EventHistory>,
    now: DateTime<Utc>,
    read: tokio::sync::OnceCell<Result<Arc<TrailHistory>, String>>,
}

impl LazyHistory {
    /// A history read from `reader` as of `now`, when first needed.
    pub(crate) fn new(reader: Arc<dyn EventHistory>, now: DateTime<Utc>) -> Self {
        LazyHistory {
            reader,
            now,
            read: tokio::sync::OnceCell::new(),
        }
    }

    /// What the run read, for the report (`None`: no gap needed the history).
    pub(crate) fn summary(&self) -> Option<crate::report::EventHistoryRead> {
        Some(match self.read.get()? {
            Ok(history) => crate::report::EventHistoryRead {
                calls: history.calls,
                events: history.events.len(),
                reaches_back_to: Some(history.reaches_back_to),
                error: None,
            },
            Err(why) => crate::report::EventHistoryRead {
                calls: 0,
                events: 0,
                reaches_back_to: None,
                error: Some(why.clone()),
            },
        })
    }

    /// The history, read now if no chain read it yet.
    pub(crate) async fn get(&self) -> Result<Arc<TrailHistory>, String> {
        self.read
            .get_or_init(|| async { self.reader.read(self.now).await.map(Arc::new) })
            .await
            .clone()
    }
}

/// The event history of a trail in AWS, read with the run's session.
#[cfg(feature = "aws")]
pub(crate) struct AwsEventHistory {
    /// The run's session, with its retries and timeouts.
    pub conf: aws_config::SdkConfig,
    /// The trail: its home region and account hold its events.
    pub trail: crate::layout::TrailArn,
    /// The caller's account, when STS said it.
    pub caller_account: Option<String>,
    /// The trail's bucket, whose lifecycle configuration changes are read too.
    pub bucket: Option<String>,
}

#[cfg(feature = "aws")]
#[async_trait::async_trait]
impl EventHistory for AwsEventHistory {
    async fn read(&self, now: DateTime<Utc>) -> Result<TrailHistory, String> {
        // Each account keeps its own history: another account's credentials read another
        // history, in which this trail's events are not (and their absence proves nothing).
        if let Some(caller) = &self.caller_account
            && caller != &self.trail.account_id
        {
            return Err(format!(
                "the trail's events are in the event history of account {}, and this run's \
                 credentials are of account {caller}",
                self.trail.account_id
            ));
        }
        crate::trail_api::trail_history(&self.conf, &self.trail, self.bucket.as_deref(), now)
            .await
            .map_err(|e| e.to_string())
    }
}
