import assert from "node:assert/strict";
import { ATTEMPT_STUCK_MS, createHealthHandler, OVERDUE_GRACE_MS } from "../lib/health.ts";
import { initialRefreshState, type RefreshState } from "../lib/refresher.ts";
import { parsePrometheus } from "./prometheus.ts";

const T0 = Date.parse("2026-11-26T12:00:00Z");

// The first attempt is under way.
const INITIAL: RefreshState = { ...initialRefreshState(T0), attemptStartedAt: T0 };

function handlerFor(state: RefreshState, now = T0) {
  return createHealthHandler({ state: () => state, now: () => now, version: "9.9.9" });
}

async function get(handler: (r: Request) => Response, path: string, method = "GET") {
  const response = handler(new Request(`http://localhost${path}`, { method }));
  return { status: response.status, body: await response.text(), headers: response.headers };
}

Deno.test("/readyz is 503 before the first write and 200 after it", async () => {
  assert.deepEqual(
    { ...(await get(handlerFor(INITIAL), "/readyz")), headers: undefined },
    { status: 503, body: "no credentials written yet\n", headers: undefined },
  );
  const written = { ...INITIAL, attemptStartedAt: undefined, expiration: T0 + 3_600_000 };
  const ready = await get(handlerFor(written), "/readyz");
  assert.equal(ready.status, 200);
  assert.equal(ready.body, "ready\n");
  assert.equal(ready.headers.get("content-type"), "text/plain; charset=utf-8");
});

Deno.test("/readyz is 503 once the credentials on disk have expired", async () => {
  const state = { ...INITIAL, expiration: T0 + 1000, failures: 4, consecutiveFailures: 4 };
  const response = await get(handlerFor(state, T0 + 1000), "/readyz");
  assert.equal(response.status, 503);
  assert.equal(response.body, "credentials expired at 2026-11-26T12:00:01.000Z\n");
});

Deno.test("/healthz is 200 while the loop is on time and 503 when it is wedged", async () => {
  const sleeping = { ...INITIAL, attemptStartedAt: undefined, nextAttemptAt: T0 + 900_000 };
  assert.equal((await get(handlerFor(sleeping), "/healthz")).status, 200);
  assert.equal(
    (await get(handlerFor(sleeping, T0 + 900_000 + OVERDUE_GRACE_MS), "/healthz")).status,
    200,
  );
  const late = await get(handlerFor(sleeping, T0 + 900_000 + OVERDUE_GRACE_MS + 1000), "/healthz");
  assert.deepEqual([late.status, late.body], [
    503,
    "refresh loop wedged: next attempt overdue by 61 s\n",
  ]);
  const stuck = await get(handlerFor(INITIAL, T0 + ATTEMPT_STUCK_MS + 5000), "/healthz");
  assert.deepEqual([stuck.status, stuck.body], [503, "refresh attempt stuck for 65 s\n"]);
});

Deno.test("/metrics is Prometheus text with the documented series", async () => {
  const state: RefreshState = {
    ...INITIAL,
    attemptStartedAt: undefined,
    lastSuccessAt: T0 - 500,
    expiration: T0 + 3_600_000,
    successes: 7,
    failures: 2,
  };
  const response = await get(handlerFor(state), "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const samples = parsePrometheus(response.body);
  assert.deepEqual(Object.fromEntries(samples), {
    'credential_helper_refresh_total{result="success"}': 7,
    'credential_helper_refresh_total{result="failure"}': 2,
    credential_helper_last_success_timestamp_seconds: (T0 - 500) / 1000,
    credential_helper_credentials_expiration_timestamp_seconds: T0 / 1000 + 3600,
    credential_helper_ready: 1,
    credential_helper_consecutive_failures: 0,
    'credential_helper_build_info{version="9.9.9"}': 1,
  });
  const before = parsePrometheus((await get(handlerFor(INITIAL), "/metrics")).body);
  assert.equal(before.get("credential_helper_ready"), 0);
  assert.equal(before.get("credential_helper_credentials_expiration_timestamp_seconds"), 0);
});

Deno.test("other paths get 404, other methods 405, HEAD gets no body", async () => {
  const handler = handlerFor(INITIAL);
  assert.equal((await get(handler, "/")).status, 404);
  assert.equal((await get(handler, "/readyz/x")).status, 404);
  const post = await get(handler, "/readyz", "POST");
  assert.deepEqual([post.status, post.headers.get("allow")], [405, "GET, HEAD"]);
  const head = await get(handler, "/healthz", "HEAD");
  assert.deepEqual([head.status, head.body], [200, ""]);
  assert.equal(head.headers.get("cache-control"), "no-store");
});
