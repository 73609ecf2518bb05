// A reusable wake-up signal: one waiter sleeps until notify() or a timeout. Used to park a
// vCPU in WFI or while powered off without spinning the host CPU.

export class Wakeup {
  private resolve: (() => void) | undefined;
  private notified = false;

  /** Sleep until notify() or `timeoutMs` (undefined = no timeout). Returns at once if notified since the last wait. */
  wait(timeoutMs?: number): Promise<void> {
    if (this.notified) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.resolve = undefined;
        resolve();
      };
      this.resolve = done;
      if (timeoutMs !== undefined) timer = setTimeout(done, Math.max(0, timeoutMs));
    });
  }

  notify(): void {
    if (this.resolve) this.resolve();
    else this.notified = true;
  }
}
