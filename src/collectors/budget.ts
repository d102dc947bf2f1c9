// The budget program (BUDGET_TRACKING): reads the team's declared spend (MONEY_SPEND, KZT) from
// its environment and reports it. Informational: a missing or unreadable value is "no data",
// never a failure. Env: BUDGET_MONEY_SPEND (may be empty).
import { writeResult } from "./io.js";
import { parseAmount } from "./values.js";

const raw = (process.env.BUDGET_MONEY_SPEND ?? "").trim();
const amount = raw ? parseAmount(raw) : null;
const result =
  amount === null
    ? { hasSpendingData: false, totalSpent: null, currency: "KZT", rawValue: raw.slice(0, 100), reason: raw ? `"${raw.slice(0, 60)}" is not an amount` : "no MONEY_SPEND value" }
    : { hasSpendingData: true, totalSpent: Math.round(amount * 100) / 100, currency: "KZT", rawValue: raw.slice(0, 100) };
writeResult(result);
console.log(`budget: ${result.hasSpendingData ? `${result.totalSpent} KZT` : result.reason}`);
