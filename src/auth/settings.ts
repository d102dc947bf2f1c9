// Authentication, authorization, admission and audit settings: one zod shape spread into
// src/config.ts's schema (as src/hub/settings.ts is), validated at start-up with the rest.
import { duration, flag, json, path } from "../config-fields.js";
import { quotaSchema } from "./admission.js";
import { certificateRolesSchema } from "./certificates.js";

export const authSettings = {
  /**
   * Every RPC but grpc.health.v1.Health (and reflection, see AUTH_REFLECTION_PUBLIC) needs an API key or a
   * mapped client certificate. false: every caller is an anonymous admin (for local experiments only; calls are still audited).
   */
  AUTH_ENABLED: flag(true),
  /** Server reflection (grpcurl list/describe) answers without credentials; false: it needs them too. */
  AUTH_REFLECTION_PUBLIC: flag(true),
  /**
   * A JSON array of keys the deployment declares (a Secret mounted as a file): {"name", "role", "key": "jsk_..."} or
   * {"name", "role", "id", "sha256"}, optional "team", "allowInlineScripts", "expireTime". With none declared and none
   * stored, the first start writes an admin key to $DATA_DIR/admin.key.
   */
  API_KEYS_FILE: path().optional(),
  /** Audit events older than this are deleted (checked hourly). */
  AUDIT_RETENTION: duration("2160h"),
  /**
   * Each key's limits (JSON): {"submissionsPerSecond", "burst", "maxQueuedJobs", "k6VuMinutesPerHour"}; a limit left
   * out does not apply. Over one: RESOURCE_EXHAUSTED naming it, with google.rpc.RetryInfo.
   */
  QUOTA_PER_KEY: json(quotaSchema, "{}"),
  /** The same limits for each team's scoped keys together. */
  QUOTA_PER_TEAM: json(quotaSchema, "{}"),
  /** PEM certificate (chain) of the gRPC port: set with TLS_KEY_FILE to serve TLS. Re-read every TLS_RELOAD_INTERVAL. */
  TLS_CERT_FILE: path().optional(),
  /** PEM private key of TLS_CERT_FILE. */
  TLS_KEY_FILE: path().optional(),
  /** PEM CA bundle: client certificates it signed authenticate calls (mTLS), mapped to roles by TLS_CLIENT_ROLES. */
  TLS_CLIENT_CA_FILE: path().optional(),
  /** {"<client certificate CN or SAN>": "<role>" or {"role", "team", "allowInlineScripts"}}. */
  TLS_CLIENT_ROLES: json(certificateRolesSchema, "{}"),
  /** How often the TLS files are re-read; a changed, valid set is served to new connections. */
  TLS_RELOAD_INTERVAL: duration("10s"),
};
