import assert from "node:assert/strict";
import { ATTEMPT_STUCK_MS, createHealthHandler, OVERDUE_GRACE_MS } from "../lib/health.ts";
import { initialRefreshState, type RefreshState } from "../lib/refresher.ts";
import { parsePrometheus } from "./support/prometheus.ts";

const T0 = Date.parse("2026-11-26T12:00:00Z");

// The first attempt is under way.
const INITIAL: RefreshState = {
  ...initialRefreshState(T0),
  attemptStartedAt: T0,
  attemptStartedMonotonic: T0,
};

function handlerFor(state: RefreshState, now = T0, monotonic = now) {
  return createHealthHandler({
    targets: () => [{ profile: "default", state }],
    clock: { now: () => now, monotonic: () => monotonic },
    version: "9.9.9",
  });
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
  const sleeping = {
    ...INITIAL,
    attemptStartedAt: undefined,
    attemptStartedMonotonic: undefined,
    nextAttemptAt: T0 + 900_000,
    nextAttemptMonotonic: T0 + 900_000,
  };
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
  // The wall clock stepped two hours ahead (NTP, resume): only the wall clock
  // says late, and the loop notices within a second, so it is not wedged.
  const jumped = T0 + 900_000 + 2 * 3_600_000;
  assert.equal((await get(handlerFor(sleeping, jumped, T0 + 1000), "/healthz")).status, 200);
  assert.equal((await get(handlerFor(INITIAL, jumped, T0 + 1000), "/healthz")).status, 200);
  // A wall clock stepped back does not hide a wedged loop either way.
  const back = await get(handlerFor(sleeping, T0 - 3_600_000, T0 + 900_000 + 61_000), "/healthz");
  assert.equal(back.status, 200, "only the monotonic clock says late");
});

Deno.test("/readyz names the last error and a section another writer removed", async () => {
  const failing = { ...INITIAL, lastError: "endpoint answered HTTP 500: boom" };
  assert.equal(
    (await get(handlerFor(failing), "/readyz")).body,
    "no credentials written yet; last error: endpoint answered HTTP 500: boom\n",
  );
  const expired = { ...failing, expiration: T0 - 1000 };
  assert.equal(
    (await get(handlerFor(expired), "/readyz")).body,
    "credentials expired at 2026-11-26T11:59:59.000Z; last error: endpoint answered HTTP 500: boom\n",
  );
  const removed = {
    ...INITIAL,
    expiration: T0 + 3_600_000,
    filesProblem: "credentials file has no [default] section",
  };
  const response = await get(handlerFor(removed), "/readyz");
  assert.deepEqual([response.status, response.body], [
    503,
    "files changed by another writer: credentials file has no [default] section\n",
  ]);
});

Deno.test("/metrics is Prometheus text with the documented series", async () => {
  const state: RefreshState = {
    ...INITIAL,
    attemptStartedAt: undefined,
    lastSuccessAt: T0 - 500,
    expiration: T0 + 3_600_000,
    successes: 7,
    failures: 2,
    repairs: 3,
  };
  const response = await get(handlerFor(state), "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const samples = parsePrometheus(response.body);
  assert.deepEqual(Object.fromEntries(samples), {
    'credential_helper_refresh_total{profile="default",result="success"}': 7,
    'credential_helper_refresh_total{profile="default",result="failure"}': 2,
    'credential_helper_last_success_timestamp_seconds{profile="default"}': (T0 - 500) / 1000,
    'credential_helper_credentials_expiration_timestamp_seconds{profile="default"}': T0 / 1000 +
      3600,
    'credential_helper_ready{profile="default"}': 1,
    'credential_helper_consecutive_failures{profile="default"}': 0,
    'credential_helper_repairs_total{profile="default"}': 3,
    'credential_helper_notify_total{profile="default",result="success"}': 0,
    'credential_helper_notify_total{profile="default",result="failure"}': 0,
    'credential_helper_build_info{version="9.9.9"}': 1,
  });
  const before = parsePrometheus((await get(handlerFor(INITIAL), "/metrics")).body);
  assert.equal(before.get('credential_helper_ready{profile="default"}'), 0);
  assert.equal(
    before.get('credential_helper_credentials_expiration_timestamp_seconds{profile="default"}'),
    0,
  );
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

Deno.test("several targets: ready only when all are; the body lists each profile", async () => {
  const ready: RefreshState = {
    ...INITIAL,
    attemptStartedAt: undefined,
    expiration: T0 + 3_600_000,
  };
  const waiting: RefreshState = { ...INITIAL, lastError: "request failed: Connection refused" };
  const handler = (states: RefreshState[]) =>
    createHealthHandler({
      targets: () => states.map((state, i) => ({ profile: ["dev", "prod"][i]!, state })),
      clock: { now: () => T0, monotonic: () => T0 },
      version: "9.9.9",
    });
  const notReady = await get(handler([ready, waiting]), "/readyz");
  assert.deepEqual([notReady.status, notReady.body], [
    503,
    "1 of 2 profiles not ok\nprofile dev: ok: ready\n" +
    "profile prod: not ok: no credentials written yet; last error: request failed: Connection refused\n",
  ]);
  const allReady = await get(handler([ready, ready]), "/readyz");
  assert.deepEqual([allReady.status, allReady.body], [
    200,
    "ok\nprofile dev: ok: ready\nprofile prod: ok: ready\n",
  ]);
  const metrics = parsePrometheus((await get(handler([ready, waiting]), "/metrics")).body);
  assert.equal(metrics.get('credential_helper_ready{profile="dev"}'), 1);
  assert.equal(metrics.get('credential_helper_ready{profile="prod"}'), 0);
  assert.equal(metrics.get('credential_helper_refresh_total{profile="prod",result="success"}'), 0);
});

Deno.test("/metrics passes promtool check metrics, with one target and with several", async () => {
  const states: RefreshState[] = [
    { ...INITIAL, attemptStartedAt: undefined, expiration: T0 + 3_600_000, successes: 3 },
    { ...INITIAL, failures: 2, consecutiveFailures: 2, repairs: 1 },
  ];
  for (const count of [1, 2]) {
    const handler = createHealthHandler({
      targets: () => states.slice(0, count).map((state, i) => ({ profile: `p.${i}@x+y-z`, state })),
      clock: { now: () => T0, monotonic: () => T0 },
      version: "9.9.9",
    });
    const body = (await get(handler, "/metrics")).body;
    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(body));
    await writer.close();
    const result = await child.output();
    const output = new TextDecoder().decode(result.stdout) +
      new TextDecoder().decode(result.stderr);
    console.log(
      `promtool check metrics (${count} target${count > 1 ? "s" : ""}): exit ${result.code}`,
    );
    assert.deepEqual([result.code, output], [0, ""]);
  }
});
