import type { MigrationSet } from "../migrations.js";

export const sqliteMigrations: MigrationSet = [
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
        labels TEXT NOT NULL,
        resources TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL,
        params TEXT NOT NULL,
        result TEXT,
        placement TEXT,
        output_tail TEXT NOT NULL DEFAULT '',
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        sequence INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      ) STRICT;
      CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
      CREATE INDEX jobs_type_created ON jobs (type, created_at DESC, id DESC);
      CREATE INDEX jobs_state_dispatch ON jobs (state, priority DESC, created_at, id);
      CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (job_id, sequence)
      ) STRICT;
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: "admission: concurrency keys, delays, queue deadlines, retries, schedules",
    sql: `
      ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
      ALTER TABLE jobs ADD COLUMN exclusive_group TEXT;
      ALTER TABLE jobs ADD COLUMN run_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN queue_deadline INTEGER;
      ALTER TABLE jobs ADD COLUMN retry_policy TEXT NOT NULL DEFAULT '{"initialBackoffMs":1000,"multiplier":2,"maxBackoffMs":300000,"jitter":0.2,"retryOnTimeout":false}';
      ALTER TABLE jobs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';
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
      ALTER TABLE jobs ADD COLUMN team TEXT;
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
        spec TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        paused_reason TEXT NOT NULL DEFAULT '',
        next_fire_at INTEGER,
        last_fire_at INTEGER,
        fires INTEGER NOT NULL DEFAULT 0,
        misses INTEGER NOT NULL DEFAULT 0,
        skips INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX schedules_due ON schedules (paused, next_fire_at);
      CREATE INDEX jobs_schedule_state ON jobs (schedule_id, state);
    `,
  },
  {
    version: 5,
    name: "criteria outbox",
    sql: `
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        source_key TEXT NOT NULL UNIQUE,
        team_slug TEXT NOT NULL,
        hackathon_id TEXT NOT NULL,
        criteria_type TEXT NOT NULL,
        status TEXT NOT NULL,
        score INTEGER NOT NULL,
        metrics TEXT NOT NULL,
        job_id TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        rejections INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        updated_at INTEGER NOT NULL
      ) STRICT;
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
    // ListJobs by state reads jobs_state_created in its order instead of sorting the state's rows;
    // the dispatch index also holds run_at, so the due queue is read (and a position counted) from
    // the index alone; the run_at index also holds type and attempt, so delayed jobs are counted
    // from it. (Not partial: without statistics SQLite's planner prefers any index whose first
    // column is equal to a partial index's range.) job_labels holds one row per label, in the transaction
    // that inserts the job (labels never change), ordered for ListJobs, so a selector is an index
    // walk instead of a JSON scan of every row. job_counts holds the number of jobs per type and
    // state, changed in the transaction of each insert and state change (shard: always 0 here).
    sql: `
      CREATE INDEX jobs_state_created ON jobs (state, created_at DESC, id DESC);
      DROP INDEX jobs_state_dispatch;
      CREATE INDEX jobs_state_dispatch ON jobs (state, priority DESC, created_at, id, run_at);
      DROP INDEX jobs_state_run_at;
      CREATE INDEX jobs_state_run_at ON jobs (state, run_at, type, attempt);
      CREATE TABLE job_labels (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        job_id TEXT NOT NULL,
        PRIMARY KEY (key, value, created_at, job_id)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO job_labels (key, value, created_at, job_id)
        SELECT l.key, l.value, j.created_at, j.id FROM jobs j, json_each(j.labels) l;
      CREATE TABLE job_counts (
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        shard INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (type, state, shard)
      ) STRICT, WITHOUT ROWID;
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
    // Keys are stored as SHA-256 hashes only. submitted_by (the key id or certificate subject) and
    // team_slug (the team binding's slug, copied out of the team JSON) let a team-scoped key list
    // its team's jobs from an index, and quotas count a key's or a team's jobs.
    sql: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        team TEXT,
        allow_inline_scripts INTEGER NOT NULL DEFAULT 0,
        key_hash TEXT NOT NULL,
        source TEXT NOT NULL,
        created_by TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);
      ALTER TABLE jobs ADD COLUMN submitted_by TEXT;
      ALTER TABLE jobs ADD COLUMN team_slug TEXT;
      UPDATE jobs SET team_slug = json_extract(team, '$.slug') WHERE team IS NOT NULL;
      CREATE INDEX jobs_team_created ON jobs (team_slug, created_at DESC, id DESC) WHERE team_slug IS NOT NULL;
    `,
  },
  {
    version: 10,
    name: "audit log",
    // Newest first by seq; `at` bounds the retention sweep; who and what are the usual filters.
    sql: `
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        principal_id TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        team TEXT,
        method TEXT NOT NULL,
        target_id TEXT,
        request_id TEXT NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        denied INTEGER NOT NULL,
        client_address TEXT NOT NULL
      ) STRICT;
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
];
