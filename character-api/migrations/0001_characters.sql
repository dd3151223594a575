-- character-api on PostgreSQL: one row per character. The body is the character's JSON
-- exactly as GET answers it (the same bytes the sled backend keeps); the other columns are
-- what the queries select on. Within what CockroachDB also accepts.
CREATE TABLE characters (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL,
    -- The name in lowercase: names are unique case-insensitively (409 on a clash).
    name_key TEXT NOT NULL,
    -- Grows by one with every write; saves are UPDATE ... WHERE version = <If-Match>.
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    CONSTRAINT characters_name_key UNIQUE (name_key)
);

-- An account's characters, oldest first.
CREATE INDEX characters_by_account ON characters (account_id, created_at, id);
