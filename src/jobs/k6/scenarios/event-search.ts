// event-search (EVENT_SEARCH): searches the event list by text, read-only GETs.
import { prelude, type ScenarioShape } from "./prelude.js";

export const EVENT_SEARCH: ScenarioShape = {
  name: "event-search",
  defaultVus: 50,
  defaultDuration: "1m",
  defaultThinkTime: 1,
  thresholds: { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"] },
  executor: "constant-vus",
};

export const EVENT_SEARCH_SOURCE = `${prelude(EVENT_SEARCH)}
var TERMS = listFromEnv("SEARCH_TERMS", "concert,theatre,festival,jazz,opera,rock,comedy,exhibition,ballet,football");
var PAGE_SIZE = intFromEnv("PAGE_SIZE", 20);

export default function () {
  var term = pick(TERMS);
  var page = 1 + Math.floor(Math.random() * 3);
  var url = BASE_URL + "/api/events?query=" + encodeURIComponent(term) + "&page=" + page + "&pageSize=" + PAGE_SIZE;
  var response = http.get(url, { headers: HEADERS, tags: { name: "GET /api/events?query" } });
  check(response, {
    "status is 200": function (r) { return r.status === 200; },
    "body is JSON": isJson,
  });
  think();
}
`;
