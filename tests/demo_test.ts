/**
 * `make demo` as a newcomer runs it: with port 3000 taken it picks another
 * and says which, prints the credentials file as it changes with secrets
 * masked, and removes its directory on exit.
 */
import assert from "node:assert/strict";
import { ROOT } from "./helpers.ts";

Deno.test("demo: a free port when 3000 is taken, the file shown masked, the directory removed", async () => {
  let blocker: Deno.Listener | undefined;
  try {
    blocker = Deno.listen({ hostname: "127.0.0.1", port: 3000 });
  } catch {
    // Something else holds 3000 already: just as good.
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", "tests/support/demo.ts"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const stderr = child.stderr.pipeTo(new WritableStream());
  const deadline = Date.now() + 20_000;
  while (!/aws_session_token = .*\n/.test(out.split("--- ")[1] ?? "") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  child.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  await child.status;
  await stderr;
  blocker?.close();
  const port = /curl -s localhost:(\d+)\/readyz/.exec(out)?.[1];
  assert.ok(port !== undefined && port !== "3000", out);
  const directory = /writing into: +(\S+)\/\.aws/.exec(out)?.[1]!;
  assert.match(out, /aws_secret_access_key = fake\*\*\*\*\n/);
  assert.match(out, /aws_session_token = fake\*\*\*\*\n/);
  assert.doesNotMatch(out, /fakeSecret\d+-/, "no secret in clear");
  assert.match(out, new RegExp(`removed ${directory.replaceAll(".", "\\.")}`));
  await assert.rejects(Deno.stat(directory), Deno.errors.NotFound);
});
