/**
 * One queue per file: tasks on the same path run one after another, tasks on
 * different paths run freely. Within one process, two targets that share a
 * file never read-modify-write it at once; across processes the lock file
 * does the same job.
 *
 * @module
 */

/** Serializes tasks by path. */
export class FileQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Run `task` once every earlier task on `path` has settled. */
  run<T>(path: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(path) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(() => {}, () => {});
    this.#tails.set(path, tail);
    tail.then(() => {
      if (this.#tails.get(path) === tail) this.#tails.delete(path);
    });
    return result;
  }

  /** Paths with a task queued or running. */
  get busy(): number {
    return this.#tails.size;
  }
}
