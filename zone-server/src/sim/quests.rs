//! Quests in the tick: which objectives a game event advances (pure matching against the
//! catalog, reported to quest-api as effects), and quest-api's answers taken in between
//! ticks and sent with the next one. The counting itself is quest-api's (idempotent by
//! event id), and its answer is what the zone shows the player.

use protocol::client::ServerPacket;
use protocol::client::packets::{self as pk, ErrorCode};
use protocol::content::ItemStack;
use protocol::content::{ItemKind, NpcKind};
use protocol::http::character::{Character, Skill};
use protocol::http::quest::{ObjectiveKind, ProgressOutcome, Quest, QuestProgress, QuestStatus};
use protocol::{AreaId, CharacterId, EntityId, QuestId};

use super::player::{Player, level_of};
use super::{Effect, Simulation, TickOutput};

/// Something a player did that quests may count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameEvent {
    /// Killed an NPC of this kind.
    Kill(NpcKind),
    /// Picked up this many items of a kind.
    Gather(ItemKind, u32),
    /// Is in this area.
    Visit(AreaId),
}

/// Takes a quest-api outcome into a character's standings and, the first time the quest
/// completes, grants its rewards (coins, combat xp, items). Returns the stacks that did not
/// fit in the bags when rewards were granted (the caller puts them on the ground), `None`
/// when there was nothing to grant (progress only, or a replay of a completion).
pub fn absorb_outcome(
    character: &mut Character,
    standings: &mut Vec<QuestProgress>,
    outcome: ProgressOutcome,
) -> Option<Vec<ItemStack>> {
    let was_completed = standings
        .iter()
        .any(|q| q.quest_id == outcome.progress.quest_id && q.status == QuestStatus::Completed);
    upsert_standing(standings, outcome.progress);
    let rewards = outcome.rewards.filter(|_| !was_completed)?;
    character.inventory.coins = character.inventory.coins.saturating_add(rewards.coins);
    *character.stats.xp.entry(Skill::Combat).or_default() += rewards.xp;
    character.stats.level = level_of(character);
    Some(
        rewards
            .items
            .iter()
            .map(|stack| super::inventory::add_stack(&mut character.inventory, *stack))
            .filter(|left| left.count > 0)
            .collect(),
    )
}

/// The (quest, objective index, amount) triples `event` advances for a player with these
/// standings: only active quests, only objectives not yet complete.
pub fn advanced_objectives(
    catalog: &[Quest],
    standings: &[QuestProgress],
    event: GameEvent,
) -> Vec<(QuestId, u8, u32)> {
    let mut out = Vec::new();
    for progress in standings.iter().filter(|p| p.status == QuestStatus::Active) {
        let Some(quest) = catalog.iter().find(|q| q.id == progress.quest_id) else {
            continue;
        };
        for (i, objective) in quest.objectives.iter().enumerate() {
            let done = progress.counters.get(i).copied().unwrap_or(0) >= objective.count;
            let amount = match (&objective.kind, event) {
                (ObjectiveKind::Kill { npc }, GameEvent::Kill(k)) if *npc == k => 1,
                (ObjectiveKind::Gather { item }, GameEvent::Gather(k, n)) if *item == k => n,
                (ObjectiveKind::Visit { area }, GameEvent::Visit(a)) if *area == a => 1,
                _ => 0,
            };
            if amount > 0
                && !done
                && let Ok(index) = u8::try_from(i)
            {
                out.push((quest.id.clone(), index, amount));
            }
        }
    }
    out
}

/// Reports to quest-api every objective `event` advances for `player`.
pub(super) fn report(
    catalog: &[Quest],
    player: &Player,
    event: GameEvent,
    effects: &mut Vec<Effect>,
) {
    let character = player.character.id;
    for (quest, objective, amount) in advanced_objectives(catalog, &player.quests, event) {
        effects.push(Effect::QuestProgress {
            character,
            quest,
            objective,
            amount,
        });
    }
}

/// Puts `new` in place of the standing of the same quest, or adds it.
fn upsert_standing(standings: &mut Vec<QuestProgress>, new: QuestProgress) {
    match standings.iter_mut().find(|q| q.quest_id == new.quest_id) {
        Some(old) => *old = new,
        None => standings.push(new),
    }
}

fn quest_log(standings: &[QuestProgress]) -> ServerPacket {
    ServerPacket::QuestLog(pk::QuestLog {
        quests: standings
            .iter()
            .map(|q| pk::QuestEntry {
                quest: q.quest_id.clone(),
                status: q.status,
                counters: q.counters.clone(),
            })
            .collect(),
    })
}

impl Simulation {
    /// What quest-api's answers produced since the last tick goes out first.
    pub(super) fn send_quest_answers(&mut self, out: &mut TickOutput) {
        out.frames.append(&mut self.deferred.frames);
        out.effects.append(&mut self.deferred.effects);
    }

    /// A player asks for their quest log.
    pub(super) fn send_quest_log(&mut self, id: EntityId, out: &mut TickOutput) {
        if let Some(player) = self.players.get(&id) {
            out.send(id, quest_log(&player.quests));
        }
    }

    /// A player asks to accept a quest: quest-api decides (prerequisites, repeats).
    pub(super) fn accept_quest(&mut self, id: EntityId, quest: QuestId, out: &mut TickOutput) {
        let Some(player) = self.players.get(&id) else {
            return;
        };
        if self.catalog.iter().any(|q| q.id == quest) {
            let character = player.character.id;
            out.effects.push(Effect::QuestAccept { character, quest });
        } else {
            Self::reject(out, id, "no such quest");
        }
    }

    /// quest-api answered a progress event.
    pub fn quest_progressed(&mut self, character: CharacterId, outcome: ProgressOutcome) {
        let Some(&id) = self.by_character.get(&character) else {
            return;
        };
        let Some(quest) = self
            .catalog
            .iter()
            .find(|q| q.id == outcome.progress.quest_id)
            .cloned()
        else {
            return;
        };
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        let new = &outcome.progress;
        for (i, count) in new.counters.iter().enumerate() {
            let required = quest.objectives.get(i).map_or(0, |o| o.count);
            self.deferred.send(
                id,
                ServerPacket::QuestProgress(pk::QuestProgress {
                    quest: new.quest_id.clone(),
                    objective: i.min(255) as u8,
                    count: *count,
                    required,
                }),
            );
        }
        let rewards = outcome.rewards.clone();
        if let Some(overflow) = absorb_outcome(&mut player.character, &mut player.quests, outcome)
            && let Some(rewards) = rewards
        {
            let at = player.character.position;
            player.inventory_changed();
            player.stats_changed();
            self.deferred.send(
                id,
                ServerPacket::QuestCompleted(pk::QuestCompleted {
                    quest: quest.id,
                    xp: rewards.xp,
                    coins: rewards.coins,
                    items: rewards.items,
                }),
            );
            // What does not fit in the bags is put at the player's feet, never lost.
            for stack in overflow {
                self.spawn_ground_item(stack, at, None);
            }
        }
    }

    /// quest-api answered an accept request.
    pub fn quest_accepted(
        &mut self,
        character: CharacterId,
        result: Result<QuestProgress, String>,
    ) {
        let Some(&id) = self.by_character.get(&character) else {
            return;
        };
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        match result {
            Ok(progress) => {
                upsert_standing(&mut player.quests, progress);
                self.deferred.send(id, quest_log(&player.quests));
                let visit = GameEvent::Visit(self.content.area);
                report(&self.catalog, player, visit, &mut self.deferred.effects);
            }
            Err(reason) => self
                .deferred
                .send(id, ServerPacket::error(ErrorCode::REJECTED, reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::http::quest::{Objective, Rewards};

    use super::*;

    fn quest(id: &str, kind: ObjectiveKind, count: u32) -> Quest {
        Quest {
            id: QuestId(id.into()),
            title: id.into(),
            description: String::new(),
            prerequisites: vec![],
            objectives: vec![Objective { kind, count }],
            rewards: Rewards::default(),
        }
    }

    fn standing(id: &str, status: QuestStatus, count: u32) -> QuestProgress {
        QuestProgress {
            quest_id: QuestId(id.into()),
            status,
            counters: vec![count],
            accepted_at: None,
            completed_at: None,
        }
    }

    #[test]
    fn only_active_incomplete_matching_objectives_advance() {
        let catalog = vec![
            quest("wolves", ObjectiveKind::Kill { npc: NpcKind::WOLF }, 3),
            quest("boars", ObjectiveKind::Kill { npc: NpcKind::BOAR }, 3),
            quest(
                "herbs",
                ObjectiveKind::Gather {
                    item: ItemKind::HEALING_HERB,
                },
                5,
            ),
        ];
        let standings = vec![
            standing("wolves", QuestStatus::Active, 1),
            standing("boars", QuestStatus::Available, 0),
            standing("herbs", QuestStatus::Active, 5),
        ];
        let kill = advanced_objectives(&catalog, &standings, GameEvent::Kill(NpcKind::WOLF));
        assert_eq!(kill, vec![(QuestId("wolves".into()), 0, 1)]);
        assert!(
            advanced_objectives(&catalog, &standings, GameEvent::Kill(NpcKind::BOAR)).is_empty()
        );
        assert!(
            advanced_objectives(
                &catalog,
                &standings,
                GameEvent::Gather(ItemKind::HEALING_HERB, 2)
            )
            .is_empty()
        );
    }
}
