// One process, one http server: the ceiling of a single core. BENCH_APP=express serves the Express app.
import http from 'node:http';
import hello from './hello-app.mjs';

const app = process.env.BENCH_APP === 'express' ? (await import('./express-app.mjs')).default : hello;
const server = http.createServer(app).listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
