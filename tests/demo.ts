/**
 * `make demo`: run the helper against a local fake endpoint that rotates
 * credentials on every call, writing into a throwaway directory, with a
 * short interval, so the files can be watched as they change. Ctrl-C stops.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeEndpoint } from "./fake_endpoint.ts";
import { DENO_RUN_ARGS } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const home = await Deno.makeTempDir({ prefix: "credential-helper-demo-" });
const fake = startFakeEndpoint({ lifetimeSeconds: 900 });
const interval = "5";

console.log(`demo endpoint:  ${fake.url} (new credentials on every call)`);
console.log(`writing into:   ${join(home, ".aws")}`);
console.log(`watch it:       watch -n1 cat ${join(home, ".aws", "credentials")}`);
console.log(`health:         curl -s localhost:3000/readyz; curl -s localhost:3000/metrics`);
console.log(`refreshing every ${interval} s; SIGHUP refreshes now; Ctrl-C stops\n`);

const helper = new Deno.Command(Deno.execPath(), {
  args: [...DENO_RUN_ARGS, "main.ts"],
  cwd: root,
  env: {
    HOME: home,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
    AWS_REFRESH_INTERVAL: interval,
    LISTEN_ADDRESS: "127.0.0.1",
  },
  stdin: "null",
}).spawn();

const forward = (signal: Deno.Signal) => () => helper.kill(signal);
Deno.addSignalListener("SIGINT", forward("SIGTERM"));
Deno.addSignalListener("SIGTERM", forward("SIGTERM"));
const status = await helper.status;
await fake.close();
console.log(`\nhelper exited with ${status.code}; files left in ${join(home, ".aws")}`);
Deno.exit(status.code);
