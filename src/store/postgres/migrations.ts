import type { MigrationSet } from "../migrations.js";

export const postgresMigrations: MigrationSet = [
  {
    version: 1,
    name: "jobs and job events",
    sql: `
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT UNIQUE,
        request_hash TEXT NOT NULL,
        labels JSONB NOT NULL,
        resources JSONB NOT NULL,
        timeout_ms BIGINT NOT NULL,
        params JSONB NOT NULL,
        result JSONB,
        placement JSONB,
        output_tail TEXT NOT NULL DEFAULT '',
        cancel_requested SMALLINT NOT NULL DEFAULT 0,
        sequence INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT
      );
      CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
      CREATE INDEX jobs_type_created ON jobs (type, created_at DESC, id DESC);
      CREATE INDEX jobs_state_dispatch ON jobs (state, priority DESC, created_at, id);
      CREATE INDEX jobs_labels ON jobs USING GIN (labels);
      CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (job_id, sequence)
      );
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "admission: concurrency keys, delays, queue deadlines, retries, schedules",
    sql: `
      ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
      ALTER TABLE jobs ADD COLUMN exclusive_group TEXT;
      ALTER TABLE jobs ADD COLUMN run_at BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN queue_deadline BIGINT;
      ALTER TABLE jobs ADD COLUMN retry_policy JSONB NOT NULL DEFAULT '{"initialBackoffMs":1000,"multiplier":2,"maxBackoffMs":300000,"jitter":0.2,"retryOnTimeout":false}';
      ALTER TABLE jobs ADD COLUMN attempts JSONB NOT NULL DEFAULT '[]';
      ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
      ALTER TABLE jobs ADD COLUMN retry_of TEXT;
      UPDATE jobs SET run_at = created_at;
      CREATE INDEX jobs_active_keys ON jobs (state, type, concurrency_key);
      CREATE INDEX jobs_queue_deadline ON jobs (state, queue_deadline);
      CREATE INDEX jobs_state_run_at ON jobs (state, run_at);
      CREATE INDEX jobs_schedule ON jobs (schedule_id, created_at DESC, id DESC);
      CREATE INDEX jobs_reason ON jobs (reason, created_at DESC, id DESC);
    `,
  },
  {
    version: 3,
    name: "team binding and criteria type",
    sql: `
      ALTER TABLE jobs ADD COLUMN team JSONB;
      ALTER TABLE jobs ADD COLUMN criteria_type TEXT;
    `,
  },
  {
    version: 4,
    name: "recurring schedules",
    sql: `
      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec JSONB NOT NULL,
        paused SMALLINT NOT NULL DEFAULT 0,
        paused_reason TEXT NOT NULL DEFAULT '',
        next_fire_at BIGINT,
        last_fire_at BIGINT,
        fires BIGINT NOT NULL DEFAULT 0,
        misses BIGINT NOT NULL DEFAULT 0,
        skips BIGINT NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX schedules_due ON schedules (paused, next_fire_at);
      CREATE INDEX jobs_schedule_state ON jobs (schedule_id, state);
    `,
  },
  {
    version: 5,
    name: "criteria outbox",
    sql: `
      CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source_key TEXT NOT NULL UNIQUE,
        team_slug TEXT NOT NULL,
        hackathon_id TEXT NOT NULL,
        criteria_type TEXT NOT NULL,
        status TEXT NOT NULL,
        score INTEGER NOT NULL,
        metrics JSONB NOT NULL,
        job_id TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        rejections INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        delivered_at BIGINT,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
      CREATE INDEX outbox_latest ON outbox (team_slug, hackathon_id, criteria_type, seq);
      CREATE INDEX outbox_state_seq ON outbox (state, seq);
    `,
  },
  {
    version: 6,
    name: "partial indexes: only the rows a query can ask for",
    // An insert maintains every index; these hold only the rows their queries can match
    // (each query's WHERE implies the predicate), so a new job skips five of them.
    sql: `
      DROP INDEX jobs_queue_deadline;
      CREATE INDEX jobs_queue_deadline ON jobs (state, queue_deadline) WHERE queue_deadline IS NOT NULL;
      DROP INDEX jobs_schedule;
      CREATE INDEX jobs_schedule ON jobs (schedule_id, created_at DESC, id DESC) WHERE schedule_id IS NOT NULL;
      DROP INDEX jobs_schedule_state;
      CREATE INDEX jobs_schedule_state ON jobs (schedule_id, state) WHERE schedule_id IS NOT NULL;
      DROP INDEX jobs_reason;
      CREATE INDEX jobs_reason ON jobs (reason, created_at DESC, id DESC) WHERE reason <> '';
      DROP INDEX jobs_active_keys;
      CREATE INDEX jobs_active_keys ON jobs (state, type, concurrency_key, exclusive_group) WHERE state IN ('STARTING', 'RUNNING');
    `,
  },
  {
    version: 7,
    name: "a million jobs: list indexes, label index, job counts",
    // As SQLite's migration 7. job_counts is sharded: each transaction adds its +1/-1 to one of
    // several rows per (type, state), picked at random, so concurrent writers rarely wait for
    // each other's row lock; readers sum the shards.
    sql: `
      CREATE INDEX jobs_state_created ON jobs (state, created_at DESC, id DESC);
      DROP INDEX jobs_state_dispatch;
      CREATE INDEX jobs_state_dispatch ON jobs (state, priority DESC, created_at, id) INCLUDE (run_at);
      DROP INDEX jobs_state_run_at;
      CREATE INDEX jobs_state_run_at ON jobs (state, run_at) INCLUDE (type, attempt);
      CREATE TABLE job_labels (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        job_id TEXT NOT NULL,
        PRIMARY KEY (key, value, created_at, job_id)
      );
      INSERT INTO job_labels (key, value, created_at, job_id)
        SELECT l.key, l.value, j.created_at, j.id FROM jobs j, jsonb_each_text(j.labels) l;
      CREATE TABLE job_counts (
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        shard INTEGER NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (type, state, shard)
      );
      INSERT INTO job_counts (type, state, shard, n) SELECT type, state, 0, COUNT(*) FROM jobs GROUP BY type, state;
    `,
  },
  {
    version: 8,
    name: "outbox kinds: job completion callbacks beside criteria reports",
    // A callback row: kind 'callback', target_url the receiver, metrics the body, source_key
    // ("callback:<job id>") its Idempotency-Key; the criteria columns are empty.
    sql: `
      ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'criteria';
      ALTER TABLE outbox ADD COLUMN target_url TEXT;
      CREATE INDEX outbox_kind_due ON outbox (kind, state, next_attempt_at);
    `,
  },
  {
    version: 9,
    name: "API keys; who submitted a job, and its team, as columns",
    sql: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        team TEXT,
        allow_inline_scripts SMALLINT NOT NULL DEFAULT 0,
        key_hash TEXT NOT NULL,
        source TEXT NOT NULL,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        last_used_at BIGINT,
        revoked_at BIGINT
      );
      CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);
      ALTER TABLE jobs ADD COLUMN submitted_by TEXT;
      ALTER TABLE jobs ADD COLUMN team_slug TEXT;
      UPDATE jobs SET team_slug = team ->> 'slug' WHERE team IS NOT NULL;
      CREATE INDEX jobs_team_created ON jobs (team_slug, created_at DESC, id DESC) WHERE team_slug IS NOT NULL;
    `,
  },
  {
    version: 10,
    name: "audit log",
    // Newest first by seq; `at` bounds the retention sweep; who and what are the usual filters.
    sql: `
      CREATE TABLE audit_events (
        seq BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        principal_id TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        team TEXT,
        method TEXT NOT NULL,
        target_id TEXT,
        request_id TEXT NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        denied SMALLINT NOT NULL,
        client_address TEXT NOT NULL
      );
      CREATE INDEX audit_events_at ON audit_events (at);
      CREATE INDEX audit_events_principal ON audit_events (principal_id, seq);
      CREATE INDEX audit_events_target ON audit_events (target_id, seq) WHERE target_id IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: "quota counts: queued and k6 jobs per submitter and per team",
    // Partial: only jobs submitted through the API, and only QUEUED ones (or k6 ones), so the
    // indexes stay small and a job's insert maintains at most one of each pair.
    sql: `
      CREATE INDEX jobs_submitter_queued ON jobs (submitted_by) WHERE state = 'QUEUED' AND submitted_by IS NOT NULL;
      CREATE INDEX jobs_team_queued ON jobs (team_slug) WHERE state = 'QUEUED' AND submitted_by IS NOT NULL;
      CREATE INDEX jobs_submitter_k6 ON jobs (submitted_by, created_at) WHERE type = 'k6' AND submitted_by IS NOT NULL;
      CREATE INDEX jobs_team_k6 ON jobs (team_slug, created_at) WHERE type = 'k6' AND submitted_by IS NOT NULL;
    `,
  },
  {
    version: 12,
    name: "leadership: the lease of the leading replica and its epoch (fencing)",
    // One row. Replicas take it when it is free or expired (expires_at, in the database's clock),
    // each take starting a term with the next epoch; leader-only writes carry their term's epoch
    // and are refused once a newer one began (src/leadership/postgres-lease.ts, store/fencing.ts).
    sql: `
      CREATE TABLE leader_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL DEFAULT '',
        epoch BIGINT NOT NULL DEFAULT 0,
        acquired_at BIGINT NOT NULL DEFAULT 0,
        renewed_at BIGINT NOT NULL DEFAULT 0,
        expires_at BIGINT NOT NULL DEFAULT 0
      );
      INSERT INTO leader_lease (name) VALUES ('jobscheduler');
    `,
  },
  {
    version: 13,
    name: "leadership: the lease holder's session, so a holder whose process died is replaced without waiting for the expiry",
    // The backend pid of the holder's lease connection; a follower that finds no such session takes
    // the lease (src/leadership/postgres-lease.ts). NULL: no session to watch (released, or a term
    // decided by a Kubernetes Lease).
    sql: `ALTER TABLE leader_lease ADD COLUMN holder_pid INTEGER;`,
  },
];
