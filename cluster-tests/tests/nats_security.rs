//! The NATS lock-down, tried from outside on a real cluster (nats-server with the auth
//! `server-manager nats-security` makes, the real binaries): every class of forged message
//! that once changed the world is sent with no credentials (refused at connect), with the
//! wrong role's credentials (refused by the server's permissions) and, where the class
//! allows, with the right role (refused by the manager's or the zone's own checks). Each
//! time: nothing changed, the refusal is counted, and afterwards every process is healthy
//! and a normal join and a handoff still work.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use cluster_tests::Cluster;
use cluster_tests::bot::{Bot, Route};
use protocol::client::packets::ErrorCode;
use protocol::cluster::{
    self, Allocate, AreaOwner, ErrorKind, Expect, HandoffAnswer, HandoffCommit, HandoffPrepare,
    Heartbeat, Identity, ManagerVerb, OwnerMap, PlayerTransfer, Register, RegisterAck, Reply,
    Subjects, ZoneState, ZoneVerb,
};
use protocol::content::ItemStack;
use protocol::{AreaId, Epoch, HandoffId, Ticket, ZoneId};
use support::*;
use tokio::sync::mpsc;

/// A NATS client of our own, with a role's credentials, that reports the errors the server
/// sends it (a permission refused).
struct Forger {
    client: Client,
    subjects: Subjects,
    errors: mpsc::UnboundedReceiver<String>,
}

impl Forger {
    async fn connect(cluster: &Cluster, role: &str) -> Self {
        let seed = std::fs::read_to_string(cluster.nats.creds(role)).expect("a seed");
        let seed = seed.trim().to_owned();
        let identity = service_kit::nats::public_key(&seed).expect("a key");
        let identity = Identity::new(&identity).expect("an identity");
        let (tx, errors) = mpsc::unbounded_channel();
        let client = ConnectOptions::with_nkey(seed)
            .custom_inbox_prefix(Subjects::inbox_prefix(&identity))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let Event::ServerError(e) = event {
                        let _ = tx.send(e.to_string());
                    }
                }
            })
            .connect(cluster.nats.url())
            .await
            .expect("the role's credentials are accepted");
        Self {
            client,
            subjects: Subjects::default().speaking_as(identity),
            errors,
        }
    }

    /// A request that must get an answer.
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        subject: String,
        body: Vec<u8>,
    ) -> Reply<T> {
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            self.client.request(subject, body.into()),
        )
        .await
        .expect("an answer in time")
        .expect("an answer");
        cluster::decode(&reply.payload).expect("a Reply")
    }

    /// Publishes what this role may not, and waits for the server's permission refusal.
    async fn refused(&mut self, subject: String, body: Vec<u8>) {
        let _ = self.client.publish(subject.clone(), body.into()).await;
        let _ = self.client.flush().await;
        self.expect_violation(&subject).await;
    }

    async fn expect_violation(&mut self, what: &str) {
        let error = tokio::time::timeout(Duration::from_secs(5), self.errors.recv())
            .await
            .unwrap_or_else(|_| panic!("no permission refusal for {what}"))
            .expect("errors");
        assert!(
            error.contains("Permissions Violation"),
            "{what}: expected a permission refusal, got {error}"
        );
    }
}

/// A client with no credentials is refused at connect.
async fn assert_refused_without_credentials(cluster: &Cluster) {
    let attempt = ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(cluster.nats.url())
        .await;
    let error = attempt.expect_err("NATS refuses a client without credentials");
    assert!(
        error.to_string().to_lowercase().contains("authorization"),
        "{error}"
    );
}

fn manager_metric(text: &str, reason: &str) -> f64 {
    metric(text, "manager_nats_refused_total", &[("reason", reason)])
}

async fn manager_metrics(cluster: &Cluster) -> String {
    zone_metrics(cluster.manager.addr()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_messages_are_refused_at_every_layer_and_the_cluster_plays_on() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 4).await;
    let admin = Admin::new(&cluster);
    let characters = Characters::new(&cluster);
    let config = bot_config(&cluster);
    wait_for(
        "the spawn area owned",
        Duration::from_secs(30),
        async || admin.owner(SPAWN_AREA).await.is_some(),
    )
    .await;
    let east = AreaId::new(1, 0);
    let res = reqwest::Client::new()
        .post(format!("{}/v1/areas/1-0/allocate", cluster.manager_url()))
        .bearer_auth(&cluster.secrets.admin_token)
        .send()
        .await
        .expect("the manager answers");
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let spawn_owner = admin.owner(SPAWN_AREA).await.expect("an owner");
    let east_owner = admin.owner(east).await.expect("an owner");
    let (victim, _) = create_character(&config, "victim").await;
    let saved = characters.get(victim.id).await.expect("saved");

    assert_refused_without_credentials(&cluster).await;

    // ------------------------------------------------ 1. writing a character's saved state
    let zone_role = "zone-1"; // the identity the zone-server runs under
    let mut stranger = Forger::connect(&cluster, "zone-8").await; // a zone's role, no zone
    let mut manager_role = Forger::connect(&cluster, "manager").await;
    let mut forged = PlayerTransfer {
        character: saved.clone(),
        quests: Vec::new(),
        pending_inputs: Vec::new(),
        last_input_seq: 0,
        entity: None,
    };
    forged.character.inventory.coins += 1_000_000;
    let invented = Some(ItemStack {
        item: protocol::content::ItemKind(1),
        count: 20,
    });
    match forged.character.inventory.slots.first_mut() {
        Some(slot) => *slot = invented,
        None => forged.character.inventory.slots.push(invented),
    }
    let prepare = |from_zone: ZoneId, from_epoch: Epoch, player: PlayerTransfer| HandoffPrepare {
        handoff: HandoffId::new_random(),
        from_zone,
        from_area: east,
        from_epoch,
        to_area: SPAWN_AREA,
        player,
    };
    let east_epoch = east_owner.epoch.expect("an epoch");
    let claim = prepare(east_owner.zone, east_epoch, forged.clone());
    // Wrong role: the manager's credentials may not speak on an area's subject.
    manager_role
        .refused(
            manager_role
                .subjects
                .area(SPAWN_AREA, protocol::cluster::AreaVerb::Prepare),
            cluster::encode(&claim),
        )
        .await;
    // Right role, claiming to be the owner of the area next door: not by the manager's word.
    let answer: Reply<HandoffAnswer> = stranger
        .ask(
            stranger
                .subjects
                .area(SPAWN_AREA, protocol::cluster::AreaVerb::Prepare),
            cluster::encode(&claim),
        )
        .await;
    assert_eq!(answer.expect_err("refused").kind, ErrorKind::Forbidden);
    // The owner's own identity (a compromised zone-server), carrying a version that is not
    // the saved one.
    let owner_role = Forger::connect(&cluster, zone_role).await;
    let mut stale = forged.clone();
    stale.character.version += 1;
    let answer: Reply<HandoffAnswer> = owner_role
        .ask(
            owner_role
                .subjects
                .area(SPAWN_AREA, protocol::cluster::AreaVerb::Prepare),
            cluster::encode(&prepare(east_owner.zone, east_epoch, stale)),
        )
        .await;
    assert_eq!(answer.expect_err("refused").kind, ErrorKind::Forbidden);
    // A commit for a handoff nobody prepared: an error, not `Ok`.
    let commit = HandoffCommit {
        handoff: claim.handoff,
        to_area: SPAWN_AREA,
        to_epoch: spawn_owner.epoch.expect("an epoch"),
        character: victim.id,
    };
    let answer: Reply<protocol::cluster::HandoffAck> = stranger
        .ask(
            stranger
                .subjects
                .area(SPAWN_AREA, protocol::cluster::AreaVerb::Commit),
            cluster::encode(&commit),
        )
        .await;
    assert_eq!(answer.expect_err("refused").kind, ErrorKind::NotFound);
    let zone_text = zone_metrics(cluster.zones[0].addr()).await;
    assert!(
        metric(
            &zone_text,
            "zone_handoffs_forbidden_total",
            &[("reason", "not_the_owner")]
        ) >= 1.0
    );
    assert!(
        metric(
            &zone_text,
            "zone_handoffs_forbidden_total",
            &[("reason", "not_the_saved_character")]
        ) >= 1.0
    );
    assert!(
        metric(
            &zone_text,
            "zone_nats_errors_total",
            &[("kind", "not_found")]
        ) >= 1.0
    );

    // ------------------------------------------------ 2. stealing a session
    // Another role's subjects (where `expect` carries tickets) and inboxes cannot be read.
    let _ = stranger.client.subscribe("zc.zone.>").await;
    stranger
        .expect_violation("subscribing to every zone's subjects")
        .await;
    let _ = stranger.client.subscribe("_INBOX.>").await;
    stranger
        .expect_violation("subscribing to every inbox")
        .await;
    // And only the manager may send `expect`: a forged one never reaches the zone.
    let spawn_identity = Identity::new(
        &cluster
            .nats
            .bundle()
            .members
            .iter()
            .find(|m| m.name == zone_role)
            .expect("zone-1")
            .identity
            .to_string(),
    )
    .expect("an identity");
    let stolen = Ticket::new_random();
    let expect = Expect {
        zone: spawn_owner.zone,
        area: SPAWN_AREA,
        epoch: spawn_owner.epoch.expect("an epoch"),
        account: victim.account_id,
        character: victim.id,
        ticket: stolen,
        expires_at: service_kit::time::now_millis() + 30_000,
    };
    stranger
        .refused(
            stranger
                .subjects
                .zone(&spawn_identity, spawn_owner.zone, ZoneVerb::Expect),
            cluster::encode(&expect),
        )
        .await;
    let mut ws = RawClient::connect(&spawn_owner.ws_url).await;
    ws.hello(stolen).await;
    assert_eq!(
        ws.next_error(Duration::from_secs(5)).await,
        Some(ErrorCode::BAD_TICKET),
        "the forged ticket admits nobody"
    );

    // ------------------------------------------------ 3. hijacking areas
    let before = manager_metrics(&cluster).await;
    let spawn_epoch = spawn_owner.epoch.expect("an epoch");
    let heartbeat = |zone: ZoneId, epoch: Epoch| Heartbeat {
        zone,
        ws_url: "ws://127.0.0.1:9/ws".into(),
        state: ZoneState::Allocated,
        area: Some(SPAWN_AREA),
        epoch: Some(epoch),
        players: 0,
        npcs: 0,
        tick_p99_us: 0,
        ghosts: 0,
        crowding: Default::default(),
        sent_at: service_kit::time::now_millis(),
    };
    let invented = ZoneId::new_random();
    // The next epoch the manager would issue: claimed before it is.
    let next_epoch = Epoch(spawn_epoch.0.max(east_epoch.0) + 1);
    for beat in [
        heartbeat(invented, next_epoch),
        heartbeat(invented, Epoch(u64::MAX)),
        heartbeat(ZoneId::new_random(), east_epoch),
        heartbeat(spawn_owner.zone, Epoch(spawn_epoch.0 + 1)),
    ] {
        stranger
            .client
            .publish(
                stranger.subjects.manager(ManagerVerb::Heartbeat),
                cluster::encode(&beat).into(),
            )
            .await
            .expect("published");
    }
    stranger.client.flush().await.expect("flushed");
    // The manager's role may not register a zone, and a zone's may not allocate one.
    manager_role
        .refused(
            manager_role.subjects.manager(ManagerVerb::Heartbeat),
            cluster::encode(&heartbeat(invented, spawn_epoch)),
        )
        .await;
    // Nor may a zone's role publish the owner map that zones check handoffs against.
    let forged_map = OwnerMap {
        owners: vec![AreaOwner {
            area: SPAWN_AREA,
            zone: invented,
            epoch: next_epoch,
            ws_url: "ws://127.0.0.1:9/ws".into(),
            identity: stranger.subjects.me().to_string(),
        }],
    };
    stranger
        .refused(stranger.subjects.owners(), cluster::encode(&forged_map))
        .await;
    let idle = admin
        .zones()
        .await
        .expect("zones")
        .into_iter()
        .find(|z| z.state == ZoneState::Idle)
        .expect("an idle zone");
    stranger
        .refused(
            stranger
                .subjects
                .zone(&spawn_identity, idle.zone, ZoneVerb::Allocate),
            cluster::encode(&Allocate {
                zone: idle.zone,
                area: SPAWN_AREA,
                epoch: Epoch(spawn_epoch.0 + 1),
                handover_from: None,
            }),
        )
        .await;
    wait_for(
        "the forged claims counted",
        Duration::from_secs(5),
        async || {
            let after = manager_metrics(&cluster).await;
            manager_metric(&after, "unissued_epoch")
                >= manager_metric(&before, "unissued_epoch") + 2.0
                && manager_metric(&after, "not_allocated")
                    > manager_metric(&before, "not_allocated")
                && manager_metric(&after, "not_your_zone")
                    > manager_metric(&before, "not_your_zone")
        },
    )
    .await;
    let now = admin.area(SPAWN_AREA).await.expect("the area");
    assert_eq!(
        (now.zone, now.epoch),
        (Some(spawn_owner.zone), Some(spawn_epoch))
    );

    // ------------------------------------------------ 4. crowding the pool
    let mut refused = 0;
    for _ in 0..80 {
        let register = Register {
            zone: ZoneId::new_random(),
            ws_url: "ws://127.0.0.1:9/ws".into(),
            state: ZoneState::Idle,
            area: None,
            epoch: None,
        };
        let answer: Reply<RegisterAck> = stranger
            .ask(
                stranger.subjects.manager(ManagerVerb::Register),
                cluster::encode(&register),
            )
            .await;
        if answer.is_err() {
            refused += 1;
        }
    }
    assert!(
        refused >= 16,
        "registrations past the cap are refused ({refused})"
    );
    // Invented zones do not answer: an allocation still finds the real idle zone.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/areas/3-3/allocate", cluster.manager_url()))
        .bearer_auth(&cluster.secrets.admin_token)
        .send()
        .await
        .expect("the manager answers");
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let owner = admin.owner(AreaId::new(3, 3)).await.expect("an owner");
    assert!(
        zone_process_of(&cluster, &owner.ws_url).is_some(),
        "a real zone took the area: {owner:?}"
    );

    // ------------------------------------------------ nothing changed, everything plays on
    let after = characters.get(victim.id).await.expect("saved");
    assert_eq!(after, saved, "the victim's saved state is untouched");
    for url in [cluster.manager_url(), cluster.character_api_url()]
        .into_iter()
        .chain(cluster.zone_urls())
    {
        test_support::wait_ready(&url).await;
    }
    let bot = Bot::create(config.clone(), "after")
        .await
        .expect("a bot")
        .with_route(Route::BorderRunner);
    let stats = bot.stats.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(bot.play(stopped));
    wait_for(
        "a join and a handoff",
        Duration::from_secs(60),
        async || {
            stats.welcomes.load(Ordering::Relaxed) >= 1
                && stats.transfers.load(Ordering::Relaxed) >= 1
        },
    )
    .await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    stop_cluster(cluster).await;
}
