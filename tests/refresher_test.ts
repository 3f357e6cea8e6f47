import assert from "node:assert/strict";
import type { Credentials } from "../lib/credentials.ts";
import { Logger } from "../lib/log.ts";
import {
  backoffDelayMs,
  type Clock,
  MAX_BACKOFF_MS,
  MIN_REFRESH_DELAY_MS,
  nextRefreshDelayMs,
  NO_CREDENTIALS_RETRY_MS,
  Refresher,
  systemClock,
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
    monotonic: () => clock.time,
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
  const logger = new Logger({ sink: (l) => lines.push(l), clock, level: "debug" });
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
      return Promise.resolve({ credentials: "written", config: "unchanged" });
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
    writeCredentials: () => Promise.resolve({ credentials: "written" }),
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
    writeCredentials: () => Promise.resolve({ credentials: "written" }),
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
    writeCredentials: () => Promise.resolve({ credentials: "written" }),
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
    writeCredentials: () => Promise.resolve({ credentials: "written" }),
    intervalSeconds: 900,
    refreshBeforeExpirySeconds: 300,
    logger: new Logger({ sink: (l) => lines.push(l), clock }),
    clock,
  });
  assert.equal(await refresher.refreshOnce(new AbortController().signal), true);
  assert.equal(
    lines[1],
    "2026-11-26T12:00:00.000Z WARN credentials expire sooner than REFRESH_BEFORE_EXPIRY; refreshing at half their lifetime instead expires_in_seconds=90 lead_seconds=45",
  );
});

Deno.test("Refresher retries every 250 ms while it holds no credentials, logging one line per 10 s", async () => {
  const clock = fakeClock();
  const lines: string[] = [];
  const stop = new AbortController();
  let calls = 0;
  const refresher = new Refresher({
    fetchCredentials: () => {
      calls++;
      if (calls <= 100) return Promise.reject(new Error("request failed: Connection refused"));
      if (calls === 101) return Promise.resolve(credentialsAt(clock.time + HOUR, calls));
      stop.abort();
      return Promise.reject(new Error("stopping"));
    },
    writeCredentials: () => Promise.resolve({ credentials: "written" }),
    intervalSeconds: 900,
    refreshBeforeExpirySeconds: 300,
    logger: new Logger({ sink: (l) => lines.push(l), clock }),
    clock,
    random: () => 0,
  });
  await refresher.run(stop.signal);
  assert.equal(NO_CREDENTIALS_RETRY_MS, 250);
  assert.deepEqual(clock.sleeps.slice(0, 100), Array(100).fill(250));
  // Failures 1, 41 and 81 are logged (10 s apart), then the recovery says how many were not.
  assert.deepEqual(lines.map((l) => l.slice(25)), [
    'ERROR refresh failed reason="request failed: Connection refused"',
    'ERROR refresh failed reason="request failed: Connection refused" consecutive_failures=41',
    'ERROR refresh failed reason="request failed: Connection refused" consecutive_failures=81',
    "INFO recovered failures_not_logged=97",
    "INFO refreshed access_key_id=AKID101 expiration=2026-11-26T13:00:25.000Z files=credentials:written",
  ]);
});

Deno.test("nextRefreshDelayMs() caps the lead at half the lifetime: no tight loop", () => {
  // REFRESH_BEFORE_EXPIRY of two hours against one-hour credentials.
  const input = { now: T0, expiration: T0 + HOUR, intervalMs: 3 * HOUR, random: 0 };
  assert.equal(nextRefreshDelayMs({ ...input, beforeExpiryMs: 2 * HOUR }), HOUR / 2);
  assert.equal(nextRefreshDelayMs({ ...input, beforeExpiryMs: HOUR }), HOUR / 2);
  assert.equal(nextRefreshDelayMs({ ...input, beforeExpiryMs: 300_000 }), HOUR - 300_000);
});

Deno.test("systemClock.sleep() ends early when the wall clock jumps forward", async () => {
  const realNow = Date.now;
  const start = performance.now();
  let woke: number | undefined;
  const sleeping = systemClock.sleep(HOUR, new AbortController().signal).then(() => {
    woke = performance.now() - start;
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const jump = realNow() + 2 * HOUR;
  Date.now = () => jump; // an NTP step or a resume from suspend
  try {
    await sleeping;
  } finally {
    Date.now = realNow;
  }
  assert.ok(woke !== undefined && woke < 2500, `woke after ${woke} ms`);
});

Deno.test("Refresher rewrites files that another writer changed, without fetching", async () => {
  const stop = new AbortController();
  let fetches = 0;
  const writes: string[] = [];
  let intact = true;
  const lines: string[] = [];
  const refresher = new Refresher({
    fetchCredentials: () => {
      fetches++;
      return Promise.resolve(credentialsAt(Date.now() + HOUR, fetches));
    },
    writeCredentials: (c) => {
      writes.push(c.accessKeyId);
      intact = true;
      return Promise.resolve({ credentials: "written", config: "unchanged" });
    },
    verifyFiles: () =>
      Promise.resolve(intact ? undefined : "credentials file has no [default] section"),
    verifyIntervalMs: 10,
    intervalSeconds: 3600,
    refreshBeforeExpirySeconds: 0,
    logger: new Logger({ sink: (l) => lines.push(l) }),
  });
  const running = refresher.run(stop.signal);
  while (writes.length < 1) await new Promise((r) => setTimeout(r, 5));
  intact = false; // another writer removed our section
  while (refresher.state.repairs < 1) await new Promise((r) => setTimeout(r, 5));
  stop.abort();
  await running;
  assert.equal(fetches, 1);
  assert.deepEqual(writes, ["AKID1", "AKID1"]);
  assert.equal(refresher.state.filesProblem, undefined);
  assert.ok(
    lines.some((l) =>
      l.includes(
        'WARN repaired files changed by another writer reason="credentials file has no [default] section" files=credentials:written,config:unchanged',
      )
    ),
    lines.join("\n"),
  );
});

Deno.test("Refresher tries a repair once per set of credentials when it fails or finds nothing to do", async () => {
  const stop = new AbortController();
  let writes = 0;
  let failWrites = false;
  const lines: string[] = [];
  const refresher = new Refresher({
    fetchCredentials: () => Promise.resolve(credentialsAt(Date.now() + HOUR, 1)),
    writeCredentials: () => {
      writes++;
      if (failWrites) return Promise.reject(new Error('cannot write "/x": it is a symlink'));
      return Promise.resolve({ credentials: "unchanged", config: "unchanged" });
    },
    // The check keeps saying the files changed.
    verifyFiles: () => Promise.resolve("credentials file has no [default] section"),
    verifyIntervalMs: 5,
    intervalSeconds: 3600,
    refreshBeforeExpirySeconds: 0,
    logger: new Logger({ sink: (l) => lines.push(l), level: "debug" }),
  });
  const running = refresher.run(stop.signal);
  await new Promise((r) => setTimeout(r, 200));
  // First write, then one repair that found nothing to write: no more.
  assert.equal(writes, 2);
  assert.equal(refresher.state.repairs, 0);
  failWrites = true;
  refresher.refreshNow(); // new credentials: one repair may be tried again
  await new Promise((r) => setTimeout(r, 200));
  stop.abort();
  await running;
  assert.equal(writes, 3, "the refresh write failed; no repair loop after it");
  assert.equal(lines.filter((l) => l.includes("repaired")).length, 0);
  assert.ok(lines.filter((l) => l.includes("repair failed")).length <= 1);
});
