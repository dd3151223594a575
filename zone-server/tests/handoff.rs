//! Handoff, migration and lost areas between two real zones (two actors of this process,
//! talking only over a real nats-server), with real character-api and quest-api processes
//! and real WebSocket clients.

mod support;

use std::time::{Duration, Instant};

use protocol::client::ServerPacket;
use protocol::client::entity::quantize_yaw;
use protocol::client::packets::Input;
use protocol::cluster::{self, *};
use protocol::http::character::Character;
use protocol::http::zone::ArrivedBy;
use protocol::{AreaId, CharacterId, Epoch, Position, Ticket};
use support::{Client, TestZone};
use zone_server::zone::ZoneMsg;

/// A client walking east, numbering its inputs and keeping the unacknowledged ones.
struct Walker {
    client: Client,
    seq: u32,
    unacked: Vec<Input>,
}

impl Walker {
    /// Joins `c` into zone 0 (area 0-0, epoch 1) and waits for its `Welcome`.
    async fn joined(t: &TestZone, c: &Character) -> Self {
        let mut client = t.join(c, 1).await;
        client
            .until(|p| matches!(p, ServerPacket::Welcome(_)).then_some(()))
            .await;
        Self {
            client,
            seq: 0,
            unacked: Vec::new(),
        }
    }

    async fn step_east(&mut self) {
        self.seq += 1;
        let input = Input {
            seq: self.seq,
            move_x: 127,
            move_z: 0,
            running: false,
            yaw: quantize_yaw(std::f32::consts::FRAC_PI_2),
        };
        self.unacked.push(input);
        self.client.send(input.into()).await;
    }

    fn absorb(&mut self, packet: &ServerPacket) {
        if let ServerPacket::InputAck(a) = packet {
            self.unacked.retain(|i| i.seq > a.seq);
        }
    }

    /// Takes `steps` steps east and waits until the zone acknowledged them all.
    async fn walk_east(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step_east().await;
        }
        self.settle().await;
    }

    /// Walks east until the zone says `Transfer`; `None` if it did not within `limit`.
    async fn walk_until_transfer(&mut self, limit: Duration) -> Option<(String, Ticket)> {
        let deadline = Instant::now() + limit;
        let mut step = tokio::time::interval(Duration::from_millis(50));
        while Instant::now() < deadline {
            tokio::select! {
                _ = step.tick() => self.step_east().await,
                packet = self.client.next() => match packet? {
                    ServerPacket::Transfer(t) => return Some((t.ws_url, t.ticket)),
                    other => self.absorb(&other),
                },
            }
        }
        None
    }

    /// Follows a transfer: connects, says Hello, resends what was not acknowledged.
    /// Returns the area and the sequence number the new zone acknowledged on arrival.
    async fn follow(&mut self, url: &str, ticket: Ticket) -> (AreaId, u32) {
        self.client = Client::hello(url, ticket).await;
        let area = self
            .client
            .until(|p| match p {
                ServerPacket::Welcome(w) => Some(w.area),
                _ => None,
            })
            .await;
        let acked = self
            .client
            .until(|p| match p {
                ServerPacket::InputAck(a) => Some(a.seq),
                _ => None,
            })
            .await;
        self.unacked.retain(|i| i.seq > acked);
        for input in self.unacked.clone() {
            self.client.send(input.into()).await;
        }
        (area, acked)
    }

    /// Waits until every input sent is acknowledged.
    async fn settle(&mut self) {
        if self.unacked.is_empty() {
            return;
        }
        let last = self.seq;
        self.client
            .until(|p| match p {
                ServerPacket::InputAck(a) if a.seq >= last => Some(()),
                _ => None,
            })
            .await;
        self.unacked.clear();
    }
}

/// Zone 0 takes area 0-0 (epoch 1), zone 1 the area east of it, 1-0 (epoch 2).
async fn allocate_west_and_east(t: &TestZone) {
    t.allocate(t.zone(0), AreaId::new(0, 0), 1)
        .await
        .expect("west");
    t.allocate(t.zone(1), AreaId::new(1, 0), 2)
        .await
        .expect("east");
}

/// The manager gives `area` (zone 0's, epoch 1) to zone 1 under epoch 2, and zone 0 is
/// told to migrate it there; its one player goes.
async fn migrate_to_zone_1(t: &TestZone, area: AreaId) {
    t.allocate_from(t.zone(1), area, 2, t.zone(0))
        .await
        .expect("new");
    let migrated: Reply<Migrated> = t
        .request(
            t.zone(0),
            ZoneVerb::Migrate,
            &Migrate {
                zone: t.zone(0),
                area,
                epoch: Epoch(1),
                target_zone: t.zone(1),
                target_epoch: Epoch(2),
                target_identity: t.identity.to_string(),
            },
        )
        .await;
    assert_eq!(migrated.expect("migrated").players, 1);
}

fn teleport(t: &TestZone, zone: usize, character: CharacterId, to: Position) {
    let actor = t.handle.shared.zone(t.zone(zone)).expect("zone actor");
    let _ = actor.cast(ZoneMsg::Teleport { character, to });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_crossing_the_border_is_handed_over_with_state_and_inputs_intact() {
    let t = TestZone::start().await;
    allocate_west_and_east(&t).await;
    let c = t.create_character("Crosser").await;
    let mut walker = Walker::joined(&t, &c).await;
    teleport(&t, 0, c.id, Position::new(124.0, 0.0, 64.0));

    let (url, ticket) = walker
        .walk_until_transfer(Duration::from_secs(15))
        .await
        .expect("a Transfer at the border");
    let (area, carried) = walker.follow(&url, ticket).await;
    assert_eq!(area, AreaId::new(1, 0));
    walker.walk_east(5).await;

    // Exactly one zone has the player, with the inventory they had.
    let (west, east) = (t.inspect(t.zone(0)).await, t.inspect(t.zone(1)).await);
    assert!(west.players.is_empty(), "the old zone let go");
    assert_eq!(east.players.len(), 1);
    assert_eq!(east.players[0].character.inventory, c.inventory);
    assert!(east.players[0].character.position.x >= 128.0);

    // The stays prove one owner at a time and no input lost across the border.
    let stays: Vec<_> = t
        .handle
        .shared
        .stays
        .all()
        .into_iter()
        .filter(|s| s.character == c.id)
        .collect();
    assert_eq!(stays.len(), 2, "{stays:?}");
    let (before, after) = (&stays[0], &stays[1]);
    assert_eq!(before.zone, t.zone(0));
    assert_eq!(after.zone, t.zone(1));
    assert_eq!(after.arrived_by, ArrivedBy::Handoff);
    let left = before.left_us.expect("the first stay closed");
    assert!(left <= after.entered_us, "{before:?} overlaps {after:?}");
    assert_eq!(
        before.inputs_applied,
        u64::from(before.exit_seq - before.entry_seq),
        "every input in the west zone applied"
    );
    assert_eq!(after.entry_seq, before.exit_seq, "carried over exactly");
    assert_eq!(
        carried, before.exit_seq,
        "the new zone acknowledged what was applied"
    );
    assert!(before.handoff_started_us.is_some_and(|s| s <= left));
    assert!(after.first_input_us.is_some());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_owner_map_in_hand_a_handoff_needs_no_manager() {
    let t = TestZone::start().await;
    allocate_west_and_east(&t).await;
    // The manager published its map, then went away: no question is answered.
    t.publish_owner_map().await;
    t.answering
        .store(false, std::sync::atomic::Ordering::Release);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = t.create_character("Unmanaged").await;
    let mut walker = Walker::joined(&t, &c).await;
    teleport(&t, 0, c.id, Position::new(124.0, 0.0, 64.0));
    let (url, ticket) = walker
        .walk_until_transfer(Duration::from_secs(15))
        .await
        .expect("a Transfer with only the owner map to go by");
    let (area, _) = walker.follow(&url, ticket).await;
    assert_eq!(area, AreaId::new(1, 0));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_owner_next_door_the_player_is_held_while_the_manager_is_asked() {
    let t = TestZone::start().await;
    let mut requests = t
        .nats
        .subscribe(t.subjects.manager_all(ManagerVerb::AreaRequest))
        .await
        .expect("subscribe");
    t.nats.flush().await.expect("flush");
    t.allocate(t.zone(0), AreaId::new(0, 0), 1)
        .await
        .expect("west");
    let c = t.create_character("Waiter").await;
    let mut walker = Walker::joined(&t, &c).await;
    teleport(&t, 0, c.id, Position::new(124.0, 0.0, 64.0));

    // Nobody owns 1-0: no Transfer, the zone asks the manager (played by this test).
    let walked = walker.walk_until_transfer(Duration::from_secs(3)).await;
    assert!(walked.is_none(), "no Transfer without an owner");
    let request = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut requests),
    )
    .await
    .expect("an area request")
    .expect("a message");
    let asked: AreaRequest = cluster::decode(&request.payload).expect("an AreaRequest");
    assert_eq!(asked.area, AreaId::new(1, 0));
    assert_eq!(asked.requested_by, t.zone(0));
    let report = t.inspect(t.zone(0)).await;
    let held = report.players[0].character.position;
    assert!(held.x < 128.0, "held inside the border: {held:?}");

    t.allocate(t.zone(1), AreaId::new(1, 0), 2)
        .await
        .expect("east");
    if let Some(reply) = request.reply {
        let owner: Reply<AreaOwner> = Ok(AreaOwner {
            area: AreaId::new(1, 0),
            zone: t.zone(1),
            epoch: Epoch(2),
            ws_url: t.ws_url.clone(),
            identity: t.identity.to_string(),
        });
        t.nats
            .publish(reply, cluster::encode(&owner).into())
            .await
            .expect("answer");
    }
    let (url, ticket) = walker
        .walk_until_transfer(Duration::from_secs(10))
        .await
        .expect("a Transfer once the neighbour exists");
    let (area, _) = walker.follow(&url, ticket).await;
    assert_eq!(area, AreaId::new(1, 0));
    walker.settle().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_moves_players_npcs_and_ground_items_and_the_old_zone_goes_idle() {
    let t = TestZone::start().await;
    let area = AreaId::new(0, 0);
    t.allocate(t.zone(0), area, 1).await.expect("old");
    let c = t.create_character("Migrant").await;
    let mut walker = Walker::joined(&t, &c).await;
    walker.walk_east(5).await;
    let before = t.inspect(t.zone(0)).await;

    migrate_to_zone_1(&t, area).await;
    let (url, ticket) = walker
        .client
        .until(|p| match p {
            ServerPacket::Transfer(t) => Some((t.ws_url.clone(), t.ticket)),
            _ => None,
        })
        .await;
    let (arrived, acked) = walker.follow(&url, ticket).await;
    assert_eq!((arrived, acked), (area, walker.seq));
    walker.step_east().await;
    walker.settle().await;

    let (old, new) = (t.inspect(t.zone(0)).await, t.inspect(t.zone(1)).await);
    assert_eq!(old.state, ZoneState::Idle);
    assert_eq!(new.players.len(), 1);
    assert_eq!(new.players[0].character.inventory, c.inventory);
    let items = |r: &zone_server::zone::ZoneReport| {
        let mut v: Vec<_> = r
            .world
            .1
            .iter()
            .map(|i| {
                (
                    i.stack.item.0,
                    i.stack.count,
                    i.position.x.to_bits(),
                    i.node,
                )
            })
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        items(&before),
        items(&new),
        "the ground items moved as they were"
    );
    let spawns = |r: &zone_server::zone::ZoneReport| {
        let mut v: Vec<_> = r.world.0.iter().map(|n| (n.spawn, n.kind.0)).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(spawns(&before), spawns(&new));
    let stays = t.handle.shared.stays.all();
    assert!(
        stays
            .iter()
            .any(|s| s.character == c.id && s.arrived_by == ArrivedBy::Migration)
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_that_lost_its_area_hands_its_players_to_the_new_owner() {
    let t = TestZone::start().await;
    let area = AreaId::new(0, 0);
    t.allocate(t.zone(0), area, 1).await.expect("old");
    let c = t.create_character("Orphan").await;
    let mut walker = Walker::joined(&t, &c).await;
    t.allocate(t.zone(1), area, 2).await.expect("new owner");
    let released: Reply<Released> = t
        .request(
            t.zone(0),
            ZoneVerb::LostArea,
            &LostArea {
                zone: t.zone(0),
                area,
                lost_epoch: Epoch(1),
                new_owner: t.zone(1),
                new_epoch: Epoch(2),
                new_owner_identity: t.identity.to_string(),
            },
        )
        .await;
    released.expect("acknowledged");
    let (url, ticket) = walker
        .client
        .until(|p| match p {
            ServerPacket::Transfer(t) => Some((t.ws_url.clone(), t.ticket)),
            _ => None,
        })
        .await;
    let (arrived, _) = walker.follow(&url, ticket).await;
    assert_eq!(arrived, area);
    walker.step_east().await;
    walker.settle().await;
    assert_eq!(t.inspect(t.zone(0)).await.state, ZoneState::Idle);
    assert_eq!(t.inspect(t.zone(1)).await.players.len(), 1);
    t.stop().await;
}

/// A client that gave up on its stalled zone rejoins through the manager while that zone's
/// migration brings its state to the new owner too: the join's session continues the
/// carried state (newer than the stored one), and the migration's ticket goes with it, so
/// no second state of the character is left to be saved over the session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_rejoins_instead_of_following_a_migration_keeps_the_carried_state() {
    let t = TestZone::start().await;
    let area = AreaId::new(0, 0);
    t.allocate(t.zone(0), area, 1).await.expect("old");
    let c = t.create_character("Rejoiner").await;
    let mut walker = Walker::joined(&t, &c).await;
    walker.walk_east(5).await;
    let walked = t.inspect(t.zone(0)).await.players[0].character.clone();
    let stored = t.character(&c).await;
    assert_ne!(
        walked.position, stored.position,
        "the walk is not saved yet (saves are periodic)"
    );

    migrate_to_zone_1(&t, area).await;
    assert_eq!(t.inspect(t.zone(1)).await.pending_arrivals, 1);

    // The client does not follow the Transfer: it joins through the manager instead.
    let ticket = Ticket::new_random();
    t.expect(t.zone(1), area, 2, &c, ticket, 30_000)
        .await
        .expect("expect answered ready");
    let mut rejoined = support::Client::hello(&t.ws_url, ticket).await;
    rejoined
        .until(|p| matches!(p, ServerPacket::Welcome(_)).then_some(()))
        .await;

    let new = t.inspect(t.zone(1)).await;
    assert_eq!(
        new.pending_arrivals, 0,
        "the migration's ticket went with the join"
    );
    assert_eq!(new.players.len(), 1);
    let resumed = &new.players[0].character;
    assert_eq!(
        resumed.position, walked.position,
        "the carried state, not the stored one"
    );
    assert_eq!(resumed.version, stored.version);
    assert_eq!(resumed.inventory, walked.inventory);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handoff_messages_get_error_replies_and_change_nothing() {
    let t = TestZone::start().await;
    let area = AreaId::new(1, 1);
    t.allocate(t.zone(0), area, 1).await.expect("allocated");
    let ask = |verb: AreaVerb, payload: Vec<u8>| {
        let (nats, subject) = (t.neighbour.clone(), t.neighbour_subjects.area(area, verb));
        async move {
            let reply = nats
                .request(subject, payload.into())
                .await
                .expect("a reply");
            reply.payload
        }
    };
    // Garbage.
    let reply = ask(AreaVerb::Prepare, b"\xc1garbage".to_vec()).await;
    let err = cluster::decode::<Reply<HandoffAnswer>>(&reply)
        .expect("an error reply")
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Malformed);
    // A prepare naming another area than the subject's.
    let c = t.create_character("Nobody").await;
    let prepare = |to_area: AreaId, from_zone| HandoffPrepare {
        handoff: protocol::HandoffId::new_random(),
        from_zone,
        from_area: AreaId::new(0, 1),
        from_epoch: Epoch(1),
        to_area,
        player: PlayerTransfer {
            character: c.clone(),
            quests: Vec::new(),
            pending_inputs: Vec::new(),
            last_input_seq: 0,
            entity: None,
        },
    };
    let reply = ask(
        AreaVerb::Prepare,
        cluster::encode(&prepare(AreaId::new(2, 2), t.zone(1))),
    )
    .await;
    let err = cluster::decode::<Reply<HandoffAnswer>>(&reply)
        .expect("decodes")
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::WrongEpoch);
    // From itself.
    let reply = ask(
        AreaVerb::Prepare,
        cluster::encode(&prepare(area, t.zone(0))),
    )
    .await;
    let err = cluster::decode::<Reply<HandoffAnswer>>(&reply)
        .expect("decodes")
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Malformed);
    // Garbage commits and aborts: malformed.
    for verb in [AreaVerb::Commit, AreaVerb::Abort] {
        let reply = ask(verb, b"\x00".to_vec()).await;
        assert!(
            cluster::decode::<Reply<HandoffAck>>(&reply)
                .expect("decodes")
                .is_err()
        );
    }
    // Commit and abort of a handoff nobody prepared: `not_found`, nothing made.
    let commit = HandoffCommit {
        handoff: protocol::HandoffId::new_random(),
        to_area: area,
        to_epoch: Epoch(1),
        character: c.id,
    };
    let abort = HandoffAbort {
        handoff: commit.handoff,
        to_area: area,
        to_epoch: Epoch(1),
        character: c.id,
    };
    for (verb, body) in [
        (AreaVerb::Commit, cluster::encode(&commit)),
        (AreaVerb::Abort, cluster::encode(&abort)),
    ] {
        let reply = ask(verb, body).await;
        let err = cluster::decode::<Reply<HandoffAck>>(&reply)
            .expect("decodes")
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::NotFound, "{verb:?}");
    }
    // An area transfer for an area this zone does not hold.
    let transfer: Reply<AreaStateAccepted> = t
        .request(
            t.zone(1),
            ZoneVerb::AreaState,
            &AreaStateTransfer {
                zone: t.zone(1),
                area,
                epoch: Epoch(9),
                from_zone: t.zone(0),
                players: Vec::new(),
                npcs: Vec::new(),
                ground_items: Vec::new(),
            },
        )
        .await;
    assert_eq!(transfer.expect_err("refused").kind, ErrorKind::WrongEpoch);
    let report = t.inspect(t.zone(0)).await;
    assert_eq!((report.pending_arrivals, report.players.len()), (0, 0));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_areas_world_is_believed_only_from_the_zone_the_manager_named() {
    let t = TestZone::start().await;
    let area = AreaId::new(2, 2);
    // Allocated as an ordinary allocation, not a drain: no zone is named to send the world.
    t.allocate(t.zone(1), area, 3).await.expect("allocated");
    let forged = AreaStateTransfer {
        zone: t.zone(1),
        area,
        epoch: Epoch(3),
        from_zone: t.zone(0),
        players: Vec::new(),
        npcs: Vec::new(),
        ground_items: vec![GroundItemSnapshot {
            stack: protocol::content::ItemStack {
                item: protocol::content::ItemKind(1),
                count: 20,
            },
            position: Position::new(300.0, 0.0, 300.0),
            despawn_at: 0,
            node: None,
            entity: None,
        }],
    };
    let answer: Reply<AreaStateAccepted> = t.request(t.zone(1), ZoneVerb::AreaState, &forged).await;
    assert_eq!(answer.expect_err("refused").kind, ErrorKind::Forbidden);
    t.stop().await;
}
