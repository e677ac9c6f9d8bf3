use std::time::Duration;

use super::*;
use crate::Backoff;
use crate::alert::Severity;

const S: i64 = 1_000_000_000;
const AM: usize = 0;
const HOOK: usize = 1;

fn timing() -> Timing {
    Timing {
        group_wait: 10 * S,
        group_interval: 60 * S,
        repeat_interval: 60 * S,
        webhook_repeat_interval: 0,
        max_per_minute: 1000,
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        },
        max_retries: 3,
        max_active: 100,
    }
}

fn book(timing: Timing) -> AlertGroups {
    AlertGroups::new(timing, vec![SinkKind::Alertmanager, SinkKind::Webhook], 7)
}

fn alert(name: &str, service: &str) -> Alert {
    Alert::firing(
        name,
        service,
        Severity::Page,
        format!("{name} on {service}"),
        0,
    )
}

/// Polls at `now` and acknowledges every batch as sent.
fn send_all(book: &mut AlertGroups, now: i64) -> Vec<Batch> {
    let batches = book.poll(now);
    for batch in &batches {
        assert_eq!(
            book.complete(&batch.id, SendOutcome::Sent, now),
            Completion::Sent
        );
    }
    batches
}

/// `(sink, service, [(alertname, firing)])` of a batch, for assertions.
type Shape = (usize, String, Vec<(String, bool)>);

fn shape(batches: &[Batch]) -> Vec<Shape> {
    batches
        .iter()
        .map(|b| {
            let alerts = b
                .alerts
                .iter()
                .map(|a| (a.name.clone(), a.is_firing()))
                .collect();
            (b.id.sink, b.id.service.clone(), alerts)
        })
        .collect()
}

fn served_at(batches: &[Batch], sink: usize) -> Vec<&str> {
    batches
        .iter()
        .filter(|b| b.id.sink == sink)
        .map(|b| b.id.service.as_str())
        .collect()
}

fn names(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(n, f)| ((*n).to_owned(), *f)).collect()
}

#[test]
fn first_alerts_of_a_service_wait_group_wait_and_go_together() {
    let mut book = book(timing());
    assert_eq!(book.observe(alert("A", "checkout"), 0), Observed::Firing);
    assert_eq!(
        book.observe(alert("B", "checkout"), 3 * S),
        Observed::Firing
    );
    assert_eq!(book.observe(alert("C", "search"), 5 * S), Observed::Firing);
    assert!(book.poll(9 * S).is_empty());
    assert_eq!(book.next_due(9 * S), Some(10 * S));
    let batches = send_all(&mut book, 10 * S);
    let both = names(&[("A", true), ("B", true)]);
    assert_eq!(
        shape(&batches),
        [
            (AM, "checkout".into(), both.clone()),
            (HOOK, "checkout".into(), both)
        ]
    );
    assert_eq!(book.next_due(10 * S), Some(15 * S));
    let batches = send_all(&mut book, 15 * S);
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.id.service == "search"));
    assert_eq!(book.groups(), 2);
    assert_eq!(book.firing(), 3);
}

#[test]
fn a_change_in_a_notified_group_waits_group_interval_and_carries_the_whole_group() {
    let mut book = book(timing());
    book.observe(alert("A", "checkout"), 0);
    send_all(&mut book, 10 * S);
    book.observe(alert("B", "checkout"), 20 * S);
    assert!(book.poll(69 * S).is_empty());
    let batches = send_all(&mut book, 70 * S);
    let both = names(&[("A", true), ("B", true)]);
    assert_eq!(
        shape(&batches),
        [
            (AM, "checkout".into(), both.clone()),
            (HOOK, "checkout".into(), both)
        ]
    );
}

#[test]
fn the_same_firing_alert_again_only_refreshes_annotations() {
    let mut book = book(timing());
    book.observe(alert("A", "checkout").with_description("old"), 0);
    send_all(&mut book, 10 * S);
    let mut again = alert("A", "checkout").with_description("new");
    again.starts_at = 30 * S;
    assert_eq!(book.observe(again, 30 * S), Observed::Refreshed);
    // Nothing changed: only the Alertmanager repeat is due, a minute after the send.
    assert_eq!(book.next_due(30 * S), Some(70 * S));
    let batches = send_all(&mut book, 70 * S);
    assert_eq!(
        shape(&batches),
        [(AM, "checkout".into(), names(&[("A", true)]))]
    );
    let sent = &batches[0].alerts[0];
    assert_eq!(sent.description.as_deref(), Some("new"));
    assert_eq!(sent.starts_at, 0, "the first start is kept");
}

#[test]
fn a_resolved_alert_is_sent_once_then_forgotten() {
    let mut book = book(timing());
    book.observe(alert("A", "checkout"), 0);
    book.observe(alert("B", "checkout"), 0);
    send_all(&mut book, 10 * S);
    assert_eq!(
        book.observe(alert("A", "checkout").resolved(20 * S), 20 * S),
        Observed::Resolved
    );
    assert_eq!(
        book.observe(alert("A", "checkout").resolved(21 * S), 21 * S),
        Observed::Ignored
    );
    let batches = send_all(&mut book, 70 * S);
    let expected = names(&[("A", false), ("B", true)]);
    assert_eq!(
        shape(&batches),
        [
            (AM, "checkout".into(), expected.clone()),
            (HOOK, "checkout".into(), expected)
        ]
    );
    assert_eq!(
        batches[0].alerts[0].state,
        AlertState::Resolved { ends_at: 20 * S }
    );
    // The next repeat carries only B.
    let batches = send_all(&mut book, 130 * S);
    assert_eq!(
        shape(&batches),
        [(AM, "checkout".into(), names(&[("B", true)]))]
    );
    // Resolving B empties the group: it is forgotten after the send.
    book.observe(alert("B", "checkout").resolved(140 * S), 140 * S);
    assert_eq!(send_all(&mut book, 190 * S).len(), 2);
    assert_eq!(book.groups(), 0);
    assert_eq!(book.next_due(190 * S), None);
    // A resolution of something no longer held is ignored.
    assert_eq!(
        book.observe(alert("B", "checkout").resolved(200 * S), 200 * S),
        Observed::Ignored
    );
    // A new alert of the service starts a new group: group_wait again.
    book.observe(alert("C", "checkout"), 300 * S);
    assert_eq!(book.next_due(300 * S), Some(310 * S));
}

#[test]
fn an_alert_resolved_before_its_group_was_sent_is_never_sent() {
    let mut book = book(timing());
    book.observe(alert("A", "checkout"), 0);
    book.observe(alert("A", "checkout").resolved(S), S);
    assert!(book.poll(10 * S).is_empty());
    assert_eq!(book.groups(), 0);
}

#[test]
fn firing_alerts_are_repeated_to_alertmanager_and_webhooks_by_their_intervals() {
    let mut book = book(Timing {
        webhook_repeat_interval: 120 * S,
        ..timing()
    });
    book.observe(alert("A", "checkout"), 0);
    send_all(&mut book, 10 * S);
    let sinks = |batches: Vec<Batch>| batches.iter().map(|b| b.id.sink).collect::<Vec<_>>();
    assert_eq!(sinks(send_all(&mut book, 70 * S)), [AM]);
    assert_eq!(sinks(send_all(&mut book, 130 * S)), [AM, HOOK]);
    assert_eq!(sinks(send_all(&mut book, 190 * S)), [AM]);
    // Without a webhook repeat, webhooks only hear of changes.
    let mut book = self::book(timing());
    book.observe(alert("A", "checkout"), 0);
    send_all(&mut book, 10 * S);
    for minute in 1..10 {
        assert_eq!(sinks(send_all(&mut book, (10 + 60 * minute) * S)), [AM]);
    }
}

#[test]
fn rate_limited_changes_are_coalesced_into_the_next_allowed_send() {
    let mut book = AlertGroups::new(
        Timing {
            group_wait: 0,
            group_interval: S,
            max_per_minute: 1,
            ..timing()
        },
        vec![SinkKind::Webhook],
        7,
    );
    book.observe(alert("A", "checkout"), 0);
    assert_eq!(send_all(&mut book, 0).len(), 1);
    book.observe(alert("B", "checkout"), S);
    book.observe(alert("C", "checkout"), 2 * S);
    book.observe(alert("A", "checkout").resolved(3 * S), 3 * S);
    // Due after group_interval, but the bucket refills only a minute after the first send.
    assert!(book.poll(5 * S).is_empty());
    assert_eq!(book.next_due(5 * S), Some(60 * S));
    let batches = send_all(&mut book, 60 * S);
    assert_eq!(
        shape(&batches),
        [(
            0,
            "checkout".into(),
            names(&[("A", false), ("B", true), ("C", true)])
        )]
    );
}

#[test]
fn the_rate_limit_is_per_sink_and_shared_by_groups() {
    let mut book = book(Timing {
        max_per_minute: 2,
        ..timing()
    });
    for service in ["a", "b", "c"] {
        book.observe(alert("X", service), 0);
    }
    let batches = send_all(&mut book, 10 * S);
    assert_eq!(served_at(&batches, AM), ["a", "b"]);
    assert_eq!(served_at(&batches, HOOK), ["a", "b"]);
    // The window frees a minute after the first sends; then c, due since 10s,
    // goes before the repeat of a, due since 70s.
    assert_eq!(book.next_due(10 * S), Some(70 * S));
    let batches = send_all(&mut book, 70 * S);
    assert_eq!(served_at(&batches, AM), ["c", "a"]);
    assert_eq!(served_at(&batches, HOOK), ["c"]);
}

#[test]
fn failed_sends_back_off_then_give_up() {
    let mut book = AlertGroups::new(timing(), vec![SinkKind::Alertmanager], 7);
    book.observe(alert("A", "checkout"), 0);
    let mut now = 10 * S;
    let mut delays = Vec::new();
    for _ in 0..3 {
        let batch = book.poll(now).pop().expect("due");
        let Completion::RetryAt(at) =
            book.complete(&batch.id, SendOutcome::Failed { retryable: true }, now)
        else {
            panic!("expected a retry")
        };
        assert_eq!(book.next_due(now), Some(at));
        assert!(book.poll(at - 1).is_empty());
        delays.push(at - now);
        now = at;
    }
    // 1s, 2s, 4s, each within ±20%.
    for (delay, nominal) in delays.iter().zip([S, 2 * S, 4 * S]) {
        let (low, high) = (nominal * 8 / 10, nominal * 12 / 10);
        assert!(
            (low..=high).contains(delay),
            "{delay} outside {low}..={high}"
        );
    }
    let batch = book.poll(now).pop().expect("due");
    assert_eq!(
        book.complete(&batch.id, SendOutcome::Failed { retryable: true }, now),
        Completion::GaveUp
    );
    // Given up: the firing alert goes again at the next repeat, with a fresh retry budget.
    assert_eq!(book.next_due(now), Some(now + 60 * S));
    let batch = book.poll(now + 60 * S).pop().expect("repeat");
    assert!(matches!(
        book.complete(
            &batch.id,
            SendOutcome::Failed { retryable: true },
            now + 60 * S
        ),
        Completion::RetryAt(_)
    ));
}

#[test]
fn a_retry_carries_the_group_as_it_is_then() {
    let mut book = AlertGroups::new(timing(), vec![SinkKind::Webhook], 7);
    book.observe(alert("A", "checkout"), 0);
    let batch = book.poll(10 * S).pop().expect("due");
    book.observe(alert("B", "checkout"), 10 * S);
    let Completion::RetryAt(at) =
        book.complete(&batch.id, SendOutcome::Failed { retryable: true }, 10 * S)
    else {
        panic!("expected a retry")
    };
    let batches = send_all(&mut book, at);
    assert_eq!(
        shape(&batches),
        [(0, "checkout".into(), names(&[("A", true), ("B", true)]))]
    );
}

#[test]
fn a_refused_send_is_not_retried() {
    let mut book = AlertGroups::new(timing(), vec![SinkKind::Webhook], 7);
    book.observe(alert("A", "checkout"), 0);
    let batch = book.poll(10 * S).pop().expect("due");
    assert_eq!(
        book.complete(&batch.id, SendOutcome::Failed { retryable: false }, 10 * S),
        Completion::Rejected
    );
    assert_eq!(book.next_due(10 * S), None);
    assert_eq!(
        book.complete(&batch.id, SendOutcome::Sent, 11 * S),
        Completion::Unknown
    );
}

#[test]
fn one_send_per_group_and_sink_at_a_time() {
    let mut book = AlertGroups::new(timing(), vec![SinkKind::Webhook], 7);
    book.observe(alert("A", "checkout"), 0);
    let batch = book.poll(10 * S).pop().expect("due");
    book.observe(alert("B", "checkout"), 11 * S);
    assert!(
        book.poll(100 * S).is_empty(),
        "the first send is still in flight"
    );
    assert_eq!(book.next_due(100 * S), None);
    book.complete(&batch.id, SendOutcome::Sent, 100 * S);
    assert_eq!(book.next_due(100 * S), Some(100 * S));
}

#[test]
fn new_alerts_beyond_max_active_are_dropped() {
    let mut book = book(Timing {
        max_active: 2,
        ..timing()
    });
    assert_eq!(book.observe(alert("A", "x"), 0), Observed::Firing);
    assert_eq!(book.observe(alert("B", "y"), 0), Observed::Firing);
    assert_eq!(book.observe(alert("C", "x"), 0), Observed::TooManyActive);
    assert_eq!(book.observe(alert("A", "x"), 0), Observed::Refreshed);
    book.observe(alert("A", "x").resolved(S), S);
    send_all(&mut book, 10 * S);
    // A's resolution never reached anyone and was forgotten: room again.
    assert_eq!(book.observe(alert("C", "x"), 20 * S), Observed::Firing);
}

#[test]
fn flush_sends_every_undelivered_change_at_once() {
    let mut book = book(Timing {
        max_per_minute: 1,
        ..timing()
    });
    book.observe(alert("A", "checkout"), 0);
    book.observe(alert("B", "search"), 0);
    let batches = book.flush(S);
    assert_eq!(batches.len(), 4, "ignores group_wait and the rate limit");
    assert!(book.flush(S).is_empty(), "all in flight");
    for batch in &batches {
        book.complete(&batch.id, SendOutcome::Sent, 2 * S);
    }
    assert!(book.flush(3 * S).is_empty(), "nothing undelivered");
}
