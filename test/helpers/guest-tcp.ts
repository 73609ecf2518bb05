// Host-side TCP to a listener inside a booting guest: connect, send a message, read the reply,
// and retry once a second until the guest's listener is up or the deadline passes.
import { connect } from 'node:net';

export async function talkToGuest(host: string, port: number, message: string, deadline: number, via: string): Promise<string> {
  while (Date.now() < deadline) {
    const got = await new Promise<string>((resolve) => {
      const c = connect({ host, port, allowHalfOpen: true });
      let data = '';
      c.on('data', (d) => {
        data += d.toString();
        c.end();
      });
      c.on('connect', () => c.write(message));
      c.on('error', () => undefined);
      c.on('close', () => resolve(data));
    });
    if (got) return got;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the guest never answered ${via}`);
}
