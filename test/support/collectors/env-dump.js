import { writeFileSync } from "node:fs";
writeFileSync(process.env.JOB_RESULT_FILE, JSON.stringify({ env: process.env, argv: process.argv.slice(2) }));
