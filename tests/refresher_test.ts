import assert from "node:assert/strict";
import type { Credentials } from "../lib/credentials.ts";
import { Logger } from "../lib/log.ts";
import {
  backoffDelayMs,
  type Clock,
  MAX_BACKOFF_MS,
  MIN_REFRESH_DELAY_MS,
  nextRefreshDelayMs,
  Refresher,
} from "../lib/refresher.ts";

const T0 = Date.parse("2026-11-26T12:00:00Z");
const HOUR = 3_600_000;

Deno.test("nextRefreshDelayMs() takes the interval when expiry is far", () => {
  const delay = nextRefreshDelayMs({
    now: T0,
    expiration: T0 + HOUR,
    intervalMs: 900_000,
    beforeExpiryMs: 300_000,
    random: 0,
  });
  assert.equal(delay, 900_000);
});

Deno.test("nextRefreshDelayMs() refreshes REFRESH_BEFORE_EXPIRY ahead of expiry", () => {
  const delay = nextRefreshDelayMs({
    now: T0,
    expiration: T0 + 15 * 60_000,
    intervalMs: 3_600_000,
    beforeExpiryMs: 300_000,
    random: 0,
  });
  assert.equal(delay, 10 * 60_000);
});

Deno.test("nextRefreshDelayMs() jitters only earlier, by at most 10%", () => {
  const input = {
    now: T0,
    expiration: T0 + HOUR,
    intervalMs: 900_000,
    beforeExpiryMs: 300_000,
  };
  assert.equal(nextRefreshDelayMs({ ...input, random: 0.999999 }), 810_000);
  assert.equal(nextRefreshDelayMs({ ...input, random: 0.5 }), 855_000);
});

Deno.test("nextRefreshDelayMs() has a floor for nearly expired credentials", () => {
  const delay = nextRefreshDelayMs({
    now: T0,
    expiration: T0 + 10_000,
    intervalMs: 900_000,
    beforeExpiryMs: 300_000,
    random: 0,
  });
  assert.equal(delay, MIN_REFRESH_DELAY_MS);
  // A shorter interval than the floor still wins: the operator asked for it.
  assert.equal(
    nextRefreshDelayMs({
      now: T0,
      expiration: T0 + 10_000,
      intervalMs: 1000,
      beforeExpiryMs: 300_000,
      random: 0,
    }),
    1000,
  );
});

Deno.test("backoffDelayMs() doubles with jitter up to its cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelayMs(n, 900_000, 1)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.deepEqual(
    [1, 2, 3].map((n) => backoffDelayMs(n, 900_000, 0)),
    [500, 1000, 2000],
  );
  assert.equal(backoffDelayMs(10, 5000, 1), 5000, "never longer than the interval");
  assert.equal(backoffDelayMs(10, 1000, 1), 1000);
  assert.ok(backoffDelayMs(1000, 900_000, 1) <= MAX_BACKOFF_MS);
});

/** A clock whose sleeps return at once, advancing time, and recording each wait. */
function fakeClock(): Clock & { sleeps: number[]; time: number } {
  const clock = {
    time: T0,
    sleeps: [] as number[],
    now: () => clock.time,
    sleep: (ms: number, signal: AbortSignal) => {
      clock.sleeps.push(ms);
      if (!signal.aborted) clock.time += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

function credentialsAt(expiration: number, n: number): Credentials {
  return {
    accessKeyId: `AKID${n}`,
    secretAccessKey: `SECRET${n}-value`,
    sessionToken: `TOKEN${n}-value`,
    expiration: new Date(expiration),
  };
}

Deno.test("Refresher.run() follows the schedule and backs off on failure", async () => {
  const clock = fakeClock();
  const lines: string[] = [];
  const logger = new Logger({ sink: (l) => lines.push(l), now: clock.now, level: "debug" });
  const script = ["ok", "fail", "fail", "ok", "stop"];
  const stop = new AbortController();
  const written: string[] = [];
  let call = 0;
  const refresher = new Refresher({
    fetchCredentials: () => {
      const step = script[call++];
      if (step === "stop") {
        stop.abort();
        return Promise.reject(new Error("stopping"));
      }
      if (step === "fail") return Promise.reject(new Error("endpoint answered HTTP 500"));
      return Promise.resolve(credentialsAt(clock.time + HOUR, call));
    },
    writeCredentials: (c) => {
      written.push(c.accessKeyId);
      return Promise.resolve("credentials:written,config:unchanged");
    },
    intervalSeconds: 900,
    refreshBeforeExpirySeconds: 300,
    logger,
    clock,
    random: () => 0,
  });
  await refresher.run(stop.signal);
  assert.deepEqual(written, ["AKID1", "AKID4"]);
  assert.deepEqual(clock.sleeps, [900_000, 500, 1000, 900_000]);
  const state = refresher.state;
  assert.equal(state.successes, 2);
  assert.equal(state.failures, 2);
  assert.equal(state.consecutiveFailures, 0);
  assert.equal(state.lastError, undefined);
  assert.equal(state.expiration, T0 + 900_000 + 500 + 1000 + HOUR);
  // "<time> <LEVEL> <message> ..."
  assert.deepEqual(lines.map((l) => l.split(" ")[2]), [
    "refreshed",
    "next",
    "refresh",
    "backing",
    "refresh",
    "backing",
    "refreshed",
    "next",
  ]);
  assert.ok(
    lines.some((l) => l.includes('ERROR refresh failed reason="endpoint answered HTTP 500"')),
  );
  assert.ok(
    lines.some((l) =>
      l.includes("WARN backing off until=2026-11-26T12:15:00.500Z consecutive_failures=1")
    ),
  );
});

Deno.test("Refresher keeps the last good expiry while the endpoint fails", async () => {
  const clock = fakeClock();
  let fail = false;
  const refresher = new Refresher({
    fetchCredentials: () =>
      fail ? Promise.reject(new Error("down")) : Promise.resolve(credentialsAt(T0 + HOUR, 1)),
    writeCredentials: () => Promise.resolve("written"),
    intervalSeconds: 60,
    refreshBeforeExpirySeconds: 0,
    logger: new Logger({ sink: () => {} }),
    clock,
  });
  const signal = new AbortController().signal;
  assert.equal(await refresher.refreshOnce(signal), true);
  fail = true;
  assert.equal(await refresher.refreshOnce(signal), false);
  assert.equal(await refresher.refreshOnce(signal), false);
  assert.equal(refresher.state.expiration, T0 + HOUR);
  assert.equal(refresher.state.consecutiveFailures, 2);
  assert.equal(refresher.state.lastError, "down");
});

Deno.test("Refresher counts a failed write as a failure and records no expiry", async () => {
  const refresher = new Refresher({
    fetchCredentials: () => Promise.resolve(credentialsAt(T0 + HOUR, 1)),
    writeCredentials: () => Promise.reject(new Error('cannot write "/x": No space left')),
    intervalSeconds: 60,
    refreshBeforeExpirySeconds: 0,
    logger: new Logger({ sink: () => {} }),
    clock: fakeClock(),
  });
  assert.equal(await refresher.refreshOnce(new AbortController().signal), false);
  assert.equal(refresher.state.expiration, undefined);
  assert.equal(refresher.state.lastError, 'cannot write "/x": No space left');
});

Deno.test("Refresher.refreshNow() cuts the wait short", async () => {
  const stop = new AbortController();
  let calls = 0;
  const refresher = new Refresher({
    fetchCredentials: () => {
      calls++;
      if (calls === 3) stop.abort();
      return Promise.resolve(credentialsAt(Date.now() + HOUR, calls));
    },
    writeCredentials: () => Promise.resolve("written"),
    intervalSeconds: 3600,
    refreshBeforeExpirySeconds: 0,
    logger: new Logger({ sink: () => {} }),
  });
  const running = refresher.run(stop.signal);
  // Real clock, an hour-long wait: only refreshNow() can end it.
  while (calls < 1) await new Promise((r) => setTimeout(r, 5));
  refresher.refreshNow();
  while (calls < 2) await new Promise((r) => setTimeout(r, 5));
  refresher.refreshNow();
  await running;
  assert.equal(calls, 3);
});

Deno.test("Refresher.runOnce() retries a bounded number of times", async () => {
  const clock = fakeClock();
  let calls = 0;
  const refresher = new Refresher({
    fetchCredentials: () => {
      calls++;
      return Promise.reject(new Error("down"));
    },
    writeCredentials: () => Promise.resolve("written"),
    intervalSeconds: 900,
    refreshBeforeExpirySeconds: 300,
    logger: new Logger({ sink: () => {} }),
    clock,
    random: () => 1,
  });
  assert.equal(await refresher.runOnce(new AbortController().signal, 3), false);
  assert.equal(calls, 3);
  assert.deepEqual(clock.sleeps, [1000, 2000]);
});

Deno.test("Refresher warns when credentials expire sooner than REFRESH_BEFORE_EXPIRY", async () => {
  const clock = fakeClock();
  const lines: string[] = [];
  const refresher = new Refresher({
    fetchCredentials: () => Promise.resolve(credentialsAt(T0 + 90_000, 1)),
    writeCredentials: () => Promise.resolve("written"),
    intervalSeconds: 900,
    refreshBeforeExpirySeconds: 300,
    logger: new Logger({ sink: (l) => lines.push(l), now: clock.now }),
    clock,
  });
  assert.equal(await refresher.refreshOnce(new AbortController().signal), true);
  assert.equal(
    lines[1],
    "2026-11-26T12:00:00.000Z WARN credentials expire sooner than REFRESH_BEFORE_EXPIRY expires_in_seconds=90",
  );
});
