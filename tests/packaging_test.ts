/**
 * Packaging cannot drift from the code: Docker, systemd, Kubernetes, the
 * Makefile, deno.json and package.json agree on versions, permissions,
 * ports and paths. Also: the helper runs as a non-root uid.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { VARIABLES } from "../lib/config.ts";
import { VERSION } from "../lib/version.ts";
import { startFakeEndpoint } from "./support/fake_endpoint.ts";
import {
  assertNoSecretsIn,
  DENO_RUN_ARGS,
  prepareNonRootRuntime,
  ROOT,
  runHelper,
} from "./helpers.ts";

const read = (path: string) => Deno.readTextFileSync(join(ROOT, path));
const packageJson = JSON.parse(read("package.json"));
const denoJson = JSON.parse(read("deno.json"));
const dockerfile = read("Dockerfile");
const makefile = read("Makefile");
const unit = read("deploy/systemd/credential-helper.service");

async function run(command: string, args: string[], stdin?: string) {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The Kubernetes example, parsed by a real YAML parser (PyYAML, from Debian's python3-yaml). */
async function kubernetesDocuments(): Promise<Array<Record<string, unknown>>> {
  return await yamlDocuments("deploy/kubernetes/deployment.yaml");
}

async function yamlDocuments(file: string): Promise<Array<Record<string, unknown>>> {
  const result = await run("/usr/bin/python3", [
    "-c",
    "import sys, json, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)",
  ], read(file));
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test("packaging: the Dockerfile's Deno version is the package.json pin", () => {
  const pinned = packageJson.devDependencies.deno;
  assert.match(pinned, /^\d+\.\d+\.\d+$/, "an exact version, not a range");
  assert.match(dockerfile, new RegExp(`^ARG DENO_VERSION=${pinned.replaceAll(".", "\\.")}$`, "m"));
  assert.match(dockerfile, /^FROM denoland\/deno:debian-\$\{DENO_VERSION\} AS build$/m);
  assert.equal(packageJson.version, VERSION, "package.json version matches lib/version.ts");
  const lock = JSON.parse(read("package-lock.json"));
  assert.equal(lock.packages["node_modules/deno"].version, pinned);
});

Deno.test("packaging: compile, tests and deno.json use one permission set", () => {
  assert.ok(denoJson.permissions?.default, "deno.json defines the default permission set");
  assert.match(
    makefile,
    /\$\(DENO\) compile -P --no-npm --no-code-cache \$\(V8_FLAGS\) --output \$@ main\.ts/,
  );
  assert.match(dockerfile, /deno compile -P --no-npm --no-code-cache \$\{V8_FLAGS\} --output /);
  // --quiet: without it `deno run -P` warns on every start that permissions in
  // the config file are an experimental feature.
  assert.equal(denoJson.tasks.start, `deno run --quiet -P ${DENO_RUN_ARGS[3]} main.ts`);
  // The env permission lists exactly the variables the program reads.
  assert.deepEqual(
    [...denoJson.permissions.default.env].sort(),
    VARIABLES.map((v) => v.name).sort(),
  );
  const dockerFlags = /^ARG V8_FLAGS="(.*)"$/m.exec(dockerfile)?.[1];
  const makeFlags = /^V8_FLAGS :=(.*)$/m.exec(makefile)?.[1]?.trim();
  assert.equal(dockerFlags, makeFlags, "the image and make build use the same V8 flags");
  // The tests run the program with the permission set and V8 flags it ships with.
  assert.deepEqual([...DENO_RUN_ARGS], ["run", "--quiet", "-P", makeFlags]);
});

Deno.test("packaging: the Makefile's recipes are deno.json's tasks", () => {
  const recipe = (target: string) =>
    new RegExp(`^${target}:.*\\n\\t\\$\\(DENO\\) (.*)$`, "m").exec(makefile)?.[1]
      ?.replace(" $(TEST_FLAGS)", "");
  for (const task of ["test", "check", "lint", "fmt"]) {
    assert.equal(`deno ${recipe(task)}`, denoJson.tasks[task], task);
  }
  for (
    const target of [
      "build",
      "test",
      "check",
      "lint",
      "fmt",
      "demo",
      "image",
      "install",
      "clean",
      "help",
    ]
  ) {
    assert.match(makefile, new RegExp(`^${target}:`, "m"), target);
  }
});

Deno.test("packaging: ports and paths match the defaults everywhere", async () => {
  const defaultPort = VARIABLES.find((v) => v.name === "LISTEN_PORT")!.default;
  assert.equal(defaultPort, "3000");
  assert.match(dockerfile, new RegExp(`^EXPOSE ${defaultPort}$`, "m"));
  assert.match(dockerfile, /^ENV HOME=\/home\/nonroot$/m);
  assert.match(dockerfile, /^USER 65532:65532$/m);
  assert.match(dockerfile, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m);
  assert.match(
    dockerfile,
    /^HEALTHCHECK .*\n\s+CMD \["\/usr\/local\/bin\/credential-helper", "healthcheck"\]$/m,
  );
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/credential-helper"\]$/m);
  assert.match(unit, new RegExp(`^Environment=LISTEN_PORT=${defaultPort}$`, "m"));
  assert.match(
    unit,
    /^ExecStartPost=\/usr\/local\/bin\/credential-helper healthcheck --wait \d+$/m,
  );
  const stateDir = /^StateDirectory=(.*)$/m.exec(unit)?.[1];
  assert.match(unit, new RegExp(`^ReadWritePaths=/var/lib/${stateDir}$`, "m"));
  assert.match(
    unit,
    new RegExp(`^Environment=AWS_SHARED_CREDENTIALS_FILE=/var/lib/${stateDir}/credentials$`, "m"),
  );

  const [deployment] = await kubernetesDocuments();
  // deno-lint-ignore no-explicit-any
  const spec = (deployment as any).spec.template.spec;
  // deno-lint-ignore no-explicit-any
  const helper = spec.initContainers.find((c: any) => c.name === "credential-helper");
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    assert.equal(helper[probe].httpGet.port, Number(defaultPort), probe);
  }
  assert.equal(helper.startupProbe.httpGet.path, "/readyz");
  assert.equal(helper.livenessProbe.httpGet.path, "/healthz");
  assert.equal(helper.ports[0].containerPort, Number(defaultPort));
  assert.equal(helper.volumeMounts[0].mountPath, "/home/nonroot/.aws", "the image's HOME/.aws");
});

Deno.test("packaging: the Kubernetes example is a native sidecar with a safe shape", async () => {
  const documents = await kubernetesDocuments();
  assert.equal(documents.length, 1);
  // deno-lint-ignore no-explicit-any
  const deployment = documents[0] as any;
  assert.equal(deployment.kind, "Deployment");
  const spec = deployment.spec.template.spec;
  const names = spec.initContainers.map((c: { name: string }) => c.name);
  assert.deepEqual(names, ["iam-roles-anywhere", "credential-helper"], "endpoint first");
  for (const sidecar of spec.initContainers) assert.equal(sidecar.restartPolicy, "Always");
  const helper = spec.initContainers[1];
  assert.deepEqual(helper.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
  });
  const env = Object.fromEntries(
    helper.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.CREDENTIALS_FILE_MODE, "0640");
  assert.equal(typeof spec.securityContext.fsGroup, "number");
  const volume = spec.volumes.find((v: { name: string }) => v.name === "aws-credentials");
  assert.equal(volume.emptyDir.medium, "Memory");
  const app = spec.containers[0];
  const mounts = [...helper.volumeMounts, ...app.volumeMounts].filter(
    (m: { name: string }) => m.name === "aws-credentials",
  );
  assert.equal(mounts.length, 2);
  for (const mount of mounts) assert.equal(mount.subPath, undefined, "never via subPath");
  const appEnv = Object.fromEntries(
    app.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  const appMount = app.volumeMounts.find((m: { name: string }) => m.name === "aws-credentials");
  assert.equal(appEnv.AWS_SHARED_CREDENTIALS_FILE, `${appMount.mountPath}/credentials`);
  assert.equal(appEnv.AWS_CONFIG_FILE, `${appMount.mountPath}/config`);
  assert.equal(appMount.readOnly, true);
});

Deno.test("packaging: systemd-analyze verify accepts the unit without a warning", async () => {
  const dir = await Deno.makeTempDir();
  // verify insists that ExecStart's binary exists; the built one may not.
  const stub = join(dir, "credential-helper");
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await Deno.writeTextFile(
    join(dir, "credential-helper.service"),
    unit.replaceAll("/usr/local/bin/credential-helper", stub),
  );
  const result = await run("systemd-analyze", ["verify", join(dir, "credential-helper.service")]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr.trim(), "", "no warnings");
  for (
    const directive of [
      "User=credential-helper",
      "Group=credential-helper",
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "ProtectHome=yes",
      "MemoryDenyWriteExecute=yes",
      "Restart=on-failure",
      "EnvironmentFile=-/etc/credential-helper/env",
      "Environment=CREDENTIALS_FILE_MODE=0640",
    ]
  ) {
    assert.match(unit, new RegExp(`^${directive}$`, "m"), directive);
  }
  assert.match(unit, /^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$/m);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("packaging: the shipped V8 flags run under W^X, as MemoryDenyWriteExecute=yes requires", async () => {
  // prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): the kernel refuses memory
  // that is writable and executable, or becomes executable after being
  // written; systemd's MemoryDenyWriteExecute=yes enforces the same rule.
  const underMdwe = [
    "-c",
    [
      "import ctypes, os, sys",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit('PR_SET_MDWE failed: errno %d' % ctypes.get_errno())",
      "os.execv(sys.argv[1], sys.argv[1:])",
    ].join("\n"),
  ];
  const shippedFlags = DENO_RUN_ARGS.find((arg) => arg.startsWith("--v8-flags="))!;
  const fake = startFakeEndpoint();
  const logs: string[] = [];
  try {
    for (const flags of [[shippedFlags], []]) {
      const home = await Deno.makeTempDir();
      const result = await new Deno.Command("/usr/bin/python3", {
        args: [
          ...underMdwe,
          Deno.execPath(),
          "run",
          "--quiet",
          "-P",
          ...flags,
          join(ROOT, "main.ts"),
          "once",
        ],
        cwd: ROOT,
        clearEnv: true,
        env: { HOME: home, AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      logs.push(stderr);
      assert.doesNotMatch(stderr, /PR_SET_MDWE failed/, "the kernel must support PR_SET_MDWE");
      if (flags.length === 1) {
        assert.equal(result.code, 0, `with ${shippedFlags}: ${stderr}`);
        assert.ok(
          (await Deno.readTextFile(join(home, ".aws/credentials"))).includes(
            fake.last().AccessKeyId,
          ),
        );
      } else {
        // The control: with the JIT on, W^X stops the runtime, so the check above means something.
        assert.notEqual(result.code, 0, "without --jitless the runtime should not survive W^X");
      }
      await Deno.remove(home, { recursive: true });
    }
    for (const secret of fake.secrets()) assert.ok(!logs.join("\n").includes(secret));
  } finally {
    await fake.close();
  }
});

Deno.test("packaging: runs as uid 65532 into a group-shared directory with mode 0640", async () => {
  assert.equal(Deno.uid(), 0, "CI runs as root, so this test can drop to 65532 with setpriv");
  const runtime = await prepareNonRootRuntime();
  // The shared directory: owned by root, group 65533 (the app's), setgid.
  const shared = join(runtime.base, "shared");
  await Deno.mkdir(shared);
  await Deno.chown(shared, 0, 65533);
  await Deno.chmod(shared, 0o2770);

  const fake = startFakeEndpoint();
  try {
    const result = await runHelper({
      HOME: runtime.base,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: fake.url,
      AWS_SHARED_CREDENTIALS_FILE: join(shared, "credentials"),
      AWS_CONFIG_FILE: join(shared, "config"),
      CREDENTIALS_FILE_MODE: "0640",
    }, { args: ["once"], asUser: { uid: 65532, gid: 65532, groups: [65533], runtime } });
    assert.equal(result.code, 0, result.stderr.join("\n"));
    for (const name of ["credentials", "config"]) {
      const info = await Deno.stat(join(shared, name));
      assert.equal(info.uid, 65532, `${name} owner`);
      assert.equal(info.gid, 65533, `${name} group, from the setgid directory`);
      assert.equal(info.mode! & 0o777, 0o640, `${name} mode`);
    }
    // Another uid in the group reads the file; one outside it cannot.
    const reader = await run("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--groups=65533",
      "cat",
      join(shared, "credentials"),
    ]);
    assert.equal(reader.code, 0, reader.stderr);
    assert.ok(reader.stdout.includes(fake.last().AccessKeyId));
    const outsider = await run("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "cat",
      join(shared, "credentials"),
    ]);
    assert.notEqual(outsider.code, 0);
    assert.match(outsider.stderr, /Permission denied/);
    assertNoSecretsIn(fake.secrets());
  } finally {
    await fake.close();
    await runtime.remove();
  }
});

Deno.test("packaging: the demo and the tests share one fake endpoint", () => {
  assert.match(read("tests/support/demo.ts"), /from "\.\/fake_endpoint\.ts"/);
  assert.match(makefile, /^demo:.*\n\t\$\(DENO\) run --allow-all tests\/support\/demo\.ts$/m);
});

Deno.test("packaging: make install honours DESTDIR and PREFIX and points the unit at the binary", async () => {
  const work = await Deno.makeTempDir({ prefix: "credential-helper-install-" });
  const copy = join(work, "src");
  for (const dir of ["lib", "deploy/systemd"]) {
    await Deno.mkdir(join(copy, dir), { recursive: true });
  }
  for (
    const file of [
      "Makefile",
      "main.ts",
      "deno.json",
      "package.json",
      "deploy/systemd/credential-helper.service",
      "deploy/systemd/credential-helper.sysusers",
      "deploy/systemd/env.example",
    ]
  ) {
    await Deno.copyFile(join(ROOT, file), join(copy, file));
  }
  for await (const entry of Deno.readDir(join(ROOT, "lib"))) {
    await Deno.copyFile(join(ROOT, "lib", entry.name), join(copy, "lib", entry.name));
  }
  // A stand-in for the compiled binary, newer than its sources, so make
  // installs it without compiling (the compile needs denort, which CI lacks).
  await Deno.mkdir(join(copy, "dist"));
  await Deno.writeTextFile(join(copy, "dist/credential-helper"), "#!/bin/sh\necho stand-in\n");
  const destdir = join(work, "root");
  const result = await run("make", [
    "-C",
    copy,
    "install",
    `DESTDIR=${destdir}`,
    "PREFIX=/opt/ch",
    "DENO=/bin/false",
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const binary = await Deno.stat(join(destdir, "opt/ch/bin/credential-helper"));
  assert.equal(binary.mode! & 0o777, 0o755);
  const installedUnit = await Deno.readTextFile(
    join(destdir, "etc/systemd/system/credential-helper.service"),
  );
  assert.match(installedUnit, /^ExecStart=\/opt\/ch\/bin\/credential-helper run$/m);
  assert.match(
    installedUnit,
    /^ExecStartPost=\/opt\/ch\/bin\/credential-helper healthcheck --wait 60$/m,
  );
  assert.doesNotMatch(installedUnit, /\/usr\/local\/bin/);
  assert.equal(
    await Deno.readTextFile(join(destdir, "etc/credential-helper/env.example")),
    read("deploy/systemd/env.example"),
  );
  // The env file may hold a token: 0600, and a second install keeps the operator's edits.
  const envFile = join(destdir, "etc/credential-helper/env");
  assert.equal((await Deno.stat(envFile)).mode! & 0o777, 0o600);
  await Deno.writeTextFile(envFile, "AWS_CONTAINER_AUTHORIZATION_TOKEN=edited\n");
  const again = await run("make", [
    "-C",
    copy,
    "install",
    `DESTDIR=${destdir}`,
    "PREFIX=/opt/ch",
    "DENO=/bin/false",
  ]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await Deno.readTextFile(envFile), "AWS_CONTAINER_AUTHORIZATION_TOKEN=edited\n");
  assert.match(
    await Deno.readTextFile(join(destdir, "usr/lib/sysusers.d/credential-helper.conf")),
    /^u credential-helper - /m,
  );
  const removed = await run("make", [
    "-C",
    copy,
    "uninstall",
    `DESTDIR=${destdir}`,
    "PREFIX=/opt/ch",
    "DENO=/bin/false",
  ]);
  assert.equal(removed.code, 0, removed.stderr);
  for (
    const gone of [
      "opt/ch/bin/credential-helper",
      "etc/systemd/system/credential-helper.service",
      "usr/lib/sysusers.d/credential-helper.conf",
    ]
  ) {
    await assert.rejects(Deno.stat(join(destdir, gone)), Deno.errors.NotFound, gone);
  }
  assert.equal(
    await Deno.readTextFile(envFile),
    "AWS_CONTAINER_AUTHORIZATION_TOKEN=edited\n",
    "kept",
  );
  await Deno.remove(work, { recursive: true });
});

Deno.test("packaging: the IMDS example runs AWS's helper as a native sidecar, read over IMDSv2", async () => {
  const [deployment] = await yamlDocuments("deploy/kubernetes/roles-anywhere-imds.yaml");
  // deno-lint-ignore no-explicit-any
  const spec = (deployment as any).spec.template.spec;
  const [signer, helper] = spec.initContainers;
  assert.deepEqual([signer.name, helper.name], ["roles-anywhere", "credential-helper"]);
  for (const sidecar of spec.initContainers) assert.equal(sidecar.restartPolicy, "Always");
  assert.match(signer.image, /^public\.ecr\.aws\/rolesanywhere\/credential-helper:/);
  assert.equal(signer.args[0], "serve");
  assert.equal(signer.startupProbe.tcpSocket.port, 9911);
  const env = Object.fromEntries(
    helper.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, "http://127.0.0.1:9911");
  assert.deepEqual(Object.keys(env).filter((n) => n.startsWith("AWS_CONTAINER_")), []);
  // The certificate and key paths lie inside directory mounts.
  const arg = (flag: string) => signer.args[signer.args.indexOf(flag) + 1] as string;
  for (const flag of ["--certificate", "--private-key"]) {
    assert.ok(
      signer.volumeMounts.some((m: { mountPath: string }) =>
        arg(flag).startsWith(m.mountPath + "/")
      ),
      flag,
    );
  }
});

Deno.test("packaging: no Kubernetes example mounts anything with subPath", async () => {
  for (
    const file of [
      "deploy/kubernetes/deployment.yaml",
      "deploy/kubernetes/roles-anywhere-imds.yaml",
    ]
  ) {
    for (const document of await yamlDocuments(file)) {
      // deno-lint-ignore no-explicit-any
      const spec = (document as any).spec.template.spec;
      for (const container of [...spec.initContainers, ...spec.containers]) {
        for (const mount of container.volumeMounts ?? []) {
          assert.equal(mount.subPath, undefined, `${file}: ${container.name} ${mount.mountPath}`);
        }
      }
    }
  }
});

Deno.test("packaging: systemd-analyze verify accepts the aws_signing_helper unit", async () => {
  const dir = await Deno.makeTempDir();
  const stub = join(dir, "aws_signing_helper");
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await Deno.writeTextFile(
    join(dir, "aws-signing-helper.service"),
    read("deploy/systemd/aws-signing-helper.service").replaceAll(
      "/usr/local/bin/aws_signing_helper",
      stub,
    ),
  );
  const result = await run("systemd-analyze", ["verify", join(dir, "aws-signing-helper.service")]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr.trim(), "", "no warnings");
  assert.match(
    read("deploy/systemd/env.imds.example"),
    /^AWS_EC2_METADATA_SERVICE_ENDPOINT=http:\/\/127\.0\.0\.1:9911$/m,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("packaging: the notify example shares the process namespace and one uid", async () => {
  const [deployment] = await yamlDocuments("deploy/kubernetes/notify.yaml");
  // deno-lint-ignore no-explicit-any
  const spec = (deployment as any).spec.template.spec;
  assert.equal(spec.shareProcessNamespace, true);
  const helper = spec.initContainers[0];
  const app = spec.containers[0];
  assert.equal(
    helper.securityContext.runAsUser,
    app.securityContext.runAsUser,
    "signals need one uid",
  );
  const env = Object.fromEntries(
    helper.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  const appEnv = Object.fromEntries(
    app.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.NOTIFY_PID_FILE, appEnv.PID_FILE);
  assert.equal(env.NOTIFY_SIGNAL, "SIGHUP");
});

Deno.test("packaging: the V8 flags written into credential_process lines are the Makefile's", async () => {
  const { V8_FLAGS } = await import("../lib/version.ts");
  assert.equal(V8_FLAGS, /^V8_FLAGS :=(.*)$/m.exec(makefile)?.[1]?.trim());
});

Deno.test("packaging: the unit's systemd-analyze security exposure is at most 1.3", async () => {
  const result = await run("systemd-analyze", [
    "security",
    "--offline=yes",
    "--threshold=13",
    join(ROOT, "deploy/systemd/credential-helper.service"),
  ]);
  const score = /Overall exposure level for credential-helper\.service: (\d+\.\d)/.exec(
    result.stdout + result.stderr,
  )?.[1];
  console.log(`systemd-analyze security exposure: ${score}`);
  assert.equal(result.code, 0, `exposure ${score} is above 1.3`);
  assert.ok(score !== undefined && Number(score) <= 1.3, `exposure ${score}`);
});

Deno.test("packaging: the image carries the OCI labels, with the version of the code", () => {
  for (const label of ["source", "version", "licenses", "title", "description"]) {
    assert.match(dockerfile, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), label);
  }
  assert.match(dockerfile, new RegExp(`^ARG VERSION=${VERSION.replaceAll(".", "\\.")}$`, "m"));
  assert.match(makefile, /--build-arg VERSION=\$\(VERSION\)/);
});
