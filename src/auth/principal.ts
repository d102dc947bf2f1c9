/** Who is calling: resolved once per RPC by authentication, read by authorization, admission and audit. */
export type Role = "viewer" | "submitter" | "operator" | "admin";
export interface Principal {
  /** Key id (`jsk_<id>_...`) or certificate subject; "anonymous" when authentication is off. */
  id: string;
  name: string;
  kind: "api-key" | "certificate" | "anonymous";
  role: Role;
  /** Team scope: the key sees and acts only on jobs and schedules bound to this team. */
  team?: string;
  /** Inline k6 scripts allowed although the role is below operator. */
  allowInlineScripts: boolean;
}
