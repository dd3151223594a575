//! The players of a drill: bots in the root namespace, most running back and forth across
//! the border between the two zone hosts, some gathering items in the spawn area (so
//! inventories change while faults happen); waits until they all play, and the stand-still that
//! lets every save land before the checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use protocol::CharacterId;
use protocol::http::character::Character;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::{Audited, same_inventory};
use crate::bot::{Bot, BotConfig, BotStats, Controls, Route};
use crate::hosts::get_json;

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

/// One bot of the drill.
#[derive(Debug, Clone)]
pub struct Player {
    /// Its character's name.
    pub name: String,
    /// Its character.
    pub character: CharacterId,
    /// What it saw.
    pub stats: Arc<BotStats>,
    /// What it does.
    pub controls: Arc<Controls>,
}

/// The bots of a drill, playing until stopped.
#[derive(Debug)]
pub struct Players {
    /// Every player.
    pub players: Vec<Player>,
    config: BotConfig,
    http: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Players {
    /// Starts `border_runners` bots crossing between the zone hosts and `gatherers` bots
    /// picking items up in the spawn area, named `<prefix><i>`.
    pub async fn start(
        config: &BotConfig,
        prefix: &str,
        border_runners: usize,
        gatherers: usize,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut players = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..border_runners + gatherers {
            let gatherer = i >= border_runners;
            let route = if gatherer {
                Route::Roam
            } else {
                Route::BorderRunner
            };
            let bot = Bot::create(config.clone(), &format!("{prefix}{i}"))
                .await?
                .with_route(route);
            // Runners cross as often as they can (a fight holds one up for seconds).
            bot.controls.fight.store(false, Ordering::SeqCst);
            bot.controls.gather.store(gatherer, Ordering::SeqCst);
            players.push(Player {
                name: bot.character.name.clone(),
                character: bot.character.id,
                stats: bot.stats.clone(),
                controls: bot.controls.clone(),
            });
            tasks.push(tokio::spawn(bot.play(stopped.clone())));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            players,
            config: config.clone(),
            http,
            stop,
            tasks,
        })
    }

    /// The players as the audit follows them.
    pub fn audited(&self) -> Vec<Audited> {
        self.players
            .iter()
            .map(|p| Audited {
                name: p.name.clone(),
                character: p.character,
                stats: p.stats.clone(),
            })
            .collect()
    }

    /// Each player's acknowledged inputs now.
    pub fn acks(&self) -> Vec<u64> {
        self.players
            .iter()
            .map(|p| get(&p.stats.inputs_acked))
            .collect()
    }

    /// Whether each player is connected to a zone now.
    pub fn connected(&self) -> Vec<bool> {
        self.players
            .iter()
            .map(|p| p.stats.connected.load(Ordering::SeqCst))
            .collect()
    }

    /// All transfers followed so far (handoffs and migrations).
    pub fn transfers(&self) -> u64 {
        self.players.iter().map(|p| get(&p.stats.transfers)).sum()
    }

    /// Each player's connections lost so far, and the `Error` packets it had received.
    pub fn losses(&self) -> Vec<(u64, usize)> {
        self.players
            .iter()
            .map(|p| (get(&p.stats.lost), p.stats.error_packets().len()))
            .collect()
    }

    /// Who lost a connection since `before` (from [`Players::losses`]), how (silence, or the
    /// errors the zone sent meanwhile), and on which zone it is now: what a violation needs
    /// to say to be looked into.
    pub fn losses_since(&self, before: &[(u64, usize)]) -> Vec<String> {
        self.players
            .iter()
            .zip(before)
            .filter(|(p, (lost, _))| get(&p.stats.lost) > *lost)
            .map(|(p, (lost, errors))| {
                let said: Vec<String> = p
                    .stats
                    .error_packets()
                    .into_iter()
                    .skip(*errors)
                    .map(|e| format!("{} {:?}", e.code.0, e.message))
                    .collect();
                format!(
                    "{}: {} lost ({} silent so far), errors since: [{}], zone now {:?}",
                    p.name,
                    get(&p.stats.lost) - lost,
                    get(&p.stats.silent),
                    said.join(", "),
                    p.stats.zone()
                )
            })
            .collect()
    }

    /// Waits up to `timeout` until every player is connected and has had `more` inputs
    /// acknowledged since `since` (from [`Players::acks`]); how long it took, or the names
    /// of those who did not.
    pub async fn playing_again(
        &self,
        since: &[u64],
        more: u64,
        timeout: Duration,
    ) -> Result<Duration, Vec<String>> {
        let started = Instant::now();
        loop {
            let behind: Vec<String> = self
                .players
                .iter()
                .zip(since)
                .filter(|(p, before)| {
                    !p.stats.connected.load(Ordering::SeqCst)
                        || get(&p.stats.inputs_acked) < *before + more
                })
                .map(|(p, _)| p.name.clone())
                .collect();
            if behind.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(behind);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `timeout` until the players have followed `n` more transfers than
    /// `since` (from [`Players::transfers`]): handoffs under way.
    pub async fn crossing(&self, since: u64, n: u64, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        while self.transfers() < since + n {
            if started.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(started.elapsed())
    }

    /// The stored character; `None` while character-api does not answer.
    pub async fn stored(&self, character: CharacterId) -> Option<Character> {
        let url = format!(
            "{}/v1/characters/{character}",
            self.config.character_api_url
        );
        get_json(&self.http, &url, &self.config.service_token).await
    }

    /// Makes every player stand still (`true`) or play on (`false`).
    pub fn stand(&self, still: bool) {
        for p in &self.players {
            p.controls.stand.store(still, Ordering::SeqCst);
        }
    }

    /// With everybody standing still, waits up to `timeout` until character-api holds what
    /// each player's zone last sent it and where it stands (nothing left to save); the
    /// names of those whose saves did not land.
    pub async fn settled(&self, timeout: Duration) -> Result<Duration, Vec<String>> {
        let started = Instant::now();
        loop {
            let mut unsaved = Vec::new();
            for p in &self.players {
                let saved = match (
                    p.stats.last_inventory(),
                    p.stats.position(),
                    self.stored(p.character).await,
                ) {
                    (Some(seen), Some(at), Some(stored)) => {
                        p.stats.connected.load(Ordering::SeqCst)
                            && same_inventory(&seen, &stored.inventory)
                            && stored.position.planar_distance(&at) <= 0.25
                    }
                    _ => false,
                };
                if !saved {
                    unsaved.push(p.name.clone());
                }
            }
            if unsaved.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(unsaved);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every bot and waits (briefly) for each.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}
