import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acquireLock,
  denoFileSystem,
  type FileSystem,
  FileWriteError,
  replaceFile,
  sweepTempFiles,
  TEMP_PREFIX,
  updateFile,
  type WritableFile,
} from "../lib/atomic_file.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (path: string) => Deno.readTextFile(path);
const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "atomic-test-" });
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

function enospc(): Error {
  return new Error("No space left on device (os error 28)");
}

/**
 * A disk with `budget` free bytes: writing over a file's existing bytes needs
 * no new space, as on a real file system; growing a file past them does.
 */
function fullDiskFs(budget: number): FileSystem {
  const limit = (file: WritableFile, allocated: number): WritableFile => {
    let position = 0;
    return {
      ...file,
      seek: async (offset) => {
        position = offset;
        await file.seek(offset);
      },
      write: async (data) => {
        const free = allocated - position + budget;
        if (free <= 0) throw enospc();
        const slice = data.subarray(0, Math.min(data.byteLength, free));
        const grown = Math.max(0, position + slice.byteLength - allocated);
        budget -= grown;
        allocated += grown;
        position += slice.byteLength;
        return await file.write(slice);
      },
    };
  };
  return {
    ...denoFileSystem,
    createNew: async (path, m) => limit(await denoFileSystem.createNew(path, m), 0),
    openExisting: async (path) =>
      limit(await denoFileSystem.openExisting(path), (await Deno.stat(path)).size),
  };
}

Deno.test("replaceFile() creates missing directories with 0700 and the file with its mode", async () => {
  const dir = await tempDir();
  const path = join(dir, "a", "b", "credentials");
  assert.equal(await replaceFile(path, bytes("hello\n"), { mode: 0o640 }), "written");
  assert.equal(await text(path), "hello\n");
  assert.equal(await mode(path), 0o640);
  assert.equal(await mode(join(dir, "a")), 0o700);
  assert.equal(await mode(join(dir, "a", "b")), 0o700);
  assert.deepEqual(await listDir(join(dir, "a", "b")), ["credentials", "credentials.lock"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() leaves an existing directory's mode alone", async () => {
  const dir = await tempDir();
  await Deno.chmod(dir, 0o750);
  await replaceFile(join(dir, "credentials"), bytes("x"));
  assert.equal(await mode(dir), 0o750);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() skips unchanged content, keeping inode and mtime", async () => {
  for (const writeMode of ["atomic", "inplace"] as const) {
    const dir = await tempDir();
    const path = join(dir, "credentials");
    await replaceFile(path, bytes("same"), { writeMode });
    const before = await Deno.stat(path);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await replaceFile(path, bytes("same"), { writeMode }), "unchanged");
    const after = await Deno.stat(path);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replaceFile() fixes only the mode when the content is unchanged", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "same", { mode: 0o644 });
  await Deno.chmod(path, 0o644);
  assert.equal(await replaceFile(path, bytes("same"), { mode: 0o600 }), "mode-changed");
  assert.equal(await mode(path), 0o600);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() atomic mode swaps the inode; inplace keeps it", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await replaceFile(path, bytes("one"));
  const first = (await Deno.stat(path)).ino;
  await replaceFile(path, bytes("two"), { writeMode: "atomic" });
  const second = (await Deno.stat(path)).ino;
  assert.notEqual(second, first);
  await replaceFile(path, bytes("three, longer"), { writeMode: "inplace" });
  assert.equal((await Deno.stat(path)).ino, second);
  assert.equal(await text(path), "three, longer");
  await replaceFile(path, bytes("4"), { writeMode: "inplace" });
  assert.equal(await text(path), "4");
  assert.deepEqual(await listDir(dir), ["credentials", "credentials.lock"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() inplace narrows a too-wide mode", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "old");
  await Deno.chmod(path, 0o666);
  await replaceFile(path, bytes("new secret"), { writeMode: "inplace", mode: 0o600 });
  assert.equal(await mode(path), 0o600);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() on a full disk keeps the old file and leaves no temp file", async () => {
  for (const writeMode of ["atomic", "inplace"] as const) {
    const dir = await tempDir();
    const path = join(dir, "credentials");
    await Deno.writeTextFile(path, "old content\n");
    await Deno.chmod(path, 0o600);
    await assert.rejects(
      replaceFile(path, bytes("new content that is longer\n"), { writeMode, fs: fullDiskFs(5) }),
      (error: unknown) => {
        assert.ok(error instanceof FileWriteError);
        assert.equal(
          error.message,
          `cannot write "${path}": No space left on device (os error 28)`,
        );
        return true;
      },
    );
    assert.equal(await text(path), "old content\n", writeMode);
    assert.deepEqual(await listDir(dir), ["credentials", "credentials.lock"], writeMode);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replaceFile() keeps the old file when the rename fails", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "old");
  const fs: FileSystem = {
    ...denoFileSystem,
    rename: () => Promise.reject(new Error("Read-only file system (os error 30)")),
  };
  await assert.rejects(replaceFile(path, bytes("new"), { fs }), /Read-only file system/);
  assert.equal(await text(path), "old");
  assert.deepEqual(await listDir(dir), ["credentials", "credentials.lock"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() refuses a symlinked target and leaves link and target alone", async () => {
  const dir = await tempDir();
  const elsewhere = join(dir, "elsewhere");
  const path = join(dir, "credentials");
  await Deno.writeTextFile(elsewhere, "not yours");
  await Deno.symlink(elsewhere, path);
  for (const writeMode of ["atomic", "inplace"] as const) {
    await assert.rejects(
      replaceFile(path, bytes("secret"), { writeMode }),
      new RegExp(`cannot write "${path}": it is a symlink; refusing to replace it`),
    );
  }
  assert.equal(await text(elsewhere), "not yours");
  assert.ok((await Deno.lstat(path)).isSymlink);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() does not follow a symlink planted at the temp path", async () => {
  const dir = await tempDir();
  const victim = join(dir, "victim");
  const path = join(dir, "credentials");
  await Deno.writeTextFile(victim, "victim");
  await Deno.symlink(victim, join(dir, `${TEMP_PREFIX}credentials.fixed`));
  await assert.rejects(
    replaceFile(path, bytes("secret"), { randomSuffix: () => "fixed" }),
    /cannot create temp file: .*exists/i,
  );
  assert.equal(await text(victim), "victim");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() fails cleanly when the target is a directory", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.mkdir(path);
  await assert.rejects(replaceFile(path, bytes("x")), /it is not a regular file/);
  assert.deepEqual(await listDir(dir), ["credentials"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replaceFile() reports a parent that cannot be created", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "file"), "");
  const path = join(dir, "file", "sub", "credentials");
  // The lstat of the target already fails: its parent is a file.
  await assert.rejects(replaceFile(path, bytes("x")), /Not a directory \(os error 20\)/);
  // A parent that is merely missing under an unwritable directory.
  const locked = join(dir, "locked");
  await Deno.mkdir(locked, { mode: 0o500 });
  const fs: FileSystem = {
    ...denoFileSystem,
    mkdirp: () => Promise.reject(new Error("Permission denied (os error 13)")),
  };
  await assert.rejects(
    replaceFile(join(locked, "sub", "credentials"), bytes("x"), { fs }),
    /cannot create directory: Permission denied/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweepTempFiles() removes only our leftovers for the given targets", async () => {
  const dir = await tempDir();
  const names = [
    "credentials",
    `${TEMP_PREFIX}credentials.0123456789abcdef`,
    `${TEMP_PREFIX}config.fedcba9876543210`,
    `${TEMP_PREFIX}other.0123456789abcdef`,
    // Another target's, whose name merely starts with ours: never ours to sweep.
    `${TEMP_PREFIX}credentials.b.0123456789abcdef`,
    `${TEMP_PREFIX}credentials.abc`,
    ".credentials.swp",
  ];
  for (const name of names) await Deno.writeTextFile(join(dir, name), "");
  const removed = await sweepTempFiles([join(dir, "credentials"), join(dir, "config")]);
  assert.deepEqual(removed.sort(), [
    join(dir, `${TEMP_PREFIX}config.fedcba9876543210`),
    join(dir, `${TEMP_PREFIX}credentials.0123456789abcdef`),
  ]);
  assert.deepEqual(
    await listDir(dir),
    [
      `${TEMP_PREFIX}other.0123456789abcdef`,
      `${TEMP_PREFIX}credentials.b.0123456789abcdef`,
      `${TEMP_PREFIX}credentials.abc`,
      ".credentials.swp",
      "config.lock",
      "credentials",
      "credentials.lock",
    ]
      .sort(),
  );
  assert.deepEqual(await sweepTempFiles([join(dir, "missing", "credentials")]), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweepTempFiles() waits for a live writer's lock instead of removing its temp file", async () => {
  const dir = await tempDir();
  const target = join(dir, "credentials");
  const live = join(dir, `${TEMP_PREFIX}credentials.00112233aabbccdd`);
  const lock = await acquireLock(target, denoFileSystem);
  await Deno.writeTextFile(live, "new");
  const sweeping = sweepTempFiles([target], denoFileSystem, { lockWaitMs: 5000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  // The live writer finishes: its temp file becomes the target, then it unlocks.
  assert.equal(await text(live), "new", "still there while the writer holds the lock");
  await Deno.rename(live, target);
  lock.close();
  assert.deepEqual(await sweeping, []);
  assert.equal(await text(target), "new");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() serializes writers through the lock file: no edit is lost", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  // Forty concurrent read-modify-writes, each appending its own line, in both modes.
  for (const writeMode of ["atomic", "inplace"] as const) {
    await Deno.writeTextFile(path, "");
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        updateFile(
          path,
          (current) => bytes(new TextDecoder().decode(current) + `line ${i}\n`),
          { writeMode },
        )),
    );
    const lines = (await text(path)).trim().split("\n").sort();
    assert.deepEqual(lines, Array.from({ length: 40 }, (_, i) => `line ${i}`).sort(), writeMode);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() redoes the edit when a writer without a lock changed the file meanwhile", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  for (const writeMode of ["atomic", "inplace"] as const) {
    await Deno.writeTextFile(path, "[other]\nkey = old\n");
    let reads = 0;
    // Like `aws configure set`, another program rewrites the file between our
    // first read and our replace.
    const fs: FileSystem = {
      ...denoFileSystem,
      readFile: async (file) => {
        const content = await denoFileSystem.readFile(file);
        if (++reads === 1) await Deno.writeTextFile(path, "[other]\nkey = theirs\n");
        return content;
      },
    };
    const renders: string[] = [];
    const result = await updateFile(path, (current) => {
      const old = new TextDecoder().decode(current);
      renders.push(old);
      return bytes(old + "[ours]\nkey = mine\n");
    }, { fs, writeMode });
    assert.equal(result, "written");
    assert.deepEqual(renders, ["[other]\nkey = old\n", "[other]\nkey = theirs\n"], writeMode);
    assert.equal(await text(path), "[other]\nkey = theirs\n[ours]\nkey = mine\n", writeMode);
    assert.deepEqual(await listDir(dir), ["credentials", "credentials.lock"], writeMode);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() fails, never hangs, when another writer keeps the lock", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "old");
  const lock = await acquireLock(path, denoFileSystem);
  await assert.rejects(
    replaceFile(path, bytes("new"), { lockWaitMs: 100 }),
    (error: unknown) =>
      error instanceof FileWriteError &&
      error.message ===
        `cannot write "${path}": another writer held the lock "${path}.lock" for more than 100 ms`,
  );
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 50);
  await assert.rejects(
    replaceFile(path, bytes("new"), { lockWaitMs: 60_000, signal: stop.signal }),
    /stopped while waiting for another writer's lock/,
  );
  lock.close();
  assert.equal(await text(path), "old");
  assert.equal(await replaceFile(path, bytes("new")), "written");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() refuses a target with more than one hard link", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(join(dir, "victim"), "victim content");
  await Deno.link(join(dir, "victim"), path);
  for (const writeMode of ["atomic", "inplace"] as const) {
    await assert.rejects(
      replaceFile(path, bytes("secret"), { writeMode }),
      /it has 2 hard links; refusing to write through it/,
    );
  }
  assert.equal(await text(join(dir, "victim")), "victim content");
  assert.equal(await mode(join(dir, "victim")), 0o644 & ~Deno.umask());
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() refuses a file of another uid unless that uid owns the directory", async () => {
  // Needs root to give files away, as the systemd service on a VM runs.
  assert.equal(Deno.uid(), 0, "this test runs as root");
  const other = 65532;
  const dir = await tempDir();
  const path = join(dir, "credentials");
  const owner = async (file: string) => (await Deno.stat(file)).uid;
  await Deno.writeTextFile(path, "planted");
  await Deno.chown(path, other, other);
  // A file planted by another uid in a directory that uid does not own.
  for (const writeMode of ["atomic", "inplace"] as const) {
    await assert.rejects(
      replaceFile(path, bytes("secret"), { writeMode }),
      new RegExp(`it is owned by uid ${other}, not by this process \\(uid 0\\)`),
    );
    // Unchanged content takes the same refusal: no "unchanged" path around it.
    await assert.rejects(replaceFile(path, bytes("planted"), { writeMode }), /owned by uid/);
  }
  assert.equal(await text(path), "planted");
  // A sticky or world-writable directory of that uid never vouches for its file.
  await Deno.chown(dir, other, other);
  for (const dirMode of [0o1777, 0o777, 0o1700]) {
    await Deno.chmod(dir, dirMode);
    await assert.rejects(replaceFile(path, bytes("secret")), /owned by uid/, dirMode.toString(8));
  }
  assert.equal(await text(path), "planted");
  // That uid's own private directory (a user's ~/.aws): trusted, and the owner stays.
  await Deno.chmod(dir, 0o700);
  for (const writeMode of ["atomic", "inplace"] as const) {
    assert.equal(await replaceFile(path, bytes(`secret ${writeMode}`), { writeMode }), "written");
    assert.equal(await text(path), `secret ${writeMode}`);
    assert.equal(await owner(path), other, writeMode);
    assert.equal(await mode(path), 0o600, writeMode);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() redoes the edit on what a writer put into the old inode just before the rename", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "[other]\nkey = old\n");
  let late = true;
  // The other writer's write lands after our last check, into the inode that
  // the rename is about to unlink: it would be lost without a look back.
  const fs: FileSystem = {
    ...denoFileSystem,
    rename: async (from, to) => {
      if (late) {
        late = false;
        await Deno.writeTextFile(to, "[other]\nkey = late\n");
      }
      await denoFileSystem.rename(from, to);
    },
  };
  const renders: string[] = [];
  assert.equal(
    await updateFile(path, (current) => {
      const old = new TextDecoder().decode(current);
      renders.push(old);
      return bytes(old.replace(/\n\[ours\][^]*$/, "\n") + "[ours]\nkey = mine\n");
    }, { fs }),
    "written",
  );
  assert.deepEqual(renders, ["[other]\nkey = old\n", "[other]\nkey = late\n"]);
  assert.equal(await text(path), "[other]\nkey = late\n[ours]\nkey = mine\n");
  assert.deepEqual(await listDir(dir), ["credentials", "credentials.lock"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() waits out a file that another writer truncated and is about to rewrite", async () => {
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, ""); // `aws configure set` truncates, then writes
  setTimeout(() => Deno.writeTextFileSync(path, "[other]\nkey = theirs\n"), 60);
  const renders: string[] = [];
  await updateFile(path, (current) => {
    const old = new TextDecoder().decode(current);
    renders.push(old);
    return bytes(old + "[ours]\nkey = mine\n");
  });
  assert.deepEqual(renders, ["[other]\nkey = theirs\n"]);
  assert.equal(await text(path), "[other]\nkey = theirs\n[ours]\nkey = mine\n");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() refuses a directory path through a symlink another user owns", async () => {
  assert.equal(Deno.uid(), 0, "this test runs as root");
  const dir = await tempDir();
  await Deno.chmod(dir, 0o755);
  const victim = join(dir, "root-only");
  await Deno.mkdir(victim);
  await Deno.writeTextFile(join(victim, "credentials"), "[default]\nkey = root's\n");
  const home = join(dir, "home");
  await Deno.mkdir(home);
  await Deno.chown(home, 65532, 65532);
  // The user points their ~/.aws at root's directory.
  await Deno.symlink(victim, join(home, ".aws"));
  const chown = await new Deno.Command("chown", { args: ["-h", "65532:65532", join(home, ".aws")] })
    .output();
  assert.equal(chown.code, 0);
  await assert.rejects(
    replaceFile(join(home, ".aws", "credentials"), bytes("secret")),
    (error: unknown) =>
      error instanceof FileWriteError &&
      error.message.endsWith(
        `its directory path goes through a symlink ("${home}/.aws") owned by uid 65532; refusing to follow it`,
      ),
  );
  assert.equal(await text(join(victim, "credentials")), "[default]\nkey = root's\n");
  assert.deepEqual(await listDir(victim), ["credentials"], "no lock file either");
  // A symlink root owns (a distribution's /var/run -> /run, say) is fine.
  await Deno.remove(join(home, ".aws"));
  await Deno.symlink(victim, join(dir, "by-root"));
  assert.equal(await replaceFile(join(dir, "by-root", "credentials"), bytes("ok")), "written");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() keeps a file's group, locks owner-only, and gives new files in a user's own directory to that user", async () => {
  assert.equal(Deno.uid(), 0, "this test runs as root");
  const dir = await tempDir();
  const path = join(dir, "credentials");
  await Deno.writeTextFile(path, "old");
  await Deno.chown(path, 0, 2000); // an operator shares it through a group
  await replaceFile(path, bytes("new"), { mode: 0o640 });
  assert.deepEqual([(await Deno.stat(path)).gid, await mode(path)], [2000, 0o640]);
  assert.equal(await mode(path + ".lock"), 0o600, "readers cannot take the lock");
  // A user's own ~/.aws, kept by a root service: a new file is theirs.
  const userDir = join(dir, "user-aws");
  await Deno.mkdir(userDir, { mode: 0o700 });
  await Deno.chown(userDir, 65532, 65532);
  await replaceFile(join(userDir, "config"), bytes("[default]\nregion = x\n"));
  const created = await Deno.stat(join(userDir, "config"));
  assert.deepEqual([created.uid, created.gid, created.mode! & 0o777], [65532, 65532, 0o600]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("updateFile() follows a chain of symlinks: one of ours pointing through another user's is refused", async () => {
  assert.equal(Deno.uid(), 0, "this test runs as root");
  const dir = await tempDir();
  await Deno.chmod(dir, 0o755);
  const victim = join(dir, "root-only");
  await Deno.mkdir(victim);
  await Deno.writeTextFile(join(victim, "credentials"), "[default]\nkey = root's\n");
  // Root's link -> the user's link (which the user can repoint) -> root's directory.
  await Deno.symlink(victim, join(dir, "users-link"));
  const chown = await new Deno.Command("chown", {
    args: ["-h", "65532:65532", join(dir, "users-link")],
  }).output();
  assert.equal(chown.code, 0);
  await Deno.symlink("users-link", join(dir, "roots-link"));
  await assert.rejects(
    replaceFile(join(dir, "roots-link", "credentials"), bytes("secret")),
    (error: unknown) =>
      error instanceof FileWriteError &&
      error.message.endsWith(
        `its directory path goes through a symlink ("${dir}/users-link") owned by uid 65532; refusing to follow it`,
      ),
  );
  assert.equal(await text(join(victim, "credentials")), "[default]\nkey = root's\n");
  assert.deepEqual(await listDir(victim), ["credentials"]);
  // The sweep walks the same way.
  await Deno.writeTextFile(join(victim, `${TEMP_PREFIX}credentials.0123456789abcdef`), "");
  await assert.rejects(
    sweepTempFiles([join(dir, "roots-link", "credentials")]),
    /owned by uid 65532; refusing to follow it/,
  );
  assert.deepEqual(await listDir(victim), [
    `${TEMP_PREFIX}credentials.0123456789abcdef`,
    "credentials",
  ]);
  // A loop of our own links ends with an error, not a hang.
  await Deno.symlink("loop-b", join(dir, "loop-a"));
  await Deno.symlink("loop-a", join(dir, "loop-b"));
  await assert.rejects(
    replaceFile(join(dir, "loop-a", "credentials"), bytes("x")),
    /too many levels of symlinks/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweepTempFiles() never removes a directory that carries a temp name", async () => {
  const dir = await tempDir();
  const planted = join(dir, `${TEMP_PREFIX}config.1111111111111111`);
  await Deno.mkdir(planted);
  assert.deepEqual(await sweepTempFiles([join(dir, "config")]), []);
  assert.ok((await Deno.stat(planted)).isDirectory);
  await Deno.remove(dir, { recursive: true });
});
