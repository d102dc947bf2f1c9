// UpdateDispatchLimits: the request's limits checked with the bounds the limits store enforces
// (src/dispatch/limits.ts), each problem naming its field, and merged into the limits in force
// as its update_mask says.
import type { z } from "zod";
import type { DispatchLimits as DispatchLimitsMessage, UpdateDispatchLimitsRequest } from "../gen/jobscheduler/v1/jobscheduler.js";
import { limitCount, limitKey, MAX_LIMIT_ENTRIES, type DispatchLimits } from "../dispatch/limits.js";
import { InvalidField } from "../jobs/errors.js";
import { checkText } from "./validation.js";

export function limitsToProto(limits: DispatchLimits): DispatchLimitsMessage {
  return { ...limits };
}

const SCALARS = { max_running: "maxRunning", max_running_per_key: "maxRunningPerKey" } as const;
const MAPS = { max_running_per_type: "maxRunningPerType", max_running_per_key_overrides: "maxRunningPerKeyOverrides" } as const;
const PATHS = [...Object.keys(SCALARS), ...Object.keys(MAPS)];
/** Room for a map path with its longest key (253). */
const MAX_PATH = 300;
const MAX_PATHS = 256;

function checked<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidField(field, result.error.issues[0].message);
  return result.data;
}

function mapEntry(map: keyof typeof MAPS, key: string, value: number): [string, number] {
  const field = `limits.${map}[${JSON.stringify(key)}]`;
  return [checked(limitKey, key, field), checked(limitCount, value, field)];
}

function checkedMap(map: keyof typeof MAPS, entries: Record<string, number>): Record<string, number> {
  const list = Object.entries(entries);
  if (list.length > MAX_LIMIT_ENTRIES) throw new InvalidField(`limits.${map}`, `at most ${MAX_LIMIT_ENTRIES} entries`);
  return Object.fromEntries(list.map(([key, value]) => mapEntry(map, key, value)));
}

/** A mask path as written in binary (snake_case) or passed through from proto3 JSON (camelCase): field and map key. */
function parsePath(path: string, index: number): { field: string; key?: string } {
  checkText(`update_mask.paths[${index}]`, path, { max: MAX_PATH });
  const dot = path.indexOf(".");
  const field = (dot < 0 ? path : path.slice(0, dot)).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return dot < 0 ? { field } : { field, key: path.slice(dot + 1) };
}

/**
 * The limits after the update. Without a mask (or with "*"), `limits` replaces every limit; with
 * one, only the named limits change: a scalar, a whole map, or one map entry (removed when
 * `limits` does not hold its key).
 */
export function updatedLimits(request: UpdateDispatchLimitsRequest, current: DispatchLimits): DispatchLimits {
  const paths = request.updateMask ?? [];
  if (paths.length > MAX_PATHS) throw new InvalidField("update_mask.paths", `at most ${MAX_PATHS} paths`);
  const given = request.limits;
  if (!paths.length || paths.includes("*")) {
    if (!given) throw new InvalidField("limits", "is required");
    return {
      maxRunning: checked(limitCount, given.maxRunning, "limits.max_running"),
      maxRunningPerType: checkedMap("max_running_per_type", given.maxRunningPerType),
      maxRunningPerKey: checked(limitCount, given.maxRunningPerKey, "limits.max_running_per_key"),
      maxRunningPerKeyOverrides: checkedMap("max_running_per_key_overrides", given.maxRunningPerKeyOverrides),
    };
  }
  const next: DispatchLimits = { ...current, maxRunningPerType: { ...current.maxRunningPerType }, maxRunningPerKeyOverrides: { ...current.maxRunningPerKeyOverrides } };
  for (const [index, path] of paths.entries()) {
    const { field, key } = parsePath(path, index);
    if (field in SCALARS && key === undefined) {
      const name = field as keyof typeof SCALARS;
      next[SCALARS[name]] = checked(limitCount, given?.[SCALARS[name]], `limits.${name}`);
    } else if (field in MAPS) {
      const name = field as keyof typeof MAPS;
      const entries = given?.[MAPS[name]] ?? {};
      if (key === undefined) next[MAPS[name]] = checkedMap(name, entries);
      else if (key in entries) {
        const [checkedKey, value] = mapEntry(name, key, entries[key]);
        next[MAPS[name]][checkedKey] = value;
      } else delete next[MAPS[name]][checked(limitKey, key, `update_mask.paths[${index}]`)];
    } else {
      throw new InvalidField(`update_mask.paths[${index}]`, `"${path}" is not a limit (paths: ${PATHS.join(", ")}, or <map>.<key>)`);
    }
  }
  for (const name of Object.keys(MAPS) as (keyof typeof MAPS)[]) {
    if (Object.keys(next[MAPS[name]]).length > MAX_LIMIT_ENTRIES) throw new InvalidField(`limits.${name}`, `at most ${MAX_LIMIT_ENTRIES} entries`);
  }
  return next;
}
