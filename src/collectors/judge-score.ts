// The judge_score program (JUDGE_SCORE): reads the jury's mark (JUDJE_SCORE, 0-10) and reports
// it. A missing, unreadable or out-of-range value is "no data", never a failure.
// Env: JUDGE_SCORE_VALUE (may be empty), JUDGE_SCORE_MAX (default 10).
import { writeResult } from "./io.js";
import { parseScore } from "./values.js";

const raw = (process.env.JUDGE_SCORE_VALUE ?? "").trim();
const max = Number(process.env.JUDGE_SCORE_MAX || 10);
const mark = raw ? parseScore(raw) : null;
let result: Record<string, unknown>;
if (mark === null) result = { hasJudgeScore: false, judgeScore: null, rawValue: raw.slice(0, 100), reason: raw ? `"${raw.slice(0, 60)}" is not a score` : "no JUDJE_SCORE value" };
else if (mark > max) result = { hasJudgeScore: false, judgeScore: null, rawValue: raw.slice(0, 100), reason: `${mark} is above the maximum ${max}` };
else result = { hasJudgeScore: true, judgeScore: mark, rawValue: raw.slice(0, 100) };
writeResult(result);
console.log(`judge_score: ${result.hasJudgeScore ? `${result.judgeScore}/${max}` : result.reason}`);
