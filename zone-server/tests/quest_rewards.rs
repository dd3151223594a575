//! A quest reward earned just before the player leaves is saved with them: the zone holds
//! the departing player's save until quest-api has answered (real quest-api, paused with
//! SIGSTOP so its answer comes after the disconnect).

mod support;

use std::time::{Duration, Instant};

use protocol::client::ServerPacket;
use protocol::{AreaId, Ticket};
use support::{Client, TOKEN, TestZone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reward_answered_after_the_player_left_is_saved_with_them() {
    let mut t = TestZone::start().await;
    let east = AreaId::new(1, 0);
    t.allocate(t.zone(0), east, 1).await.expect("allocated");
    let c = t.create_character("Scout").await;
    let accepted = t
        .http
        .post(format!(
            "{}/v1/characters/{}/quests/scout-the-east/accept",
            t.quests.url(),
            c.id
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("quest-api answers");
    assert!(
        accepted.status().is_success(),
        "{:?}",
        accepted.text().await
    );

    // Preloaded (quests included), then quest-api stops answering.
    let ticket = Ticket::new_random();
    t.expect(t.zone(0), east, 1, &c, ticket, 30_000)
        .await
        .expect("ready");
    assert!(t.quests.process().pause(), "quest-api paused");

    // Entering 1-0 completes the visit quest; the player leaves before quest-api answers.
    let mut client = Client::hello(&t.ws_url, ticket).await;
    client
        .until(|p| matches!(p, ServerPacket::Welcome(_)).then_some(()))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(t.quests.process().resume(), "quest-api resumed");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let saved = t.character(&c).await;
        if saved.inventory.coins == c.inventory.coins + 10 {
            assert!(saved.version > c.version);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reward was not saved: {:?}",
            saved.inventory
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.stop().await;
}
