/**
 * `make bench`, second part: how soon after a late credentials source starts
 * answering do the files appear? The helper starts with its endpoint on a
 * loopback port that nothing listens on yet; after a delay the fake endpoint
 * starts on that port, and the credentials and config files are polled every
 * 10 ms until they hold what it issued.
 *
 * Times are measured from two moments: the fake endpoint listening (it binds
 * synchronously, so connections are accepted from then on) and its first
 * 200 answer (seen by polling its issued list every 1 ms). The first includes
 * the wait for the helper's next retry, which is what the 0.5 s target is
 * about; the second is only fetch plus write.
 *
 * Environment knobs: LATE_SOURCE_DELAYS (comma-separated seconds, default
 * "2,5,12"), LATE_SOURCE_RUNS (default 3), LATE_SOURCE_TIMEOUT_SECONDS (how
 * long a run waits for the files after the source starts, default 45).
 *
 * @module
 */

import { join } from "node:path";
import {
  freePort,
  type IssuedCredentials,
  startFakeEndpoint,
} from "../tests/support/fake_endpoint.ts";
import { credentialsBlock, DENO_RUN_ARGS, helperEnv } from "../tests/helpers.ts";
import { parsePrometheus } from "../tests/support/prometheus.ts";
import { spawnBenchHelper, stopProcess } from "./process.ts";

const DELAYS = (Deno.env.get("LATE_SOURCE_DELAYS") ?? "2,5,12").split(",").map((d) => Number(d));
const RUNS = Number(Deno.env.get("LATE_SOURCE_RUNS") ?? "3");
const TIMEOUT_SECONDS = Number(Deno.env.get("LATE_SOURCE_TIMEOUT_SECONDS") ?? "45");
/** Files on disk within this long of the source answering. */
const TARGET_SECONDS = 0.5;
const FILE_POLL_MS = 10;
const ANSWER_POLL_MS = 1;
/** How long the helper gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;

for (const value of [...DELAYS, RUNS, TIMEOUT_SECONDS]) {
  if (!Number.isFinite(value) || value < 0) {
    console.error(
      "late_source: LATE_SOURCE_DELAYS, LATE_SOURCE_RUNS and LATE_SOURCE_TIMEOUT_SECONDS " +
        "take non-negative numbers",
    );
    Deno.exit(2);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const seconds = (ms: number) => (ms / 1000).toFixed(3);

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

// Everything a run starts, so that a failure or Ctrl-C still cleans up.
const denoDir = await Deno.makeTempDir({ prefix: "bench-late-deno-dir-" });
const homes = new Set<string>();
const children = new Set<Deno.ChildProcess>();
const endpoints = new Set<{ close(): Promise<void> }>();

async function cleanUp(): Promise<void> {
  for (const child of children) await stopChild(child);
  for (const fake of endpoints) await fake.close();
  endpoints.clear();
  for (const dir of [...homes, denoDir]) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  homes.clear();
}

const onInterrupt = () => {
  cleanUp().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onInterrupt);

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  if (!children.has(child)) return;
  await stopProcess(child, STOP_GRACE_MS);
  children.delete(child);
}

/** The helper as the tests run it; the last 20 stderr lines are kept for errors. */
function spawnHelper(args: string[], env: Record<string, string>) {
  const helper = spawnBenchHelper(args, env, denoDir, 20);
  children.add(helper.child);
  return { child: helper.child, tail: helper.lines, drained: helper.drained };
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

interface Run {
  delay: number;
  run: number;
  /** ms from the source listening to both files written; undefined on timeout. */
  fromListening: number | undefined;
  /** ms from the source's first 200 to both files written. */
  fromFirstAnswer: number | undefined;
  /** Attempts the helper counted as failed before its first success (/metrics). */
  failedAttempts: number | undefined;
  /** Requests that reached the source, the successful one included. */
  sourceRequests: number;
}

function differentFreePort(other: string): number {
  for (;;) {
    const port = freePort();
    if (String(port) !== other) return port;
  }
}

async function measure(delaySeconds: number, run: number): Promise<Run> {
  const home = await Deno.makeTempDir({ prefix: "bench-late-home-" });
  homes.add(home);
  const env = helperEnv(home, "http://127.0.0.1:0/creds");
  const sourcePort = differentFreePort(env.LISTEN_PORT);
  env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://127.0.0.1:${sourcePort}/creds`;
  const credentialsPath = join(home, ".aws", "credentials");
  const configPath = join(home, ".aws", "config");

  const helper = spawnHelper(["run"], env);
  await sleep(delaySeconds * 1000);
  const exitedEarly = await Promise.race([helper.child.status.then(() => true), sleep(0)]);
  if (exitedEarly === true) {
    throw new Error(`the helper exited before the source started:\n${helper.tail.join("\n")}`);
  }

  const fake = startFakeEndpoint({ port: sourcePort, lifetimeSeconds: 3600 });
  const listeningAt = performance.now();
  endpoints.add(fake);

  let firstAnswerAt: number | undefined;
  const answerWatch = setInterval(() => {
    if (firstAnswerAt === undefined && fake.issued.length > 0) firstAnswerAt = performance.now();
  }, ANSWER_POLL_MS);

  const holdsIssued = (text: string | undefined, issued: readonly IssuedCredentials[]) =>
    text !== undefined && issued.some((set) => text.includes(credentialsBlock("default", set)));
  let filesAt: number | undefined;
  const deadline = listeningAt + TIMEOUT_SECONDS * 1000;
  while (performance.now() < deadline) {
    const [credentials, config] = await Promise.all([
      readOrUndefined(credentialsPath),
      readOrUndefined(configPath),
    ]);
    if (holdsIssued(credentials, fake.issued) && config?.includes("region = ") === true) {
      filesAt = performance.now();
      break;
    }
    await sleep(FILE_POLL_MS);
  }
  clearInterval(answerWatch);

  let failedAttempts: number | undefined;
  if (filesAt !== undefined) {
    try {
      const response = await fetch(`http://127.0.0.1:${env.LISTEN_PORT}/metrics`);
      const metrics = parsePrometheus(await response.text());
      failedAttempts = metrics.get(
        'credential_helper_refresh_total{profile="default",result="failure"}',
      );
    } catch {
      // Reported as unknown.
    }
  } else {
    console.error(
      `delay ${delaySeconds} s, run ${run}: no files within ${TIMEOUT_SECONDS} s; helper log tail:\n` +
        helper.tail.join("\n"),
    );
  }
  const sourceRequests = fake.requests.length;

  await stopChild(helper.child);
  await helper.drained;
  await fake.close();
  endpoints.delete(fake);
  await Deno.remove(home, { recursive: true });
  homes.delete(home);

  return {
    delay: delaySeconds,
    run,
    fromListening: filesAt === undefined ? undefined : filesAt - listeningAt,
    fromFirstAnswer: filesAt === undefined || firstAnswerAt === undefined
      ? undefined
      : filesAt - firstAnswerAt,
    failedAttempts,
    sourceRequests,
  };
}

const runs: Run[] = [];
try {
  // Warm the module cache, so no run pays for the first transpile.
  const warm = spawnHelper(["--version"], {});
  await warm.child.status;
  await warm.drained;
  children.delete(warm.child);

  console.log(
    `credential-helper with a late source: delays ${DELAYS.join(", ")} s, ${RUNS} runs each, ` +
      `deno ${Deno.version.deno}, V8 flags ${DENO_RUN_ARGS.at(-1)}\n`,
  );
  for (const delay of DELAYS) {
    for (let run = 1; run <= RUNS; run++) {
      const result = await measure(delay, run);
      runs.push(result);
      console.log(
        `delay ${delay} s, run ${run}: listening → files ${
          result.fromListening === undefined ? "timed out" : `${seconds(result.fromListening)} s`
        }, failed attempts ${result.failedAttempts ?? "?"}`,
      );
    }
  }
} finally {
  await cleanUp();
  Deno.removeSignalListener("SIGINT", onInterrupt);
}

const show = (ms: number | undefined) => ms === undefined ? "timed out" : seconds(ms);
console.log("\n## Run by run\n");
console.log(table(
  [
    "delay s",
    "run",
    "listening → files s",
    "first 200 → files s",
    "failed attempts before success",
    "requests the source saw",
  ],
  runs.map((r) => [
    r.delay,
    r.run,
    show(r.fromListening),
    show(r.fromFirstAnswer),
    r.failedAttempts ?? "?",
    r.sourceRequests,
  ]),
));

console.log(`\n## Medians (target: files within ${TARGET_SECONDS} s of the source listening)\n`);
let allMet = true;
console.log(table(
  [
    "delay s",
    "listening → files s",
    "first 200 → files s",
    "failed attempts",
    "target s",
    "met",
  ],
  DELAYS.map((delay) => {
    const of = runs.filter((r) => r.delay === delay);
    const complete = of.every((r) => r.fromListening !== undefined);
    const fromListening = complete ? median(of.map((r) => r.fromListening!)) : undefined;
    const answered = of.flatMap((r) => r.fromFirstAnswer === undefined ? [] : [r.fromFirstAnswer]);
    const attempts = of.flatMap((r) => r.failedAttempts === undefined ? [] : [r.failedAttempts]);
    const met = fromListening !== undefined && fromListening <= TARGET_SECONDS * 1000;
    allMet &&= met;
    return [
      delay,
      show(fromListening),
      answered.length === of.length ? seconds(median(answered)) : "n/a",
      attempts.length === of.length ? median(attempts) : "?",
      `≤ ${TARGET_SECONDS}`,
      met ? "yes" : "no",
    ];
  }),
));
console.log(`\ntarget met for every delay: ${allMet ? "yes" : "no"}`);
if (runs.some((r) => r.fromListening === undefined)) Deno.exit(1);
