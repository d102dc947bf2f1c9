// Field types for settings read from the environment (used by src/config.ts and the
// setting groups it spreads in, such as src/hub/settings.ts).
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "500ms", "10s", "5m", "1h" → milliseconds. */
export const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = DURATION.exec(text.trim());
      if (!match) {
        ctx.addIssue({ code: "custom", message: `must be a duration like 500ms, 10s, 5m or 1h (got "${text}")` });
        return z.NEVER;
      }
      return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
    });
