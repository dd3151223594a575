-- quest-api on PostgreSQL: each character's standing with each quest it accepted, and every
-- progress event's first answer under its id. Within what CockroachDB also accepts.
CREATE TABLE quest_progress (
    character_id UUID NOT NULL,
    quest_id TEXT NOT NULL,
    completed BOOLEAN NOT NULL,
    -- One counter per objective of the quest.
    counters BIGINT[] NOT NULL,
    accepted_at BIGINT NOT NULL,
    completed_at BIGINT,
    PRIMARY KEY (character_id, quest_id)
);

-- The key on the event id makes progress idempotent: an event is counted in the same
-- transaction that stores its outcome here, so a retried event finds it and is answered
-- from it.
CREATE TABLE quest_events (
    character_id UUID NOT NULL,
    event_id UUID NOT NULL,
    quest_id TEXT NOT NULL,
    objective SMALLINT NOT NULL,
    amount BIGINT NOT NULL,
    -- The first answer (JSON), replayed with `duplicate: true`.
    outcome TEXT NOT NULL,
    PRIMARY KEY (character_id, event_id)
);
