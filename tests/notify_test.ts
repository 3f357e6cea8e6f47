/**
 * Notifications after the files change: a signal to a pid from a pid file
 * and a command in exec form. Failures are one line and a count, never a
 * failed or blocked refresh.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Logger } from "../lib/log.ts";
import { Notifier, parseCommand } from "../lib/notify.ts";
import { helperEnv, httpGet, spawnHelper, tempHome, waitFor } from "./helpers.ts";
import { parsePrometheus } from "./support/prometheus.ts";

function logger(lines: string[]): Logger {
  return new Logger({ sink: (line) => lines.push(line.slice(25)) });
}

Deno.test("parseCommand() takes a JSON array or words, never a shell line", () => {
  assert.deepEqual(parseCommand('["/bin/kill","-HUP","1"]'), ["/bin/kill", "-HUP", "1"]);
  assert.deepEqual(parseCommand("/usr/bin/reload --all"), ["/usr/bin/reload", "--all"]);
  assert.deepEqual(parseCommand("a 'b c'"), ["a", "'b", "c'"], "no quoting: words are words");
  for (const bad of ["[]", '[""]', "[1]", "[broken", "  "]) {
    assert.equal(parseCommand(bad), undefined, bad);
  }
});

Deno.test("Notifier: a missing pid file, a bad pid and a dead pid are each one line and a failure", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const pidFile = join(dir, "app.pid");
  const notifier = new Notifier({ pidFile, signal: "SIGUSR1", command: undefined }, logger(lines));
  notifier.notify();
  await waitFor("the first failure", () => notifier.counts.failure === 1 || undefined);
  await Deno.writeTextFile(pidFile, "1\n");
  notifier.notify();
  await waitFor("the second failure", () => notifier.counts.failure === 2 || undefined);
  // A pid that no process has: run one and let it exit.
  const gone = new Deno.Command("/bin/true").spawn();
  await gone.status;
  await Deno.writeTextFile(pidFile, `${gone.pid}\n`);
  notifier.notify();
  await waitFor("the third failure", () => notifier.counts.failure === 3 || undefined);
  assert.deepEqual(lines, [
    `WARN notify failed: cannot read the pid file pid_file=${pidFile} reason="No such file or directory (os error 2): stat '${pidFile}'"`,
    `WARN notify failed: cannot read the pid file pid_file=${pidFile} reason="it holds pid 1, which is never the application"`,
    `WARN notify failed: cannot signal the process pid=${gone.pid} signal=SIGUSR1 reason="no such process"`,
  ]);
  assert.deepEqual(notifier.counts, { success: 0, failure: 3 });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Notifier: signals the pid the file names now, re-read every time", async () => {
  const dir = await Deno.makeTempDir();
  const pidFile = join(dir, "app.pid");
  const marker = join(dir, "got-usr2");
  // A real application: a shell that records SIGUSR2.
  const app = new Deno.Command("/bin/sh", {
    args: ["-c", `trap 'echo usr2 >> ${marker}' USR2; while :; do sleep 0.05; done`],
  }).spawn();
  try {
    await Deno.writeTextFile(pidFile, `${app.pid}\n`);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the trap is set
    const lines: string[] = [];
    const notifier = new Notifier(
      { pidFile, signal: "SIGUSR2", command: undefined },
      logger(lines),
    );
    // Signals of one kind do not queue: send the second once the first landed.
    notifier.notify();
    await waitFor(
      "one signal",
      async () => (await Deno.readTextFile(marker).catch(() => "")) === "usr2\n" || undefined,
    );
    notifier.notify();
    await waitFor("two signals", async () => {
      const text = await Deno.readTextFile(marker).catch(() => "");
      return text === "usr2\nusr2\n" || undefined;
    });
    assert.deepEqual(notifier.counts, { success: 2, failure: 0 });
    assert.deepEqual(lines, [
      `INFO notified pid=${app.pid} signal=SIGUSR2`,
      `INFO notified pid=${app.pid} signal=SIGUSR2`,
    ]);
  } finally {
    app.kill("SIGKILL");
    await app.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Notifier: a command runs without a shell, one at a time, with a timeout and bounded output", async () => {
  const dir = await Deno.makeTempDir();
  const log = join(dir, "runs");
  const lines: string[] = [];
  // Each run appends "start" and "end"; overlapping runs would interleave them.
  const script =
    `echo start >> ${log}; sleep 0.2; echo end >> ${log}; echo "$CREDENTIAL_HELPER_PROFILE" 'out$(x)'; exit 3`;
  const notifier = new Notifier(
    { pidFile: undefined, signal: "SIGHUP", command: ["/bin/sh", "-c", script] },
    logger(lines),
    { env: { PATH: "/usr/bin:/bin", CREDENTIAL_HELPER_PROFILE: "dev" } },
  );
  notifier.notify();
  notifier.notify(); // while the first runs: one more run after it, not a second at once
  notifier.notify();
  await notifier.settled();
  assert.equal(await Deno.readTextFile(log), "start\nend\nstart\nend\n");
  assert.deepEqual(notifier.counts, { success: 0, failure: 2 });
  assert.deepEqual(lines, [
    'WARN notify command failed command=/bin/sh exit_code=3 output="dev out$(x)"',
    'WARN notify command failed command=/bin/sh exit_code=3 output="dev out$(x)"',
  ]);

  const hung = new Notifier(
    {
      pidFile: undefined,
      signal: "SIGHUP",
      command: ["/bin/sh", "-c", "yes | head -c 100000; sleep 30"],
    },
    logger(lines),
    { timeoutMs: 300 },
  );
  const started = performance.now();
  hung.notify();
  await hung.settled();
  assert.ok(performance.now() - started < 5000);
  const killed = lines.at(-1)!;
  assert.match(
    killed,
    /^WARN notify command killed after 300 ms command=\/bin\/sh signal=SIGKILL output="y y y /,
  );
  assert.ok(killed.length < 1500, "output is bounded");
  assert.deepEqual(hung.counts, { success: 0, failure: 1 });

  const missing = new Notifier(
    { pidFile: undefined, signal: "SIGHUP", command: [join(dir, "no-such-program")] },
    logger(lines),
  );
  missing.notify();
  await missing.settled();
  assert.match(
    lines.at(-1)!,
    /^WARN notify command failed to start command=.*no-such-program reason=/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("e2e notify: a changed write signals the app and runs the command; a no-op write does neither", async () => {
  const home = await tempHome();
  let serial = 1;
  const body = () => ({
    AccessKeyId: `ASIANOTIFY${String(serial).padStart(10, "0")}`,
    SecretAccessKey: `notify-secret-${serial}`,
    Token: `notify-token-${serial}`,
    Expiration: new Date(Date.now() + 3_600_000 + serial).toISOString().replace(/\.\d+Z/, "Z"),
  });
  let current = body();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json(current),
  );
  const pidFile = join(home, "app.pid");
  const marker = join(home, "hups");
  const ran = join(home, "ran");
  const app = new Deno.Command("/bin/sh", {
    args: ["-c", `trap 'echo hup >> ${marker}' HUP; while :; do sleep 0.05; done`],
  }).spawn();
  await Deno.writeTextFile(pidFile, `${app.pid}\n`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const env = helperEnv(home, `http://127.0.0.1:${server.addr.port}/creds`, {
    NOTIFY_PID_FILE: pidFile,
    NOTIFY_COMMAND: JSON.stringify([
      "/bin/sh",
      "-c",
      `echo "$AWS_SHARED_CREDENTIALS_FILE" >> ${ran}`,
    ]),
  });
  const helper = spawnHelper(env);
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  try {
    await waitFor(
      "the first notification",
      async () =>
        await read(marker) === "hup\n" && await read(ran) === `${home}/.aws/credentials\n` ||
        undefined,
    );
    // The same credentials again: nothing changes on disk, nobody is told.
    helper.kill("SIGHUP");
    await waitFor("the second refresh", () => helper.count(/INFO refreshed /) >= 2 || undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(
      helper.lines.filter((l) => l.includes("INFO refreshed")).at(-1)!,
      /files=credentials:unchanged,config:unchanged/,
    );
    assert.equal(await read(marker), "hup\n");
    assert.equal(await read(ran), `${home}/.aws/credentials\n`);
    // A rotation: told again.
    serial = 2;
    current = body();
    helper.kill("SIGHUP");
    await waitFor(
      "the second notification",
      async () =>
        await read(marker) === "hup\nhup\n" && (await read(ran)).split("\n").length === 3 ||
        undefined,
    );
    const metrics = parsePrometheus(
      (await httpGet(`http://127.0.0.1:${env.LISTEN_PORT}/metrics`)).body,
    );
    assert.equal(
      metrics.get('credential_helper_notify_total{profile="default",result="success"}'),
      4,
    );
    assert.equal(
      metrics.get('credential_helper_notify_total{profile="default",result="failure"}'),
      0,
    );
  } finally {
    helper.kill("SIGKILL");
    await helper.status;
    app.kill("SIGKILL");
    await app.status;
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("Notifier: a pid that would wrap, our own pid and a FIFO are refused, never signalled", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const pidFile = join(dir, "app.pid");
  const killed: number[] = [];
  const effects = {
    readFile: (path: string) => Deno.readFile(path),
    kill: (pid: number) => void killed.push(pid),
    spawn: () => {
      throw new Error("no command here");
    },
  };
  const notifier = new Notifier({ pidFile, signal: "SIGTERM", command: undefined }, logger(lines), {
    effects,
  });
  // 2^32 + 1 would be pid 1 to kill(2); 2^32 - 1 would be -1, every process.
  for (const text of ["4294967297", "4294967295", "4194305", String(Deno.pid)]) {
    await Deno.writeTextFile(pidFile, text + "\n");
    notifier.notify();
    await notifier.settled();
  }
  assert.deepEqual(killed, []);
  assert.deepEqual(notifier.counts, { success: 0, failure: 4 });
  assert.match(lines[0]!, /reason="it holds no pid"/);
  assert.match(lines[2]!, /reason="it holds pid 4194305, which is never the application"/);
  assert.match(lines[3]!, /reason="it holds this process's own pid"/);
  // A FIFO: refused at once, not a blocked open per notification.
  await Deno.remove(pidFile);
  const mkfifo = await new Deno.Command("mkfifo", { args: [pidFile] }).output();
  assert.equal(mkfifo.code, 0);
  const real = new Notifier({ pidFile, signal: "SIGHUP", command: undefined }, logger(lines));
  const started = performance.now();
  real.notify();
  await real.settled();
  assert.ok(performance.now() - started < 1000);
  assert.match(lines.at(-1)!, /reason="it is not a regular file"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Notifier: output is scrubbed of secrets before it is cut; a child left behind does not make it fail", async () => {
  const lines: string[] = [];
  const log = logger(lines);
  const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  log.addSecret(secret);
  const notifier = new Notifier(
    {
      pidFile: undefined,
      signal: "SIGHUP",
      command: ["/bin/sh", "-c", `printf '%0397d' 0; echo " ${secret}"; (sleep 30 &) ; exit 0`],
    },
    log,
  );
  const started = performance.now();
  notifier.notify();
  await notifier.settled();
  assert.ok(performance.now() - started < 3000, "not held by the background child");
  assert.deepEqual(notifier.counts, { success: 1, failure: 0 });
  assert.ok(!lines.join("\n").includes(secret.slice(0, 8)), lines.join("\n"));
});
