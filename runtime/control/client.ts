/**
 * `tsunicornc`'s side of the control socket: sends one command, resolves with the master's reply.
 *
 *   const reply = await sendCommand('/run/user/1000/tsunicorn/shop-1a2b3c4d-8000-9f8e7d6c.sock', ['show', 'workers']);
 *   if (reply.ok) print(reply.data);
 *
 * No socket there, or nobody listening on it, is a NoMasterError naming the socket.
 */
import { createConnection } from 'node:net';
import { MAX_LINE_BYTES, encode, parseReply, type ControlReply } from './protocol.js';

/** Nobody answers on the socket. */
export class NoMasterError extends Error {}

/** How long the client waits for the reply (a master blocked that long is in trouble). */
const REPLY_WAIT_MS = 30_000;

export function sendCommand(file: string, words: readonly string[]): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(file);
    let text = '';
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      outcome();
    };
    socket.setEncoding('utf8');
    socket.setTimeout(REPLY_WAIT_MS, () => finish(() => reject(new Error(`${file}: no reply from the master within ${REPLY_WAIT_MS / 1000} s`))));
    socket.on('connect', () => socket.write(encode({ command: [...words], pid: process.pid, uid: process.getuid?.() ?? -1 })));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline === -1) {
        if (text.length > MAX_LINE_BYTES) finish(() => reject(new Error(`${file}: the reply is too long`)));
        return;
      }
      const reply = parseReply(text.slice(0, newline));
      finish(() => (reply ? resolve(reply) : reject(new Error(`${file}: not a tsunicorn control socket (the reply is not one)`))));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish(() => {
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ENOTSOCK') {
          reject(new NoMasterError(`no tsunicorn master listening on ${file}${error.code === 'ENOENT' ? '' : ' (a stale socket file)'}`));
        } else if (error.code === 'EACCES') {
          reject(new Error(`${file}: permission denied (the socket is its owner's only: run as the user of the master)`));
        } else {
          reject(new Error(`${file}: ${error.message}`));
        }
      });
    });
    socket.on('end', () => finish(() => reject(new Error(`${file}: the master closed the connection without a reply`))));
  });
}
