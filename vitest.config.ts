import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Integration tests spawn processes and bind ports; two files at a time suits a 2-core CI machine.
    maxWorkers: 2,
  },
});
