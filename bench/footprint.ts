/**
 * `make bench`: the helper's footprint beside the bare Deno runtime's floor,
 * measured in the same run, printed run by run and as medians with ratios.
 *
 * Environment knobs: BENCH_RUNS (default 5), BENCH_IDLE_SECONDS (60),
 * BENCH_V8_VARIANTS (";"-separated V8 flag sets to compare, each as --v8-flags
 * takes it; "none" is no flag).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startFakeEndpoint } from "../tests/support/fake_endpoint.ts";
import { judgeConfig, judgeCredentials } from "../tests/support/strict_reader.ts";
import { SHIPPED_V8_FLAGS } from "./shipped.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "5");
const IDLE_SECONDS = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? "60");
const VARIANTS = (Deno.env.get("BENCH_V8_VARIANTS") ??
  "none;--jitless;--lite-mode;--jitless,--lite-mode;--max-semi-space-size=1;--max-old-space-size=16")
  .split(";").map((v) => v.trim());
if (!VARIANTS.includes(SHIPPED_V8_FLAGS)) VARIANTS.unshift(SHIPPED_V8_FLAGS);
const REFRESHES = 100;
const SCRAPE_SECONDS = 5;
const SCRAPE_CLIENTS = 4;
const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ

const fake = startFakeEndpoint({ lifetimeSeconds: 3600 });
const denoDir = await Deno.makeTempDir({ prefix: "bench-deno-dir-" });

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function v8Args(variant: string): string[] {
  return variant === "none" ? [] : [`--v8-flags=${variant}`];
}

interface Spawned {
  child: Deno.ChildProcess;
  lines: string[];
  done: Promise<void>;
}

function spawnDeno(args: string[], env: Record<string, string>): Spawned {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR: denoDir, ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const done = (async () => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { child, lines, done };
}

async function stop(process: Spawned): Promise<void> {
  try {
    process.child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  await process.child.status;
  await process.done;
}

function spawnHelper(variant: string, home: string, extra: Record<string, string> = {}) {
  const port = freePort();
  const process = spawnDeno(["run", "--quiet", "-P", ...v8Args(variant), "main.ts"], {
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    LISTEN_PORT: String(port),
    LISTEN_ADDRESS: "127.0.0.1",
    ...extra,
  });
  return { process, port };
}

function readOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

async function pollUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("timed out");
    await sleep(1);
  }
}

async function readyzOk(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Milliseconds from spawn to both files complete, and to /readyz 200. */
async function startToFirstWrite(variant: string): Promise<{ write: number; ready: number }> {
  const home = await Deno.makeTempDir({ prefix: "bench-home-" });
  const started = performance.now();
  const { process, port } = spawnHelper(variant, home);
  let write = 0;
  let ready = 0;
  await Promise.all([
    pollUntil(() => {
      const complete = judgeCredentials(readOrUndefined(join(home, ".aws/credentials"))) === "ok" &&
        judgeConfig(readOrUndefined(join(home, ".aws/config"))) === "ok";
      if (complete) write = performance.now() - started;
      return complete;
    }),
    pollUntil(async () => {
      const ok = await readyzOk(port);
      if (ok) ready = performance.now() - started;
      return ok;
    }),
  ]);
  await stop(process);
  await Deno.remove(home, { recursive: true });
  return { write, ready };
}

async function floorStart(): Promise<number> {
  const started = performance.now();
  const process = spawnDeno(["run", "--quiet", "bench/floors/start.ts"], {});
  await process.child.status;
  await process.done;
  return performance.now() - started;
}

async function floorFetchWrite(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "bench-floor-" });
  const path = join(dir, "out.json");
  const started = performance.now();
  const process = spawnDeno(
    [
      "run",
      "--quiet",
      "--allow-net",
      "--allow-write",
      "bench/floors/fetch_write.ts",
      fake.url,
      path,
    ],
    {},
  );
  let elapsed = 0;
  await pollUntil(() => {
    const text = readOrUndefined(path);
    if (text === undefined || !text.endsWith("}")) return false;
    elapsed = performance.now() - started;
    return true;
  });
  await process.child.status;
  await process.done;
  await Deno.remove(dir, { recursive: true });
  return elapsed;
}

function memoryKiB(pid: number): { rss: number; hwm: number; anon: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return { rss: field("VmRSS"), hwm: field("VmHWM"), anon: field("RssAnon") };
}

function cpuMs(pid: number): { user: number; system: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: field 14 (utime) and 15 (stime) are at 11 and 12.
  const ms = (ticks: string | undefined) => Number(ticks) * 1000 / CLOCK_TICKS_PER_SECOND;
  return { user: ms(fields[11]), system: ms(fields[12]) };
}

interface IdleSample {
  rssEarly: number;
  rssEnd: number;
  hwm: number;
  anon: number;
}

/** Idle RSS of every variant and of the floor, all running side by side for IDLE_SECONDS. */
async function idleRss(): Promise<Map<string, IdleSample[]>> {
  const running: Array<{ key: string; process: Spawned; home?: string }> = [];
  for (let run = 0; run < RUNS; run++) {
    for (const variant of VARIANTS) {
      const home = await Deno.makeTempDir({ prefix: "bench-idle-" });
      const { process } = spawnHelper(variant, home, { AWS_REFRESH_INTERVAL: "1" });
      running.push({ key: variant, process, home });
    }
    const floor = spawnDeno([
      "run",
      "--quiet",
      "--allow-net",
      "bench/floors/serve.ts",
      String(freePort()),
    ], {});
    running.push({ key: "floor", process: floor });
  }
  await sleep(10_000);
  const early = running.map((r) => memoryKiB(r.process.child.pid).rss);
  await sleep(Math.max(0, IDLE_SECONDS - 10) * 1000);
  const samples = new Map<string, IdleSample[]>();
  running.forEach((r, index) => {
    const memory = memoryKiB(r.process.child.pid);
    const list = samples.get(r.key) ?? [];
    list.push({ rssEarly: early[index]!, rssEnd: memory.rss, hwm: memory.hwm, anon: memory.anon });
    samples.set(r.key, list);
  });
  for (const r of running) {
    await stop(r.process);
    if (r.home !== undefined) await Deno.remove(r.home, { recursive: true });
  }
  return samples;
}

/** CPU ms (user, system) per refresh over REFRESHES SIGHUP-driven refreshes. */
async function cpuPerRefresh(variant: string): Promise<{ user: number; system: number }> {
  const home = await Deno.makeTempDir({ prefix: "bench-cpu-" });
  const { process } = spawnHelper(variant, home);
  const refreshed = () => process.lines.filter((l) => l.includes(" refreshed ")).length;
  await pollUntil(() => refreshed() >= 1);
  const before = cpuMs(process.child.pid);
  for (let i = 0; i < REFRESHES; i++) {
    const count = refreshed();
    process.child.kill("SIGHUP");
    await pollUntil(() => refreshed() > count);
  }
  const after = cpuMs(process.child.pid);
  await stop(process);
  await Deno.remove(home, { recursive: true });
  return {
    user: (after.user - before.user) / REFRESHES,
    system: (after.system - before.system) / REFRESHES,
  };
}

/** Requests per second and p99 latency (ms) of /metrics under SCRAPE_CLIENTS clients. */
async function metricsScrape(): Promise<{ rps: number; p99: number }> {
  const home = await Deno.makeTempDir({ prefix: "bench-scrape-" });
  const { process, port } = spawnHelper("none", home);
  await pollUntil(() => readyzOk(port));
  const latencies: number[] = [];
  const deadline = performance.now() + SCRAPE_SECONDS * 1000;
  await Promise.all(Array.from({ length: SCRAPE_CLIENTS }, async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      await response.text();
      latencies.push(performance.now() - started);
    }
  }));
  await stop(process);
  await Deno.remove(home, { recursive: true });
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / SCRAPE_SECONDS,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

// Warm the module cache so no run pays for the first transpile.
await startToFirstWrite("none");

console.log(
  `credential-helper footprint: ${RUNS} runs, idle ${IDLE_SECONDS} s, deno ${Deno.version.deno}`,
);
console.log(
  `machine: ${navigator.hardwareConcurrency} cores, ${
    Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
  } GiB\n`,
);

const startRuns: Record<string, Array<{ write: number; ready: number }>> = {};
const floorStartRuns: number[] = [];
const floorWriteRuns: number[] = [];
for (let run = 0; run < RUNS; run++) {
  floorStartRuns.push(await floorStart());
  floorWriteRuns.push(await floorFetchWrite());
  for (const variant of VARIANTS) {
    (startRuns[variant] ??= []).push(await startToFirstWrite(variant));
  }
}
const cpuRuns: Record<string, Array<{ user: number; system: number }>> = {};
for (let run = 0; run < RUNS; run++) {
  for (const variant of VARIANTS) (cpuRuns[variant] ??= []).push(await cpuPerRefresh(variant));
}
const scrapeRuns: Array<{ rps: number; p99: number }> = [];
for (let run = 0; run < RUNS; run++) scrapeRuns.push(await metricsScrape());
console.log(
  `measuring idle RSS of ${
    RUNS * (VARIANTS.length + 1)
  } processes side by side for ${IDLE_SECONDS} s…\n`,
);
const idle = await idleRss();

const ours = SHIPPED_V8_FLAGS;
const cpuTotal = (variant: string) => cpuRuns[variant]!.map((c) => c.user + c.system);
const write = startRuns[ours]!.map((r) => r.write);
const ready = startRuns[ours]!.map((r) => r.ready);
const idleOurs = idle.get(ours)!;
const idleFloor = idle.get("floor")!;

console.log(`## Run by run (V8 flags as shipped: ${ours})\n`);
console.log(table(
  [
    "run",
    "floor start ms",
    "floor fetch+write ms",
    "start→first write ms",
    "start→ready ms",
    "idle RSS MiB",
    "floor RSS MiB",
    "peak RSS MiB",
    "CPU/refresh ms",
    "/metrics req/s",
    "p99 ms",
  ],
  Array.from({ length: RUNS }, (_, i) => [
    i + 1,
    round(floorStartRuns[i]!),
    round(floorWriteRuns[i]!),
    round(write[i]!),
    round(ready[i]!),
    round(idleOurs[i]!.rssEnd / 1024),
    round(idleFloor[i]!.rssEnd / 1024),
    round(idleOurs[i]!.hwm / 1024),
    round(cpuTotal(ours)[i]!, 2),
    Math.round(scrapeRuns[i]!.rps),
    round(scrapeRuns[i]!.p99, 2),
  ]),
));

const medianWrite = median(write);
const medianFloorWrite = median(floorWriteRuns);
const medianRss = median(idleOurs.map((s) => s.rssEnd));
const medianFloorRss = median(idleFloor.map((s) => s.rssEnd));
const growth = median(idleOurs.map((s) => s.rssEnd - s.rssEarly));
const cpu = median(cpuTotal(ours));
const cpuUser = median(cpuRuns[ours]!.map((c) => c.user));
const cpuSystem = median(cpuRuns[ours]!.map((c) => c.system));
console.log("\n## Medians and ratios to the floor\n");
console.log(table(["measure", "credential-helper", "floor", "ratio", "target", "met"], [
  [
    "start → first write (ms)",
    round(medianWrite),
    round(medianFloorWrite),
    round(medianWrite / medianFloorWrite, 2),
    "≤ 1.3×",
    medianWrite / medianFloorWrite <= 1.3 ? "yes" : "no",
  ],
  [
    "start → ready (ms)",
    round(median(ready)),
    round(median(floorStartRuns)),
    round(median(ready) / median(floorStartRuns), 2),
    "",
    "",
  ],
  [
    "idle RSS after " + IDLE_SECONDS + " s (MiB)",
    round(medianRss / 1024),
    round(medianFloorRss / 1024),
    round(medianRss / medianFloorRss, 2),
    "≤ 1.15×",
    medianRss / medianFloorRss <= 1.15 ? "yes" : "no",
  ],
  [
    "peak RSS, VmHWM (MiB)",
    round(median(idleOurs.map((s) => s.hwm)) / 1024),
    round(median(idleFloor.map((s) => s.hwm)) / 1024),
    "",
    "",
    "",
  ],
  [
    "private (anonymous) RSS (MiB)",
    round(median(idleOurs.map((s) => s.anon)) / 1024),
    round(median(idleFloor.map((s) => s.anon)) / 1024),
    round(median(idleOurs.map((s) => s.anon)) / median(idleFloor.map((s) => s.anon)), 2),
    "",
    "",
  ],
  [
    "RSS growth 10 s → " + IDLE_SECONDS + " s (KiB)",
    growth,
    median(idleFloor.map((s) => s.rssEnd - s.rssEarly)),
    "",
    "≤ 0 (noise ±256)",
    growth <= 256 ? "yes" : "no",
  ],
  [
    "CPU per refresh (ms)",
    `${round(cpu, 2)} (user ${round(cpuUser, 2)}, sys ${round(cpuSystem, 2)})`,
    "",
    "",
    "≤ 2 ms",
    cpu <= 2 ? "yes" : "no",
  ],
  ["/metrics, 4 clients (req/s)", Math.round(median(scrapeRuns.map((s) => s.rps))), "", "", "", ""],
  ["/metrics p99 (ms)", round(median(scrapeRuns.map((s) => s.p99)), 2), "", "", "", ""],
]));

console.log("\n## V8 flags (medians)\n");
console.log(table(
  [
    "V8 flags",
    "start→first write ms",
    "idle RSS MiB",
    "anon RSS MiB",
    "peak RSS MiB",
    "RSS growth KiB",
    "CPU/refresh ms",
  ],
  VARIANTS.map((variant) => [
    variant,
    round(median(startRuns[variant]!.map((r) => r.write))),
    round(median(idle.get(variant)!.map((s) => s.rssEnd)) / 1024),
    round(median(idle.get(variant)!.map((s) => s.anon)) / 1024),
    round(median(idle.get(variant)!.map((s) => s.hwm)) / 1024),
    median(idle.get(variant)!.map((s) => s.rssEnd - s.rssEarly)),
    round(median(cpuTotal(variant)), 2),
  ]),
));

await fake.close();
await Deno.remove(denoDir, { recursive: true });
