// http-get-smoke: one GET against the target, over and over (SMOKE_PATH, default the event list).
import { prelude, type ScenarioShape } from "./prelude.js";

export const HTTP_GET_SMOKE: ScenarioShape = {
  name: "http-get-smoke",
  defaultVus: 1,
  defaultDuration: "10s",
  defaultThinkTime: 1,
  thresholds: { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"] },
  executor: "constant-vus",
};

export const HTTP_GET_SMOKE_SOURCE = `${prelude(HTTP_GET_SMOKE)}
var PATH = __ENV.SMOKE_PATH || "/api/events?page=1&pageSize=20";
if (PATH.charAt(0) !== "/") PATH = "/" + PATH;

export default function () {
  var response = http.get(BASE_URL + PATH, { headers: HEADERS, tags: { name: "GET " + PATH.split("?")[0] } });
  check(response, { "status is 2xx": function (r) { return r.status >= 200 && r.status < 300; } });
  think();
}
`;
