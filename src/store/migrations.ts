export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export type MigrationSet = readonly Migration[];

/** Each store's migrations are listed in order; a version, once shipped, is never edited. */
export function pendingMigrations(all: MigrationSet, applied: Set<number>): Migration[] {
  return all.filter((m) => !applied.has(m.version)).sort((a, b) => a.version - b.version);
}
