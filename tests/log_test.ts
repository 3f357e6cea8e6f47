import assert from "node:assert/strict";
import { Logger } from "../lib/log.ts";

const NOW = () => Date.parse("2026-11-26T12:00:00Z");

function capture(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: string[] = [];
  const logger = new Logger({ ...options, clock: { now: NOW }, sink: (line) => lines.push(line) });
  return { logger, lines };
}

Deno.test("Logger writes one readable text line per event", () => {
  const { logger, lines } = capture();
  logger.info("refreshed", { access_key_id: "ASIA1", files: "credentials:written", n: 3 });
  logger.error("refresh failed", { reason: "endpoint answered HTTP 500: boom\nsecond line" });
  assert.deepEqual(lines, [
    "2026-11-26T12:00:00.000Z INFO refreshed access_key_id=ASIA1 files=credentials:written n=3",
    '2026-11-26T12:00:00.000Z ERROR refresh failed reason="endpoint answered HTTP 500: boom second line"',
  ]);
});

Deno.test("Logger writes one JSON object per line in json format", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.warn("backing off", { until: "2026-11-26T12:00:05.000Z", skipped: undefined });
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [
    {
      time: "2026-11-26T12:00:00.000Z",
      level: "warn",
      msg: "backing off",
      until: "2026-11-26T12:00:05.000Z",
    },
  ]);
});

Deno.test("Logger drops events below its level", () => {
  const { logger, lines } = capture({ level: "warn" });
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  assert.deepEqual(lines.map((l) => l.split(" ")[1]), ["WARN", "ERROR"]);
});

Deno.test("Logger redacts registered secrets in every field and format, at every level", () => {
  for (const format of ["text", "json"] as const) {
    const { logger, lines } = capture({ format, level: "debug" });
    logger.addSecret("SECRETKEY123");
    logger.addSecret("TOKEN-abc");
    logger.addSecret("ab"); // too short to register
    logger.debug("got SECRETKEY123", { token: "Bearer TOKEN-abc", nested: "xSECRETKEY123x" });
    logger.error("ab ab");
    const all = lines.join("\n");
    assert.ok(!all.includes("SECRETKEY123"), all);
    assert.ok(!all.includes("TOKEN-abc"), all);
    assert.ok(all.includes("[REDACTED]"), all);
    assert.ok(all.includes("ab ab"), all);
  }
});

Deno.test("Logger.scrub() removes every fragment of 8 or more characters of a secret", () => {
  const logger = new Logger({ sink: () => {} });
  const token = "Bearer " + "0123456789abcdefghijklmnopqrstuvwxyz".repeat(3);
  const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  logger.addSecret(token);
  logger.addSecret(secret);
  assert.equal(
    logger.scrub(`token starts ${token.slice(7, 67)} and key starts ${secret.slice(0, 20)}.`),
    // The blank before the token's part is shared with "Bearer 0…" too.
    "token starts[REDACTED] and key starts [REDACTED].",
  );
  // Split across two fields, or cut at any boundary: each part of 8 or more goes.
  assert.equal(logger.scrub(`${secret.slice(0, 9)}: ${secret.slice(9)}`), "[REDACTED]: [REDACTED]");
  // Seven characters in common are not a fragment.
  assert.equal(logger.scrub(`x${secret.slice(3, 10)}x`), `x${secret.slice(3, 10)}x`);
  assert.equal(logger.scrub("nothing secret here"), "nothing secret here");
});
