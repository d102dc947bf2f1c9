// archive-search (ARCHIVE_SEARCH): searches past events by text and date, read-only GETs.
import { prelude, type ScenarioShape } from "./prelude.js";

export const ARCHIVE_SEARCH: ScenarioShape = {
  name: "archive-search",
  defaultVus: 50,
  defaultDuration: "1m",
  defaultThinkTime: 1,
  thresholds: { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"] },
  executor: "constant-vus",
};

export const ARCHIVE_SEARCH_SOURCE = `${prelude(ARCHIVE_SEARCH)}
var TERMS = listFromEnv("SEARCH_TERMS", "concert,theatre,festival,jazz,opera,rock,comedy,exhibition,ballet,football");
var FROM = Date.parse(__ENV.ARCHIVE_FROM || "2020-01-01");
var TO = Date.parse(__ENV.ARCHIVE_TO || "2024-12-31");
if (!(FROM <= TO)) throw new Error("ARCHIVE_FROM must be a date (YYYY-MM-DD) not after ARCHIVE_TO");
var PAGE_SIZE = intFromEnv("PAGE_SIZE", 20);

function pastDate() {
  var day = new Date(FROM + Math.floor(Math.random() * (TO - FROM + 1)));
  return day.toISOString().slice(0, 10);
}

export default function () {
  var url = BASE_URL + "/api/events?query=" + encodeURIComponent(pick(TERMS)) + "&date=" + pastDate() + "&page=1&pageSize=" + PAGE_SIZE;
  var response = http.get(url, { headers: HEADERS, tags: { name: "GET /api/events?date" } });
  check(response, {
    "status is 200": function (r) { return r.status === 200; },
    "body is JSON": isJson,
  });
  think();
}
`;
