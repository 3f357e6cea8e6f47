/**
 * `make bench`, third part: what one more target (profile) costs. The same
 * process serves 1 and then 10 targets from a config file, against 10 fake
 * endpoints on loopback, and each configuration is measured several times:
 *
 * - idle RSS, private (anonymous) RSS and peak RSS (VmHWM) of processes left
 *   side by side for TARGETS_IDLE_SECONDS, refreshing every second as in
 *   bench/footprint.ts, plus the RSS of processes on the default 900 s
 *   interval ("quiet": no refresh after the first);
 * - CPU per target-refresh: SIGHUP refreshes every target, so the process's
 *   user + system CPU over TARGETS_REFRESHES target-refreshes (1 target:
 *   that many SIGHUPs; 10 targets: a tenth as many, each sent once every
 *   target has logged the last one's refresh) divided by the refreshes
 *   logged, after one unmeasured SIGHUP round.
 *
 * It prints run-by-run figures, medians, the cost of each extra target
 * (target: at most 1 MiB of RSS), and the 10-target process beside ten
 * processes of the Go predecessor (7.4 MiB each).
 *
 * Helpers are spawned as bench/footprint.ts spawns them: `deno run --quiet
 * -P` with the Makefile's V8 flags. footprint.ts runs its benchmark when
 * imported, so the few small helpers it has are repeated here.
 *
 * Environment knobs: TARGETS_RUNS (default 5), TARGETS_IDLE_SECONDS (45),
 * TARGETS_REFRESHES (200).
 *
 * @module
 */

import { join } from "node:path";
import { type FakeEndpoint, freePort, startFakeEndpoint } from "../tests/support/fake_endpoint.ts";
import { type BenchHelper, spawnBenchHelper, stopProcess } from "./process.ts";
import { SHIPPED_V8_FLAGS } from "./shipped.ts";

const RUNS = Number(Deno.env.get("TARGETS_RUNS") ?? "5");
const IDLE_SECONDS = Number(Deno.env.get("TARGETS_IDLE_SECONDS") ?? "45");
const REFRESHES = Number(Deno.env.get("TARGETS_REFRESHES") ?? "200");
for (const value of [RUNS, IDLE_SECONDS, REFRESHES]) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(
      "targets: TARGETS_RUNS, TARGETS_IDLE_SECONDS, TARGETS_REFRESHES take whole numbers ≥ 1",
    );
    Deno.exit(2);
  }
}
/** The configurations compared. */
const SIZES = [1, 10] as const;
const MANY = SIZES[1];
/** The first RSS sample, for growth, is taken this long after the start. */
const EARLY_SECONDS = Math.min(10, IDLE_SECONDS);
/** RSS of one Go predecessor process, serving one profile. */
const GO_MIB_PER_PROCESS = 7.4;
/** Target: each extra target costs at most this much RSS. */
const EXTRA_TARGET_MIB = 1;
const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const KiB_PER_MiB = 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const mib = (kib: number, digits = 1) => round(kib / KiB_PER_MiB, digits);

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

// Everything started, so that a failure or Ctrl-C still cleans up.
const denoDir = await Deno.makeTempDir({ prefix: "bench-targets-deno-dir-" });
const homes = new Set<string>();
const helpers = new Set<Helper>();
const fakes: FakeEndpoint[] = [];

interface Helper extends BenchHelper {
  /** Its HOME, removed when it stops. */
  home?: string;
}

function spawnHelper(args: string[], env: Record<string, string>): Helper {
  const helper: Helper = spawnBenchHelper(args, env, denoDir);
  helpers.add(helper);
  return helper;
}

async function stop(helper: Helper): Promise<void> {
  if (!helpers.has(helper)) return;
  await stopProcess(helper.child, STOP_GRACE_MS);
  await helper.drained;
  helpers.delete(helper);
}

async function cleanUp(): Promise<void> {
  for (const helper of [...helpers]) await stop(helper);
  for (const fake of fakes.splice(0)) await fake.close();
  for (const dir of [...homes, denoDir]) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  homes.clear();
}

const onInterrupt = () => {
  cleanUp().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onInterrupt);

const usedPorts = new Set<number>();
/** A free loopback port not handed to another helper of this run. */
function listenPort(): number {
  for (;;) {
    const port = freePort();
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
}

const refreshed = (helper: Helper) => helper.lines.filter((l) => l.includes(" refreshed ")).length;

/** Wait for `check`, failing early with the log tail if the helper exits. */
async function waitFor(helper: Helper, what: string, check: () => boolean): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!check()) {
    if (helper.exited || performance.now() > deadline) {
      throw new Error(
        `${helper.exited ? "the helper exited" : "timed out"} waiting for ${what}; log tail:\n` +
          helper.lines.slice(-20).join("\n"),
      );
    }
    await sleep(1);
  }
}

/** A helper serving `targets` profiles (t0, t1, …), one per fake endpoint, from a config file. */
async function startHelper(targets: number, refreshInterval: number): Promise<Helper> {
  const home = await Deno.makeTempDir({ prefix: "bench-targets-home-" });
  homes.add(home);
  const config = join(home, "credential-helper.json");
  const profiles: Record<string, { endpoint: string }> = {};
  for (let index = 0; index < targets; index++) {
    profiles[`t${index}`] = { endpoint: fakes[index]!.url };
  }
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      listen_address: "127.0.0.1",
      listen_port: listenPort(),
      refresh_interval: refreshInterval,
      profiles,
    }),
  );
  const helper = spawnHelper([], { HOME: home, CREDENTIAL_HELPER_CONFIG: config });
  helper.home = home;
  await waitFor(
    helper,
    `the first refresh of ${targets} targets`,
    () => refreshed(helper) >= targets,
  );
  return helper;
}

async function stopHelper(helper: Helper): Promise<void> {
  await stop(helper);
  const home = helper.home;
  if (home !== undefined) {
    await Deno.remove(home, { recursive: true });
    homes.delete(home);
  }
}

function memoryKiB(pid: number): { rss: number; hwm: number; anon: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return { rss: field("VmRSS"), hwm: field("VmHWM"), anon: field("RssAnon") };
}

/** User and system CPU of a process so far, in ms. */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: field 14 (utime) and 15 (stime) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS_PER_SECOND;
}

interface CpuRun {
  /** ms of CPU per target-refresh. */
  perRefresh: number;
  /** Target-refreshes logged during the measurement. */
  refreshes: number;
}

/** CPU per target-refresh over REFRESHES target-refreshes, forced with SIGHUP. */
async function cpuPerTargetRefresh(targets: number): Promise<CpuRun> {
  const helper = await startHelper(targets, 900);
  const hangUp = async () => {
    const count = refreshed(helper);
    helper.child.kill("SIGHUP");
    await waitFor(helper, "a SIGHUP refresh", () => refreshed(helper) >= count + targets);
  };
  // One unmeasured round, so the SIGHUP path's first-run costs are not counted.
  await hangUp();
  const signals = Math.max(1, Math.round(REFRESHES / targets));
  const first = refreshed(helper);
  const before = cpuMs(helper.child.pid);
  for (let i = 0; i < signals; i++) await hangUp();
  // Let a refresh that a SIGHUP queued behind another finish and be logged.
  await sleep(200);
  const after = cpuMs(helper.child.pid);
  const refreshes = refreshed(helper) - first;
  await stopHelper(helper);
  return { perRefresh: (after - before) / refreshes, refreshes };
}

interface IdleSample {
  rssEarly: number;
  rss: number;
  anon: number;
  hwm: number;
}

/**
 * RSS of RUNS helpers of each size and interval, side by side for
 * IDLE_SECONDS, keyed `${targets}/${interval}`.
 */
async function idleRss(intervals: number[]): Promise<Map<string, IdleSample[]>> {
  const running: Array<{ key: string; helper: Helper }> = [];
  for (let run = 0; run < RUNS; run++) {
    for (const targets of SIZES) {
      for (const interval of intervals) {
        running.push({
          key: `${targets}/${interval}`,
          helper: await startHelper(targets, interval),
        });
      }
    }
  }
  const started = performance.now();
  await sleep(EARLY_SECONDS * 1000);
  const early = running.map((r) => memoryKiB(r.helper.child.pid).rss);
  await sleep(Math.max(0, IDLE_SECONDS * 1000 - (performance.now() - started)));
  const samples = new Map<string, IdleSample[]>();
  running.forEach((r, index) => {
    if (r.helper.exited) {
      throw new Error(`a helper exited:\n${r.helper.lines.slice(-20).join("\n")}`);
    }
    const memory = memoryKiB(r.helper.child.pid);
    const list = samples.get(r.key) ?? [];
    list.push({ rssEarly: early[index]!, rss: memory.rss, anon: memory.anon, hwm: memory.hwm });
    samples.set(r.key, list);
  });
  for (const r of running) await stopHelper(r.helper);
  return samples;
}

const CHURN = 1;
const QUIET = 900;
const cpuRuns = new Map<number, CpuRun[]>();
let idle = new Map<string, IdleSample[]>();
const benchStarted = performance.now();
try {
  for (let index = 0; index < MANY; index++) {
    fakes.push(
      startFakeEndpoint({ lifetimeSeconds: 3600, keyIdPrefix: `ASIAT${index}`.padEnd(8, "X") }),
    );
  }
  // Warm the module cache so no run pays for the first transpile.
  const warm = spawnHelper(["--version"], {});
  await warm.child.status;
  await stop(warm);

  console.log(
    `credential-helper, 1 target vs ${MANY} targets in one process: ${RUNS} runs, idle ${IDLE_SECONDS} s, ` +
      `${REFRESHES} target-refreshes per CPU run, deno ${Deno.version.deno}, V8 flags ${SHIPPED_V8_FLAGS}`,
  );
  console.log(
    `machine: ${navigator.hardwareConcurrency} cores, ${
      Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
    } GiB\n`,
  );
  for (let run = 0; run < RUNS; run++) {
    for (const targets of SIZES) {
      const list = cpuRuns.get(targets) ?? [];
      list.push(await cpuPerTargetRefresh(targets));
      cpuRuns.set(targets, list);
    }
  }
  console.log(
    `measuring the RSS of ${RUNS * SIZES.length * 2} helpers side by side for ${IDLE_SECONDS} s…\n`,
  );
  idle = await idleRss([CHURN, QUIET]);
} finally {
  await cleanUp();
  Deno.removeSignalListener("SIGINT", onInterrupt);
}

const samplesOf = (targets: number, interval: number) => idle.get(`${targets}/${interval}`)!;
const cpuOf = (targets: number) => cpuRuns.get(targets)!;

console.log(`## Run by run\n`);
console.log(table(
  [
    "run",
    "targets",
    "idle RSS MiB",
    "private RSS MiB",
    "peak RSS MiB",
    "RSS growth KiB",
    "quiet RSS MiB",
    "CPU/target-refresh ms",
    "target-refreshes",
  ],
  Array.from({ length: RUNS }, (_, run) =>
    SIZES.map((targets) => {
      const churn = samplesOf(targets, CHURN)[run]!;
      const cpu = cpuOf(targets)[run]!;
      return [
        run + 1,
        targets,
        mib(churn.rss),
        mib(churn.anon),
        mib(churn.hwm),
        churn.rss - churn.rssEarly,
        mib(samplesOf(targets, QUIET)[run]!.rss),
        round(cpu.perRefresh, 2),
        cpu.refreshes,
      ];
    })).flat(),
));

const medianOf = (targets: number, interval: number, pick: (s: IdleSample) => number) =>
  median(samplesOf(targets, interval).map(pick));
const rss = (targets: number) => medianOf(targets, CHURN, (s) => s.rss);
const anon = (targets: number) => medianOf(targets, CHURN, (s) => s.anon);
const hwm = (targets: number) => medianOf(targets, CHURN, (s) => s.hwm);
const growth = (targets: number) => medianOf(targets, CHURN, (s) => s.rss - s.rssEarly);
const quiet = (targets: number) => medianOf(targets, QUIET, (s) => s.rss);
const cpu = (targets: number) => median(cpuOf(targets).map((c) => c.perRefresh));
const extra = (of: (targets: number) => number) => (of(MANY) - of(1)) / (MANY - 1);
const extraRss = extra(rss);
const extraQuiet = extra(quiet);

console.log(`\n## Medians of ${RUNS} runs\n`);
console.log(table(
  ["measure", "1 target", `${MANY} targets`, "per extra target", "target", "met"],
  [
    [
      `idle RSS after ${IDLE_SECONDS} s, refresh every ${CHURN} s (MiB)`,
      mib(rss(1)),
      mib(rss(MANY)),
      mib(extraRss, 2),
      `≤ ${EXTRA_TARGET_MIB} MiB`,
      extraRss <= EXTRA_TARGET_MIB * KiB_PER_MiB ? "yes" : "no",
    ],
    [
      "private (anonymous) RSS (MiB)",
      mib(anon(1)),
      mib(anon(MANY)),
      mib(extra(anon), 2),
      "",
      "",
    ],
    ["peak RSS, VmHWM (MiB)", mib(hwm(1)), mib(hwm(MANY)), mib(extra(hwm), 2), "", ""],
    [
      `RSS growth ${EARLY_SECONDS} s → ${IDLE_SECONDS} s (KiB)`,
      growth(1),
      growth(MANY),
      "",
      "",
      "",
    ],
    [
      `quiet RSS, refresh every ${QUIET} s (MiB)`,
      mib(quiet(1)),
      mib(quiet(MANY)),
      mib(extraQuiet, 2),
      `≤ ${EXTRA_TARGET_MIB} MiB`,
      extraQuiet <= EXTRA_TARGET_MIB * KiB_PER_MiB ? "yes" : "no",
    ],
    ["CPU per target-refresh (ms)", round(cpu(1), 2), round(cpu(MANY), 2), "", "", ""],
  ],
));

const goMiB = MANY * GO_MIB_PER_PROCESS;
const oursMiB = rss(MANY) / KiB_PER_MiB;
console.log(
  `\nper extra target: ${mib(extraRss, 2)} MiB RSS (${mib(extra(anon), 2)} MiB private); ` +
    `target ≤ ${EXTRA_TARGET_MIB} MiB: ${
      extraRss <= EXTRA_TARGET_MIB * KiB_PER_MiB ? "met" : "not met"
    }`,
);
console.log(
  `Go predecessor, one process per profile: ${MANY} × ${GO_MIB_PER_PROCESS} MiB = ${
    round(goMiB)
  } MiB; ` +
    `ours, one process with ${MANY} targets: ${round(oursMiB)} MiB (${
      round(oursMiB / goMiB, 2)
    }×); ` +
    `ours is lower: ${oursMiB < goMiB ? "yes" : "no"}`,
);
console.log(
  `note: at a ${CHURN} s interval the ${MANY}-target process refreshes ${MANY}× as often, so it is ` +
    `further into V8's garbage cycle (the RSS growth row); the quiet row compares the two at rest.`,
);
console.log(`\n(${round((performance.now() - benchStarted) / 1000)} s)`);
