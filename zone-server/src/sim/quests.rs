//! Which quest objectives a game event advances. Pure matching against the catalog; the
//! counting itself is quest-api's (idempotent by event id), and its answer is what the
//! zone shows the player.

use protocol::content::ItemStack;
use protocol::content::{ItemKind, NpcKind};
use protocol::http::character::{Character, Skill};
use protocol::http::quest::{ObjectiveKind, ProgressOutcome, Quest, QuestProgress, QuestStatus};
use protocol::{AreaId, QuestId};

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
    super::upsert_standing(standings, outcome.progress);
    let rewards = outcome.rewards.filter(|_| !was_completed)?;
    character.inventory.coins = character.inventory.coins.saturating_add(rewards.coins);
    *character.stats.xp.entry(Skill::Combat).or_default() += rewards.xp;
    character.stats.level = super::level_of(character);
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
