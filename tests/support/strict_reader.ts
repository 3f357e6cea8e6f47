/**
 * A reader process for the crash test: parses both files in a tight loop
 * with a strict parser, as an application would, until a stop file appears,
 * then prints a JSON summary of what it saw.
 *
 * Usage: deno run -A tests/strict_reader.ts CREDENTIALS CONFIG STOPFILE
 *
 * @module
 */

/** Why a read was bad, or "ok". */
export type ReadVerdict = "ok" | "missing" | "empty" | "torn";

const CREDENTIALS = new RegExp(
  "^\\[default\\]\\n" +
    "aws_access_key_id = ASIAFAKE(\\d{12})\\n" +
    "aws_secret_access_key = fakeSecret(\\d+)-[A-Za-z0-9+/]{30}\\n" +
    "aws_session_token = fakeSessionToken(\\d+)-[A-Za-z0-9+/]{100,300}\\n+$",
);
const CONFIG = /^\[default\]\nregion = us-east-2\n+$/;

/**
 * Judge one credentials file's text strictly: exactly our three keys, each
 * whole, all from the same issued set, and nothing else but trailing blank
 * lines (which every INI reader skips).
 */
export function judgeCredentials(text: string | undefined): ReadVerdict {
  if (text === undefined) return "missing";
  if (text === "") return "empty";
  const match = CREDENTIALS.exec(text);
  if (match === null) return "torn";
  const [, key, secret, token] = match;
  // A mix of two sets is as bad as a truncated one.
  return Number(key) === Number(secret) && Number(secret) === Number(token) ? "ok" : "torn";
}

/** Judge the config file's text. */
export function judgeConfig(text: string | undefined): ReadVerdict {
  if (text === undefined) return "missing";
  if (text === "") return "empty";
  return CONFIG.test(text) ? "ok" : "torn";
}

function readOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

if (import.meta.main) {
  const [credentialsPath, configPath, stopPath] = Deno.args;
  if (credentialsPath === undefined || configPath === undefined || stopPath === undefined) {
    throw new TypeError("usage: strict_reader.ts CREDENTIALS CONFIG STOP");
  }
  const counts: Record<ReadVerdict, number> = { ok: 0, missing: 0, empty: 0, torn: 0 };
  const examples: string[] = [];
  let reads = 0;
  for (;;) {
    if (reads % 256 === 0) {
      try {
        Deno.statSync(stopPath);
        break;
      } catch {
        // Keep reading.
      }
    }
    reads++;
    const credentials = readOrUndefined(credentialsPath);
    const verdicts = [judgeCredentials(credentials), judgeConfig(readOrUndefined(configPath))];
    const worst = verdicts.find((v) => v !== "ok") ?? "ok";
    counts[worst]++;
    if (worst !== "ok" && examples.length < 3) {
      examples.push(`${worst}: ${credentials?.length} bytes`);
    }
  }
  console.log(JSON.stringify({ reads, ...counts, examples }));
}
