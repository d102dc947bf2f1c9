// ListOutbox and ResendOutbox: the criteria reports waiting for, delivered to, or refused by
// the Hub (src/hub/outbox.ts), and putting parked ones back in line.
import {
  CriteriaType, OutboxItemKind, OutboxItemState, type ListOutboxRequest, type ListOutboxResponse, type OutboxItem,
  type ResendOutboxRequest, type ResendOutboxResponse,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import type { Clock } from "../dispatch/clock.js";
import { OUTBOX_KINDS, OUTBOX_STATES, type OutboxItemRecord, type OutboxKind, type OutboxState, type OutboxStore } from "../store/outbox-queries.js";
import { InvalidField, NotFound, PreconditionFailed } from "../jobs/errors.js";
import type { OutboxRpcs } from "./job-scheduler-service.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { RpcInstrumentation } from "./rpc.js";
import { checkText, ID_RULE, PAGE_TOKEN_RULE } from "./validation.js";

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
const MAX_RESEND_IDS = 1000;
const ITEM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface OutboxServiceDeps {
  outbox: OutboxStore;
  /** The delivery worker, told when parked items are back in line (absent when HUB_API_URL is unset). */
  delivery?: { wake(): void } | null;
  clock: Clock;
}

function stateToProto(state: OutboxState): OutboxItemState {
  return OutboxItemState[`OUTBOX_ITEM_STATE_${state}`];
}

function stateFromProto(state: OutboxItemState, field: string): OutboxState {
  const name = OutboxItemState[state]?.replace(/^OUTBOX_ITEM_STATE_/, "");
  if (!name || !(OUTBOX_STATES as readonly string[]).includes(name)) throw new InvalidField(field, "must be an outbox item state other than UNSPECIFIED");
  return name as OutboxState;
}

function kindToProto(kind: OutboxKind): OutboxItemKind {
  return OutboxItemKind[`OUTBOX_ITEM_KIND_${kind.toUpperCase() as Uppercase<OutboxKind>}`];
}

function kindFromProto(kind: OutboxItemKind, field: string): OutboxKind {
  const name = OutboxItemKind[kind]?.replace(/^OUTBOX_ITEM_KIND_/, "").toLowerCase();
  if (!name || !(OUTBOX_KINDS as readonly string[]).includes(name)) throw new InvalidField(field, "must be an outbox item kind other than UNSPECIFIED");
  return name as OutboxKind;
}

function criteriaToProto(name: string): CriteriaType {
  return CriteriaType[`CRITERIA_TYPE_${name}` as keyof typeof CriteriaType] ?? CriteriaType.CRITERIA_TYPE_UNSPECIFIED;
}

export function outboxItemToProto(item: OutboxItemRecord): OutboxItem {
  return {
    id: item.id,
    teamSlug: item.teamSlug,
    hackathonId: item.hackathonId,
    criteriaType: criteriaToProto(item.criteriaType),
    status: item.status,
    score: item.score,
    metrics: item.metrics,
    jobId: item.jobId ?? "",
    state: stateToProto(item.state),
    attempts: item.attempts,
    lastError: item.lastError,
    createTime: new Date(item.createdAt),
    nextAttemptTime: item.state === "PENDING" ? new Date(item.nextAttemptAt) : undefined,
    deliveredTime: item.deliveredAt === null ? undefined : new Date(item.deliveredAt),
    kind: kindToProto(item.kind),
    targetUrl: item.targetUrl ?? "",
  };
}

export function outboxService(rpc: RpcInstrumentation, deps: OutboxServiceDeps): OutboxRpcs {
  async function listOutbox(request: ListOutboxRequest): Promise<ListOutboxResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidField("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
    checkText("team_slug", request.teamSlug, { max: 100 });
    checkText("page_token", request.pageToken, PAGE_TOKEN_RULE);
    const states = request.states.map((s, i) => stateFromProto(s, `states[${i}]`));
    const kinds = request.kinds.map((k, i) => kindFromProto(k, `kinds[${i}]`));
    const filters = { outbox: true, states, teamSlug: request.teamSlug, kinds };
    // The cursor is the last item's insertion sequence (carried in the job cursor's createdAt slot).
    const beforeSeq = request.pageToken ? decodePageToken(request.pageToken, filters).createdAt : undefined;
    const rows = await deps.outbox.list({ states, kinds, teamSlug: request.teamSlug || undefined, beforeSeq, limit: pageSize + 1 });
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    return {
      items: page.map(outboxItemToProto),
      nextPageToken: rows.length > pageSize && last ? encodePageToken({ createdAt: last.seq, id: "outbox" }, filters) : "",
    };
  }

  async function resendOutbox(request: ResendOutboxRequest): Promise<ResendOutboxResponse> {
    if (request.itemIds.length > MAX_RESEND_IDS) throw new InvalidField("item_ids", `at most ${MAX_RESEND_IDS} ids per request`);
    const ids = [...new Set(request.itemIds)];
    for (const [i, id] of ids.entries()) {
      checkText(`item_ids[${i}]`, id, ID_RULE);
      if (!ITEM_ID.test(id)) throw new InvalidField(`item_ids[${i}]`, `"${id}" is not an outbox item id`);
      const item = await deps.outbox.get(id);
      if (!item) throw new NotFound(`outbox item ${id} not found`);
      if (item.state !== "PARKED") {
        throw new PreconditionFailed(`outbox item ${id} is ${item.state}; only parked items can be resent`, "OUTBOX_ITEM_NOT_PARKED");
      }
    }
    const requeued = await deps.outbox.resend(ids.length ? ids : null, deps.clock.now());
    if (requeued) deps.delivery?.wake();
    return { requeued };
  }

  return {
    listOutbox: rpc.unary("ListOutbox", listOutbox),
    resendOutbox: rpc.unary("ResendOutbox", resendOutbox),
  };
}
