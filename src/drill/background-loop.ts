/** Something a drill runs alongside a round (the writer, the split-brain monitor): started, then stopped and awaited. */
export abstract class BackgroundLoop {
  protected running = false;
  private done: Promise<void> = Promise.resolve();

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** Runs until `running` turns false. */
  protected abstract loop(): Promise<void>;
}
