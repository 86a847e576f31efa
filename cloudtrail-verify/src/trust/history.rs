//! What CloudTrail's event history proves about an hour no digest covers, with no I/O.
//!
//! A digest chain cannot tell a legitimate pause from deleted digests: a new chain starts with
//! null `previousDigest*` fields whenever logging is stopped and started again or log-file
//! validation is turned off and on ("Validating CloudTrail log file integrity", AWS CloudTrail
//! User Guide), and a deleted segment leaves exactly the same trace. The trail's management
//! events (StartLogging, StopLogging, UpdateTrail, CreateTrail, DeleteTrail) are kept by
//! CloudTrail's event history (LookupEvents, the last 90 days), which whoever writes the bucket
//! cannot change. These rules replay those events over a gap:
//!
//! - the digests of a trail are delivered exactly while it logs *and* validates;
//! - the old segment ended because of an event that stopped one of them, during the span of its
//!   final digest ("CloudTrail delivers a final digest up to and including the StopLogging
//!   event");
//! - the new segment started because of an event that turned both on again, within the hour
//!   before its first digest starts;
//! - if both hold and nothing in between turned both on, the gap is **logging off, proven**
//!   (no finding) or, when the trail logged without validation for part of it, **validation
//!   off, explained** (unverifiable: those log files carry no digest, ever);
//! - if the history shows both on inside the gap (a start and its stop), a whole segment of
//!   digests was delivered and is gone: **invalid**, naming the events;
//! - anything else (older than the history reaches, an event missing, a state the history
//!   cannot establish) leaves the gap as it was: unverifiable.

use crate::findings::TrailEvent;
use chrono::{DateTime, TimeDelta, Utc};

/// How far an event's time may sit outside the span that should hold it: event times and
/// digest times come from different clocks of CloudTrail, each to the second.
pub const EVENT_SLACK: TimeDelta = TimeDelta::minutes(5);

/// How long before a new chain's first digest starts the event that started it may lie (the
/// first digest after StartLogging may begin at the next delivery, within the hour).
pub const RESTART_LEAD: TimeDelta = TimeDelta::hours(1);

/// `2026-01-01T00:00:00Z`, as every report line writes times (the trust core uses no output
/// module).
fn display(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The trail's management events over the time CloudTrail's event history holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailHistory {
    /// This trail's StartLogging, StopLogging, UpdateTrail, CreateTrail and DeleteTrail calls
    /// that succeeded, any order.
    pub events: Vec<TrailEvent>,
    /// The oldest time the history holds (90 days before it was read): before it, nothing is
    /// known.
    pub reaches_back_to: DateTime<Utc>,
    /// The newest time the history is complete to (shortly before it was read).
    pub reaches_until: DateTime<Utc>,
    /// LookupEvents calls it took to read (for the report).
    pub calls: u32,
}

/// Where a gap begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapOpening {
    /// A valid digest spanning `[start, end]` ends where the gap begins: the last digest of the
    /// old segment, if the gap is a pause.
    AfterDigest {
        /// Its `digestStartTime`.
        start: DateTime<Utc>,
        /// Its `digestEndTime`: the gap's start.
        end: DateTime<Utc>,
    },
    /// The gap opens the window at this time; the state of the trail then comes from the
    /// history alone.
    WindowStart(DateTime<Utc>),
}

/// Where a gap ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapClosing {
    /// A valid digest starting a new chain begins here.
    ChainStart(DateTime<Utc>),
    /// The gap runs to the end of what the run can prove, at this time.
    WindowEnd(DateTime<Utc>),
}

/// What the history says about a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapEvidence {
    /// The trail did not log during the gap: nothing was delivered, nothing is missing.
    LoggingOff {
        /// The events that stopped and (when the gap closes with a new chain) restarted it.
        events: Vec<TrailEvent>,
    },
    /// The trail logged without log-file validation for part of the gap: those log files carry
    /// no digest and can never be proven.
    ValidationOff {
        /// The events that turned validation off and on again, and any in between.
        events: Vec<TrailEvent>,
    },
    /// The trail logged and validated inside the gap: digests were delivered there and are
    /// gone.
    SegmentDeleted {
        /// The events that turned delivery on (and off) inside the gap.
        events: Vec<TrailEvent>,
    },
    /// The history cannot tell: why not.
    Unexplained(String),
}

/// The trail's delivery switches as the history leaves them: `None` where it does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Switches {
    logging: Option<bool>,
    validation: Option<bool>,
}

impl Switches {
    const DELIVERING: Switches = Switches {
        logging: Some(true),
        validation: Some(true),
    };

    fn apply(&mut self, event: &TrailEvent) {
        match event.event_name.as_str() {
            "StartLogging" => self.logging = Some(true),
            "StopLogging" => self.logging = Some(false),
            // An UpdateTrail that does not name the setting leaves it as it was.
            "UpdateTrail" => {
                if let Some(validation) = event.validation {
                    self.validation = Some(validation);
                }
            }
            // A new trail does not log until StartLogging (the console calls both).
            "CreateTrail" => {
                self.logging = Some(false);
                self.validation = Some(event.validation.unwrap_or(false));
            }
            "DeleteTrail" => {
                self.logging = Some(false);
                self.validation = Some(false);
            }
            _ => {}
        }
    }

    /// Digests are delivered for certain.
    fn delivering(self) -> bool {
        self == Self::DELIVERING
    }

    /// Digests are not delivered for certain.
    fn silent(self) -> bool {
        self.logging == Some(false) || self.validation == Some(false)
    }

    /// Log files are delivered for certain, without digests.
    fn logging_unvalidated(self) -> bool {
        self.logging == Some(true) && self.validation == Some(false)
    }
}

/// The names under which CloudTrail records a change of a bucket's lifecycle configuration.
pub const LIFECYCLE_EVENT_NAMES: [&str; 2] =
    ["PutBucketLifecycle", "PutBucketLifecycleConfiguration"];

/// The first change of the trail bucket's lifecycle configuration the history shows after
/// `delivered`: a lifecycle excuse does not hold for an object delivered before it (a rule set
/// after delivery is how whoever cannot delete objects makes S3 delete them).
pub fn lifecycle_changed_after(
    history: &TrailHistory,
    delivered: DateTime<Utc>,
) -> Option<&TrailEvent> {
    history
        .events
        .iter()
        .filter(|e| LIFECYCLE_EVENT_NAMES.contains(&e.event_name.as_str()) && e.time > delivered)
        .min_by_key(|e| e.time)
}

/// Replays `history` over the gap between `opening` and `closing`.
pub fn explain_gap(
    opening: GapOpening,
    closing: GapClosing,
    history: &TrailHistory,
) -> GapEvidence {
    let closes_at = match closing {
        GapClosing::ChainStart(t) | GapClosing::WindowEnd(t) => t,
    };
    let replay_from = match opening {
        GapOpening::AfterDigest { start, .. } => start - EVENT_SLACK,
        GapOpening::WindowStart(t) => t,
    };
    if replay_from < history.reaches_back_to {
        return GapEvidence::Unexplained(format!(
            "it begins before the oldest event CloudTrail's event history holds ({})",
            display(history.reaches_back_to)
        ));
    }
    if closes_at + EVENT_SLACK > history.reaches_until {
        return GapEvidence::Unexplained(format!(
            "it ends after the newest event the event history was read to ({})",
            display(history.reaches_until)
        ));
    }
    let mut events: Vec<&TrailEvent> = history.events.iter().collect();
    events.sort_by_key(|e| e.time);
    let mut cited: Vec<TrailEvent> = Vec::new();

    // The trail's switches at the gap's opening, and the rest of the events to replay.
    let (mut switches, rest): (Switches, Vec<&TrailEvent>) = match opening {
        GapOpening::AfterDigest { start, end } => {
            // The old segment was delivering until an event stopped it, inside its final
            // digest's span.
            let mut switches = Switches::DELIVERING;
            let mut rest = events
                .iter()
                .copied()
                .filter(|e| e.time >= replay_from && e.time <= closes_at + EVENT_SLACK);
            let mut stop = None;
            for event in rest.by_ref() {
                switches.apply(event);
                if !switches.delivering() {
                    stop = Some(event);
                    break;
                }
            }
            let Some(stop) = stop else {
                return GapEvidence::Unexplained(format!(
                    "the event history shows nothing that stopped delivery between {} and {}",
                    display(start),
                    display(closes_at)
                ));
            };
            // No slack after the digest's end: CloudTrail's final digest reaches up to and
            // including the event that stopped delivery, so a stop even a minute later means a
            // shorter final digest was delivered after this one and is gone (with the log
            // files of that minute).
            if stop.time > end {
                // Delivery went on after the last digest found: the hours between had digests.
                return if stop.time > end + TimeDelta::hours(1) {
                    GapEvidence::SegmentDeleted {
                        events: vec![stop.clone()],
                    }
                } else {
                    GapEvidence::Unexplained(format!(
                        "{} at {} lies after the last digest found ends ({})",
                        stop.event_name,
                        display(stop.time),
                        display(end)
                    ))
                };
            }
            cited.push(stop.clone());
            (switches, rest.collect())
        }
        GapOpening::WindowStart(at) => {
            // Replay everything the history holds up to the opening, from not knowing; unless
            // its oldest event created the trail: a CreateTrail that succeeded means no trail
            // of that name existed before it, back to the history's start.
            let created_first = events
                .first()
                .is_some_and(|e| e.event_name == "CreateTrail");
            let mut switches = if created_first {
                Switches {
                    logging: Some(false),
                    validation: Some(false),
                }
            } else {
                // A new chain closing the gap proves validation on when it starts; if no event
                // the history holds changed validation, it was on throughout.
                let validation_changed = events.iter().any(|e| {
                    e.time <= closes_at + EVENT_SLACK
                        && (e.event_name == "CreateTrail"
                            || e.event_name == "DeleteTrail"
                            || (e.event_name == "UpdateTrail" && e.validation.is_some()))
                });
                let validation = (matches!(closing, GapClosing::ChainStart(_))
                    && !validation_changed)
                    .then_some(true);
                Switches {
                    logging: None,
                    validation,
                }
            };
            let mut last_off = None;
            for event in events.iter().copied().filter(|e| e.time <= at) {
                switches.apply(event);
                if switches.silent() {
                    last_off.get_or_insert(event);
                } else {
                    last_off = None;
                }
            }
            if !switches.silent() {
                return GapEvidence::Unexplained(format!(
                    "the event history does not show the trail stopped at {}",
                    display(at)
                ));
            }
            cited.extend(last_off.cloned());
            let rest = events
                .iter()
                .copied()
                .filter(|e| e.time > at && e.time <= closes_at + EVENT_SLACK)
                .collect();
            (switches, rest)
        }
    };

    let mut unvalidated = switches.logging_unvalidated();
    let mut uncertain = !switches.silent();
    let mut restarted = false;
    let mut deleted: Vec<TrailEvent> = Vec::new();
    for event in rest {
        let was_delivering = switches.delivering();
        switches.apply(event);
        if !deleted.is_empty() && was_delivering && !switches.delivering() {
            // The end of a segment that is gone.
            deleted.push(event.clone());
            continue;
        }
        if switches.delivering() && !was_delivering {
            let restart = matches!(closing, GapClosing::ChainStart(b)
                if event.time >= b - RESTART_LEAD && event.time <= b + EVENT_SLACK);
            if restart {
                cited.push(event.clone());
                restarted = true;
                break;
            }
            // Delivering, well before the next chain starts or the window ends: a segment of
            // digests was delivered here and none is left.
            let well_inside = event.time < closes_at - TimeDelta::hours(1);
            if well_inside {
                deleted.push(event.clone());
            } else {
                uncertain = true;
            }
            continue;
        }
        if deleted.is_empty() {
            cited.push(event.clone());
        }
        unvalidated |= switches.logging_unvalidated();
        uncertain |= !switches.silent() && !switches.delivering();
    }
    if !deleted.is_empty() {
        return GapEvidence::SegmentDeleted { events: deleted };
    }
    if let GapClosing::ChainStart(b) = closing
        && !restarted
    {
        return GapEvidence::Unexplained(format!(
            "the event history shows nothing that started delivery in the hour before the new \
             chain starts ({})",
            display(b)
        ));
    }
    if uncertain {
        return GapEvidence::Unexplained(
            "the event history leaves it unknown whether the trail logged with validation".into(),
        );
    }
    if unvalidated {
        GapEvidence::ValidationOff { events: cited }
    } else {
        GapEvidence::LoggingOff { events: cited }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    fn event(name: &str, time: DateTime<Utc>) -> TrailEvent {
        TrailEvent {
            event_id: format!("{name}-{}", time.timestamp()),
            event_name: name.into(),
            time,
            principal: "arn:aws:iam::111122223333:user/admin".into(),
            validation: None,
        }
    }

    fn validation(on: bool, time: DateTime<Utc>) -> TrailEvent {
        TrailEvent {
            validation: Some(on),
            ..event("UpdateTrail", time)
        }
    }

    fn history(events: Vec<TrailEvent>) -> TrailHistory {
        TrailHistory {
            events,
            reaches_back_to: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
            reaches_until: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
            calls: 0,
        }
    }

    /// The final digest 05:00-06:00, the new chain from 08:00.
    fn restart_gap(h: &TrailHistory) -> GapEvidence {
        explain_gap(
            GapOpening::AfterDigest {
                start: t(5, 0),
                end: t(6, 0),
            },
            GapClosing::ChainStart(t(8, 0)),
            h,
        )
    }

    #[test]
    fn a_stop_in_the_final_digest_and_a_start_before_the_new_chain_prove_logging_off() {
        let h = history(vec![
            event("StopLogging", t(5, 58)),
            event("StartLogging", t(7, 59)),
        ]);
        match restart_gap(&h) {
            GapEvidence::LoggingOff { events } => {
                let names: Vec<_> = events.iter().map(|e| e.event_name.as_str()).collect();
                assert_eq!(names, ["StopLogging", "StartLogging"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_start_and_stop_inside_the_gap_prove_a_deleted_segment() {
        let h = history(vec![
            event("StopLogging", t(5, 58)),
            event("StartLogging", t(6, 30)),
            event("StopLogging", t(6, 50)),
            event("StartLogging", t(7, 59)),
        ]);
        match restart_gap(&h) {
            GapEvidence::SegmentDeleted { events } => {
                assert_eq!(events[0].time, t(6, 30));
                assert_eq!(events[1].time, t(6, 50));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stop_after_the_last_digest_found_proves_digests_deleted() {
        // Logging went on to 07:30: the digests of 06:00-07:30 were delivered.
        let h = history(vec![
            event("StopLogging", t(7, 30)),
            event("StartLogging", t(7, 59)),
        ]);
        assert!(matches!(
            restart_gap(&h),
            GapEvidence::SegmentDeleted { .. }
        ));
    }

    #[test]
    fn without_a_stop_or_a_start_the_gap_stays_unexplained() {
        assert!(matches!(
            restart_gap(&history(vec![event("StartLogging", t(7, 59))])),
            GapEvidence::Unexplained(_)
        ));
        assert!(matches!(
            restart_gap(&history(vec![event("StopLogging", t(5, 58))])),
            GapEvidence::Unexplained(_)
        ));
        // A start long before the new chain begins: its first digests are missing, or the
        // start is another one.
        assert!(matches!(
            restart_gap(&history(vec![
                event("StopLogging", t(5, 58)),
                event("StartLogging", t(6, 10)),
            ])),
            GapEvidence::SegmentDeleted { .. }
        ));
    }

    #[test]
    fn a_gap_older_than_the_history_stays_unexplained() {
        let mut h = history(vec![
            event("StopLogging", t(5, 58)),
            event("StartLogging", t(7, 59)),
        ]);
        h.reaches_back_to = t(5, 30);
        assert!(matches!(restart_gap(&h), GapEvidence::Unexplained(_)));
    }

    #[test]
    fn validation_turned_off_and_on_is_explained_not_proven() {
        let h = history(vec![
            validation(false, t(5, 40)),
            validation(true, t(7, 50)),
        ]);
        match restart_gap(&h) {
            GapEvidence::ValidationOff { events } => assert_eq!(events.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logging_started_while_validation_was_off_is_no_deleted_segment() {
        let h = history(vec![
            event("StopLogging", t(5, 40)),
            validation(false, t(6, 0)),
            event("StartLogging", t(6, 30)),
            validation(true, t(7, 55)),
        ]);
        assert!(matches!(restart_gap(&h), GapEvidence::ValidationOff { .. }));
    }

    #[test]
    fn a_stopped_trail_proves_the_tail_of_the_window() {
        let h = history(vec![event("StopLogging", t(5, 58))]);
        let evidence = explain_gap(
            GapOpening::AfterDigest {
                start: t(5, 0),
                end: t(6, 0),
            },
            GapClosing::WindowEnd(t(12, 0)),
            &h,
        );
        assert!(
            matches!(evidence, GapEvidence::LoggingOff { .. }),
            "{evidence:?}"
        );
        // Started again with no digest found after: deleted.
        let h = history(vec![
            event("StopLogging", t(5, 58)),
            event("StartLogging", t(8, 0)),
        ]);
        let evidence = explain_gap(
            GapOpening::AfterDigest {
                start: t(5, 0),
                end: t(6, 0),
            },
            GapClosing::WindowEnd(t(12, 0)),
            &h,
        );
        assert!(
            matches!(evidence, GapEvidence::SegmentDeleted { .. }),
            "{evidence:?}"
        );
    }

    #[test]
    fn a_window_opening_while_stopped_needs_the_stop_in_the_history() {
        let closing = GapClosing::ChainStart(t(8, 0));
        let proven = history(vec![
            event("StopLogging", t(1, 0)),
            event("StartLogging", t(7, 59)),
        ]);
        assert!(matches!(
            explain_gap(GapOpening::WindowStart(t(4, 0)), closing, &proven),
            GapEvidence::LoggingOff { .. }
        ));
        let unknown = history(vec![event("StartLogging", t(7, 59))]);
        assert!(matches!(
            explain_gap(GapOpening::WindowStart(t(4, 0)), closing, &unknown),
            GapEvidence::Unexplained(_)
        ));
        let created = history(vec![
            TrailEvent {
                validation: Some(true),
                ..event("CreateTrail", t(7, 58))
            },
            event("StartLogging", t(7, 59)),
        ]);
        // Created in the history: no trail of that name existed at 04:00.
        assert!(matches!(
            explain_gap(GapOpening::WindowStart(t(4, 0)), closing, &created),
            GapEvidence::LoggingOff { .. }
        ));
    }

    #[test]
    fn a_gap_reaching_past_the_history_stays_unexplained() {
        let mut h = history(vec![event("StopLogging", t(5, 58))]);
        h.reaches_until = t(10, 0);
        let evidence = explain_gap(
            GapOpening::AfterDigest {
                start: t(5, 0),
                end: t(6, 0),
            },
            GapClosing::WindowEnd(t(12, 0)),
            &h,
        );
        assert!(matches!(evidence, GapEvidence::Unexplained(_)));
    }

    /// A tiny deterministic generator: the property test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A digest the trail delivered: its span and whether it starts a chain.
    #[derive(Clone, Copy)]
    struct Delivered {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        starts_chain: bool,
    }

    /// What [`random_trail`] makes: the events, the digests delivered, the stretches when logs
    /// went out without digests, and the trail's end.
    type RandomTrail = (
        Vec<TrailEvent>,
        Vec<Delivered>,
        Vec<(DateTime<Utc>, DateTime<Utc>)>,
        DateTime<Utc>,
    );

    /// A random true history: delivery switched off and on by StopLogging/StartLogging or by
    /// validation toggles, the digests each delivering stretch produced (hourly, the last one
    /// ending at the event that stopped it), and the stretches when logs went out without
    /// digests.
    fn random_trail(rng: &mut Rng) -> RandomTrail {
        let origin = Utc.with_ymd_and_hms(2026, 2, 10, 0, 0, 0).unwrap();
        let mut now = origin;
        let mut events = Vec::new();
        let mut segments = Vec::new();
        let mut unvalidated = Vec::new();
        let mut segment_start = origin;
        for _ in 0..1 + rng.below(5) {
            // Delivering for a while, then off one way or the other, then on again.
            let stop = now + TimeDelta::minutes(30 + rng.below(300) as i64);
            let resume = stop + TimeDelta::minutes(20 + rng.below(300) as i64);
            segments.push((segment_start, stop));
            if rng.below(2) == 0 {
                events.push(event("StopLogging", stop));
                events.push(event("StartLogging", resume));
            } else {
                events.push(validation(false, stop));
                events.push(validation(true, resume));
                unvalidated.push((stop, resume));
            }
            now = resume;
            segment_start = resume;
        }
        let end = now + TimeDelta::minutes(30 + rng.below(300) as i64);
        segments.push((segment_start, end));
        let mut digests = Vec::new();
        for (start, stop) in segments {
            let mut cursor = start;
            let mut first = true;
            while cursor < stop {
                let next_hour =
                    cursor.duration_trunc(TimeDelta::hours(1)).unwrap() + TimeDelta::hours(1);
                let end = next_hour.min(stop);
                digests.push(Delivered {
                    start: cursor,
                    end,
                    starts_chain: first,
                });
                first = false;
                cursor = end;
            }
        }
        (events, digests, unvalidated, end)
    }

    use chrono::DurationRound;

    /// Whatever digests are deleted, the history never calls a gap `logging_off` unless the
    /// trail really was not delivering anything then, never `segment_deleted` unless digests
    /// really are missing, and explains every gap nothing was deleted from.
    #[test]
    fn random_deletions_never_pass_as_a_pause_and_real_pauses_are_explained() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut seen = std::collections::BTreeMap::<&str, usize>::new();
        for case in 0..2000 {
            let (events, delivered, unvalidated, end) = random_trail(&mut rng);
            let h = history(events);
            let mut h = h;
            h.reaches_until = end + TimeDelta::days(1);
            // Delete digests at random: none, a few, or whole stretches.
            let rate = [0, 0, 10, 30, 60][rng.below(5) as usize];
            let kept: Vec<bool> = delivered.iter().map(|_| rng.below(100) >= rate).collect();
            let remaining: Vec<usize> = (0..delivered.len()).filter(|&i| kept[i]).collect();
            let logs_out = |a: DateTime<Utc>, b: DateTime<Utc>| {
                unvalidated.iter().any(|(s, e)| *s < b && a < *e)
            };
            for pair in remaining.windows(2) {
                let (a, b) = (delivered[pair[0]], delivered[pair[1]]);
                let deleted_between = pair[1] - pair[0] > 1;
                // Only a new chain leaves a gap the history is asked about; a digest naming
                // a deleted predecessor is a broken chain already.
                if !b.starts_chain || (pair[1] == pair[0] + 1 && a.end == b.start) {
                    continue;
                }
                let evidence = explain_gap(
                    GapOpening::AfterDigest {
                        start: a.start,
                        end: a.end,
                    },
                    GapClosing::ChainStart(b.start),
                    &h,
                );
                check(case, &evidence, deleted_between, logs_out(a.end, b.start));
                *seen.entry(kind_of(&evidence)).or_default() += 1;
            }
            // The tail: the range runs to the end of the trail.
            if let Some(&last) = remaining.last()
                && delivered[last].end < end
            {
                let a = delivered[last];
                let evidence = explain_gap(
                    GapOpening::AfterDigest {
                        start: a.start,
                        end: a.end,
                    },
                    GapClosing::WindowEnd(end),
                    &h,
                );
                check(
                    case,
                    &evidence,
                    last + 1 < delivered.len(),
                    logs_out(a.end, end),
                );
                *seen.entry(kind_of(&evidence)).or_default() += 1;
            }
        }
        // Every outcome was reached, each many times: the property was tested, not skipped.
        for kind in [
            "logging_off",
            "validation_off",
            "segment_deleted",
            "unexplained",
        ] {
            assert!(seen.get(kind).is_some_and(|n| *n > 50), "{seen:?}");
        }
    }

    fn kind_of(evidence: &GapEvidence) -> &'static str {
        match evidence {
            GapEvidence::LoggingOff { .. } => "logging_off",
            GapEvidence::ValidationOff { .. } => "validation_off",
            GapEvidence::SegmentDeleted { .. } => "segment_deleted",
            GapEvidence::Unexplained(_) => "unexplained",
        }
    }

    fn check(case: usize, evidence: &GapEvidence, deleted: bool, logs_out: bool) {
        match evidence {
            GapEvidence::LoggingOff { .. } => assert!(
                !deleted && !logs_out,
                "case {case}: a pause proven where digests were deleted ({deleted}) or logs \
                 went out ({logs_out}): {evidence:?}"
            ),
            GapEvidence::ValidationOff { .. } => {
                assert!(
                    !deleted,
                    "case {case}: deleted digests explained: {evidence:?}"
                )
            }
            GapEvidence::SegmentDeleted { .. } => {
                assert!(deleted, "case {case}: a false alarm: {evidence:?}")
            }
            GapEvidence::Unexplained(_) => {
                assert!(
                    deleted,
                    "case {case}: a real pause left unexplained: {evidence:?}"
                )
            }
        }
    }
}
