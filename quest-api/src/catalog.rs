//! The quest catalog: a TOML file of quests, checked once at start-up so that nothing
//! later has to wonder whether a quest's prerequisites exist or its objectives make sense.
//!
//! The file shipped in this crate (`quest-api/quests.toml`) is embedded in the binary, so
//! the service works from any directory; `--catalog` points at another file.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use protocol::QuestId;
use protocol::content::{ItemKind, NpcKind};
use protocol::http::quest::{ObjectiveKind, Quest};
use serde::Deserialize;

/// The catalog shipped in this crate (`quest-api/quests.toml`), embedded at build time so
/// the binary needs no data files next to it.
pub const BUILTIN_CATALOG: &str = include_str!("../quests.toml");

/// The name the built-in catalog goes by in error messages.
pub const BUILTIN_CATALOG_NAME: &str = "quest-api/quests.toml (built in)";

/// Most objectives one quest may have: progress events name an objective by a `u8` index.
pub const MAX_OBJECTIVES: usize = u8::MAX as usize + 1;

/// Why a catalog was refused. Every variant names the place: the file, and the line and
/// column of a syntax error or the quest and field of a semantic one, so whoever edits the
/// catalog can fix it from the start-up message alone.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read quest catalog {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the catalog's shape.
    #[error("quest catalog {file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A quest breaks a rule of the catalog (an unknown prerequisite, a zero count, ...).
    #[error("quest catalog {file}:{line}: quest `{quest}`, {field}: {problem}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line where the quest's table starts.
        line: usize,
        /// The quest's id as written.
        quest: String,
        /// The field at fault, e.g. `prerequisites[1]` or `objectives[0].count`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The catalog as a whole is unusable (e.g. it has no quests).
    #[error("quest catalog {file}: {problem}")]
    Empty {
        /// The file.
        file: String,
        /// What is wrong.
        problem: String,
    },
}

/// The file's shape: `[[quests]]` tables in the JSON form of [`Quest`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    quests: Vec<toml::Spanned<Quest>>,
}

/// A validated catalog: quests in file order, indexed by id.
#[derive(Debug, Clone)]
pub struct Catalog {
    quests: Vec<Quest>,
    index: HashMap<QuestId, usize>,
}

impl Catalog {
    /// The catalog shipped in this crate.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::from_toml(BUILTIN_CATALOG, BUILTIN_CATALOG_NAME)
    }

    /// Reads and validates the catalog at `path`.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_toml(&text, &file)
    }

    /// Parses and validates catalog `text`; `file` names it in error messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, CatalogError> {
        let parsed: CatalogFile = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            CatalogError::Parse {
                file: file.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let lines: Vec<usize> = parsed
            .quests
            .iter()
            .map(|q| line_column(text, q.span().start).0)
            .collect();
        let quests: Vec<Quest> = parsed.quests.into_iter().map(|q| q.into_inner()).collect();
        match Self::validate(&quests) {
            Ok(index) => Ok(Self { quests, index }),
            Err(Fault::Empty) => Err(CatalogError::Empty {
                file: file.to_owned(),
                problem: "it has no quests (expected at least one `[[quests]]` table)".to_owned(),
            }),
            Err(Fault::Quest {
                index,
                field,
                problem,
            }) => Err(CatalogError::Invalid {
                file: file.to_owned(),
                line: lines[index],
                quest: quests[index].id.0.clone(),
                field,
                problem,
            }),
        }
    }

    fn validate(quests: &[Quest]) -> Result<HashMap<QuestId, usize>, Fault> {
        if quests.is_empty() {
            return Err(Fault::Empty);
        }
        let mut index = HashMap::with_capacity(quests.len());
        for (i, quest) in quests.iter().enumerate() {
            let fault = |field: &str, problem: String| Fault::Quest {
                index: i,
                field: field.to_owned(),
                problem,
            };
            if !quest.id.is_valid() {
                return Err(fault(
                    "id",
                    format!(
                        "`{}` is not a valid quest id (1 to {} of a-z, 0-9, '-', '_')",
                        quest.id,
                        QuestId::MAX_LEN
                    ),
                ));
            }
            if index.insert(quest.id.clone(), i).is_some() {
                return Err(fault(
                    "id",
                    format!("`{}` is used by an earlier quest", quest.id),
                ));
            }
            if quest.title.trim().is_empty() {
                return Err(fault("title", "must not be empty".to_owned()));
            }
            if quest.objectives.is_empty() {
                return Err(fault(
                    "objectives",
                    "a quest needs at least one objective".to_owned(),
                ));
            }
            if quest.objectives.len() > MAX_OBJECTIVES {
                return Err(fault(
                    "objectives",
                    format!("at most {MAX_OBJECTIVES} objectives"),
                ));
            }
            for (o, objective) in quest.objectives.iter().enumerate() {
                if objective.count == 0 {
                    return Err(fault(
                        &format!("objectives[{o}].count"),
                        "must be at least 1".to_owned(),
                    ));
                }
                match objective.kind {
                    ObjectiveKind::Kill { npc } if npc.spec().is_none() => {
                        return Err(fault(
                            &format!("objectives[{o}].kind.npc"),
                            format!("{npc} is not an NPC kind ({})", npc_names()),
                        ));
                    }
                    ObjectiveKind::Gather { item } if item.spec().is_none() => {
                        return Err(fault(
                            &format!("objectives[{o}].kind.item"),
                            format!("{item} is not an item kind ({})", item_names()),
                        ));
                    }
                    _ => {}
                }
            }
            for (r, stack) in quest.rewards.items.iter().enumerate() {
                let Some(spec) = stack.item.spec() else {
                    return Err(fault(
                        &format!("rewards.items[{r}].item"),
                        format!("{} is not an item kind ({})", stack.item, item_names()),
                    ));
                };
                if stack.count == 0 || stack.count > spec.max_stack {
                    return Err(fault(
                        &format!("rewards.items[{r}].count"),
                        format!(
                            "must be 1 to {} (the most one {} stack holds)",
                            spec.max_stack, spec.name
                        ),
                    ));
                }
            }
        }
        // Prerequisites: known, not the quest itself, not repeated.
        for (i, quest) in quests.iter().enumerate() {
            let mut seen = HashSet::new();
            for (p, pre) in quest.prerequisites.iter().enumerate() {
                let field = format!("prerequisites[{p}]");
                let problem = if pre == &quest.id {
                    Some("a quest cannot require itself".to_owned())
                } else if !index.contains_key(pre) {
                    Some(format!("no quest has the id `{pre}`"))
                } else if !seen.insert(pre) {
                    Some(format!("`{pre}` is listed twice"))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(Fault::Quest {
                        index: i,
                        field,
                        problem,
                    });
                }
            }
        }
        // Prerequisites: acyclic (depth-first search, reporting the first cycle found).
        let mut state = vec![Visit::New; quests.len()];
        for start in 0..quests.len() {
            let mut path = Vec::new();
            if let Some(cycle) = find_cycle(start, quests, &index, &mut state, &mut path) {
                let names: Vec<&str> = cycle.iter().map(|&q| quests[q].id.0.as_str()).collect();
                return Err(Fault::Quest {
                    index: cycle[0],
                    field: "prerequisites".to_owned(),
                    problem: format!(
                        "prerequisites form a cycle: {} -> {}",
                        names.join(" -> "),
                        names[0]
                    ),
                });
            }
        }
        Ok(index)
    }

    /// Every quest, in file order.
    pub fn quests(&self) -> &[Quest] {
        &self.quests
    }

    /// The quest with this id.
    pub fn get(&self, id: &QuestId) -> Option<&Quest> {
        self.index.get(id).map(|&i| &self.quests[i])
    }
}

enum Fault {
    Empty,
    Quest {
        index: usize,
        field: String,
        problem: String,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    OnPath,
    Done,
}

/// Depth-first search from `at`; returns the quests of a cycle, in requirement order.
fn find_cycle(
    at: usize,
    quests: &[Quest],
    index: &HashMap<QuestId, usize>,
    state: &mut [Visit],
    path: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    match state[at] {
        Visit::Done => return None,
        Visit::OnPath => {
            let from = path.iter().position(|&q| q == at).unwrap_or(0);
            return Some(path[from..].to_vec());
        }
        Visit::New => {}
    }
    state[at] = Visit::OnPath;
    path.push(at);
    for pre in &quests[at].prerequisites {
        if let Some(&next) = index.get(pre)
            && let Some(cycle) = find_cycle(next, quests, index, state, path)
        {
            return Some(cycle);
        }
    }
    path.pop();
    state[at] = Visit::Done;
    None
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn npc_names() -> Names {
    Names(NpcKind::TABLE.iter().map(|s| s.name).collect())
}

fn item_names() -> Names {
    Names(ItemKind::TABLE.iter().map(|s| s.name).collect())
}

/// "known: a, b, c" for error messages.
struct Names(Vec<&'static str>);

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "known: {}", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_is_valid_and_drivable() {
        let catalog = Catalog::builtin().expect("the shipped catalog is valid");
        assert!(catalog.quests().len() >= 5);
        let kinds = |f: fn(&ObjectiveKind) -> bool| {
            catalog
                .quests()
                .iter()
                .flat_map(|q| &q.objectives)
                .any(|o| f(&o.kind))
        };
        assert!(kinds(|k| matches!(k, ObjectiveKind::Kill { .. })));
        assert!(kinds(|k| matches!(k, ObjectiveKind::Gather { .. })));
        assert!(kinds(|k| matches!(k, ObjectiveKind::Visit { .. })));
        assert!(catalog.quests().iter().any(|q| !q.prerequisites.is_empty()));
        assert!(catalog.quests().iter().any(|q| !q.rewards.items.is_empty()));
        let wolf = catalog.get(&"wolf-cull".parse().unwrap()).unwrap();
        assert_eq!(wolf.objectives[0].count, 5);
    }

    const GOOD: &str = r#"
[[quests]]
id = "a"
title = "A"
description = "first"
objectives = [{ kind = { type = "kill", npc = "wolf" }, count = 2 }]
rewards = { xp = 1, coins = 2 }

[[quests]]
id = "b"
title = "B"
description = "second"
prerequisites = ["a"]
objectives = [{ kind = { type = "visit", area = { x = 1, z = 0 } }, count = 1 }]
rewards = { xp = 1, coins = 2, items = [{ item = "wolf_pelt", count = 3 }] }
"#;

    fn err(text: &str) -> String {
        Catalog::from_toml(text, "test.toml")
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn a_good_catalog_loads() {
        let c = Catalog::from_toml(GOOD, "test.toml").unwrap();
        assert_eq!(c.quests().len(), 2);
        assert_eq!(c.get(&QuestId("b".into())).unwrap().prerequisites.len(), 1);
        assert!(c.get(&QuestId("c".into())).is_none());
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = GOOD.replace("title = \"B\"", "title = \"B");
        let e = err(&text);
        assert!(e.starts_with("quest catalog test.toml:11:"), "{e}");
    }

    #[test]
    fn shape_errors_name_the_line() {
        let e = err(&GOOD.replace("npc = \"wolf\"", "npc = \"dragon\""));
        assert!(e.starts_with("quest catalog test.toml:6:"), "{e}");
        assert!(e.contains("dragon"), "{e}");
        let e = err(&GOOD.replace("description = \"second\"", "descripton = \"second\""));
        assert!(e.starts_with("quest catalog test.toml:12:"), "{e}");
        assert!(e.contains("descripton"), "{e}");
        let e = err(&GOOD.replace("count = 2 }", "count = -2 }"));
        assert!(e.starts_with("quest catalog test.toml:6:"), "{e}");
        let e = err(&GOOD.replace("title = \"A\"\n", ""));
        assert!(e.contains("title"), "{e}");
    }

    #[test]
    fn semantic_errors_name_quest_and_field() {
        let cases = [
            (
                GOOD.replace("id = \"b\"", "id = \"a\""),
                "test.toml:9: quest `a`, id:",
            ),
            (
                GOOD.replace("id = \"b\"", "id = \"B b\""),
                "quest `B b`, id:",
            ),
            (
                GOOD.replace("count = 2 }", "count = 0 }"),
                "test.toml:2: quest `a`, objectives[0].count: must be at least 1",
            ),
            (
                GOOD.replace(
                    "objectives = [{ kind = { type = \"kill\", npc = \"wolf\" }, count = 2 }]",
                    "objectives = []",
                ),
                "quest `a`, objectives: a quest needs at least one objective",
            ),
            (
                GOOD.replace("[\"a\"]", "[\"zzz\"]"),
                "test.toml:9: quest `b`, prerequisites[0]: no quest has the id `zzz`",
            ),
            (
                GOOD.replace("[\"a\"]", "[\"b\"]"),
                "quest `b`, prerequisites[0]: a quest cannot require itself",
            ),
            (
                GOOD.replace("[\"a\"]", "[\"a\", \"a\"]"),
                "quest `b`, prerequisites[1]: `a` is listed twice",
            ),
            (
                GOOD.replace(
                    "description = \"first\"",
                    "description = \"first\"\nprerequisites = [\"b\"]",
                ),
                "prerequisites: prerequisites form a cycle: a -> b -> a",
            ),
            (
                GOOD.replace("count = 3 }", "count = 51 }"),
                "quest `b`, rewards.items[0].count: must be 1 to 50",
            ),
            (
                GOOD.replace("item = \"wolf_pelt\"", "item = 999"),
                "quest `b`, rewards.items[0].item: item#999 is not an item kind",
            ),
            (
                GOOD.replace("npc = \"wolf\"", "npc = 77"),
                "quest `a`, objectives[0].kind.npc: npc#77 is not an NPC kind",
            ),
            (
                GOOD.replace("title = \"A\"", "title = \"  \""),
                "quest `a`, title: must not be empty",
            ),
        ];
        for (text, expected) in cases {
            let e = err(&text);
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn an_empty_catalog_is_refused() {
        assert!(err("").contains("no quests"));
        assert!(err("quests = []").contains("no quests"));
    }

    #[test]
    fn unreadable_files_are_named() {
        let e = Catalog::load(Path::new("/nonexistent/quests.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/quests.toml"), "{e}");
    }
}
