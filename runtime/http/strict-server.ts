import http from 'node:http';
import https from 'node:https';

export interface HttpLimits {
  limitRequestLine: number;       // bytes, 0 = unlimited (already clamped to <= 8190 by settings)
  limitRequestFields: number;     // <= 32768
  limitRequestFieldSize: number;  // already mapped 0 -> 8190 by settings
  keepAliveSeconds: number;       // idle keep-alive timeout
}

export interface StrictServerOptions extends HttpLimits {
  onClientError?: (message: string) => void;  // for the error log (debug level)
  tls?: { cert: Buffer; key: Buffer };         // when set, an https server
}

/** Interface published early for the rest of tsunicorn; the strict layer lands in this file. */
export function createStrictServer(listener: http.RequestListener, options: StrictServerOptions): http.Server | https.Server {
  const serverOptions = { insecureHTTPParser: false, requireHostHeader: true };
  const server = options.tls
    ? https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, listener)
    : http.createServer(serverOptions, listener);
  server.keepAliveTimeout = options.keepAliveSeconds * 1000;
  return server;
}
