//! Characters on PostgreSQL (`--database-url`): one row per character (schema in
//! `character-api/migrations/`), with the guarantees the sled backend keeps, by the
//! database's own means:
//!
//! * **compare-and-set**: a save reads the row, builds the new character ([`apply`]) and
//!   writes it with `UPDATE ... WHERE id = $1 AND version = $2`; if another writer got in
//!   between, no row matches and the save is refused as stale. The same holds across any
//!   number of API processes on one database: the database decides, not a process's lock.
//! * **unique names**: a unique constraint on the lowercased name; a create or rename that
//!   would break it fails with `23505`, answered as 409.
//! * **durable before the answer**: every write is one autocommitted statement (or one
//!   transaction for a batch import), answered after its `COMMIT` returns, with
//!   `synchronous_commit` on (see [`service_kit::postgres`]).
//!
//! Statements are prepared once per pooled connection. Every operation is bounded by the
//! pool's timeout: a database that is down or stalled makes it fail as
//! [`StoreError::Unavailable`] (503), never hang.

use actix_web::web::Bytes;
use protocol::http::character::{Character, CharacterUpdate};
use protocol::{AccountId, CharacterId};
use service_kit::postgres::{Connection, Database, DatabaseOptions, DbError, Migration, Row};

use super::{CharacterStore, StoreError, StoreFuture, Stored, apply, name_key};

/// The schema, in order (see [`Database::migrate`]).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "characters",
    sql: include_str!("../../migrations/0001_characters.sql"),
}];

/// The table recording which migrations are applied.
const MIGRATIONS_TABLE: &str = "character_api_migrations";

/// The unique constraint on names.
const NAME_CONSTRAINT: &str = "characters_name_key";

const GET: &str = "SELECT version, body FROM characters WHERE id = $1";
const VERSION: &str = "SELECT version FROM characters WHERE id = $1";
const LIST: &str = "SELECT body FROM characters WHERE account_id = $1 ORDER BY created_at, id";
const INSERT: &str = "INSERT INTO characters (id, account_id, name_key, version, created_at, body) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE: &str =
    "UPDATE characters SET name_key = $3, version = $4, body = $5 WHERE id = $1 AND version = $2";
const DELETE: &str = "DELETE FROM characters WHERE id = $1 AND version = $2";
const PAGE_FIRST: &str = "SELECT body FROM characters ORDER BY id LIMIT $1";
const PAGE_AFTER: &str = "SELECT body FROM characters WHERE id > $1 ORDER BY id LIMIT $2";
const COUNT: &str = "SELECT count(*) FROM characters";

/// The characters in a PostgreSQL (or CockroachDB) database. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    db: Database,
}

/// A version as the database stores it (`BIGINT`); versions stay far below 2^63.
fn db_version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn version_of(row: &Row) -> u64 {
    u64::try_from(row.get::<_, i64>(0)).unwrap_or_default()
}

/// What a refused insert or update means for `c`.
fn write_error(e: DbError, c: &Character) -> StoreError {
    match e {
        DbError::Unique(constraint) if constraint == NAME_CONSTRAINT => {
            StoreError::NameTaken(c.name.clone())
        }
        DbError::Unique(_) => StoreError::Internal("character id collision".into()),
        other => other.into(),
    }
}

impl PostgresStore {
    /// Connects to the database and brings its schema up to date.
    pub async fn open(options: &DatabaseOptions) -> Result<Self, DbError> {
        let db = Database::open(options)?;
        db.migrate(MIGRATIONS_TABLE, MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Why a conditional write on `id` matched no row: gone, or at another version.
    async fn refusal(c: &Connection, id: CharacterId) -> Result<StoreError, DbError> {
        let statement = c.prepare_cached(VERSION).await?;
        Ok(match c.query_opt(&statement, &[&id.0]).await? {
            None => StoreError::NotFound,
            Some(row) => StoreError::Stale {
                current: version_of(&row),
            },
        })
    }
}

/// The JSON body stored for `c`.
fn body_of(c: &Character) -> Result<String, StoreError> {
    String::from_utf8(super::encode(c)?).map_err(|e| StoreError::Internal(e.to_string()))
}

/// The parameters of [`INSERT`].
struct InsertParams<'a> {
    id: uuid::Uuid,
    account: uuid::Uuid,
    name: String,
    version: i64,
    created_at: i64,
    body: &'a str,
}

fn insert_params<'a>(c: &Character, body: &'a str) -> InsertParams<'a> {
    InsertParams {
        id: c.id.0,
        account: c.account_id.0,
        name: name_key(&c.name),
        version: db_version(c.version),
        created_at: db_version(c.created_at),
        body,
    }
}

impl InsertParams<'_> {
    fn as_params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 6] {
        [
            &self.id,
            &self.account,
            &self.name,
            &self.version,
            &self.created_at,
            &self.body,
        ]
    }
}

impl CharacterStore for PostgresStore {
    fn get(&self, id: CharacterId) -> StoreFuture<'_, Option<Stored>> {
        Box::pin(async move {
            let row = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    let statement = c.prepare_cached(GET).await?;
                    Ok(c.query_opt(&statement, &[&id.0]).await?)
                })
                .await?;
            Ok(row.map(|row| Stored {
                version: version_of(&row),
                json: Bytes::from(row.get::<_, String>(1)),
            }))
        })
    }

    fn list(&self, account: AccountId) -> StoreFuture<'_, Vec<Character>> {
        Box::pin(async move {
            let rows = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    let statement = c.prepare_cached(LIST).await?;
                    Ok(c.query(&statement, &[&account.0]).await?)
                })
                .await?;
            rows.iter()
                .map(|row| super::decode(row.get::<_, &str>(0).as_bytes()))
                .collect()
        })
    }

    fn create<'a>(&'a self, ch: &'a Character) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let body = body_of(ch)?;
            let params = insert_params(ch, &body);
            let work = async {
                let c = self.db.connection().await?;
                let statement = c.prepare_cached(INSERT).await?;
                c.execute(&statement, &params.as_params()).await?;
                Ok(())
            };
            self.db.bounded(work).await.map_err(|e| write_error(e, ch))
        })
    }

    fn update<'a>(
        &'a self,
        id: CharacterId,
        expected: u64,
        update: &'a CharacterUpdate,
    ) -> StoreFuture<'a, Character> {
        Box::pin(async move {
            let work = async {
                let c = self.db.connection().await?;
                let statement = c.prepare_cached(GET).await?;
                let Some(row) = c.query_opt(&statement, &[&id.0]).await? else {
                    return Ok(Err(StoreError::NotFound));
                };
                let current = version_of(&row);
                if current != expected {
                    return Ok(Err(StoreError::Stale { current }));
                }
                let old = match super::decode(row.get::<_, &str>(1).as_bytes()) {
                    Ok(old) => old,
                    Err(e) => return Ok(Err(e)),
                };
                let new = apply(&old, update);
                let body = match super::encode(&new).map(String::from_utf8) {
                    Ok(Ok(body)) => body,
                    Ok(Err(e)) => return Ok(Err(StoreError::Internal(e.to_string()))),
                    Err(e) => return Ok(Err(e)),
                };
                let statement = c.prepare_cached(UPDATE).await?;
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
                    &id.0,
                    &db_version(expected),
                    &name_key(&new.name),
                    &db_version(new.version),
                    &body,
                ];
                match c.execute(&statement, &params).await.map_err(DbError::from) {
                    Ok(1) => Ok(Ok(new)),
                    // Another writer got in since the read.
                    Ok(_) => Ok(Err(Self::refusal(&c, id).await?)),
                    Err(e) => Ok(Err(write_error(e, &new))),
                }
            };
            self.db.bounded(work).await?
        })
    }

    fn delete(&self, id: CharacterId, expected: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let work = async {
                let c = self.db.connection().await?;
                let statement = c.prepare_cached(DELETE).await?;
                Ok(
                    match c
                        .execute(&statement, &[&id.0, &db_version(expected)])
                        .await?
                    {
                        1 => Ok(()),
                        _ => Err(Self::refusal(&c, id).await?),
                    },
                )
            };
            self.db.bounded(work).await?
        })
    }

    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { Ok(self.db.ping().await?) })
    }

    fn page(&self, after: Option<CharacterId>, limit: usize) -> StoreFuture<'_, Vec<Character>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    Ok(match after {
                        Some(id) => c.query(PAGE_AFTER, &[&id.0, &limit]).await?,
                        None => c.query(PAGE_FIRST, &[&limit]).await?,
                    })
                })
                .await?;
            rows.iter()
                .map(|row| super::decode(row.get::<_, &str>(0).as_bytes()))
                .collect()
        })
    }

    fn import<'a>(&'a self, batch: &'a [Character]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let bodies = batch.iter().map(body_of).collect::<Result<Vec<_>, _>>()?;
            let mut failed = None;
            let work = async {
                let mut c = self.db.connection().await?;
                let tx = c.transaction().await?;
                let statement = tx.prepare_cached(INSERT).await?;
                for (ch, body) in batch.iter().zip(&bodies) {
                    let params = insert_params(ch, body);
                    if let Err(e) = tx.execute(&statement, &params.as_params()).await {
                        failed = Some(ch);
                        return Err(e.into());
                    }
                }
                tx.commit().await?;
                Ok(())
            };
            let result = self.db.bounded(work).await;
            result.map_err(|e| match failed {
                Some(ch) => write_error(e, ch),
                None => e.into(),
            })
        })
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let n: i64 = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    Ok(c.query_one(COUNT, &[]).await?.get(0))
                })
                .await?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        self.db.close();
        Box::pin(async { Ok(()) })
    }
}
