/**
 * `make demo`: run the helper against a local fake endpoint that rotates
 * credentials on every call, writing into a throwaway directory, with a
 * short interval. The credentials file is printed each time it changes,
 * secrets masked. Ctrl-C stops and removes the directory.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeEndpoint } from "./fake_endpoint.ts";
import { DENO_RUN_ARGS } from "../helpers.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const home = await Deno.makeTempDir({ prefix: "credential-helper-demo-" });
const fake = startFakeEndpoint({ lifetimeSeconds: 900 });
const interval = "5";

/** 3000 when it is free, else whatever the system hands out. */
function listenPort(): number {
  for (const port of [3000, 0]) {
    try {
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      const chosen = listener.addr.port;
      listener.close();
      return chosen;
    } catch {
      // Taken: try the next.
    }
  }
  throw new Error("no free port");
}

/** The file with every secret value replaced by its first four characters and stars. */
function masked(text: string): string {
  return text.replace(
    /^(\s*(?:aws_secret_access_key|aws_session_token)\s*=\s*)(\S{0,4})\S*/gm,
    (_, key: string, head: string) => `${key}${head}****`,
  );
}

const port = listenPort();
const credentials = join(home, ".aws", "credentials");
console.log(`demo endpoint:  ${fake.url} (new credentials on every call)`);
console.log(`writing into:   ${join(home, ".aws")} (removed on exit)`);
console.log(`health:         curl -s localhost:${port}/readyz; curl -s localhost:${port}/metrics`);
console.log(`refreshing every ${interval} s; SIGHUP refreshes now; Ctrl-C stops\n`);

const helper = new Deno.Command(Deno.execPath(), {
  args: [...DENO_RUN_ARGS, "main.ts"],
  cwd: root,
  env: {
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    AWS_REFRESH_INTERVAL: interval,
    LISTEN_ADDRESS: "127.0.0.1",
    LISTEN_PORT: String(port),
  },
  stdin: "null",
}).spawn();

// Show the file whenever it changes, secrets masked.
let shown = "";
const watcher = setInterval(async () => {
  const text = await Deno.readTextFile(credentials).catch(() => "");
  if (text === "" || text === shown) return;
  shown = text;
  console.log(`--- ${credentials} (${new Date().toISOString()}) ---\n${masked(text)}`);
}, 250);

const forward = (signal: Deno.Signal) => () => helper.kill(signal);
Deno.addSignalListener("SIGINT", forward("SIGTERM"));
Deno.addSignalListener("SIGTERM", forward("SIGTERM"));
const status = await helper.status;
clearInterval(watcher);
await fake.close();
await Deno.remove(home, { recursive: true });
console.log(`\nhelper exited with ${status.code}; removed ${home}`);
Deno.exit(status.code);
