// ticket-booking (TICKET_BOOKING): the booking flow of the ticketing API. Each iteration creates
// a booking for an event, picks a free seat, selects it and initiates the payment; the
// booked_tickets counter counts the flows that got that far. It writes the team's data as a real
// user would, and never calls POST /api/reset.
import { prelude, type ScenarioShape } from "./prelude.js";

export const TICKET_BOOKING: ScenarioShape = {
  name: "ticket-booking",
  defaultVus: 20,
  defaultDuration: "1m",
  defaultThinkTime: 1,
  thresholds: { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"], checks: ["rate>0.95"] },
  executor: "constant-vus",
};

export const TICKET_BOOKING_SOURCE = `${prelude(TICKET_BOOKING, ['import encoding from "k6/encoding";', 'import { Counter } from "k6/metrics";'])}
var bookedTickets = new Counter("booked_tickets");
var JSON_HEADERS = Object.assign({}, HEADERS, { "Content-Type": "application/json" });
if (__ENV.USERS) {
  var first = listFromEnv("USERS", "")[0];
  JSON_HEADERS.Authorization = "Basic " + encoding.b64encode(first);
}
// A seat someone else took meanwhile (409) is part of booking under load, not an error.
var SEAT_TAKEN_OK = http.expectedStatuses({ min: 200, max: 299 }, 409);

export function setup() {
  if (__ENV.EVENT_IDS) return { eventIds: listFromEnv("EVENT_IDS", "") };
  var response = http.get(BASE_URL + "/api/events?page=1&pageSize=20", { headers: JSON_HEADERS, tags: { name: "GET /api/events" } });
  var ids = [];
  try {
    var events = response.json();
    var list = Array.isArray(events) ? events : (events && (events.items || events.data)) || [];
    for (var i = 0; i < list.length; i++) if (list[i] && list[i].id !== undefined) ids.push(String(list[i].id));
  } catch (e) {
    // no usable list: fall back to event 1
  }
  return { eventIds: ids.length ? ids : ["1"] };
}

function idOf(response) {
  try {
    var body = response.json();
    return body && (body.id !== undefined ? body.id : body.booking_id);
  } catch (e) {
    return undefined;
  }
}

function freeSeat(eventId) {
  var page = 1 + Math.floor(Math.random() * 5);
  var response = http.get(BASE_URL + "/api/seats?event_id=" + encodeURIComponent(eventId) + "&page=" + page + "&pageSize=20&status=FREE", { headers: JSON_HEADERS, tags: { name: "GET /api/seats" } });
  if (!check(response, { "seats listed": function (r) { return r.status === 200; } })) return undefined;
  try {
    var seats = response.json();
    var list = Array.isArray(seats) ? seats : (seats && (seats.items || seats.data)) || [];
    var free = list.filter(function (s) { return s && s.id !== undefined && (!s.status || s.status === "FREE"); });
    return free.length ? pick(free).id : undefined;
  } catch (e) {
    return undefined;
  }
}

export default function (data) {
  var eventId = pick(data.eventIds);
  var created = http.post(BASE_URL + "/api/bookings", JSON.stringify({ event_id: Number(eventId) || eventId }), { headers: JSON_HEADERS, tags: { name: "POST /api/bookings" } });
  var bookingId = idOf(created);
  if (!check(created, { "booking created": function (r) { return (r.status === 200 || r.status === 201) && bookingId !== undefined; } })) {
    think();
    return;
  }
  var seatId = freeSeat(eventId);
  if (seatId === undefined) {
    think();
    return;
  }
  var selected = http.patch(BASE_URL + "/api/seats/select", JSON.stringify({ booking_id: bookingId, seat_id: seatId }), { headers: JSON_HEADERS, responseCallback: SEAT_TAKEN_OK, tags: { name: "PATCH /api/seats/select" } });
  if (selected.status === 409 || !check(selected, { "seat selected": function (r) { return r.status === 200; } })) {
    think();
    return;
  }
  var paid = http.patch(BASE_URL + "/api/bookings/initiatePayment", JSON.stringify({ booking_id: bookingId }), { headers: JSON_HEADERS, tags: { name: "PATCH /api/bookings/initiatePayment" } });
  if (check(paid, { "payment initiated": function (r) { return r.status === 200; } })) bookedTickets.add(1);
  think();
}
`;
