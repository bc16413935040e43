//! Issue 10's scale-out proof, on the no-loss harness: two `snodo up` instances on one RabbitMQ share
//! the commands (competing consumers, counted from each instance's own `/metrics`); each polling feed
//! has exactly one poller (the lease in Redis), which moves to the other instance when its holder is
//! killed; and a rolling restart that changes settings — the retry steps, the prefetch, and a delivery
//! limit applied by policy — while commands flow and a platform fails loses nothing.
//!
//! This 2-core machine cannot show throughput growing with instances; the figures printed are the
//! shares of the work and the failover time.

mod no_loss;
mod support;

mod scale_out {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use crate::no_loss::ledger::{DeadLetter, Ledger};
    use crate::no_loss::workloads::{Planned, Workload, all};
    use crate::no_loss::{Cluster, ClusterSettings, EVENTS_QUEUE, feeds, metric_sum};

    /// Publishes `count` commands of the workloads named, `rate` per second.
    async fn publish(cluster: &Cluster, ledger: &Ledger, names: &[&str], count: u64, rate: u64, from: u64) {
        let workloads: Vec<Box<dyn Workload>> = all()
            .into_iter()
            .filter(|w| names.contains(&w.connector()))
            .collect();
        let exchange = format!("{}.commands", cluster.prefix);
        let pace = Duration::from_micros(1_000_000 / rate.max(1));
        let started = Instant::now();
        for k in 0..count {
            let w = &workloads[k as usize % workloads.len()];
            let planned: Planned = w.command(from + k / workloads.len() as u64);
            ledger
                .publish(&cluster.transport, &exchange, w.connector(), planned)
                .await;
            tokio::time::sleep_until((started + pace * (k as u32 + 1)).into()).await;
        }
    }

    async fn settle(ledger: &Ledger, limit: Duration) {
        let until = Instant::now() + limit;
        while ledger.outstanding() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            ledger.outstanding(),
            0,
            "commands without an outcome after {limit:?}"
        );
    }

    /// Feed → the instances holding its lease now.
    async fn holders(cluster: &Cluster) -> (BTreeMap<String, Vec<usize>>, usize) {
        let mut map: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut known = 0;
        for i in 0..2 {
            let Some(ops) = cluster.ops_url_of(i) else {
                continue;
            };
            let (held, all) = feeds(&cluster.metrics(&ops).await);
            known = known.max(all.len());
            for feed in all {
                map.entry(feed).or_default();
            }
            for feed in held {
                map.entry(feed).or_default().push(i);
            }
        }
        (map, known)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_the_work_one_poller_per_feed_and_a_rolling_restart_loses_nothing() {
        let started = Instant::now();
        let cluster = Arc::new(
            Cluster::start(
                ClusterSettings {
                    instances: 2,
                    retry: r#"["200ms","500ms","1s","2s"]"#.into(),
                    env: Vec::new(),
                },
                crate::support::free_simulator_offset(),
            )
            .await,
        );
        let stop = CancellationToken::new();
        let ledger = Arc::new(Ledger::default());
        ledger.consume_events(cluster.transport.clone(), EVENTS_QUEUE.into(), stop.clone());

        // 1. Competing consumers: both instances take a share of one stream.
        publish(&cluster, &ledger, &["core", "cie_booking"], 800, 200, 0).await;
        settle(&ledger, Duration::from_secs(90)).await;
        let mut shares = Vec::new();
        for i in 0..2 {
            let metrics = cluster.metrics(&cluster.ops_url_of(i).expect("running")).await;
            let core = metric_sum(&metrics, "snodo_messages_completed_total", "connector=\"core\"");
            let booking = metric_sum(
                &metrics,
                "snodo_messages_completed_total",
                "connector=\"cie_booking\"",
            );
            shares.push((core, booking));
        }
        println!("\n=== scale-out: work shared by two instances (from each one's /metrics)");
        for (i, (core, booking)) in shares.iter().enumerate() {
            println!(
                "snodo-{}: {core} snodo.ping, {booking} cie_booking commands completed",
                (b'a' + i as u8) as char
            );
        }
        let total: u64 = shares.iter().map(|(c, b)| c + b).sum();
        assert!(
            shares.iter().all(|(c, b)| c + b > 0),
            "both instances must take work: {shares:?}"
        );
        assert!(total >= 800, "every command completed once at least: {total}");

        // 2. One poller per feed, held in Redis.
        let until = Instant::now() + Duration::from_secs(60);
        let (map, known) = loop {
            let (map, known) = holders(&cluster).await;
            for (feed, who) in &map {
                assert!(
                    who.len() <= 1,
                    "feed {feed} polled by two instances at once: {who:?}"
                );
            }
            if known > 0 && map.values().all(|w| w.len() == 1) || Instant::now() > until {
                break (map, known);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        println!("feeds and their poller: {map:?}");
        // The demo tenant's four feeds: ANPR bulk results and notifications, CIE booking changes, pagoPA
        // reporting flows.
        assert!(known >= 4, "the instances report {known} polling feeds: {map:?}");
        assert!(
            map.values().all(|w| w.len() == 1),
            "every feed must have exactly one poller: {map:?}"
        );

        // Failover: the holder of a feed is killed; the other instance takes the lease after its TTL.
        let (feed, holder) = map.iter().map(|(f, w)| (f.clone(), w[0])).next().expect("a feed");
        let other = 1 - holder;
        let killed_at = Instant::now();
        cluster.kill_instance(holder);
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            let (map, _) = holders(&cluster).await;
            if map.get(&feed).is_some_and(|w| w == &vec![other]) {
                break;
            }
            assert!(
                Instant::now() < until,
                "feed {feed} did not move to the other instance: {map:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let failover = killed_at.elapsed();
        println!(
            "failover: snodo-{} killed holding {feed}; snodo-{} polled it {failover:.1?} later (lease TTL 30 s)",
            (b'a' + holder as u8) as char,
            (b'a' + other as u8) as char
        );
        cluster.start_instance(holder).await;
        let (map, _) = holders(&cluster).await;
        for (feed, who) in &map {
            assert!(
                who.len() <= 1,
                "after the restart, feed {feed} has two pollers: {who:?}"
            );
        }

        // 3. A rolling restart with changed settings while commands flow and the booking platform
        // fails for a while, so that retry copies wait in the old steps' delay queues.
        let policy = json!({"delivery-limit": 40}).to_string();
        let pattern = format!("^{}\\.", cluster.prefix);
        cluster
            .broker
            .rabbitmqctl(&[
                "set_policy",
                "-p",
                cluster.broker.vhost(),
                "--apply-to",
                "queues",
                "snodo-delivery-limit",
                &pattern,
                &policy,
            ])
            .await;
        let flowing = {
            let cluster = cluster.clone();
            let ledger = ledger.clone();
            tokio::spawn(async move {
                publish(
                    &cluster,
                    &ledger,
                    &["core", "cie_booking", "pagopa"],
                    1200,
                    60,
                    10_000,
                )
                .await;
            })
        };
        let fault = cluster
            .admin_post(
                "cie_booking",
                "/admin/faults",
                &json!({"fault": {"kind": "http_status", "status": 503}}),
            )
            .await;
        // Retry copies gather in the old schedule's delay queues before the first instance goes.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let restart_started = Instant::now();
        let changed = [
            ("SNODO_RUNTIME__RETRY", r#"["150ms","400ms","900ms","2s"]"#),
            ("SNODO_RUNTIME__PREFETCH", "8"),
        ];
        for i in 0..2 {
            cluster.stop_instance(i).await;
            cluster.start_instance_with(i, &changed).await;
            // As an operator waits for readiness and traffic before the next node; the platform
            // recovers in between, so the old steps' copies come back to instances with the new ones.
            tokio::time::sleep(Duration::from_secs(3)).await;
            if i == 0
                && let Some(id) = fault["rules"][0]["id"].as_u64()
            {
                cluster
                    .admin_delete("cie_booking", &format!("/admin/faults/{id}"))
                    .await;
            }
        }
        let rolled_in = restart_started.elapsed();
        flowing.await.expect("the publisher");
        settle(&ledger, Duration::from_secs(120)).await;
        let ops = cluster.ops_url();
        let dead: Vec<DeadLetter> =
            serde_json::from_value(cluster.ops_get(&ops, "/ops/dlq").await).expect("the dead-letter index");
        let verdict = ledger.verify(&dead, &[]);
        let policies = cluster
            .broker
            .rabbitmqctl(&["list_queues", "-p", cluster.broker.vhost(), "name", "policy"])
            .await;
        let with_policy = policies
            .lines()
            .filter(|l| l.contains("snodo-delivery-limit"))
            .count();
        println!(
            "rolling restart (SIGTERM, start with retry 150ms/400ms/900ms/2s and prefetch 8; delivery limit 40 \
             by policy on {with_policy} queues) took {rolled_in:.1?}"
        );
        for line in &verdict.lines {
            println!("{line}");
        }
        println!("whole test {:.1?}", started.elapsed());
        assert!(
            with_policy > 0,
            "the delivery-limit policy applies to no queue:\n{policies}"
        );
        assert!(
            verdict.violations.is_empty(),
            "violations:\n{}",
            verdict.violations.join("\n")
        );
        stop.cancel();
        let mut cluster = Arc::into_inner(cluster).expect("no task holds the cluster");
        for i in 0..2 {
            cluster.stop_instance(i).await;
        }
        cluster.stop_simulators();
        // Kept when the test fails (the assertions above name the directory); removed when it passes.
        let _ = std::fs::remove_dir_all(&cluster.log_dir);
    }
}
