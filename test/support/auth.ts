// The service under test requires an API key on every call (as deployed). Test services get
// this file's admin key through API_KEYS_FILE (test/support/api-keys.json) and every test
// client sends it, so tests that are not about authentication never mention it.
import { InterceptingCall, type Interceptor } from "@grpc/grpc-js";
import { join, resolve } from "node:path";

/** The admin key declared in test/support/api-keys.json (a test value, valid nowhere else). */
export const TEST_ADMIN_KEY = "jsk_testadmin_T3stAdminKeyT3stAdminKeyT3stAdminKeyT3stAdm";
export const TEST_KEYS_FILE = join(resolve(import.meta.dirname), "api-keys.json");

// Command-line clients the tests run (scripts/grpc-call.mjs, npm run smoke) read it from here.
process.env.JOBSCHEDULER_API_KEY ??= TEST_ADMIN_KEY;

/** Sends `key` as `authorization: Bearer` on every call that carries no credential of its own. */
export function apiKeyInterceptor(key: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (!metadata.get("authorization").length && !metadata.get("x-api-key").length) metadata.set("authorization", `Bearer ${key}`);
        next(metadata, listener);
      },
    });
}
