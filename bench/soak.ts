/**
 * `make soak`: 10,000 refresh cycles driven by SIGHUP, with a fault injected
 * on 10% of them. Reports peak RSS early and at the end, bad writes and
 * leftover temp files. Not part of `make test`.
 *
 * Environment knobs: SOAK_CYCLES (default 10000), SOAK_FAULT_RATE (0.1),
 * SOAK_V8_FLAGS (passed as --v8-flags; default: the Makefile's, as shipped).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TEMP_PREFIX } from "../lib/atomic_file.ts";
import { type Fault, FAULTS, freePort, startFakeEndpoint } from "../tests/support/fake_endpoint.ts";
import { SHIPPED_V8_FLAGS } from "./shipped.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CYCLES = Number(Deno.env.get("SOAK_CYCLES") ?? "10000");
const FAULT_RATE = Number(Deno.env.get("SOAK_FAULT_RATE") ?? "0.1");
// Faults that take seconds by design (timeouts) are injected rarely, so the
// soak stays well under 15 minutes; the rest share the fault budget.
const SLOW_FAULTS: Fault[] = ["hang", "trickle", "slow-then-reset"];
const SLOW_FAULT_RATE = 0.001;
const FAST_FAULTS = FAULTS.filter((f) => !SLOW_FAULTS.includes(f));
const PEAK_GROWTH_LIMIT_KIB = 5 * 1024;

function v8Args(flags: string): string[] {
  return flags === "none" ? [] : [`--v8-flags=${flags}`];
}

const fake = startFakeEndpoint();
const home = await Deno.makeTempDir({ prefix: "soak-home-" });
const aws = join(home, ".aws");
const credentialsPath = join(aws, "credentials");
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--quiet",
    "-P",
    ...v8Args(Deno.env.get("SOAK_V8_FLAGS") ?? SHIPPED_V8_FLAGS),
    "main.ts",
  ],
  cwd: ROOT,
  clearEnv: true,
  env: {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    LISTEN_PORT: String(freePort()),
    LISTEN_ADDRESS: "127.0.0.1",
    LOG_LEVEL: "error", // only failures are logged; successes are seen in the file
  },
  stdin: "null",
  stdout: "null",
  stderr: "piped",
}).spawn();

let failureLines = 0;
const lastLines: string[] = [];
const logDone = (async () => {
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    const text = decoder.decode(chunk, { stream: true });
    failureLines += text.split("ERROR refresh failed").length - 1;
    lastLines.push(text);
    if (lastLines.length > 5) lastLines.shift();
  }
})();

function memoryKiB(): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

function expectedFile(): string {
  const last = fake.last();
  return `[default]\naws_access_key_id = ${last.AccessKeyId}\n` +
    `aws_secret_access_key = ${last.SecretAccessKey}\naws_session_token = ${last.Token}\n`;
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`soak: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function readCredentials(): string {
  try {
    return Deno.readTextFileSync(credentialsPath);
  } catch {
    return "";
  }
}

// The first write happens at start.
await waitUntil(
  () => fake.issued.length === 1 && readCredentials() === expectedFile(),
  "first write",
);
const started = performance.now();
let badWrites = 0;
let faultsInjected = 0;
let early: { rss: number; hwm: number } | undefined;
const faultCounts = new Map<Fault, number>();

for (let cycle = 1; cycle <= CYCLES; cycle++) {
  const roll = Math.random();
  const fault: Fault = roll < SLOW_FAULT_RATE
    ? SLOW_FAULTS[Math.floor(Math.random() * SLOW_FAULTS.length)]!
    : roll < FAULT_RATE
    ? FAST_FAULTS[Math.floor(Math.random() * FAST_FAULTS.length)]!
    : "none";
  fake.fault = fault;
  const before = readCredentials();
  if (fault === "none") {
    const issuedBefore = fake.issued.length;
    child.kill("SIGHUP");
    // Done when the newly issued set is in the file.
    await waitUntil(
      () => fake.issued.length > issuedBefore && readCredentials() === expectedFile(),
      `cycle ${cycle}`,
    );
  } else {
    faultsInjected++;
    faultCounts.set(fault, (faultCounts.get(fault) ?? 0) + 1);
    const failuresBefore = failureLines;
    child.kill("SIGHUP");
    await waitUntil(() => failureLines > failuresBefore, `fault ${fault} in cycle ${cycle}`);
    if (readCredentials() !== before) badWrites++;
  }
  if (cycle === Math.min(500, CYCLES)) early = memoryKiB();
  if (cycle % 1000 === 0) {
    const memory = memoryKiB();
    console.log(
      `cycle ${cycle}: RSS ${(memory.rss / 1024).toFixed(1)} MiB, peak ${
        (memory.hwm / 1024).toFixed(1)
      } MiB, ` +
        `${faultsInjected} faults, ${badWrites} bad writes, ${
          ((performance.now() - started) / 1000).toFixed(0)
        } s`,
    );
  }
}

// A final clean refresh, then count what was left behind.
fake.fault = "none";
const end = memoryKiB();
const leftovers = [...Deno.readDirSync(aws)].filter((e) => e.name.startsWith(TEMP_PREFIX)).length;
child.kill("SIGTERM");
const status = await child.status;
await logDone;
await fake.close();

const growth = end.hwm - early!.hwm;
const seconds = (performance.now() - started) / 1000;
console.log("\n## Soak result\n");
console.log(`| measure | value |\n| --- | --- |`);
console.log(
  `| refresh cycles | ${CYCLES} (${faultsInjected} with a fault, ${failureLines} failures logged) |`,
);
console.log(`| faults | ${[...faultCounts].map(([f, n]) => `${f} ${n}`).join(", ")} |`);
console.log(
  `| duration | ${seconds.toFixed(0)} s (${((seconds * 1000) / CYCLES).toFixed(1)} ms per cycle) |`,
);
console.log(`| peak RSS after 500 cycles | ${(early!.hwm / 1024).toFixed(1)} MiB |`);
console.log(
  `| peak RSS at the end | ${(end.hwm / 1024).toFixed(1)} MiB (growth ${
    (growth / 1024).toFixed(2)
  } MiB, limit 5) |`,
);
console.log(`| bad writes | ${badWrites} |`);
console.log(`| leftover temp files | ${leftovers} |`);
console.log(`| exit code on SIGTERM | ${status.code} |`);
await Deno.remove(home, { recursive: true });

const ok = growth < PEAK_GROWTH_LIMIT_KIB && badWrites === 0 && leftovers === 0 &&
  status.code === 0 && failureLines === faultsInjected;
console.log(ok ? "\nsoak: PASS" : `\nsoak: FAIL\n${lastLines.join("")}`);
Deno.exit(ok ? 0 : 1);
