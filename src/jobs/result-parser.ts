import type { z } from "zod";
import type { ParsedResult } from "./handler.js";

/** A handler's parseResult from a zod schema of its program's result document. */
export function zodResultParser(type: string, schema: z.ZodType<Record<string, unknown>>): (raw: string) => ParsedResult {
  return (raw) => {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { ok: false, message: `${type} result is not JSON` };
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) return { ok: true, result: parsed.data };
    const issue = parsed.error.issues[0];
    return { ok: false, message: `${type} result is malformed: ${issue?.path.join(".") || "(top)"} ${issue?.message}` };
  };
}
