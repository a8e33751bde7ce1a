// One process, tsunicorn's strict server (runtime/http, built in dist/) serving the same app: compared with
// single-process.mjs in the same run, it gives what the strict HTTP layer costs on its own.
// BENCH_APP=express serves the Express app.
import { createStrictServer } from '../../dist/runtime/http/strict-server.js';
import hello from './hello-app.mjs';

const app = process.env.BENCH_APP === 'express' ? (await import('./express-app.mjs')).default : hello;
const server = createStrictServer(app, { limitRequestLine: 4094, limitRequestFields: 100, limitRequestFieldSize: 8190, keepAliveSeconds: 5 });
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
