// auth-login (AUTH_PERFORMANCE): a fixed number of iterations (ITERATIONS), each an
// authenticated read (GET /api/bookings with HTTP Basic credentials from USERS); passes when the
// requests are made and the checks hold.
import { prelude, type ScenarioShape } from "./prelude.js";

export const AUTH_LOGIN: ScenarioShape = {
  name: "auth-login",
  defaultVus: 20,
  defaultDuration: "5m",
  defaultThinkTime: 0,
  thresholds: { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"], checks: ["rate>0.95"] },
  executor: { sharedIterations: 1000 },
};

export const AUTH_LOGIN_SOURCE = `${prelude(AUTH_LOGIN, ['import encoding from "k6/encoding";'])}
// USERS: "email:password" pairs separated by commas (the target's test users).
var USERS = listFromEnv("USERS", "user1@example.com:password1").map(function (pair) {
  var colon = pair.indexOf(":");
  if (colon < 1) throw new Error("USERS entries must be email:password");
  return { email: pair.slice(0, colon), password: pair.slice(colon + 1) };
});

export default function () {
  var user = pick(USERS);
  var headers = Object.assign({}, HEADERS, { Authorization: "Basic " + encoding.b64encode(user.email + ":" + user.password) });
  var response = http.get(BASE_URL + "/api/bookings", { headers: headers, tags: { name: "GET /api/bookings (auth)" } });
  check(response, {
    "authenticated (200)": function (r) { return r.status === 200; },
    "not refused (401/403)": function (r) { return r.status !== 401 && r.status !== 403; },
  });
  think();
}
`;
