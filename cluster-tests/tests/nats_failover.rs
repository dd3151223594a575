//! Every binary's NATS connection (`service_kit::nats::connect`) against a real 3-node NATS
//! cluster (auth on, routes authenticated): given every node in `NATS_URL` it connects,
//! and when its node is killed (SIGKILL) it fails over to another and resubscribes, so
//! messages published on a surviving node reach it again, and once its node is back it
//! returns to it (the node listed first); requests in flight while the
//! responder's node dies are each answered or reported as errors, never lost silently.
//! Failover times are printed (speed is reported, not tested).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol::cluster::{ManagerVerb, Subjects};
use service_kit::nats::{Nats, NatsArgs, connect};
use test_support::{NatsCluster, wait_for, wait_for_value};

/// Starts the cluster off the async workers (it waits for the routes).
async fn nats_cluster(nodes: usize) -> NatsCluster {
    tokio::task::spawn_blocking(move || NatsCluster::start(nodes))
        .await
        .expect("join")
        .expect("a 3-node NATS cluster starts (scripts/test installs nats-server)")
}

/// The manager's connection through node 1 and zone-1's through node 3 (each lists its
/// own node first, then the others to fail over to).
async fn manager_and_zone(cluster: &NatsCluster) -> (Nats, Nats) {
    let args = |first: usize, role: &str| {
        NatsArgs::with_creds(&cluster.url_from(first), &cluster.creds(role))
    };
    let manager = connect(&args(0, "manager"), "manager")
        .await
        .expect("settings");
    let zone = connect(&args(2, "zone-1"), "zone-1")
        .await
        .expect("settings");
    (manager, zone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_whose_node_dies_fails_over_and_hears_the_cluster_again() {
    let mut cluster = nats_cluster(3).await;
    // The manager hears zones' heartbeats: subscribed through node 1, sent through node 3.
    let (manager, zone) = manager_and_zone(&cluster).await;
    let subject = Subjects::default()
        .speaking_as(zone.identity.clone())
        .manager(ManagerVerb::Heartbeat);
    let mut heard = manager
        .client
        .subscribe(Subjects::default().manager_all(ManagerVerb::Heartbeat))
        .await
        .expect("subscribed");
    manager.client.flush().await.expect("flushed");
    let publisher = {
        let client = zone.client.clone();
        let subject = subject.clone();
        tokio::spawn(async move {
            for n in 0u64.. {
                let _ = client.publish(subject.clone(), n.to_string().into()).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    wait_for_value(
        "a heartbeat through the cluster",
        Duration::from_secs(10),
        async || {
            tokio::time::timeout(Duration::from_millis(200), heard.next())
                .await
                .ok()
                .flatten()
        },
    )
    .await;
    assert_eq!(
        manager.client.server_info().port,
        cluster.nodes()[0].addr().port(),
        "the first node listed is the one connected to"
    );

    let killed = Instant::now();
    cluster.node(0).process().kill();
    // Drain what was in flight, then wait for messages sent after the kill.
    let after_kill = wait_for_value(
        "a heartbeat heard after the subscriber's node died",
        Duration::from_secs(30),
        async || {
            let message = tokio::time::timeout(Duration::from_millis(200), heard.next())
                .await
                .ok()
                .flatten()?;
            (killed.elapsed() > Duration::from_millis(50)
                && manager.client.connection_state() == async_nats::connection::State::Connected)
                .then_some(message)
        },
    )
    .await;
    eprintln!(
        "NATS failover: the subscriber heard the cluster again {:?} after its node was killed \
         (message {:?})",
        killed.elapsed(),
        String::from_utf8_lossy(&after_kill.payload)
    );
    assert_ne!(
        manager.client.server_info().port,
        cluster.nodes()[0].addr().port(),
        "it moved to another node"
    );

    // The node comes back and rejoins the routes; the subscriber goes back to it (its
    // own host's node, listed first) and hears the cluster there too.
    tokio::task::block_in_place(|| cluster.node(0).process().restart()).expect("restarts");
    tokio::task::block_in_place(|| cluster.wait_routed(Duration::from_secs(20)))
        .expect("routes again");
    let node = cluster.nodes()[0].addr().port();
    let took = wait_for(
        "the subscriber back on the node listed first",
        Duration::from_secs(30),
        async || {
            manager.client.server_info().port == node
                && manager.client.connection_state() == async_nats::connection::State::Connected
        },
    )
    .await;
    eprintln!("NATS failback: on the node listed first again {took:?} after its routes were up");
    let back = Instant::now();
    wait_for_value(
        "a heartbeat heard on the node listed first",
        Duration::from_secs(10),
        async || {
            let message = tokio::time::timeout(Duration::from_millis(200), heard.next())
                .await
                .ok()
                .flatten()?;
            (back.elapsed() > Duration::from_millis(50)).then_some(message)
        },
    )
    .await;
    publisher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_when_the_responders_node_dies_are_answered_or_reported() {
    let mut cluster = nats_cluster(3).await;
    // The manager answers zones' requests; it is on node 1, the zone on node 3.
    let (manager, zone) = manager_and_zone(&cluster).await;
    let mut requests = manager
        .client
        .subscribe(Subjects::default().manager_all(ManagerVerb::AreaOwner))
        .await
        .expect("subscribed");
    manager.client.flush().await.expect("flushed");
    let responder = {
        let client = manager.client.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = client.publish(reply, request.payload).await;
                }
            }
        })
    };
    let subject = Subjects::default()
        .speaking_as(zone.identity.clone())
        .manager(ManagerVerb::AreaOwner);
    let answers = async || {
        zone.client
            .request(subject.clone(), "probe".into())
            .await
            .is_ok()
    };
    let answered = wait_for("a first request answered", Duration::from_secs(10), answers).await;
    eprintln!("NATS failover: a first request answered after {answered:?}");

    // 50 requests, one every 20 ms; the responder's node dies in the middle of them.
    let mut in_flight = Vec::new();
    for n in 0..50u32 {
        let client = zone.client.clone();
        let subject = subject.clone();
        in_flight.push(tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = client.request(subject, n.to_string().into()).await;
            (n, sent.elapsed(), outcome.map(|m| m.payload))
        }));
        if n == 25 {
            cluster.node(0).process().kill();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut ok, mut reported) = (0, Vec::new());
    for request in in_flight {
        // The request timeout is 10 s: every request resolves well within 20.
        let (n, took, outcome) = tokio::time::timeout(Duration::from_secs(20), request)
            .await
            .expect("every request resolves: answered or reported")
            .expect("join");
        match outcome {
            Ok(payload) => {
                assert_eq!(payload, n.to_string().as_bytes(), "its own answer");
                ok += 1;
            }
            Err(e) => reported.push(format!("request {n}: {e} after {took:?}")),
        }
    }
    eprintln!(
        "NATS failover: {ok} of 50 requests answered across the responder's node dying; \
         {} reported as errors: {reported:?}",
        reported.len()
    );
    // And once the responder has failed over, requests are answered again.
    let took = wait_for(
        "requests answered after the failover",
        Duration::from_secs(30),
        answers,
    )
    .await;
    eprintln!("NATS failover: requests answered again {took:?} after the last in flight");
    responder.abort();
}
